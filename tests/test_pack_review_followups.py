"""The independent clinical review's Part 2 cases (review/clinical-review.md), second round:
each case the reviewer ran, the level the pack now gives and the rule that decides it."""

from __future__ import annotations

from typing import Any

import pytest

from ktriage import Engine
from ktriage.render import result_text


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine.load()


def _said(*words: str, hours: float | None = None, **measurements: float) -> dict[str, Any]:
    report: dict[str, Any] = {"symptoms": [{"name": w} for w in words]}
    if measurements:
        report["measurements"] = measurements
    if hours is not None:
        report["treatment"] = {"hours_since_dose": hours}
    return report


CASES = [
    # U6: new confusion is urgent at any time
    ("U6 confused, no time", _said("confused"), "urgent", "confusion.reported"),
    ("U6 confused at 1 h", _said("confused", hours=1), "urgent", "confusion.reported"),
    # U7: neuroglycopenia and a meter that reads HI
    (
        "U7 glucose 50, a little confused",
        _said("a little confused", fasting_glucose_mg_dl=50),
        "emergency",
        "red_flag.hypoglycaemia_level3",
    ),
    (
        "U7 meter HI and confused",
        _said("meter says hi", "confused"),
        "emergency",
        "glucose.high_with_altered_state",
    ),
    # U9: near-fainting with the pulse, palpitations with dizziness
    (
        "U9 pulse 45, nearly fainted",
        _said("nearly fainted", heart_rate=45),
        "urgent",
        "near_fainting.with_heart_signs",
    ),
    (
        "U9 pulse 115, nearly passed out",
        _said("nearly passed out", heart_rate=115),
        "urgent",
        "near_fainting.with_heart_signs",
    ),
    (
        "U9 heart racing and dizzy",
        _said("heart racing", "dizzy"),
        "urgent",
        "near_fainting.with_heart_signs",
    ),
    ("U9 nearly fainted alone", _said("nearly fainted"), "within_24h", "near_fainting.reported"),
    # U10: pancreatitis pain
    (
        "U10 triglycerides 800, upper stomach pain",
        _said("upper stomach pain", triglycerides_mg_dl=800),
        "urgent",
        "lipids.triglycerides_with_stomach_pain",
    ),
    (
        "U10 triglycerides 1200, back pain",
        _said("back pain", triglycerides_mg_dl=1200),
        "urgent",
        "lipids.triglycerides_with_stomach_pain",
    ),
    # U11 and O1: intake is urgent in the window; feeling drunk is asked about
    ("U11 zolpidem at 2 h", _said("zolpidem", hours=2), "urgent", "substances.in_dose_window"),
    (
        "U11 a few drinks at 2 h",
        _said("had a few drinks", hours=2),
        "urgent",
        "substances.in_dose_window",
    ),
    ("U11 some beers at 3 h", _said("some beers", hours=3), "urgent", "substances.in_dose_window"),
    ("O1 feel drunk at 1 h", _said("feel drunk", hours=1), "within_24h", "substances.feels_drunk"),
    # U12: severe vomiting
    (
        "U12 severe vomiting",
        {"symptoms": [{"name": "vomiting", "severity": "severe"}]},
        "urgent",
        "vomiting.severe",
    ),
    # U13: psychosis and the mania description
    ("U13 the voices are back", _said("the voices are back"), "urgent", "mind.psychotic_symptoms"),
    (
        "U13 no sleep for 3 days and amazing",
        _said("haven't slept in 3 days and feel amazing"),
        "within_24h",
        "mind.mania_or_agitation",
    ),
    ("U13 bad trip at 1 h", _said("bad trip", hours=1), "urgent", "mind.psychotic_symptoms"),
    # U14
    ("U14 seeing double, no time", _said("seeing double"), "urgent", "vision.double"),
    (
        "U14 room spinning badly at 1 h",
        {
            "symptoms": [{"name": "room spinning", "severity": "severe"}],
            "treatment": {"hours_since_dose": 1},
        },
        "urgent",
        "dizziness.severe_after_dose",
    ),
    # U15
    ("U15 haven't peed all day", _said("haven't peed all day"), "urgent", "dehydration.no_urine"),
    # U16
    (
        "U16 bloody nose that won't stop",
        _said("bloody nose that won't stop"),
        "urgent",
        "nosebleed.will_not_stop",
    ),
    (
        "U16 bleeding for half an hour",
        _said("nose has been bleeding for half an hour"),
        "urgent",
        "nosebleed.will_not_stop",
    ),
    (
        "U16 nosebleed on warfarin",
        _said("nosebleed", "warfarin"),
        "within_24h",
        "nosebleed.blood_thinners",
    ),
    # U17
    (
        "U17 breathing 9 and drowsy at 1 h",
        _said("drowsy", hours=1, respiratory_rate=9),
        "emergency",
        "red_flag.slow_breathing_with_sedation",
    ),
    # U18
    ("U18 cold sweat", _said("cold sweat"), "within_24h", "sweating.cold_sweat"),
    (
        "U18 clammy and nausea at 1 h",
        _said("clammy", "nausea", hours=1),
        "within_24h",
        "sweating.cold_sweat",
    ),
    # O2-O5
    (
        "O2 vomited once, a bit sleepy at 20 h",
        {
            "symptoms": [
                {"name": "vomited", "severity": "mild"},
                {"name": "sleepy", "severity": "mild"},
            ],
            "treatment": {"hours_since_dose": 20},
        },
        "within_24h",
        "drowsiness.lasting",
    ),
    ("O3 visions at 0.5 h", _said("visions", hours=0.5), "within_24h", "visual_changes.reported"),
    ("O3 visions at 3 h", _said("visions", hours=3), "urgent", "visual_changes.outside_window"),
    (
        "O4 SpO2 94 at 3.5 h",
        _said(hours=3.5, oxygen_saturation_pct=94),
        "urgent",
        "oxygen.below_normal",
    ),
    ("O5 driving at 30 h (kept)", _said("driving", hours=30), "next_visit", "driving.after_dose"),
]


@pytest.mark.parametrize(
    ("report", "level", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_review_case(shipped: Engine, report: dict[str, Any], level: str, rule: str) -> None:
    result = shipped.evaluate(report)
    assert (result.escalation.value, result.advice[0].rule) == (level, rule)


def test_cold_sweat_is_not_read_as_fainting(shipped: Engine) -> None:
    # "out ... cold" (fainting) sat inside "broke out in a cold sweat"
    result = shipped.evaluate(_said("I broke out in a cold sweat"))
    assert not result.red_flags
    assert [a.rule for a in result.advice] == ["sweating.cold_sweat"]


@pytest.mark.parametrize(
    ("rule_id", "before"),
    [
        ("glucose.hypo_level2", "Call 911 if you get"),
        ("dizziness.severe", "Call 911 if you faint"),
        ("dehydration.severe", "Call 911 if you faint"),
    ],
)
def test_911_is_addressed_to_whoever_is_with_the_patient(
    shipped: Engine, rule_id: str, before: str
) -> None:
    rule = next(r for r in shipped.pack.rules if r.id == rule_id)
    guidance = " ".join(rule.guidance.split())
    assert "Whoever is with you should call 911" in guidance
    assert before not in guidance


def test_an_anticoagulated_head_injury_prints_no_pain_reliever_advice(shipped: Engine) -> None:
    result = shipped.evaluate(_said("hit my head", "eliquis", "headache"))
    assert result.escalation == "emergency"
    assert "take a pain reliever" not in result_text(result)
