"""Units and words as people give them: weights, glucose, durations and routes, in the
library, in ``check``'s flags, in JSON and in the intake, each read the same way."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ktriage import Engine, InvalidReport, triage
from ktriage.engine.intake import parse_report
from ktriage.engine.units import (
    UnitError,
    read_days,
    read_glucose_mg_dl,
    read_mass_kg,
    read_route,
)
from ktriage.interview import Interview

from .test_cli import run

THURSDAY = dt.date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "kg"),
    [
        ("80", 80.0),
        ("80kg", 80.0),
        ("80 kilos", 80.0),
        ("176lb", 79.83),
        ("176 lbs", 79.83),
        ("176 pounds", 79.83),
        ("12st 4lb", 78.02),
        ("12 st 4", 78.02),
        ("12 stone", 76.2),
    ],
)
def test_weights(text: str, kg: float) -> None:
    assert read_mass_kg(text) == kg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("176 lbz", "unknown unit 'lbz' in '176 lbz' (give kg, lb or st)"),
        ("3 m", "'m' in '3 m' is not a unit of kg, lb or st"),
        ("heavy", "cannot read 'heavy' as a weight (give a number and kg, lb or st)"),
        ("80 4lb", "cannot read '80 4lb' as a weight (give a unit after 80)"),
    ],
)
def test_weight_errors(text: str, message: str) -> None:
    with pytest.raises(UnitError) as caught:
        read_mass_kg(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "mg_dl"),
    [("99", 99.0), ("99mg/dL", 99.0), ("99 mg/dl", 99.0), ("5.5mmol/L", 99.1), ("7 mmol", 126.1)],
)
def test_glucose(text: str, mg_dl: float) -> None:
    assert read_glucose_mg_dl(text) == mg_dl


def test_glucose_in_a_unit_of_mass_is_refused() -> None:
    with pytest.raises(UnitError) as caught:
        read_glucose_mg_dl("5 kg")
    assert str(caught.value) == "'kg' in '5 kg' is not a unit of glucose (mg/dL or mmol/L)"


@pytest.mark.parametrize(
    ("text", "days", "note"),
    [
        ("3", 3.0, None),
        ("3 days", 3.0, None),
        ("2 weeks", 14.0, "read '2 weeks' as 14 days"),
        ("two weeks", 14.0, "read 'two weeks' as 14 days"),
        ("for about two weeks now", 14.0, "read 'for about two weeks now' as 14 days"),
        ("12 hours", 0.5, "read '12 hours' as 0.5 days"),
        ("yesterday", 1.0, "read 'yesterday' as 1 day"),
        ("a few days", 4.0, "read 'a few days' as 4 days (the longer reading)"),
        ("several days", 7.0, "read 'several days' as 7 days (the longer reading)"),
        ("a couple of days", 2.0, "read 'a couple of days' as 2 days"),
        ("since Monday", 3.0, "read 'since Monday' as 3 days (today is Thursday)"),
        (
            "since Thursday",
            7.0,
            "read 'since Thursday' as 7 days (today is Thursday: a week ago, the longer reading)",
        ),
    ],
)
def test_durations(text: str, days: float, note: str | None) -> None:
    assert read_days(text, THURSDAY) == (days, note)


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("spray", "nasal_spray"),
        ("Nasal", "nasal_spray"),
        ("IV drip", "iv"),
        ("infusion", "iv"),
        ("injection", "intramuscular"),
        ("nasal-spray", "nasal_spray"),
        ("IV", "iv"),
    ],
)
def test_routes(text: str, route: str) -> None:
    assert read_route(text).value == route


# -- JSON: unit strings are read, plain numbers still work, quoted numbers are refused -----


def test_json_reads_units_and_words_and_leaves_the_input_alone() -> None:
    given = {
        "measurements": {
            "weight_kg": "176lb",
            "baseline_weight_kg": "12st 4lb",
            "fasting_glucose_mg_dl": "5.5 mmol/L",
        },
        "symptoms": [{"name": "tired", "days": "two weeks"}],
        "treatment": {"route": "IV drip", "hours_since_dose": 2},
    }
    before = json.dumps(given)
    report = parse_report(given)
    assert json.dumps(given) == before
    assert report.measurements.weight_kg == 79.83
    assert report.measurements.baseline_weight_kg == 78.02
    assert report.measurements.fasting_glucose_mg_dl == 99.1
    assert report.symptoms[0].days == 14.0
    assert report.treatment.route is not None and report.treatment.route.value == "iv"
    plain = parse_report({"measurements": {"weight_kg": 82, "fasting_glucose_mg_dl": 99}})
    assert (plain.measurements.weight_kg, plain.measurements.fasting_glucose_mg_dl) == (82, 99)


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        (
            {"measurements": {"weight_kg": "82"}},
            [("measurements.weight_kg", "expected a number, got '82': remove the quotes")],
        ),
        (
            {"symptoms": [{"name": "tired", "days": "3"}]},
            [("symptoms.0.days", "expected a number, got '3': remove the quotes")],
        ),
        (
            {"measurements": {"weight_kg": "82 lbz", "heart_rate": "90"}},
            [
                ("measurements.heart_rate", "expected a number, got '90': remove the quotes"),
                ("measurements.weight_kg", "unknown unit 'lbz' in '82 lbz' (give kg, lb or st)"),
            ],
        ),
        (
            {"measurements": {"weight_kg": "900 lb"}},
            [("measurements.weight_kg", "must be between 20 and 400 kg (got 408.23)")],
        ),
        (
            {"measurements": {"fasting_glucose_mg_dl": 5.5}},
            [
                (
                    "measurements.fasting_glucose_mg_dl",
                    "must be between 10 and 1500 mg/dL (got 5.5); if it is mmol/L, give the"
                    " unit: 5.5 mmol/L (= 99 mg/dL)",
                )
            ],
        ),
    ],
)
def test_json_unit_errors_name_the_field(given: dict, errors: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidReport) as caught:
        parse_report(given)
    assert [(e.field, e.message) for e in caught.value.errors] == errors
    assert caught.value.input is given


def test_same_level_from_units_as_from_numbers() -> None:
    with_units = triage({"measurements": {"weight_kg": "220 lb", "baseline_weight_kg": "80kg"}})
    numbers = triage({"measurements": {"weight_kg": 99.79, "baseline_weight_kg": 80}})
    assert with_units.escalation == numbers.escalation
    assert with_units.derived == numbers.derived


# -- check's flags --------------------------------------------------------------------------


def test_check_flags_take_units_and_state_how_words_were_read() -> None:
    result = run(
        "check",
        "--weight", "176lb",
        "--baseline-weight", "12st 4lb",
        "--glucose", "5.5mmol/L",
        "--route", "spray",
        "--symptom", "tired:mild:a few days",
        "--format", "json",
        "--explain",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["explanation"]["facts"] == [
        "fatigue (reported as 'tired'): mild, 4 days",
        "weight 79.83 kg",
        "baseline weight 78.02 kg",
        "fasting glucose 99.1 mg/dL",
        "weight change from baseline +2.32 % (79.83 kg now, 78.02 kg at baseline)",
        "route: nasal spray",
    ]
    assert result.stderr == (
        "note: --symptom 'tired': read 'a few days' as 4 days (the longer reading)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--glucose", "5.5"],
            "error: measurements.fasting_glucose_mg_dl: must be between 10 and 1500 mg/dL"
            " (got 5.5); if it is mmol/L, give the unit: 5.5 mmol/L (= 99 mg/dL)",
        ),
        (
            ["--weight", "176 lbz"],
            "error: --weight: unknown unit 'lbz' in '176 lbz' (give kg, lb or st)",
        ),
        (
            ["--glucose", "99 kg"],
            "error: --glucose: 'kg' in '99 kg' is not a unit of glucose (mg/dL or mmol/L)",
        ),
    ],
)
def test_check_unit_errors_are_one_line(args: list[str], message: str) -> None:
    result = run("check", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")


def test_bare_glucose_stays_mg_dl() -> None:
    result = run("check", "--glucose", "99", "--format", "json", "--explain")
    assert json.loads(result.stdout)["explanation"]["facts"] == ["fasting glucose 99 mg/dL"]


# -- intake ---------------------------------------------------------------------------------


def test_intake_reads_units_and_words(starter_engine: Engine) -> None:
    interview = Interview(starter_engine.reader)
    conversation = interview.run()
    answers = ["n", "tired", "mild", "since yesterday", "", "y", "176lb", "12st 4lb", "", "",
               "", "", "", "5.5mmol/L", "", "y", "IV drip", ""]  # fmt: skip
    asked = [next(conversation)]
    outcome = None
    for answer in answers:
        try:
            asked.append(conversation.send(answer))
        except StopIteration as done:
            outcome = done.value
            break
    assert outcome is not None
    assert outcome.report.symptoms[0].days == 1.0
    assert outcome.report.measurements.weight_kg == 79.83
    assert outcome.report.measurements.baseline_weight_kg == 78.02
    assert outcome.report.measurements.fasting_glucose_mg_dl == 99.1
    assert outcome.report.treatment.route is not None
    assert outcome.report.treatment.route.value == "iv"
    # the question after the duration says how the words were read
    assert [q.note for q in asked if q.note] == ["read 'since yesterday' as 1 day"]


def test_intake_glucose_bare_mmol_value_is_asked_again_with_a_hint(
    starter_engine: Engine,
) -> None:
    answers = ["n", "", "y", "", "", "", "", "", "", "", "5.5", "99", "", "n"]
    conversation = Interview(starter_engine.reader).run()
    asked = [next(conversation)]
    for answer in answers:
        try:
            asked.append(conversation.send(answer))
        except StopIteration as done:
            assert done.value.report.measurements.fasting_glucose_mg_dl == 99.0
            break
    assert [q.problem for q in asked if q.problem] == [
        "must be between 10 and 1500 mg/dL (got 5.5); if it is mmol/L, give the unit:"
        " 5.5 mmol/L (= 99 mg/dL)"
    ]
