"""Properties of the shipped pack over generated reports (hypothesis).

Reports are drawn from the pack's own vocabulary and from values on, next to and between
the thresholds the pack's rules compare against, so every boundary is exercised.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ktriage import Engine, Result, load_pack
from ktriage.engine.conditions import (
    AllOf,
    AnyOf,
    Condition,
    FieldCond,
    NoneOf,
    SymptomCond,
)
from ktriage.engine.conditions import (
    Test as ConditionTest,
)
from ktriage.engine.models import MEASUREMENT_FIELDS, OTHER_NUMERIC_FIELDS, Route, Severity
from ktriage.engine.vocabulary import normalise

PACK = load_pack()
VOCABULARY = PACK.vocabulary
WORDS = sorted({w for t in VOCABULARY.terms.values() for w in (t.code, t.label, *t.synonyms)})
RED_FLAG_WORDS = sorted(
    w for t in VOCABULARY.terms.values() if t.red_flag for w in (t.code, t.label, *t.synonyms)
)
UNKNOWN_WORDS = ["purple toes", "hiccups", "itchy elbow"]
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _thresholds(cond: Condition, out: dict[str, set[float]]) -> None:
    tests: tuple[ConditionTest, ...] = ()
    if isinstance(cond, FieldCond):
        tests = (cond.test,)
    elif isinstance(cond, SymptomCond):
        tests = cond.tests
    else:
        assert isinstance(cond, AllOf | AnyOf | NoneOf)
        for item in cond.items:
            _thresholds(item, out)
    for t in tests:
        if isinstance(t.value, int | float) and not isinstance(t.value, bool):
            out.setdefault(t.field, set()).add(float(t.value))


THRESHOLDS: dict[str, set[float]] = {}
for _rule in PACK.rules:
    _thresholds(_rule.when, THRESHOLDS)
RANGES = {**MEASUREMENT_FIELDS, **OTHER_NUMERIC_FIELDS}


def numbers(name: str) -> st.SearchStrategy[float]:
    """Values of one field: pack thresholds, their neighbours, and anything in range."""
    f = RANGES[name]
    near = sorted(
        v
        for t in THRESHOLDS.get(name, ())
        for v in (t - 1, t - 0.01, t, t + 0.01, t + 1)
        if f.low <= v <= f.high
    )
    # Two decimals, as people report numbers. Not arbitrary floats: durable_rules crashes
    # the process (SIGSEGV) on a symptom's days written in exponent form, such as 1e-05;
    # that is an engine bug reported separately, not a property of the pack.
    anywhere = st.integers(int(f.low * 100), int(f.high * 100)).map(lambda n: n / 100)
    return st.one_of(st.sampled_from(near), anywhere) if near else anywhere


NUMBERS = {name: numbers(name) for name in RANGES}


def symptom(words: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    maybe_bool = st.one_of(st.none(), st.booleans())
    return st.fixed_dictionaries(
        {"name": st.sampled_from(words), "severity": st.sampled_from([s.value for s in Severity])},
        optional={
            "days": NUMBERS["days"],
            "limits_self_care": maybe_bool,
            "limits_daily_activities": maybe_bool,
            "relieved_by_rest": maybe_bool,
        },
    )


ANY_SYMPTOM = symptom(WORDS + UNKNOWN_WORDS)
ROUTES = st.sampled_from([r.value for r in Route])


def _consistent(measurements: dict[str, float]) -> bool:
    s, d = measurements.get("systolic_bp"), measurements.get("diastolic_bp")
    return s is None or d is None or d < s


TREATMENTS = st.fixed_dictionaries(
    {}, optional={"route": ROUTES, "hours_since_dose": NUMBERS["hours_since_dose"]}
)


@st.composite
def reports(draw: Any) -> dict[str, Any]:
    symptoms = draw(st.lists(ANY_SYMPTOM, max_size=4))
    fields = draw(st.sets(st.sampled_from(sorted(MEASUREMENT_FIELDS)), max_size=5))
    measurements = {name: draw(NUMBERS[name]) for name in sorted(fields)}
    if not _consistent(measurements):
        measurements.pop("diastolic_bp")
    report: dict[str, Any] = {"symptoms": symptoms, "measurements": measurements}
    treatment = draw(TREATMENTS)
    if treatment:
        report["treatment"] = treatment
    if draw(st.booleans()):
        report["age_years"] = draw(NUMBERS["age_years"])
    return report


@pytest.fixture(scope="session")
def shipped_engine() -> Engine:
    return Engine.load()


@pytest.fixture(scope="session")
def uncached_shipped_engine() -> Engine:
    return Engine.load(cache_size=0)


@SETTINGS
@given(report=reports(), extra=ANY_SYMPTOM)
def test_adding_a_symptom_never_lowers_the_level(
    shipped_engine: Engine, report: dict[str, Any], extra: dict[str, Any]
) -> None:
    before = shipped_engine.evaluate(report).escalation
    bigger = {**report, "symptoms": [*report["symptoms"], extra]}
    after = shipped_engine.evaluate(bigger).escalation
    assert after.rank >= before.rank, (before, after)


@SETTINGS
@given(report=reports(), data=st.data())
def test_adding_a_measurement_or_treatment_fact_never_lowers_the_level(
    shipped_engine: Engine, report: dict[str, Any], data: st.DataObject
) -> None:
    missing = [f"measurements.{n}" for n in MEASUREMENT_FIELDS if n not in report["measurements"]]
    missing += [f"treatment.{n}" for n in ("route", "hours_since_dose")]
    missing += ["age_years"]
    where = data.draw(st.sampled_from(missing))
    bigger = {**report, "measurements": dict(report["measurements"])}
    treatment = dict(report.get("treatment", {}))
    if where.startswith("measurements."):
        name = where.split(".", 1)[1]
        bigger["measurements"][name] = data.draw(NUMBERS[name])
        assume(_consistent(bigger["measurements"]))
    elif where.startswith("treatment."):
        name = where.split(".", 1)[1]
        assume(name not in treatment)
        treatment[name] = data.draw(ROUTES if name == "route" else NUMBERS[name])
        bigger["treatment"] = treatment
    else:
        assume("age_years" not in report)
        bigger["age_years"] = data.draw(NUMBERS["age_years"])
    before = shipped_engine.evaluate(report).escalation
    after = shipped_engine.evaluate(bigger).escalation
    assert after.rank >= before.rank, (where, before, after)


@SETTINGS
@given(
    report=reports(), flag=st.sampled_from(RED_FLAG_WORDS), severity=st.sampled_from(list(Severity))
)
def test_any_red_flag_symptom_gives_emergency(
    shipped_engine: Engine, report: dict[str, Any], flag: str, severity: Severity
) -> None:
    report = {**report, "symptoms": [*report["symptoms"], {"name": flag, "severity": severity}]}
    result = shipped_engine.evaluate(report)
    assert result.escalation == "emergency"
    assert result.red_flags


@SETTINGS
@given(report=reports(), saturation=st.integers(5000, 9299).map(lambda n: n / 100))
def test_low_oxygen_gives_emergency_whatever_else(
    shipped_engine: Engine, report: dict[str, Any], saturation: float
) -> None:
    report["measurements"]["oxygen_saturation_pct"] = saturation
    result = shipped_engine.evaluate(report)
    assert result.escalation == "emergency"
    assert "red_flag.low_oxygen" in result.red_flags


def _because_as_sets(result: Result) -> dict[str, Any]:
    out = result.model_dump()
    for advice in out["advice"]:
        advice["because"] = sorted(advice["because"])
    return out


@SETTINGS
@given(report=reports())
def test_same_report_same_result_with_or_without_the_cache(
    shipped_engine: Engine, uncached_shipped_engine: Engine, report: dict[str, Any]
) -> None:
    first = shipped_engine.evaluate(report)
    assert shipped_engine.evaluate(report).model_dump() == first.model_dump()
    # The order of 'because' lines may differ between the cached and uncached paths when
    # one report names the same symptom twice with identical details (an engine issue,
    # reported separately); everything else must be identical.
    uncached = uncached_shipped_engine.evaluate(report)
    assert _because_as_sets(uncached) == _because_as_sets(first)


def _named(result: Result, name: str) -> bool:
    if name in result.unrecognized:
        return True
    because = [b for a in result.advice for b in a.because]
    if any(f"(reported as {name!r})" in b for b in because):
        return True
    code = VOCABULARY.lookup(name)
    assert code is not None
    label = VOCABULARY.label(code).lower()
    return normalise(name) in (normalise(code), normalise(label)) and any(
        b.lower().startswith(label + ":") for b in because
    )


@SETTINGS
@given(report=reports())
def test_no_symptom_is_lost(shipped_engine: Engine, report: dict[str, Any]) -> None:
    result = shipped_engine.evaluate(report)
    for s in report["symptoms"]:
        assert _named(result, s["name"]), (s["name"], result.advice)


@SETTINGS
@given(report=reports())
def test_level_is_the_highest_advice_and_red_flags_mean_emergency(
    shipped_engine: Engine, report: dict[str, Any]
) -> None:
    result = shipped_engine.evaluate(report)
    highest = max((a.escalation.rank for a in result.advice), default=0)
    assert result.escalation.rank == highest
    assert all(a.rule != "ktriage.unmatched" for a in result.advice), result.advice
    if result.red_flags:
        assert result.escalation == "emergency"
