"""The ``when:`` language of a rule: parsed from YAML into a small typed tree.

A condition is a mapping. Its shape says what it tests::

    symptom: fatigue                 # a reported symptom (code or list of codes) ...
    severity: {at_least: moderate}   # ... optionally filtered by its attributes
    days: {at_least: 3}

    systolic_bp: {at_least: 180}     # a measurement, derived value, treatment or age

    all: [...]  any: [...]  none: [...]   # combine other conditions

Comparisons: a bare value (equals), a list (one of), or a mapping of ``at_least``,
``above``, ``at_most``, ``below``, ``equals``, ``one_of``, ``present``. Everything is checked
here, at load time, and an error names the line and suggests the nearest valid word.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import RulePackError
from .intake import suggest
from .models import MEASUREMENT_FIELDS, OTHER_NUMERIC_FIELDS, NumericField, Route, Severity
from .yamlsource import LineDict, LineList

Op = Literal["eq", "ne", "ge", "gt", "le", "lt", "in", "not_in", "present", "absent"]


@dataclass(frozen=True)
class FieldSpec:
    """A value a condition may test: numbers, a fixed set of words, or true/false."""

    name: str
    kind: Literal["number", "enum", "ordinal", "bool"]
    label: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    values: tuple[str, ...] = ()


def _numeric(f: NumericField) -> FieldSpec:
    return FieldSpec(f.name, "number", f.label, f.unit, f.low, f.high)


DERIVED_FIELDS: dict[str, FieldSpec] = {
    "weight_change_pct": FieldSpec(
        "weight_change_pct", "number", "weight change from baseline", "%", -95, 1900
    ),
    # NEWS2 points from the vital signs the report holds (respiration, SpO2, systolic,
    # pulse, temperature); a sign not given adds nothing, so this is a lower bound
    "news2_vitals": FieldSpec(
        "news2_vitals", "number", "NEWS2 points from the vital signs given", "points", 0, 15
    ),
}
CONTEXT_FIELDS: dict[str, FieldSpec] = {
    **{name: _numeric(f) for name, f in MEASUREMENT_FIELDS.items()},
    **DERIVED_FIELDS,
    "age_years": _numeric(OTHER_NUMERIC_FIELDS["age_years"]),
    "hours_since_dose": _numeric(OTHER_NUMERIC_FIELDS["hours_since_dose"]),
    "route": FieldSpec("route", "enum", "route", values=tuple(r.value for r in Route)),
}
SYMPTOM_FIELDS: dict[str, FieldSpec] = {
    "severity": FieldSpec(
        "severity", "ordinal", "severity", values=tuple(s.value for s in Severity)
    ),
    "days": _numeric(OTHER_NUMERIC_FIELDS["days"]),
    "limits_self_care": FieldSpec("limits_self_care", "bool", "limits self-care"),
    "limits_daily_activities": FieldSpec(
        "limits_daily_activities", "bool", "limits daily activities"
    ),
    "relieved_by_rest": FieldSpec("relieved_by_rest", "bool", "relieved by rest"),
}
COMBINATORS = ("all", "any", "none")
COMPARISONS = ("at_least", "above", "at_most", "below", "equals", "one_of", "present")
_OP_OF = {"at_least": "ge", "above": "gt", "at_most": "le", "below": "lt"}


@dataclass(frozen=True)
class Test:
    """One comparison of one field. ``value`` is already in fact terms (severity as rank)."""

    field: str
    op: Op
    value: Any = None


@dataclass(frozen=True)
class SymptomCond:
    codes: tuple[str, ...]
    tests: tuple[Test, ...] = ()


@dataclass(frozen=True)
class FieldCond:
    test: Test


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class NoneOf:
    items: tuple[Condition, ...]


Condition = SymptomCond | FieldCond | AllOf | AnyOf | NoneOf


@dataclass
class ParseContext:
    file: str
    rule_id: str | None
    symptom_codes: set[str]
    # a lay word -> the code it stands for (to say "'tired' is a word for 'fatigue'")
    word_code: Callable[[str], str | None] | None = None

    def error(self, message: str, node: Any, suggestion: str | None = None) -> RulePackError:
        line = getattr(node, "line", None)
        return RulePackError(
            message, file=self.file, line=line, rule_id=self.rule_id, suggestion=suggestion
        )

    def key_error(
        self, message: str, node: LineDict, key: str, suggestion: str | None = None
    ) -> RulePackError:
        return RulePackError(
            message,
            file=self.file,
            line=node.key_lines.get(key, node.line),
            rule_id=self.rule_id,
            suggestion=suggestion,
        )


def parse_condition(node: Any, ctx: ParseContext, negated: bool = False) -> Condition:
    if not isinstance(node, LineDict):
        raise ctx.error(
            f"a condition must be a mapping such as 'symptom: fatigue', got {_show(node)}", node
        )
    if not node:
        raise ctx.error("a condition must not be empty", node)
    combinators = [k for k in node if k in COMBINATORS]
    if combinators:
        key = combinators[0]
        if len(node) > 1:
            other = next(k for k in node if k != key)
            raise ctx.key_error(
                f"'{key}' must be the only key in its condition; put {other!r} in its own item"
                f" under '{key}'",
                node,
                other,
            )
        items = node[key]
        if not isinstance(items, LineList) or not items:
            raise ctx.key_error(f"'{key}' takes a non-empty list of conditions", node, key)
        inner = not negated if key == "none" else negated
        parsed = tuple(parse_condition(item, ctx, inner) for item in items)
        if key == "all":
            return AllOf(parsed)
        if key == "any":
            return AnyOf(parsed)
        return NoneOf(parsed)
    if "trend" in node or "streak" in node:
        from .trends import parse_trend  # trends builds on this module

        return parse_trend(node, ctx)
    if "symptom" in node:
        cond = _parse_symptom(node, ctx)
        if negated and cond.tests:
            # durable_rules' own negation depends on the order facts arrive in (measured:
            # a negated fact asserted after the one it should block does not withdraw the
            # match), so 'none' compiles to tests on the report's context fact, which can
            # say "this symptom was not reported" but not "not reported at this severity".
            raise ctx.error(
                "under 'none', a symptom condition can name codes only, not severity, days "
                "or other attributes; test the attribute positively in another rule instead",
                node,
            )
        return cond
    tests = [_parse_field(node, key, CONTEXT_FIELDS, ctx) for key in node]
    conds: list[Condition] = [FieldCond(t) for tl in tests for t in tl]
    return conds[0] if len(conds) == 1 else AllOf(tuple(conds))


def _parse_symptom(node: LineDict, ctx: ParseContext) -> SymptomCond:
    raw = node["symptom"]
    names = list(raw) if isinstance(raw, LineList) else [raw]
    if not names:
        raise ctx.key_error("'symptom' needs at least one symptom code", node, "symptom")
    codes: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise ctx.key_error(f"a symptom code must be text, got {_show(name)}", node, "symptom")
        if name not in ctx.symptom_codes:
            owner = ctx.word_code(name) if ctx.word_code else None
            if owner is not None:
                raise ctx.key_error(
                    f"{name!r} is a word for the symptom code {owner!r}; rules name codes",
                    node,
                    "symptom",
                    owner,
                )
            raise ctx.key_error(
                f"unknown symptom code {name!r}; codes come from the vocabulary",
                node,
                "symptom",
                suggest(name, ctx.symptom_codes),
            )
        codes.append(name)
    tests: list[Test] = []
    for key in node:
        if key == "symptom":
            continue
        if key not in SYMPTOM_FIELDS:
            hint = suggest(key, list(SYMPTOM_FIELDS))
            where = (
                ""
                if hint
                else (
                    "; a measurement or treatment test goes in its own item under 'all'"
                    if key in CONTEXT_FIELDS
                    else f"; a symptom condition takes {', '.join(SYMPTOM_FIELDS)}"
                )
            )
            raise ctx.key_error(f"unknown symptom attribute {key!r}{where}", node, key, hint)
        tests.extend(_parse_field(node, key, SYMPTOM_FIELDS, ctx))
    return SymptomCond(tuple(dict.fromkeys(codes)), tuple(tests))


def _parse_field(
    node: LineDict, key: str, fields: dict[str, FieldSpec], ctx: ParseContext
) -> list[Test]:
    spec = fields.get(key)
    if spec is None:
        candidates = [*fields, *COMBINATORS, "symptom"]
        raise ctx.key_error(f"unknown field {key!r}", node, key, suggest(key, candidates))
    raw = node[key]
    if isinstance(raw, LineDict):
        tests: list[Test] = []
        for op in raw:
            if op not in COMPARISONS:
                raise ctx.key_error(
                    f"unknown comparison {op!r} for {key!r}; use one of {', '.join(COMPARISONS)}",
                    raw,
                    op,
                    suggest(op, COMPARISONS),
                )
            tests.append(_comparison(spec, op, raw[op], raw, ctx))
        if not tests:
            raise ctx.key_error(f"{key!r} needs a comparison such as at_least", node, key)
        return tests
    if isinstance(raw, LineList):
        return [_comparison(spec, "one_of", raw, node, ctx)]
    return [_comparison(spec, "equals", raw, node, ctx)]


def _comparison(spec: FieldSpec, op: str, value: Any, node: LineDict, ctx: ParseContext) -> Test:
    key = op if op in node else spec.name

    def bad(message: str, hint: str | None = None) -> RulePackError:
        return ctx.key_error(f"{spec.name}: {message}", node, key, hint)

    if op == "present":
        if not isinstance(value, bool):
            raise bad(f"'present' takes true or false, got {_show(value)}")
        return Test(spec.name, "present" if value else "absent")
    if op == "one_of":
        if not isinstance(value, list) or not value:
            raise bad("'one_of' takes a non-empty list")
        if spec.kind == "number":
            raise bad("'one_of' is for words; compare numbers with at_least/above/at_most/below")
        return Test(spec.name, "in", tuple(_value(spec, v, bad) for v in value))
    if op in _OP_OF:
        if spec.kind in ("enum", "bool"):
            raise bad(f"{op!r} compares numbers or severities; use equals or one_of")
        return Test(spec.name, _OP_OF[op], _value(spec, value, bad))  # type: ignore[arg-type]
    return Test(spec.name, "eq", _value(spec, value, bad))


def _value(spec: FieldSpec, value: Any, bad: Any) -> Any:
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"expected a number, got {_show(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise bad("expected a finite number")
        if value and abs(value) < 1e-4:
            # written 1e-05 in JSON, which crashes durable_rules' parser
            raise bad(f"{value!r} is too small to compare; use 0 or at least 0.0001")
        assert spec.low is not None and spec.high is not None
        if not spec.low <= value <= spec.high:
            raise bad(
                f"{value:g} is outside the plausible range {spec.low:g} to {spec.high:g}"
                f" {spec.unit}".rstrip()
            )
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {_show(value)}")
        return int(value)  # durable_rules never matches JSON true; facts carry 0/1
    if not isinstance(value, str) or value not in spec.values:
        word = value if isinstance(value, str) else _show(value)
        raise bad(
            f"unknown value {word!r}; expected one of {', '.join(spec.values)}",
            suggest(str(value), spec.values),
        )
    if spec.kind == "ordinal":
        return spec.values.index(value) + 1
    return value


def _show(value: Any) -> str:
    if isinstance(value, LineDict | dict):
        return "a mapping"
    if isinstance(value, LineList | list):
        return "a list"
    if value is None:
        return "nothing (null)"
    return repr(value)


def mentioned(cond: Condition) -> tuple[set[str], set[str]]:
    """The symptom codes and context fields a condition mentions, negations included."""
    codes: set[str] = set()
    fields: set[str] = set()
    if isinstance(cond, SymptomCond):
        codes.update(cond.codes)
    elif isinstance(cond, FieldCond):
        fields.add(cond.test.field)
    else:
        for item in cond.items:
            c, f = mentioned(item)
            codes |= c
            fields |= f
    return codes, fields
