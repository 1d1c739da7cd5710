"""Measurements typed in symptom text ("BP 200/125 with a pounding head"): what is read,
what is not, how it is used, and how it is shown."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from ktriage import Engine
from ktriage.cli import main
from ktriage.engine.reader import _normalised
from ktriage.engine.textvalues import read_values


def values(text: str) -> list[tuple[str, float, str, str | None]]:
    folded, lowered = _normalised(text)
    return [(v.field, v.value, v.matched, v.note) for v in read_values(lowered, folded)]


READ = [
    ("BP 200/125 with a pounding head", [
        ("systolic_bp", 200, "BP 200/125", None), ("diastolic_bp", 125, "BP 200/125", None)]),
    ("blood pressure was 165 over 95", [
        ("systolic_bp", 165, "blood pressure was 165 over 95", None),
        ("diastolic_bp", 95, "blood pressure was 165 over 95", None)]),
    ("172/104 mmHg after the spray", [
        ("systolic_bp", 172, "172/104 mmHg", None), ("diastolic_bp", 104, "172/104 mmHg", None)]),
    ("pulse 138 and racing", [("heart_rate", 138, "pulse 138", None)]),
    ("HR of 44, dizzy", [("heart_rate", 44, "HR of 44", None)]),
    ("heart rate 120bpm", [("heart_rate", 120, "heart rate 120bpm", None)]),
    ("sats 87% and breathless", [("oxygen_saturation_pct", 87, "sats 87%", None)]),
    ("o2 sat is 91", [("oxygen_saturation_pct", 91, "o2 sat is 91", None)]),
    ("temp 39.6 since last night", [("temperature_c", 39.6, "temp 39.6", None)]),
    ("temp 38,5", [("temperature_c", 38.5, "temp 38,5", None)]),
    ("fever of 102", [("temperature_c", 38.9, "fever of 102", "102 read as °F: 38.9 °C")]),
    ("temperature 101.3 F", [("temperature_c", 38.5, "temperature 101.3 F", None)]),
    ("39.4°C and shivering", [("temperature_c", 39.4, "39.4°C", None)]),
    ("resp rate 28", [("respiratory_rate", 28, "resp rate 28", None)]),
    ("28 breaths a minute", [("respiratory_rate", 28, "28 breaths a minute", None)]),
    ("sugar 480 and throwing up", [("fasting_glucose_mg_dl", 480, "sugar 480", None)]),
    ("blood sugar is 3.1 and shaky", [
        ("fasting_glucose_mg_dl", 56, "blood sugar is 3.1", "3.1 read as mmol/L: 56 mg/dL")]),
    ("bg 22 mmol/l", [("fasting_glucose_mg_dl", 396, "bg 22 mmol/l", None)]),
    ("glucose 65 mg/dL", [("fasting_glucose_mg_dl", 65, "glucose 65 mg/dL", None)]),
    ("bp 150/95, pulse 110, temp 38.2", [
        ("systolic_bp", 150, "bp 150/95", None), ("diastolic_bp", 95, "bp 150/95", None),
        ("heart_rate", 110, "pulse 110", None), ("temperature_c", 38.2, "temp 38.2", None)]),
]  # fmt: skip

NOT_READ = [
    "pain 8/10",  # not a blood pressure
    "took 2 tablets",
    "tired for 3 days",
    "bp 90/120",  # the second number is not the lower
    "fever 3 days",  # not a temperature
    "sats 200",  # outside the plausible range
    "pulse 1380",  # a longer number is not its first digits
    "120/80",  # a bare pair could be anything
    "88%",  # a bare percentage too
]


@pytest.mark.parametrize(("text", "expected"), READ)
def test_values_read_in_text(text: str, expected: list[Any]) -> None:
    assert values(text) == expected


@pytest.mark.parametrize("text", NOT_READ)
def test_numbers_that_are_not_read_as_measurements(text: str) -> None:
    assert values(text) == []


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def test_a_text_holding_only_a_measurement_leaves_nothing_unrecognised(engine: Engine) -> None:
    result = engine.evaluate({"symptoms": [{"name": "bp 200/120"}]})
    assert result.unrecognized == []
    (reading,) = result.readings
    assert [(v.field, v.label, v.value, v.unit) for v in reading.values] == [
        ("systolic_bp", "systolic blood pressure", 200, "mmHg"),
        ("diastolic_bp", "diastolic blood pressure", 120, "mmHg"),
    ]


@pytest.mark.parametrize(
    ("text", "measurements", "symptoms"),
    [
        ("bp 200/120", {"systolic_bp": 200, "diastolic_bp": 120}, []),
        ("BP 185/100 with a bad headache", {"systolic_bp": 185, "diastolic_bp": 100},
         [{"name": "bad headache"}]),
        ("sats 87% and breathless", {"oxygen_saturation_pct": 87}, [{"name": "breathless"}]),
        ("temp 39.6", {"temperature_c": 39.6}, []),
        ("pulse 138", {"heart_rate": 138}, []),
        ("resp rate 28", {"respiratory_rate": 28}, []),
        ("sugar 480 and throwing up", {"fasting_glucose_mg_dl": 480},
         [{"name": "throwing up"}]),
        ("blood sugar 2.8 and shaky", {"fasting_glucose_mg_dl": 50}, [{"name": "shaky"}]),
    ],
)  # fmt: skip
def test_a_value_in_text_decides_as_the_same_value_given_as_a_measurement(
    engine: Engine, text: str, measurements: dict[str, float], symptoms: list[Any]
) -> None:
    typed = engine.evaluate({"symptoms": [{"name": text}]})
    given = engine.evaluate({"symptoms": symptoms, "measurements": measurements})
    assert typed.escalation == given.escalation
    assert [a.rule for a in typed.advice] == [a.rule for a in given.advice]
    assert [a.because for a in typed.advice] == [a.because for a in given.advice]


def test_values_that_change_the_level(engine: Engine) -> None:
    def level(text: str) -> str:
        return engine.evaluate({"symptoms": [{"name": text}]}).escalation.value

    assert level("sats 87% and breathless") == "emergency"
    assert level("bp 200/120") == "urgent"
    assert level("blood sugar 2.8 and shaky") == "urgent"
    # the same words without the numbers
    assert level("bp and a headache") == "next_visit"


def test_a_value_the_report_gives_stands_and_the_typed_one_is_listed(engine: Engine) -> None:
    result = engine.evaluate(
        {"symptoms": [{"name": "bp 200/120"}], "measurements": {"systolic_bp": 130}}
    )
    assert [(s.what, s.where, s.why) for s in result.skipped] == [
        (
            "systolic_bp 200 typed as 'bp 200/120'",
            "symptoms.0.name",
            "the report gives systolic_bp 130, which is used",
        )
    ]
    # the diastolic the report left out is taken from the text
    assert result.derived == {"news2_vitals": 0.0}
    assert any("diastolic blood pressure 120" in " ".join(a.because) for a in result.advice)


def test_a_sugar_between_100_and_199_is_not_graded_as_fasting(engine: Engine) -> None:
    result = engine.evaluate({"symptoms": [{"name": "sugar 150 and tired"}]})
    assert [(s.what, s.why) for s in result.skipped] == [
        (
            "blood sugar 150 mg/dL typed as 'sugar 150'",
            "not known to be fasting; between 100 and 199 mg/dL only a fasting value is graded",
        )
    ]
    assert [a.rule for a in result.advice if "glucose" in a.rule] == []


def test_check_shows_how_the_numbers_were_read() -> None:
    result = CliRunner().invoke(main, ["check", "--symptom", "fever of 102, pulse 120"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2] == (
        "Read 'fever of 102, pulse 120': fever or chills ('fever'); body temperature"
        " 38.9 °C ('fever of 102': 102 read as °F: 38.9 °C); heart rate 120 beats/min"
        " ('pulse 120')"
    )
