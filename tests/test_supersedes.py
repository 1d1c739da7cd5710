"""Superseded advice, a rule's own result label, and the vital-sign and age flags."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ktriage import Engine, RulePackError
from ktriage.interview import Interview
from ktriage.render import result_text

from .conftest import STARTER
from .test_cli import run
from .test_interview import questions

# -- supersedes: checked at load ---------------------------------------------------------


def _starter_with(tmp_path: Path, old: str, new: str) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(STARTER, pack)
    rules = pack / "rules" / "fatigue.yaml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new, 1))
    return pack


PERSISTENT = "  - id: fatigue.persistent\n"
LIMITS = "  - id: fatigue.limits_self_care\n"


def test_unknown_superseded_rule_is_a_load_error_with_a_suggestion(tmp_path: Path) -> None:
    pack = _starter_with(
        tmp_path,
        "    escalation: next_visit\n",
        "    escalation: next_visit\n    supersedes: [fatigue.after_sesion]\n",
    )
    with pytest.raises(RulePackError) as caught:
        Engine.load(pack)
    err = caught.value
    assert (err.rule_id, err.suggestion) == ("fatigue.persistent", "fatigue.after_session")
    assert err.file is not None and err.file.endswith("rules/fatigue.yaml")
    assert str(err) == (
        f"{err.file}:34: rule 'fatigue.persistent': supersedes unknown rule"
        " 'fatigue.after_sesion' (did you mean 'fatigue.after_session'?)"
    )


def test_a_rule_cannot_supersede_a_higher_one(tmp_path: Path) -> None:
    pack = _starter_with(
        tmp_path,
        "    escalation: next_visit\n",
        "    escalation: next_visit\n    supersedes: [fatigue.limits_self_care]\n",
    )
    with pytest.raises(RulePackError) as caught:
        Engine.load(pack)
    assert caught.value.message == (
        "supersedes 'fatigue.limits_self_care', which gives a higher level"
        " (within_24h above next_visit); a rule may only supersede rules at its level"
        " or below"
    )


def test_a_rule_cannot_supersede_itself(tmp_path: Path) -> None:
    pack = _starter_with(
        tmp_path,
        "    escalation: next_visit\n",
        "    escalation: next_visit\n    supersedes: [fatigue.persistent]\n",
    )
    with pytest.raises(RulePackError, match="a rule cannot supersede itself"):
        Engine.load(pack)


def test_superseded_advice_is_marked_in_json_and_left_out_of_text(tmp_path: Path) -> None:
    pack = _starter_with(
        tmp_path,
        "    escalation: next_visit\n",
        "    escalation: next_visit\n    supersedes: [fatigue.after_session]\n",
    )
    engine = Engine.load(pack)
    # mild and 3 days: both fatigue rules fire on the same symptom
    result = engine.evaluate({"symptoms": [{"name": "tired", "severity": "mild", "days": 3}]})
    assert [(a.rule, a.superseded_by) for a in result.advice] == [
        ("fatigue.persistent", None),
        ("fatigue.after_session", "fatigue.persistent"),
    ]
    assert result.summary == "Next visit: Fatigue that rest does not relieve or that lasts"
    text = result_text(result)
    assert "(fatigue.persistent)" in text
    assert "fatigue.after_session" not in text


def test_a_rule_on_one_symptom_does_not_hide_advice_on_another(tmp_path: Path) -> None:
    pack = _starter_with(
        tmp_path,
        "    escalation: next_visit\n",
        "    escalation: next_visit\n    supersedes: [fatigue.after_session]\n",
    )
    engine = Engine.load(pack)
    result = engine.evaluate(
        {
            "symptoms": [
                {"name": "tired", "severity": "moderate"},
                {"name": "wiped out", "severity": "mild"},
            ]
        }
    )
    # fatigue.persistent fired on the first, after_session on the second only
    assert [(a.rule, a.superseded_by) for a in result.advice] == [
        ("fatigue.persistent", None),
        ("fatigue.after_session", None),
    ]


# -- supersedes and labels in the shipped pack -------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine.load()


def test_crisis_supersedes_raised_and_the_dose_limit(shipped: Engine) -> None:
    result = shipped.evaluate(
        {
            "symptoms": [{"name": "headache", "severity": "severe"}],
            "measurements": {"systolic_bp": 190, "diastolic_bp": 125},
        }
    )
    crisis = "red_flag.hypertensive_crisis_symptoms"
    assert [(a.rule, a.superseded_by) for a in result.advice] == [
        (crisis, None),
        ("headache.severe", crisis),
        ("bp.crisis", crisis),
        ("bp.above_dose_limit", crisis),
        ("bp.raised", crisis),
    ]
    assert result.summary == "EMERGENCY: Very high blood pressure with warning symptoms"
    headers = [line for line in result_text(result).splitlines() if line.startswith("[")]
    assert headers == [
        f"[emergency] RED FLAG Very high blood pressure with warning symptoms ({crisis})"
    ]


def test_low_oxygen_with_sleepiness_hides_the_expected_effect_text(shipped: Engine) -> None:
    result = shipped.evaluate(
        {
            "symptoms": [{"name": "sleepy", "severity": "mild"}],
            "measurements": {"oxygen_saturation_pct": 93},
            "treatment": {"route": "nasal_spray", "hours_since_dose": 1},
        }
    )
    assert result.escalation == "emergency"
    text = result_text(result)
    assert "common, expected effect" not in text
    assert "Feeling sleepy in the hours after a dose is common" not in text
    superseded = {a.rule for a in result.advice if a.superseded_by}
    assert superseded == {
        "oxygen.below_normal",
        "after_dose.expected_effects",
        "drowsiness.mild",
    }


def test_a_red_flag_hides_the_rules_it_names_even_on_another_symptom(shipped: Engine) -> None:
    result = shipped.evaluate(
        {"symptoms": [{"name": "chest pain"}, {"name": "anxious", "severity": "mild"}]}
    )
    assert [(a.rule, a.superseded_by) for a in result.advice] == [
        ("red_flag.chest_pain", None),
        ("anxiety.after_dose", "red_flag.chest_pain"),
    ]
    assert "It usually passes" not in result_text(result)


def test_a_fall_is_hidden_by_an_anticoagulated_head_injury(shipped: Engine) -> None:
    # the review's listed-but-shown case: the red flag cites the head injury and the
    # blood thinner, the fall rule the fall
    result = shipped.evaluate(
        {"symptoms": [{"name": "I fell and hit my head and I'm on warfarin"}]}
    )
    flag = "head_injury.blood_thinners"
    assert {a.rule: a.superseded_by for a in result.advice} == {
        flag: None,
        "falls.after_dose_or_on_blood_thinners": flag,
        "head_injury.reported": flag,
        "falls.reported": flag,
        "blood_thinners.noted": flag,
    }
    assert "contact your provider within a day" not in result_text(result)


def test_an_urgent_rule_still_hides_only_advice_on_a_shared_symptom(shipped: Engine) -> None:
    result = shipped.evaluate(
        {"symptoms": [{"name": "hearing voices"}, {"name": "spaced out", "severity": "mild"}]}
    )
    assert [(a.rule, a.superseded_by) for a in result.advice] == [
        ("mind.psychotic_symptoms", None),
        ("dissociation.reported", None),
    ]
    # the dissociation text no longer reads as reassurance about the voices
    assert "Call the clinic now if you hear voices" in result_text(result)


@pytest.mark.parametrize(
    ("symptoms", "label"),
    [
        (["want to die"], "Call 911 now, or call or text 988 for suicidal thoughts"),
        (["chest pain"], "Call 911 now"),
        (["chest pain", "want to die"], "Call 911 now, or call or text 988 for suicidal thoughts"),
        (["tired"], "Raise it at the next scheduled visit"),
    ],
)
def test_988_is_in_the_label_only_for_suicidal_thoughts(
    shipped: Engine, symptoms: list[str], label: str
) -> None:
    result = shipped.evaluate({"symptoms": [{"name": s} for s in symptoms]})
    assert result.label == label


# -- --age, --temperature, --respiratory-rate ----------------------------------------------

PULSE_TEXT = """\
URGENT: Get care now: call the clinic, urgent care or the emergency department

[urgent] Pulse 131 or more, or 40 or less (pulse.very_fast_or_slow)
  For the patient: Your pulse is much faster or slower than it should be. Sit or lie down \
and check it again after 5 minutes of rest. Call the clinic now or go to urgent care. Call \
911 if you have chest pain, trouble breathing or feel faint.
  For staff: NEWS2 scores a pulse of 131 or more, or 40 or less, 3. Clinician to call back \
now; arrange an ECG and same-day assessment; no further dose until reviewed.
  Because: heart rate 150 beats/min
  Sources: Royal College of Physicians, National Early Warning Score (NEWS) 2, 2017 \
<https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/>; \
SPRAVATO (esketamine) nasal spray, US Prescribing Information \
<https://www.janssenlabels.com/package-insert/product-monograph/prescribing-information/\
SPRAVATO-pi.pdf>
"""


def test_heart_rate_150_is_urgent_exact() -> None:
    result = run("check", "--heart-rate", "150", "--full", rules=None)
    assert result.exit_code == 0, result.output
    assert result.stdout == PULSE_TEXT


def test_temperature_breathing_rate_and_age_flags_fill_the_report() -> None:
    result = run(
        "check",
        "--temperature", "38.4",
        "--respiratory-rate", "22",
        "--age", "70",
        "--explain",
        "--format", "json",
        rules=None,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["escalation"] == "within_24h"
    assert data["explanation"]["facts"] == [
        "body temperature 38.4 °C",
        "respiratory rate 22 breaths/min",
        "NEWS2 points from the vital signs given 3 points",  # 1 (38.4 °C) + 2 (22/min)
        "age 70 years",
    ]
    assert [a["rule"] for a in data["advice"]] == [
        "breathing.rate_outside_normal",
        "temperature.fever",
    ]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--temperature", "50", "measurements.temperature_c: must be between 25 and 45 °C"),
        ("--respiratory-rate", "1", "measurements.respiratory_rate: must be between 2 and 80"
         " breaths/min"),
        ("--age", "130", "age_years: must be between 0 and 120 years"),
    ],
)  # fmt: skip
def test_out_of_range_flags_are_one_line_errors(flag: str, value: str, message: str) -> None:
    result = run("check", flag, value, rules=None)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == f"error: {message} (got {float(value)})\n"


def test_intake_asks_breathing_rate_temperature_and_age(starter_engine: Engine) -> None:
    interview = Interview(starter_engine.reader)
    asked = questions(interview, ["n", "", "y", "", "", "", "", "", "", "39", "", "70", "n"])
    assert [q.key for q in asked[2:13]] == [
        "measurements",
        "weight_kg",
        "baseline_weight_kg",
        "blood_pressure",
        "heart_rate",
        "respiratory_rate",
        "oxygen_saturation_pct",
        "temperature_c",
        "fasting_glucose_mg_dl",
        "age_years",
        "treatment",
    ]
    assert asked[9].text == "Temperature, °C (blank to skip)"
    assert asked[11].text == "Age, in years (blank to skip)"
