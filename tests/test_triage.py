"""Whole-pipeline behaviour on the frozen starter pack: levels, advice, because, summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktriage import Engine, Escalation

from .test_pack_errors import make_pack, rule

LEVEL_CASES = [
    ({}, "self_care", []),
    ({"symptoms": [{"name": "tired", "severity": "mild"}]}, "self_care", ["fatigue.after_session"]),
    (
        {"symptoms": [{"name": "tired", "severity": "mild", "days": 3}]},
        "next_visit",
        ["fatigue.persistent", "fatigue.after_session"],
    ),
    ({"symptoms": [{"name": "purple toes"}]}, "next_visit", ["ktriage.unrecognized"]),
    (
        {"symptoms": [{"name": "tired", "severity": "mild"}, {"name": "want to die"}]},
        "emergency",
        ["red_flag.suicidal_thoughts", "fatigue.after_session"],
    ),
    (
        {"measurements": {"weight_kg": 117.6, "baseline_weight_kg": 98}},
        "within_24h",
        ["weight.change_grade3"],
    ),
    (
        {"symptoms": [{"name": "put on weight"}], "measurements": {"weight_kg": 80}},
        "next_visit",
        ["weight.change_reported", "weight.baseline_missing"],
    ),
]


@pytest.mark.parametrize(("report", "level", "rules"), LEVEL_CASES)
def test_level_and_rules(starter_engine: Engine, report: dict, level: str, rules: list) -> None:
    result = starter_engine.evaluate(report)
    assert result.escalation == level
    assert [a.rule for a in result.advice] == rules


def test_full_result(starter_engine: Engine) -> None:
    result = starter_engine.evaluate(
        {
            "patient_id": "p-17",
            "symptoms": [
                {"name": "No energy", "severity": "moderate", "days": 3, "limits_self_care": False},
                {"name": "purple toes", "severity": "mild"},
            ],
            "measurements": {"weight_kg": 82.0, "baseline_weight_kg": 78.0},
        }
    )
    assert result.patient_id == "p-17"
    assert result.escalation is Escalation.NEXT_VISIT
    assert result.label == "Raise it at the next scheduled visit"
    assert result.unrecognized == ["purple toes"]
    assert result.derived == {"weight_change_pct": 5.13}
    assert result.red_flags == []
    by_rule = {a.rule: a for a in result.advice}
    assert list(by_rule["fatigue.persistent"].because) == [
        "fatigue (reported as 'No energy'): moderate, 3 days, not limiting self-care"
    ]
    assert list(by_rule["weight.change_grade1"].because) == [
        "weight change from baseline +5.13 % (82 kg now, 78 kg at baseline)"
    ]
    assert list(by_rule["ktriage.unrecognized"].because) == [
        "'purple toes' is not a symptom the rule pack knows"
    ]
    assert [s.id for s in by_rule["weight.change_grade1"].sources] == [
        "seed-article",
        "ctcae-5",
        "metabolic-evidence",
    ]
    assert result.summary == (
        "Next visit: Fatigue that rest does not relieve or that lasts; Weight changed by 5 to"
        " under 10 % from baseline; Symptom not recognised"
    )
    assert result.rule_pack.name == "ktriage-starter"
    assert len(result.rule_pack.sha256) == 64


def test_advice_is_ordered_from_the_highest_level_down(starter_engine: Engine) -> None:
    result = starter_engine.evaluate(
        {
            "symptoms": [
                {"name": "moody", "severity": "mild"},
                {"name": "tired", "severity": "severe"},
                {"name": "suicidal"},
            ]
        }
    )
    levels = [a.escalation.rank for a in result.advice]
    assert levels == sorted(levels, reverse=True)
    assert result.advice[0].rule == "red_flag.suicidal_thoughts"
    assert result.red_flags == ["red_flag.suicidal_thoughts"]
    assert result.summary.startswith("EMERGENCY: Suicidal thoughts or self-harm")


def test_unknown_symptom_is_listed_exactly_as_given(starter_engine: Engine) -> None:
    result = starter_engine.evaluate({"symptoms": [{"name": "  Weird Buzzing!! "}]})
    assert result.unrecognized == ["  Weird Buzzing!! "]
    assert result.escalation == "next_visit"


def test_known_symptom_that_no_rule_covers_is_not_dropped(tmp_path: Path) -> None:
    only_severe = (
        rule("symptom: fatigue\nseverity: severe", level="within_24h")
        .replace("{name: tired}", "{name: tired, severity: severe}")
        .replace("expect: next_visit", "expect: within_24h")
    )
    engine = Engine.load(make_pack(tmp_path, **{"rules__fatigue.yaml": only_severe}))
    result = engine.evaluate({"symptoms": [{"name": "wiped out", "severity": "mild", "days": 2}]})
    assert result.escalation == "next_visit"
    assert result.unrecognized == []
    assert [(a.rule, list(a.because)) for a in result.advice] == [
        ("ktriage.unmatched", ["fatigue (reported as 'wiped out'): mild, 2 days"])
    ]


def test_summary_is_at_most_140_characters(starter_engine: Engine) -> None:
    names = ["tired", "moody", "put on weight", "lost weight", "suicidal", "x1", "x2", "x3"]
    result = starter_engine.evaluate(
        {"symptoms": [{"name": n, "severity": "severe"} for n in names]}
    )
    assert len(result.summary) <= 140
    assert result.summary.startswith("EMERGENCY: ")
    assert result.summary.endswith("more)")


def test_weight_boundary_belongs_to_the_higher_band(starter_engine: Engine) -> None:
    # 117.6 / 98 is 19.999999999999996 % in floating point
    result = starter_engine.evaluate(
        {"measurements": {"weight_kg": 117.6, "baseline_weight_kg": 98}}
    )
    assert result.derived == {"weight_change_pct": 20.0}
    assert [a.rule for a in result.advice] == ["weight.change_grade3"]
