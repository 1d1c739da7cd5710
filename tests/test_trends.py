"""Trend conditions over earlier check-ins: values, boundaries, load-time errors, bad input,
and the decision cache on reports with history."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from benchmarks.workload import random_reports
from ktriage import Engine, InvalidReport, RulePackError, triage
from ktriage.engine.pack import default_pack_path

from .test_pack_errors import make_pack, rule


def _at(day: int, hour: int = 9) -> str:
    return f"2026-05-{day:02d}T{hour:02d}:00:00Z"


def _rules(result: Any) -> list[str]:
    return [a.rule for a in result.advice]


def _because(result: Any, rule_id: str) -> tuple[str, ...]:
    return next(a.because for a in result.advice if a.rule == rule_id)


# -- the shipped trend rules, with what their advice says ---------------------------------


def test_weight_over_four_weeks_uses_the_first_weight_as_baseline() -> None:
    result = triage(
        {
            "reported_at": "2026-03-29T09:00:00Z",
            "measurements": {"weight_kg": 84.8},
            "history": [
                {"reported_at": "2026-03-15T09:00:00Z", "measurements": {"weight_kg": 82}},
                {"reported_at": "2026-03-01T09:00:00Z", "measurements": {"weight_kg": 80}},
            ],
        }
    )
    assert result.escalation.value == "within_24h"
    assert _rules(result) == ["weight.trend_month", "weight.change_grade1"]
    assert _because(result, "weight.trend_month") == (
        "weight 80 kg on 2026-03-01 → 84.8 kg on 2026-03-29: +6 % (the lowest in the 30 days"
        " before)",
    )
    assert _because(result, "weight.change_grade1") == (
        "weight change from baseline +6 % (84.8 kg now, 80 kg at baseline: the first weight"
        " on file, 2026-03-01)",
    )
    assert result.derived == {"weight_change_pct": 6.0}


def test_without_history_the_same_weight_has_no_baseline() -> None:
    result = triage({"reported_at": "2026-03-29T09:00:00Z", "measurements": {"weight_kg": 84.8}})
    assert _rules(result) == ["weight.baseline_missing"]


def test_a_baseline_given_earlier_wins_over_the_first_weight() -> None:
    result = triage(
        {
            "reported_at": "2026-09-01T09:00:00Z",
            "measurements": {"weight_kg": 88},
            "history": [
                {"reported_at": "2026-01-01T09:00:00Z", "measurements": {"weight_kg": 70}},
                {
                    "reported_at": "2026-02-01T09:00:00Z",
                    "measurements": {"weight_kg": 81, "baseline_weight_kg": 80},
                },
            ],
        }
    )
    assert _because(result, "weight.change_grade2") == (
        "weight change from baseline +10 % (88 kg now, 80 kg at baseline: the baseline given"
        " on 2026-02-01)",
    )


def test_mood_swings_on_three_days_say_which_days() -> None:
    result = triage(
        {
            "reported_at": _at(11),
            "symptoms": [{"name": "ups and downs", "severity": "mild"}],
            "history": [
                {"reported_at": _at(6), "symptoms": [{"name": "moody", "severity": "mild"}]},
                {"reported_at": _at(1), "symptoms": [{"name": "mood swings"}]},
            ],
        }
    )
    assert result.escalation.value == "within_24h"
    assert _because(result, "mood.swings_repeated") == (
        "mood swings (reported as 'ups and downs'): mild",
        "mood swings on 3 days within 14 days (2026-05-01, 2026-05-06, 2026-05-11)",
    )
    superseded = {a.rule: a.superseded_by for a in result.advice}
    assert superseded["mood.swings"] == "mood.swings_repeated"


def test_a_symptom_that_keeps_worsening_names_the_steps() -> None:
    result = triage(
        {
            "reported_at": _at(10),
            "symptoms": [{"name": "poor sleep", "severity": "severe"}],
            "history": [
                {
                    "reported_at": _at(5),
                    "symptoms": [{"name": "poor sleep", "severity": "moderate"}],
                },
                {
                    "reported_at": _at(3),
                    "symptoms": [{"name": "poor sleep", "severity": "moderate"}],
                },
                {"reported_at": _at(1), "symptoms": [{"name": "poor sleep", "severity": "mild"}]},
            ],
        }
    )
    assert _because(result, "symptom.keeps_worsening") == (
        "poor sleep worse at consecutive check-ins: mild on 2026-05-01, moderate on"
        " 2026-05-03, severe on 2026-05-10",
    )


def test_history_symptoms_go_through_the_reader() -> None:
    # 'tierd' is repaired, and 'really bad' makes it severe, in an earlier check-in too
    result = triage(
        {
            "reported_at": _at(10),
            "symptoms": [{"name": "tired", "severity": "severe"}],
            "history": [
                {"reported_at": _at(5), "symptoms": [{"name": "tierd", "severity": "moderate"}]},
                {"reported_at": _at(1), "symptoms": [{"name": "a bit tierd", "severity": "mild"}]},
            ],
        }
    )
    assert "symptom.keeps_worsening" in _rules(result)


def test_bp_streak_names_the_readings() -> None:
    result = triage(
        {
            "reported_at": _at(8, 8),
            "measurements": {"systolic_bp": 150, "diastolic_bp": 92},
            "history": [
                {
                    "reported_at": _at(4, 8),
                    "measurements": {"systolic_bp": 145, "diastolic_bp": 85},
                },
                {
                    "reported_at": _at(1, 8),
                    "measurements": {"systolic_bp": 120, "diastolic_bp": 70},
                },
            ],
        }
    )
    assert _because(result, "bp.above_dose_limit_repeated") == (
        "2 consecutive check-ins with ((systolic blood pressure above 140 mmHg or diastolic"
        " blood pressure above 90 mmHg) and not (hours since the last dose below 4 h)):"
        " 145/85 on 2026-05-04, 150/92 on 2026-05-08",
    )
    assert {a.rule: a.superseded_by for a in result.advice}["bp.above_dose_limit"] == (
        "bp.above_dose_limit_repeated"
    )


def test_order_of_history_does_not_matter() -> None:
    history = [
        {"reported_at": _at(d), "symptoms": [{"name": n, "severity": s}]}
        for d, n, s in [(1, "tired", "mild"), (3, "tired", "moderate"), (3, "moody", "mild")]
    ]
    report = {"reported_at": _at(9), "symptoms": [{"name": "tired", "severity": "severe"}]}
    a = triage({**report, "history": history})
    b = triage({**report, "history": list(reversed(history))})
    assert a == b


# -- each trend condition at its boundaries, on a pack of one trend rule -------------------

TRENDS = [
    # (when, history [(day, fields)], today's fields, fires)
    (
        "trend: weight_kg\nchange: {at_least: 2}\nwithin_days: 7\nfrom: earliest",
        [(1, {"measurements": {"weight_kg": 80}})],
        {"measurements": {"weight_kg": 82}},
        8,
        True,
    ),
    (
        "trend: weight_kg\nchange: {at_least: 2}\nwithin_days: 7\nfrom: earliest",
        [(1, {"measurements": {"weight_kg": 80}})],
        {"measurements": {"weight_kg": 81.99}},
        8,
        False,
    ),
    (  # 7 days and one second: outside the window
        "trend: weight_kg\nchange: {at_least: 2}\nwithin_days: 7\nfrom: earliest",
        [(1, {"measurements": {"weight_kg": 80}})],
        {"measurements": {"weight_kg": 85}},
        8.0000116,
        False,
    ),
    (  # from the highest: a fall of 3 kg
        "trend: weight_kg\nchange: {at_most: -3}\nwithin_days: 30\nfrom: highest",
        [(1, {"measurements": {"weight_kg": 80}}), (2, {"measurements": {"weight_kg": 83}})],
        {"measurements": {"weight_kg": 80}},
        9,
        True,
    ),
    (
        "trend: weight_kg\nchange_pct: {at_least: 1}\nwithin_days: 30",
        [(1, {"measurements": {"weight_kg": 80}})],
        {"measurements": {"weight_kg": 80.8}},
        9,
        True,
    ),
    (  # no value today: no change
        "trend: weight_kg\nchange_pct: {at_least: 1}\nwithin_days: 30",
        [(1, {"measurements": {"weight_kg": 80}})],
        {"symptoms": [{"name": "tired"}]},
        9,
        False,
    ),
    (
        "trend: fatigue\ncheck_ins: {at_least: 2}\nof_last: 3",
        [(1, {"symptoms": [{"name": "tired"}]}), (2, {})],
        {"symptoms": [{"name": "tired"}]},
        3,
        True,
    ),
    (  # the earlier one is now 4 check-ins back
        "trend: fatigue\ncheck_ins: {at_least: 2}\nof_last: 3",
        [(1, {"symptoms": [{"name": "tired"}]}), (2, {}), (3, {})],
        {"symptoms": [{"name": "tired"}]},
        4,
        False,
    ),
    (  # two check-ins on one day are one day
        "trend: fatigue\ndays: {at_least: 2}\nwithin_days: 5",
        [(4, {"symptoms": [{"name": "tired"}]})],
        {"symptoms": [{"name": "tired"}]},
        4.1,
        False,
    ),
    (
        "trend: fatigue\ndays: {at_least: 2}\nwithin_days: 5",
        [(1, {"symptoms": [{"name": "tired"}]})],
        {"symptoms": [{"name": "tired"}]},
        6,
        True,
    ),
    (
        "trend: fatigue\ndays: {at_least: 2}\nwithin_days: 5",
        [(1, {"symptoms": [{"name": "tired"}]})],
        {"symptoms": [{"name": "tired"}]},
        6.001,
        False,
    ),
    (
        "trend: [fatigue, mood_swings]\nworsening: {at_least: 1}",
        [(1, {"symptoms": [{"name": "moody", "severity": "mild"}]})],
        {"symptoms": [{"name": "moody", "severity": "moderate"}]},
        2,
        True,
    ),
    (
        "trend: any_symptom\nworsening: {at_least: 2}",
        [
            (1, {"symptoms": [{"name": "moody", "severity": "mild"}]}),
            (2, {"symptoms": [{"name": "moody", "severity": "moderate"}, {"name": "tired"}]}),
        ],
        {"symptoms": [{"name": "moody", "severity": "severe"}]},
        3,
        True,
    ),
    (  # a fall then a rise: the run starts after the fall
        "trend: any_symptom\nworsening: {at_least: 2}",
        [
            (1, {"symptoms": [{"name": "moody", "severity": "moderate"}]}),
            (2, {"symptoms": [{"name": "moody", "severity": "mild"}]}),
        ],
        {"symptoms": [{"name": "moody", "severity": "severe"}]},
        3,
        False,
    ),
    (
        "streak: {heart_rate: {above: 100}}\ncheck_ins: {at_least: 3}",
        [(1, {"measurements": {"heart_rate": 101}}), (2, {"measurements": {"heart_rate": 120}})],
        {"measurements": {"heart_rate": 105}},
        3,
        True,
    ),
    (  # broken by a check-in without the measurement
        "streak: {heart_rate: {above: 100}}\ncheck_ins: {at_least: 3}",
        [(1, {"measurements": {"heart_rate": 101}}), (2, {})],
        {"measurements": {"heart_rate": 105}},
        3,
        False,
    ),
    (
        "streak: {heart_rate: {above: 100}}\ncheck_ins: {at_least: 2}",
        [(1, {"measurements": {"heart_rate": 100.5}})],
        {"measurements": {"heart_rate": 105}},
        3,
        True,
    ),
    (  # 100 is not above 100
        "streak: {heart_rate: {above: 100}}\ncheck_ins: {at_least: 2}",
        [(1, {"measurements": {"heart_rate": 100}})],
        {"measurements": {"heart_rate": 105}},
        3,
        False,
    ),
]


def _when(day: float) -> str:
    whole = int(day)
    seconds = round((day - whole) * 86400)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"2026-05-{whole:02d}T{h:02d}:{m:02d}:{s:02d}Z"


@pytest.fixture(scope="module")
def trend_engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Engine, Engine]]:
    engines = {}
    for i, (when, history, today, day, fires) in enumerate(TRENDS):
        if when in engines:
            continue
        report = {
            "reported_at": _when(day),
            **today,
            "history": [{"reported_at": _when(d), **f} for d, f in history],
        }
        if not fires:
            continue
        text = rule(when).replace("{symptoms: [{name: tired}]}", repr_yaml(report))
        path = make_pack(tmp_path_factory.mktemp(f"t{i}"), text)
        engines[when] = (Engine.load(path), Engine.load(path, cache_size=0))
    return engines


def repr_yaml(data: Any) -> str:
    import json

    return json.dumps(data)  # JSON is YAML


@pytest.mark.parametrize(("when", "history", "today", "day", "fires"), TRENDS)
def test_trend_boundaries(
    trend_engines: dict[str, tuple[Engine, Engine]],
    when: str,
    history: list[tuple[int, dict[str, Any]]],
    today: dict[str, Any],
    day: float,
    fires: bool,
) -> None:
    report = {
        "reported_at": _when(day),
        **today,
        "history": [{"reported_at": _when(d), **f} for d, f in history],
    }
    cached, uncached = trend_engines[when]
    got = cached.evaluate(report)
    assert ("test.rule" in _rules(got)) is fires
    assert got == uncached.evaluate(report)
    # without the history, no trend rule ever fires
    alone = cached.evaluate({"reported_at": _when(day), **today})
    assert "test.rule" not in _rules(alone)


# -- mistakes in trend conditions fail at load ---------------------------------------------

BAD = [
    (
        "trend: weight\nchange: {at_least: 2}\nwithin_days: 7",
        "a change trend follows one measurement, got 'weight'",
        "weight_kg",
    ),
    (
        "trend: weight_kg\nchange: {at_least: 2}",
        "this trend needs 'within_days' (a whole number)",
        None,
    ),
    (
        "trend: weight_kg\nchange: {at_least: 2}\nwithin_days: 400",
        "'within_days' takes a whole number from 1 to 366, got 400",
        None,
    ),
    (
        "trend: weight_kg\nchange: {at_least: 2}\nwithin_days: 7\nfrom: lowst",
        "'from' is one of earliest, lowest, highest, got 'lowst'",
        "lowest",
    ),
    (
        "trend: fatige\ncheck_ins: {at_least: 2}\nof_last: 3",
        "unknown symptom code 'fatige' in a trend; codes come from the vocabulary",
        "fatigue",
    ),
    (
        "trend: fatigue\ncheck_ins: {at_least: 2}\nof_lats: 3",
        "unknown key 'of_lats' for a 'check_ins' trend; it takes check_ins, of_last",
        "of_last",
    ),
    (
        "trend: fatigue\nworsening: {at_least: 1}\ndays: {at_least: 2}",
        "a trend takes exactly one of change_pct, change, check_ins, days or worsening"
        " (got worsening, days)",
        None,
    ),
    (
        "trend: fatigue\ncheck_ins: {at_least: 2}\nof_last: 1",
        "'of_last' takes a whole number from 2 to 200, got 1",
        None,
    ),
    (
        "trend: fatigue\ncheck_ins: {at_least: 9}\nof_last: 3",
        "check_ins: 9 is outside the plausible range 0 to 3",
        None,
    ),
    (
        "streak: {symptom: fatigue}\ncheck_ins: {at_least: 2}",
        "a streak tests measurements or treatment at each check-in, not symptoms (use a"
        " check_ins trend for a symptom)",
        None,
    ),
    (
        "streak: {weight_change_pct: {above: 5}}\ncheck_ins: {at_least: 2}",
        "a streak can test measurements, hours_since_dose and route, not 'weight_change_pct'",
        None,
    ),
    (
        "streak: {heart_rate: {above: 100}}",
        "a streak needs 'check_ins', such as {at_least: 2}",
        None,
    ),
]


@pytest.mark.parametrize(("when", "message", "suggestion"), BAD)
def test_bad_trend_conditions_fail_at_load(
    tmp_path: Path, when: str, message: str, suggestion: str | None
) -> None:
    with pytest.raises(RulePackError) as info:
        Engine.load(make_pack(tmp_path, rule(when)))
    assert info.value.message == message
    assert info.value.suggestion == suggestion
    assert info.value.rule_id == "test.rule"
    assert info.value.line is not None


# -- bad input in the report ------------------------------------------------------------

BAD_REPORTS = [
    (
        {"history": [{"reported_at": "2026-01-01", "measurements": {"weight_kg": -3}}]},
        "history.0.measurements.weight_kg: must be between 20 and 400 kg (got -3)",
    ),
    (
        {"history": [{"reported_at": "2026-01-01"}, {"symptoms": []}]},
        "history.1.reported_at: is required",
    ),
    (
        {"history": [{"reported_at": "2026-01-01", "symtpoms": []}]},
        "history.0.symtpoms: unknown field; did you mean 'symptoms'?",
    ),
    (
        {"reported_at": "2026-05-01T10:00:00"},
        "reported_at: needs a UTC offset (2026-11-02T09:30:00+01:00 or ...Z): without one the"
        " instant is unknown",
    ),
    (
        {"reported_at": 20260501},
        "reported_at: must be an ISO 8601 date-time or date as text (got a number)",
    ),
    (
        {"reported_at": "2999-01-01"},
        "reported_at: is in the future (2999-01-01T00:00:00+00:00); check the clock or the date",
    ),
    (
        {"reported_at": "2026-05-01", "history": [{"reported_at": "2026-05-02"}]},
        "history.0.reported_at: is later than the report's reported_at: history holds earlier"
        " check-ins only",
    ),
    (
        {"reported_at": "2026-05-01", "history": [{"reported_at": "2025-04-01"}]},
        "history.0.reported_at: is more than 366 days before the report; leave older check-ins out",
    ),
    (
        {"history": [{"reported_at": "2026-01-01"}] * 201},
        "history: has too many items (at most 200)",
    ),
]


@pytest.mark.parametrize(("report", "message"), BAD_REPORTS)
def test_bad_history_is_named(report: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidReport) as info:
        triage(report)
    assert str(info.value.errors[0]) == message
    assert info.value.input is report  # what the caller gave, untouched


# -- the decision cache on reports with history -------------------------------------------


def random_histories(engine: Engine, n: int, seed: int) -> list[dict[str, Any]]:
    """Reports with 0-12 earlier check-ins drawn from the same stream, over 60 days."""
    rng = random.Random(seed)
    pool = list(random_reports(engine.pack.vocabulary, n * 6, seed=seed))
    out = []
    for i in range(n):
        report = dict(pool[i])
        report.pop("age_years", None)
        report["reported_at"] = "2026-06-30T12:00:00Z"
        history = []
        for j in range(rng.randint(0, 12)):
            earlier = pool[n + (i * 5 + j) % (len(pool) - n)]
            entry = {
                k: v for k, v in earlier.items() if k in ("symptoms", "measurements", "treatment")
            }
            day = rng.randint(1, 60)
            entry["reported_at"] = f"2026-05-01T{rng.randint(0, 23):02d}:00:00Z"
            entry["reported_at"] = _shift(day, rng.randint(0, 23))
            history.append(entry)
        report["history"] = history
        out.append(report)
    return out


def _shift(day: int, hour: int) -> str:
    import datetime as dt

    when = dt.datetime(2026, 5, 1, hour, tzinfo=dt.UTC) + dt.timedelta(days=day - 1)
    return when.isoformat().replace("+00:00", "Z")


def test_cached_equals_uncached_with_history() -> None:
    cached = Engine.load(default_pack_path())
    uncached = Engine.load(default_pack_path(), cache_size=0)
    fired_trends = 0
    for i, report in enumerate(random_histories(cached, 800, seed=11)):
        a = cached.evaluate(report)
        assert a == uncached.evaluate(report), f"report {i} differs"
        fired_trends += any(
            r.startswith(
                (
                    "weight.trend",
                    "symptom.keeps",
                    "fatigue.repeated",
                    "bp.above_dose_limit_repeated",
                    "mood.swings_",
                )
            )
            for r in _rules(a)
        )
    assert fired_trends > 50  # the trend rules were really exercised
    assert cached.cache_info().hits > 0
