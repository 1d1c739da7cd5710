"""Trends across check-ins: the ``trend:`` and ``streak:`` conditions of the rule language,
and the values they test, computed in Python from a report's earlier check-ins.

A trend condition compiles to an ordinary comparison on a number of the report's context
fact (``trend__weight_kg__change_pct__from_lowest__30d``), exactly as ``weight_change_pct``
does: Python computes the number once per report, durable_rules compares it and decides.
The numbers exist only when the report has earlier check-ins, so a report without history
costs what it did before.

The shapes, all checked at load::

    trend: weight_kg                 # change of a measurement over a window
    change_pct: {at_least: 5}        # or change: (in the measurement's unit)
    within_days: 30
    from: lowest                     # earliest (default), lowest or highest

    trend: mood_swings               # a symptom (code or list) at N of the last M check-ins
    check_ins: {at_least: 3}
    of_last: 5

    trend: mood_swings               # ... or on D days within a window
    days: {at_least: 3}
    within_days: 14

    trend: any_symptom               # worsening: severity rises across consecutive
    worsening: {at_least: 2}         # check-ins (a code, a list, or any_symptom)

    streak:                          # a measurement condition holding at N consecutive
      any: [{systolic_bp: {above: 140}}, {diastolic_bp: {above: 90}}]   # check-ins,
    check_ins: {at_least: 2}         # this one included

Every count includes the report itself, which is always the latest check-in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .conditions import (
    CONTEXT_FIELDS,
    AllOf,
    AnyOf,
    Condition,
    FieldCond,
    FieldSpec,
    NoneOf,
    ParseContext,
    SymptomCond,
    Test,
)
from .models import MEASUREMENT_FIELDS, SEVERITY_RANK, CheckIn, Measurements, Report, Treatment
from .reader import Reader
from .yamlsource import LineDict, LineList

ANY_SYMPTOM = "any_symptom"
STARTS = ("earliest", "lowest", "highest")
MAX_WINDOW_DAYS = 366
MAX_COUNT = 200
_SEVERITY_WORDS = {rank: member.value for member, rank in SEVERITY_RANK.items()}
_STREAK_FIELDS = {*MEASUREMENT_FIELDS, "hours_since_dose", "route"}


class Entry(NamedTuple):
    """One check-in as the trends see it."""

    when: dt.datetime
    day: str  # its calendar date, in its own offset
    sev: dict[str, int]  # symptom code -> highest severity rank reported
    names: dict[str, str]  # symptom code -> its label (for the words)
    values: dict[str, Any]  # measurements and treatment given


@dataclass(frozen=True)
class Change:
    measurement: str
    percent: bool
    days: int
    start: str


@dataclass(frozen=True)
class Count:
    codes: tuple[str, ...]
    last: int


@dataclass(frozen=True)
class Days:
    codes: tuple[str, ...]
    days: int


@dataclass(frozen=True)
class Worsening:
    codes: tuple[str, ...]  # empty: any symptom


@dataclass(frozen=True)
class Streak:
    when: Condition
    words: str


TrendKind = Change | Count | Days | Worsening | Streak


@dataclass(frozen=True)
class Trend:
    """A trend value a rule tests: its context field, what it measures, and how."""

    field: str
    kind: TrendKind
    spec: FieldSpec


# Every trend field any loaded pack uses. A field's name is made from its definition, so
# one name always means one trend, whichever pack named it.
TREND_FIELDS: dict[str, Trend] = {}


def field_spec(name: str) -> FieldSpec:
    """The spec of a context field, trend fields included."""
    spec = CONTEXT_FIELDS.get(name)
    return spec if spec is not None else TREND_FIELDS[name].spec


# -- parsing ------------------------------------------------------------------------------

_KEYS = {
    "change_pct": ("within_days", "from"),
    "change": ("within_days", "from"),
    "check_ins": ("of_last",),
    "days": ("within_days",),
    "worsening": (),
}


def parse_trend(node: LineDict, ctx: ParseContext) -> Condition:
    """A ``trend:`` or ``streak:`` condition as a comparison on its trend field."""
    from .conditions import _parse_field, parse_condition
    from .intake import suggest

    if "streak" in node:
        inner = parse_condition(node["streak"], ctx)
        _check_streak(inner, node, ctx)
        extra = [k for k in node if k not in ("streak", "check_ins")]
        if extra:
            raise ctx.key_error(
                f"unknown key {extra[0]!r} in a streak condition; it takes 'streak' and"
                " 'check_ins'",
                node,
                extra[0],
                suggest(extra[0], ["streak", "check_ins"]),
            )
        if "check_ins" not in node:
            raise ctx.key_error("a streak needs 'check_ins', such as {at_least: 2}", node, "streak")
        words = describe(inner)
        digest = hashlib.sha1(repr(inner).encode()).hexdigest()[:12]
        return _register(
            node,
            ctx,
            "check_ins",
            f"trend__streak__{digest}",
            Streak(inner, words),
            FieldSpec("", "number", f"consecutive check-ins with {words}", "", 0, MAX_COUNT),
            _parse_field,
        )
    subject = node["trend"]
    names = list(subject) if isinstance(subject, LineList) else [subject]
    measures = [k for k in node if k in _KEYS]
    if len(measures) != 1:
        raise ctx.key_error(
            "a trend takes exactly one of change_pct, change, check_ins, days or worsening"
            + (f" (got {', '.join(measures)})" if measures else ""),
            node,
            measures[1] if len(measures) > 1 else "trend",
        )
    measure = measures[0]
    allowed = {"trend", measure, *_KEYS[measure]}
    for key in node:
        if key not in allowed:
            raise ctx.key_error(
                f"unknown key {key!r} for a {measure!r} trend; it takes"
                f" {', '.join(sorted(allowed - {'trend'}))}",
                node,
                key,
                suggest(key, sorted(allowed)),
            )
    if measure in ("change_pct", "change"):
        if len(names) != 1 or names[0] not in MEASUREMENT_FIELDS:
            raise ctx.key_error(
                f"a change trend follows one measurement, got {_shown(subject)}",
                node,
                "trend",
                suggest(str(names[0]), list(MEASUREMENT_FIELDS)),
            )
        m = MEASUREMENT_FIELDS[names[0]]
        days = _whole(node, "within_days", ctx, 1, MAX_WINDOW_DAYS, required=True)
        start = node.get("from", "earliest")
        if start not in STARTS:
            raise ctx.key_error(
                f"'from' is one of {', '.join(STARTS)}, got {_shown(start)}",
                node,
                "from",
                suggest(str(start), STARTS),
            )
        percent = measure == "change_pct"
        width = m.high - m.low
        spec = (
            FieldSpec(
                "",
                "number",
                f"{m.label} change over {days} days (from the {start})",
                "%",
                -100,
                1000,
            )
            if percent
            else FieldSpec(
                "",
                "number",
                f"{m.label} change over {days} days (from the {start})",
                m.unit,
                -width,
                width,
            )
        )
        name = f"trend__{m.name}__{measure}__from_{start}__{days}d"
        return _register(
            node, ctx, measure, name, Change(m.name, percent, days, start), spec, _parse_field
        )
    codes = _codes(names, node, ctx, allow_any=measure == "worsening")
    shown = " or ".join(codes) if codes else "any symptom"
    joined = "_or_".join(codes) if codes else ANY_SYMPTOM
    if measure == "check_ins":
        last = _whole(node, "of_last", ctx, 2, MAX_COUNT, required=True)
        spec = FieldSpec("", "number", f"check-ins with {shown} among the last {last}", "", 0, last)
        name = f"trend__{joined}__check_ins_of_last_{last}"
        return _register(node, ctx, measure, name, Count(codes, last), spec, _parse_field)
    if measure == "days":
        days = _whole(node, "within_days", ctx, 1, MAX_WINDOW_DAYS, required=True)
        spec = FieldSpec("", "number", f"days with {shown} within {days} days", "", 0, days + 1)
        name = f"trend__{joined}__days_within_{days}d"
        return _register(node, ctx, measure, name, Days(codes, days), spec, _parse_field)
    spec = FieldSpec(
        "", "number", f"rises in severity of {shown} at consecutive check-ins", "", 0, MAX_COUNT
    )
    name = f"trend__{joined}__worsening"
    return _register(node, ctx, measure, name, Worsening(codes), spec, _parse_field)


def _register(
    node: LineDict,
    ctx: ParseContext,
    key: str,
    name: str,
    kind: TrendKind,
    spec: FieldSpec,
    parse_field: Any,
) -> Condition:
    tests = parse_field(node, key, {key: dataclasses.replace(spec, name=key)}, ctx)
    trend = Trend(name, kind, dataclasses.replace(spec, name=name))
    TREND_FIELDS.setdefault(name, trend)
    conds: list[Condition] = [FieldCond(dataclasses.replace(t, field=name)) for t in tests]
    return conds[0] if len(conds) == 1 else AllOf(tuple(conds))


def _codes(names: list[Any], node: LineDict, ctx: ParseContext, allow_any: bool) -> tuple[str, ...]:
    from .intake import suggest

    if allow_any and names == [ANY_SYMPTOM]:
        return ()
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in ctx.symptom_codes:
            hint = "" if not allow_any else f" or {ANY_SYMPTOM}"
            raise ctx.key_error(
                f"unknown symptom code {_shown(name)} in a trend; codes come from the"
                f" vocabulary{hint}",
                node,
                "trend",
                suggest(str(name), ctx.symptom_codes),
            )
        out.append(name)
    return tuple(dict.fromkeys(out))


def _whole(node: LineDict, key: str, ctx: ParseContext, low: int, high: int, required: bool) -> int:
    if key not in node:
        raise ctx.key_error(f"this trend needs {key!r} (a whole number)", node, "trend")
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ctx.key_error(
            f"{key!r} takes a whole number from {low} to {high}, got {_shown(value)}", node, key
        )
    return value


def _check_streak(cond: Condition, node: LineDict, ctx: ParseContext) -> None:
    if isinstance(cond, SymptomCond):
        raise ctx.key_error(
            "a streak tests measurements or treatment at each check-in, not symptoms (use a"
            " check_ins trend for a symptom)",
            node,
            "streak",
        )
    if isinstance(cond, FieldCond):
        if cond.test.field not in _STREAK_FIELDS:
            raise ctx.key_error(
                f"a streak can test measurements, hours_since_dose and route, not"
                f" {cond.test.field!r}",
                node,
                "streak",
            )
        return
    for item in cond.items:
        _check_streak(item, node, ctx)


def _shown(value: Any) -> str:
    if isinstance(value, LineDict | dict):
        return "a mapping"
    if isinstance(value, LineList | list):
        return "a list"
    return repr(value)


_OPS = {
    "eq": "equal to",
    "ne": "not equal to",
    "ge": "at least",
    "gt": "above",
    "le": "at most",
    "lt": "below",
    "in": "one of",
    "not_in": "not one of",
    "present": "recorded",
    "absent": "not recorded",
}


def describe(cond: Condition) -> str:
    """A streak's condition in words (field tests only)."""
    if isinstance(cond, FieldCond):
        t = cond.test
        spec = CONTEXT_FIELDS[t.field]
        if t.op in ("present", "absent"):
            return f"{spec.label} {_OPS[t.op]}"
        value = ", ".join(map(str, t.value)) if t.op in ("in", "not_in") else f"{t.value:g}"
        unit = f" {spec.unit}" if spec.unit and t.op not in ("in", "not_in") else ""
        return f"{spec.label} {_OPS[t.op]} {value}{unit}"
    if isinstance(cond, SymptomCond):  # refused at load
        return "a symptom"
    parts = [describe(item) for item in cond.items]
    if isinstance(cond, NoneOf):
        return "not (" + " or ".join(parts) + ")"
    joiner = " and " if isinstance(cond, AllOf) else " or "
    return "(" + joiner.join(parts) + ")" if len(parts) > 1 else parts[0]


# -- computing ----------------------------------------------------------------------------


def timeline(report: Report, reader: Reader, now: dt.datetime) -> list[Entry]:
    """The report's earlier check-ins, oldest first, and the report itself, last.

    Check-ins at the same instant are ordered by their content, so the order they were
    given in (or stored in) never changes a result.
    """
    history = list(report.history)
    instants = [e.reported_at for e in history]
    if len(set(instants)) < len(instants):
        history.sort(key=lambda e: (e.reported_at, e.model_dump_json()))
    else:
        history.sort(key=lambda e: e.reported_at)
    out = [_entry(e, reader) for e in history]
    out.append(_entry(report, reader, now))
    return out


def _entry(checkin: CheckIn | Report, reader: Reader, when: dt.datetime | None = None) -> Entry:
    at = when if when is not None else checkin.reported_at
    assert at is not None
    sev: dict[str, int] = {}
    names: dict[str, str] = {}
    for s in checkin.symptoms:
        given = SEVERITY_RANK[s.severity]
        for found in reader.read(s.name).found:
            rank = 3 if found.severe else given
            if rank > sev.get(found.code, 0):
                sev[found.code] = rank
            names.setdefault(found.code, reader.vocabulary.label(found.code).lower())
    return Entry(
        at, at.date().isoformat(), sev, names, _values(checkin.measurements, checkin.treatment)
    )


def _values(m: Measurements, t: Treatment) -> dict[str, Any]:
    values = {k: v for k, v in m.__dict__.items() if v is not None}
    if t.hours_since_dose is not None:
        values["hours_since_dose"] = t.hours_since_dose
    if t.route is not None:
        values["route"] = str(t.route)
    return values


def compute(trend: Trend, entries: Sequence[Entry]) -> tuple[float, str] | None:
    """The trend's value and its words for ``because``, or None when it has no value."""
    kind = trend.kind
    if isinstance(kind, Change):
        return _change(kind, entries)
    if isinstance(kind, Count):
        window = entries[-kind.last :]
        hits = [e for e in window if _has(e, kind.codes)]
        return float(len(hits)), (
            f"{_names(kind.codes, entries)} at {len(hits)} of the last {len(window)} check-ins"
            f" ({', '.join(e.day for e in hits) or 'none'})"
        )
    if isinstance(kind, Days):
        start = entries[-1].when - dt.timedelta(days=kind.days)
        days = sorted({e.day for e in entries if e.when >= start and _has(e, kind.codes)})
        return float(len(days)), (
            f"{_names(kind.codes, entries)} on {len(days)} day{'s' * (len(days) != 1)} within"
            f" {kind.days} days ({', '.join(days) or 'none'})"
        )
    if isinstance(kind, Worsening):
        return _worsening(kind, entries)
    return _streak(kind, entries)


def _has(e: Entry, codes: tuple[str, ...]) -> bool:
    return any(c in e.sev for c in codes)


def _names(codes: tuple[str, ...], entries: Sequence[Entry]) -> str:
    labels = []
    for code in codes:
        label = next((e.names[code] for e in entries if code in e.names), code.replace("_", " "))
        labels.append(label)
    return " or ".join(labels)


def _num(value: float) -> str:
    return f"{round(value, 2):g}"


def _change(kind: Change, entries: Sequence[Entry]) -> tuple[float, str] | None:
    now = entries[-1]
    current = now.values.get(kind.measurement)
    if current is None:
        return None
    start = now.when - dt.timedelta(days=kind.days)
    earlier = [e for e in entries[:-1] if e.when >= start and kind.measurement in e.values]
    if not earlier:
        return None
    m = kind.measurement
    if kind.start == "lowest":
        ref = min(earlier, key=lambda e: e.values[m])
    elif kind.start == "highest":
        ref = max(earlier, key=lambda e: e.values[m])
    else:
        ref = earlier[0]
    before = ref.values[m]
    delta = current - before
    value = round(delta / before * 100 if kind.percent else delta, 2) + 0.0
    spec = MEASUREMENT_FIELDS[m]
    unit = "%" if kind.percent else spec.unit
    sign = "+" if value > 0 else ""
    which = {"earliest": "the first", "lowest": "the lowest", "highest": "the highest"}
    return value, (
        f"{spec.label} {_num(before)} {spec.unit} on {ref.day} → {_num(current)} {spec.unit}"
        f" on {now.day}: {sign}{_num(value)} {unit} ({which[kind.start]} in the"
        f" {kind.days} days before)"
    )


def _run(code: str, entries: Sequence[Entry]) -> list[Entry]:
    """The latest run of consecutive check-ins with ``code`` whose severity never fell."""
    if code not in entries[-1].sev:
        return []
    run = [entries[-1]]
    for e in reversed(entries[:-1]):
        rank = e.sev.get(code)
        if rank is None or rank > run[0].sev[code]:
            break
        run.insert(0, e)
    return run


def _worsening(kind: Worsening, entries: Sequence[Entry]) -> tuple[float, str]:
    codes = kind.codes or tuple(sorted(entries[-1].sev))
    best: tuple[int, str, list[Entry]] | None = None
    for code in codes:
        run = _run(code, entries)
        rises = sum(1 for a, b in itertools.pairwise(run) if b.sev[code] > a.sev[code])
        if best is None or rises > best[0]:
            best = (rises, code, run)
    if best is None or best[0] == 0:
        return 0.0, (
            f"{_names(kind.codes, entries)} not worsening" if kind.codes else "no symptom worsening"
        )
    rises, code, run = best
    steps = [run[0]] + [b for a, b in itertools.pairwise(run) if b.sev[code] > a.sev[code]]
    said = ", ".join(f"{_SEVERITY_WORDS[e.sev[code]]} on {e.day}" for e in steps)
    return float(rises), f"{entries[-1].names[code]} worse at consecutive check-ins: {said}"


def holds(cond: Condition, values: dict[str, Any]) -> bool:
    """Whether a streak's condition (field tests only) holds for one check-in's values."""
    if isinstance(cond, FieldCond):
        return _test(cond.test, values.get(cond.test.field))
    if isinstance(cond, AllOf):
        return all(holds(item, values) for item in cond.items)
    if isinstance(cond, AnyOf):
        return any(holds(item, values) for item in cond.items)
    if isinstance(cond, NoneOf):
        return not any(holds(item, values) for item in cond.items)
    return False


def _test(t: Test, value: Any) -> bool:
    op = t.op
    if op == "present":
        return value is not None
    if op == "absent":
        return value is None
    if value is None:
        return False
    if op == "eq":
        return bool(value == t.value)
    if op == "ne":
        return bool(value != t.value)
    if op == "in":
        return value in t.value
    if op == "not_in":
        return value not in t.value
    if op == "ge":
        return bool(value >= t.value)
    if op == "gt":
        return bool(value > t.value)
    if op == "le":
        return bool(value <= t.value)
    return bool(value < t.value)


def _fields(cond: Condition) -> list[str]:
    if isinstance(cond, FieldCond):
        return [cond.test.field]
    if isinstance(cond, SymptomCond):
        return []
    return list(dict.fromkeys(f for item in cond.items for f in _fields(item)))


def _streak(kind: Streak, entries: Sequence[Entry]) -> tuple[float, str]:
    run: list[Entry] = []
    for e in reversed(entries):
        if not holds(kind.when, e.values):
            break
        run.insert(0, e)
    fields = [f for f in _fields(kind.when) if f in MEASUREMENT_FIELDS]
    shown = []
    for e in run:
        if "systolic_bp" in fields and "diastolic_bp" in fields:
            s, d = e.values.get("systolic_bp"), e.values.get("diastolic_bp")
            what = f"{_num(s) if s is not None else '?'}/{_num(d) if d is not None else '?'}"
        else:
            what = ", ".join(_num(e.values[f]) for f in fields if f in e.values)
        shown.append(f"{what} on {e.day}")
    n = len(run)
    return float(n), (
        f"{n} consecutive check-in{'s' * (n != 1)} with {kind.words}"
        + (f": {', '.join(shown)}" if shown else "")
    )


# -- the facts a report's history adds ----------------------------------------------------


def baseline_from_history(entries: Sequence[Entry]) -> tuple[float, str] | None:
    """The baseline weight on file: the latest baseline given at an earlier check-in,
    else the first weight on file. None when no earlier check-in has either."""
    for e in reversed(entries[:-1]):
        if "baseline_weight_kg" in e.values:
            return e.values["baseline_weight_kg"], f"the baseline given on {e.day}"
    for e in entries[:-1]:
        if "weight_kg" in e.values:
            return e.values["weight_kg"], f"the first weight on file, {e.day}"
    return None
