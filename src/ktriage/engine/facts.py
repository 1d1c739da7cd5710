"""Second stage: a valid Report becomes facts: symptoms named in the vocabulary's codes,
numbers derived once in Python, and the words that explain each fact to a person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from .compiler import UNRECOGNIZED_CODE
from .conditions import CONTEXT_FIELDS, SYMPTOM_FIELDS
from .models import SEVERITY_RANK, Measurements, Report, Severity, Skipped, Symptom
from .reader import Reader, TextReading
from .trends import Trend, baseline_from_history, compute, timeline
from .vocabulary import Vocabulary, normalise

# Derived values are rounded once, here: 117.6 kg against 98 kg is 19.999999999999996 %
# in floating point, and a value on a band's boundary belongs to the higher band.
DERIVED_PRECISION = 2
# Durations are compared at 0.01 day / 0.01 hour. Besides being all the precision a
# report has, this keeps every number out of exponent notation: durable_rules' JSON
# parser crashes the process (SIGSEGV) on a number such as 1e-05.
DURATION_PRECISION = 2
_SEV_RANK = {member.value: rank for member, rank in SEVERITY_RANK.items()}


class SymptomFact(NamedTuple):
    # A NamedTuple, not a frozen dataclass: one is built per symptom per evaluation, and
    # a frozen dataclass's __init__ costs several times more.
    position: int  # in the facts' symptom list (a text can hold several symptoms)
    name: str  # the words it was read from, as typed
    code: str  # vocabulary code, or UNRECOGNIZED_CODE
    sev: int
    severity: Severity
    days: float | None
    limits_self_care: bool | None
    limits_daily_activities: bool | None
    relieved_by_rest: bool | None

    def durable(self) -> dict[str, Any]:
        fact: dict[str, Any] = {"t": "s", "code": self.code, "sev": self.sev}
        if self.days is not None:
            fact["days"] = self.days
        for name in ("limits_self_care", "limits_daily_activities", "relieved_by_rest"):
            value = getattr(self, name)
            if value is not None:
                fact[name] = int(value)  # durable_rules never matches JSON true
        return fact


class Facts(NamedTuple):
    symptoms: tuple[SymptomFact, ...]
    context: dict[str, Any]  # field -> value, only fields that are present
    derived: dict[str, float]
    unrecognized: tuple[str, ...]
    readings: tuple[TextReading, ...] = ()
    # field -> its words in ``because`` when the report alone cannot say them (values
    # taken from earlier check-ins); None for a report without history
    notes: dict[str, str] | None = None
    # measurements typed in symptom text that were not used (the report gives its own)
    skipped: tuple[Skipped, ...] = ()


def _bare(
    position: int, name: str, code: str, sev: int, s: Symptom, days: float | None
) -> SymptomFact:
    """A fact the reader adds for a text (a possible or denied red flag, unread words):
    the text's severity and duration, no flags."""
    return SymptomFact(position, name, code, sev, s.severity, days, None, None, None)


def derive(report: Report) -> dict[str, float]:
    m = report.measurements
    out: dict[str, float] = {}
    if m.weight_kg is not None and m.baseline_weight_kg is not None:
        pct = (m.weight_kg - m.baseline_weight_kg) / m.baseline_weight_kg * 100
        out["weight_change_pct"] = round(pct, DERIVED_PRECISION) + 0.0  # no -0.0
    if (
        m.respiratory_rate is not None
        or m.oxygen_saturation_pct is not None
        or m.systolic_bp is not None
        or m.heart_rate is not None
        or m.temperature_c is not None
    ):
        out["news2_vitals"] = float(news2_vitals(m))
    return out


def news2_vitals(m: Measurements) -> int:
    """NEWS2 points (RCP 2017) for the vital signs given; a sign not given scores 0.

    SpO2 on scale 1, breathing air; consciousness is not a measurement and is graded by
    the confusion and drowsiness rules.
    """
    points = 0
    rr = m.respiratory_rate
    if rr is not None:
        points += 3 if rr <= 8 else 1 if rr <= 11 else 0 if rr <= 20 else 2 if rr <= 24 else 3
    spo2 = m.oxygen_saturation_pct
    if spo2 is not None:
        points += 3 if spo2 <= 91 else 2 if spo2 <= 93 else 1 if spo2 <= 95 else 0
    sbp = m.systolic_bp
    if sbp is not None:
        points += 3 if sbp <= 90 else 2 if sbp <= 100 else 1 if sbp <= 110 else 0
        points += 3 if sbp >= 220 else 0
    hr = m.heart_rate
    if hr is not None:
        points += (
            3
            if hr <= 40
            else 1
            if hr <= 50
            else 0
            if hr <= 90
            else 1
            if hr <= 110
            else 2
            if hr <= 130
            else 3
        )
    t = m.temperature_c
    if t is not None:
        points += 3 if t <= 35.0 else 1 if t <= 36.0 else 0 if t <= 38.0 else 1 if t <= 39.0 else 2
    return points


def extract(
    report: Report,
    reader: Reader,
    negated_codes: frozenset[str],
    trends: tuple[Trend, ...] = (),
) -> Facts:
    # Written for speed (it runs on every evaluation): positional NamedTuples, no
    # enum properties, one pass over each part of the report.
    read = reader.read
    safety = reader.safety_net
    denied = reader.denied_red_flag
    red_flags = reader.red_flag_codes
    symptoms: list[SymptomFact] = []
    unrecognized: list[str] = []
    readings: list[TextReading] = []
    typed = False  # a text holds measurements ("BP 200/125")
    for s in report.symptoms:
        reading = read(s.name)
        if reading.values:
            typed = True
        readings.append(reading)
        days = s.days
        if days is not None:
            days = round(days, DURATION_PRECISION) + 0.0
        given = _SEV_RANK[s.severity.value]
        for found in reading.found:
            sev, severity = (3, Severity.SEVERE) if found.severe else (given, s.severity)
            symptoms.append(
                SymptomFact(
                    len(symptoms),
                    found.matched,
                    found.code,
                    sev,
                    severity,
                    days,
                    s.limits_self_care,
                    s.limits_daily_activities,
                    s.relieved_by_rest,
                )
            )
        flag = reading.possible_red_flag
        if flag is not None:
            code = safety if safety is not None else UNRECOGNIZED_CODE
            if code == UNRECOGNIZED_CODE:
                unrecognized.append(flag)
            symptoms.append(_bare(len(symptoms), flag, code, given, s, days))
        if denied is not None and reading.absent:
            # a red flag said to be absent or past ("not suicidal anymore") never alarms,
            # but a clinician hears of it
            for absent in reading.absent:
                if absent.code in red_flags:
                    symptoms.append(_bare(len(symptoms), absent.matched, denied, given, s, days))
        for words in reading.leftover:
            unrecognized.append(words)
            symptoms.append(_bare(len(symptoms), words, UNRECOGNIZED_CODE, given, s, days))
    skipped: tuple[Skipped, ...] = ()
    if typed:
        report, skipped = with_text_values(report, readings)
    context: dict[str, Any] = {
        k: v for k, v in report.measurements.__dict__.items() if v is not None
    }
    derived = derive(report)
    if derived:
        context.update(derived)
    if report.age_years is not None:
        context["age_years"] = round(report.age_years, DURATION_PRECISION) + 0.0
    treatment = report.treatment
    if treatment.route is not None:
        context["route"] = str(treatment.route)
    if treatment.hours_since_dose is not None:
        hours = round(treatment.hours_since_dose, DURATION_PRECISION) + 0.0
        context["hours_since_dose"] = hours
    if negated_codes:
        for fact in symptoms:
            if fact.code in negated_codes:
                context[f"has__{fact.code}"] = 1
    notes = _history_facts(report, reader, trends, context, derived) if report.history else None
    return Facts(
        tuple(symptoms), context, derived, tuple(unrecognized), tuple(readings), notes, skipped
    )


def with_text_values(
    report: Report, readings: list[TextReading]
) -> tuple[Report, tuple[Skipped, ...]]:
    """``report`` with the measurements typed in its symptom texts ("BP 200/125") where
    it gives none; the first text to give a value wins. A value the report already gives
    stands, and the text's is listed as skipped (what, where, why)."""
    given = report.measurements
    added: dict[str, float] = {}
    skipped: list[Skipped] = []
    for position, reading in enumerate(readings):
        for value in reading.values:
            own = getattr(given, value.field)
            if value.field == "fasting_glucose_mg_dl" and 100 <= value.value < 200:
                # the pack's rules in this band (prediabetes, diabetes range) are for
                # fasting values; a sugar typed in a text is not known to be one. Below
                # and above it the rules (low sugar, high sugar) hold for any reading.
                skipped.append(
                    Skipped(
                        what=f"blood sugar {value.value:g} mg/dL typed as {value.matched!r}",
                        where=f"symptoms.{position}.name",
                        why="not known to be fasting; between 100 and 199 mg/dL only a"
                        " fasting value is graded",
                    )
                )
                continue
            if own is None and value.field not in added:
                added[value.field] = value.value
            elif value.value != (kept := own if own is not None else added[value.field]):
                source = "the report gives" if own is not None else "an earlier text gives"
                skipped.append(
                    Skipped(
                        what=f"{value.field} {value.value:g} typed as {value.matched!r}",
                        where=f"symptoms.{position}.name",
                        why=f"{source} {value.field} {kept:g}, which is used",
                    )
                )
    if added:
        report = report.model_copy(update={"measurements": given.model_copy(update=added)})
    return report, tuple(skipped)


def _history_facts(
    report: Report,
    reader: Reader,
    trends: tuple[Trend, ...],
    context: dict[str, Any],
    derived: dict[str, float],
) -> dict[str, str]:
    """What earlier check-ins add to the context: the baseline weight on file when the
    report gives none, and the value of every trend the pack tests. Returns the words that
    explain them."""
    now = report.reported_at or dt.datetime.now(dt.UTC)
    entries = timeline(report, reader, now)
    notes: dict[str, str] = {}
    m = report.measurements
    if m.baseline_weight_kg is None:
        found = baseline_from_history(entries)
        if found is not None:
            baseline, where = found
            context["baseline_weight_kg"] = baseline
            notes["baseline_weight_kg"] = f"baseline weight {_num(baseline)} kg ({where})"
            if m.weight_kg is not None:
                pct = round((m.weight_kg - baseline) / baseline * 100, DERIVED_PRECISION) + 0.0
                context["weight_change_pct"] = derived["weight_change_pct"] = pct
                sign = "+" if pct > 0 else ""
                notes["weight_change_pct"] = (
                    f"weight change from baseline {sign}{_num(pct)} % ({_num(m.weight_kg)} kg"
                    f" now, {_num(baseline)} kg at baseline: {where})"
                )
    for trend in trends:
        got = compute(trend, entries)
        if got is not None:
            context[trend.field], notes[trend.field] = got
    return notes


# -- explaining a fact in words ------------------------------------------------------------


def symptom_head(name: str, code: str, vocabulary: Vocabulary) -> str:
    """How a symptom is named in ``because``: its label, and the caller's words if other."""
    if code == UNRECOGNIZED_CODE:
        return f"{name!r} is not a symptom the rule pack knows"
    label = vocabulary.label(code)
    head = label.lower() if label[:1].isupper() and label[1:2].islower() else label
    if normalise(name) not in (normalise(code), normalise(label)):
        head += f" (reported as {name!r})"
    return head


_FLAGS = ((6, "limits_self_care"), (7, "limits_daily_activities"), (8, "relieved_by_rest"))
# (position in SymptomFact, words when true, words when false)
_FLAG_WORDS = tuple(
    (
        i,
        SYMPTOM_FIELDS[name].label,
        "not " + SYMPTOM_FIELDS[name].label.replace("limits", "limiting"),
    )
    for i, name in _FLAGS
)


def describe_symptom(fact: SymptomFact, head: str) -> str:
    """``fact`` in words, after ``head`` (see symptom_head)."""
    if fact.code == UNRECOGNIZED_CODE:
        return head
    text = f"{head}: {fact.severity._value_}"
    days = fact.days
    if days is not None:
        text += f", {_num(days)} day{'s' * (days != 1)}"
    for i, yes, no in _FLAG_WORDS:
        value = fact[i]
        if value is not None:
            text += ", " + (yes if value else no)
    return text


def describe_field(name: str, context: dict[str, Any]) -> str:
    spec = CONTEXT_FIELDS[name]
    if name not in context:
        return f"{spec.label}: not recorded"
    value = context[name]
    if spec.kind == "enum":
        return f"{spec.label}: {str(value).replace('_', ' ')}"
    if name == "weight_change_pct":
        sign = "+" if value > 0 else ""
        return (
            f"{spec.label} {sign}{_num(value)} % ({_num(context['weight_kg'])} kg now,"
            f" {_num(context['baseline_weight_kg'])} kg at baseline)"
        )
    unit = spec.unit
    sep = "" if unit == "%" else " "
    return f"{spec.label} {_num(value)}{sep}{unit}"


def _num(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else str(value)
