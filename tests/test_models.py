"""The contract: what a Report accepts, what it refuses and the exact words it uses."""

from __future__ import annotations

import json

import pytest

from benchmarks.workload import random_reports
from ktriage import Engine, FieldError, InvalidReport, Report, Result
from ktriage.engine.intake import parse_report

FULL = {
    "patient_id": "p-17",
    "age_years": 52,
    "symptoms": [{"name": "tired", "severity": "moderate", "days": 3, "limits_self_care": False}],
    "measurements": {
        "weight_kg": 82.0,
        "baseline_weight_kg": 78.0,
        "systolic_bp": 150,
        "diastolic_bp": 95,
        "heart_rate": 88,
        "oxygen_saturation_pct": 97,
        "fasting_glucose_mg_dl": 110,
        "ldl_cholesterol_mg_dl": 130,
        "triglycerides_mg_dl": 160,
    },
    "treatment": {"route": "nasal_spray", "hours_since_dose": 1.5},
}


def test_issue_example_round_trips() -> None:
    report = Report.model_validate(FULL)
    again = Report.model_validate_json(report.model_dump_json())
    assert again == report
    assert report.symptoms[0].severity == "moderate"
    assert report.measurements.systolic_bp == 150.0


def test_empty_report_is_valid() -> None:
    report = parse_report({})
    assert report.symptoms == []
    assert report.measurements.weight_kg is None


def test_severity_defaults_to_moderate() -> None:
    assert parse_report({"symptoms": [{"name": "tired"}]}).symptoms[0].severity == "moderate"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"symptoms": [{"name": "x", "severity": "SEVERE"}]}, "severe"),
        ({"symptoms": [{"name": "x", "severity": " Mild "}]}, "mild"),
    ],
)
def test_severity_words_are_forgiving(given: dict, expected: str) -> None:
    assert parse_report(given).symptoms[0].severity == expected


@pytest.mark.parametrize("route", ["Nasal spray", "nasal-spray", "NASAL_SPRAY"])
def test_route_words_are_forgiving(route: str) -> None:
    assert parse_report({"treatment": {"route": route}}).treatment.route == "nasal_spray"


BAD = [
    (
        {"measurements": {"weight_kg": -5}},
        "measurements.weight_kg",
        "must be between 20 and 400 kg (got -5)",
    ),
    (
        {"measurements": {"systolic_bp": 4000}},
        "measurements.systolic_bp",
        "must be between 50 and 300 mmHg (got 4000)",
    ),
    (
        {"measurements": {"systolik_bp": 140}},
        "measurements.systolik_bp",
        "unknown field; did you mean 'systolic_bp'?",
    ),
    ({"symptom": []}, "symptom", "unknown field; did you mean 'symptoms'?"),
    (
        {"zzz": 1},
        "zzz",
        "unknown field; known fields: patient_id, reported_at, age_years, symptoms,"
        " measurements, treatment, history",
    ),
    ({"symptoms": [{}]}, "symptoms.0.name", "is required"),
    ({"symptoms": [{"name": ""}]}, "symptoms.0.name", "must not be empty"),
    ({"symptoms": [{"name": "   "}]}, "symptoms.0", "name must not be blank"),
    (
        {"symptoms": [{"name": "x", "severity": "awful"}]},
        "symptoms.0.severity",
        "must be one of mild, moderate, severe (got 'awful')",
    ),
    (
        {"symptoms": [{"name": "x", "days": -1}]},
        "symptoms.0.days",
        "must be between 0 and 3650 days (got -1)",
    ),
    (
        {"measurements": {"weight_kg": "heavy"}},
        "measurements.weight_kg",
        "must be a number (got text 'heavy')",
    ),
    (
        {"measurements": {"weight_kg": True}},
        "measurements.weight_kg",
        "must be a number (got a boolean True)",
    ),
    (
        {"measurements": {"weight_kg": float("nan")}},
        "measurements.weight_kg",
        "must be a finite number",
    ),
    (
        {"treatment": {"route": "rectal"}},
        "treatment.route",
        "must be one of iv, nasal_spray, intramuscular, oral, sublingual, other (got 'rectal')",
    ),
    (
        {"symptoms": [{"name": "x", "limits_self_care": "maybe"}]},
        "symptoms.0.limits_self_care",
        "must be true or false (got 'maybe')",
    ),
    (
        {"symptoms": [{"name": "x", "relieved_by_rest": 1}]},
        "symptoms.0.relieved_by_rest",
        "must be true or false (got 1)",
    ),
    ({"symptoms": "tired"}, "symptoms", "must be a list (got text)"),
    ({"measurements": [1]}, "measurements", "must be an object (got a list)"),
    (
        {"measurements": {"systolic_bp": 80, "diastolic_bp": 120}},
        "measurements",
        "diastolic_bp (120) must be lower than systolic_bp (80); were the two swapped?",
    ),
    ({"age_years": 300}, "age_years", "must be between 0 and 120 years (got 300)"),
    ({"patient_id": 17}, "patient_id", "must be text (got a number)"),
]


@pytest.mark.parametrize(("given", "field", "message"), BAD)
def test_bad_input_names_the_field_and_problem(given: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidReport) as info:
        parse_report(given)
    assert info.value.errors == [FieldError(field, message)]
    assert str(info.value) == f"{field}: {message}"
    assert info.value.input is given  # nothing the caller gave is lost


def test_every_problem_is_reported_not_just_the_first() -> None:
    with pytest.raises(InvalidReport) as info:
        parse_report({"measurements": {"weight_kg": -5, "heart_rate": 900}})
    assert [e.field for e in info.value.errors] == [
        "measurements.weight_kg",
        "measurements.heart_rate",
    ]
    assert str(info.value) == (
        "measurements.weight_kg: must be between 20 and 400 kg (got -5) (and 1 more problem)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{bad",
            "malformed JSON at column 2: Expecting property name enclosed in double quotes",
        ),
        ("[1, 2]", "a report must be a JSON object, got a list"),
        ("42", "a report must be a JSON object, got a number"),
        (b"\xff\xfe", "input is not UTF-8 text: invalid start byte"),
        pytest.param("[" * 100_000, "JSON nested too deeply", id="too-deep"),
        pytest.param(
            '{"age_years": 1' + "0" * 5000 + "}",
            "unreadable JSON: Exceeds the limit (4300 digits) for integer string conversion:"
            " value has 5001 digits; use sys.set_int_max_str_digits() to increase the limit",
            id="huge-int",
        ),
    ],
)
def test_malformed_json(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidReport) as info:
        parse_report(text)
    assert str(info.value) == message
    assert info.value.input == text


def test_json_text_and_dict_give_the_same_result(starter_engine: Engine) -> None:
    assert starter_engine.evaluate(json.dumps(FULL)) == starter_engine.evaluate(FULL)
    assert starter_engine.evaluate(json.dumps(FULL).encode()) == starter_engine.evaluate(FULL)


def test_result_json_round_trips(starter_engine: Engine) -> None:
    result = starter_engine.evaluate(FULL)
    dumped = result.model_dump(mode="json")
    assert Result.model_validate(dumped) == result
    assert set(dumped) == {
        "patient_id",
        "escalation",
        "label",
        "summary",
        "red_flags",
        "advice",
        "unrecognized",
        "readings",
        "derived",
        "rule_pack",
        "skipped",
    }
    assert set(dumped["advice"][0]) == {
        "rule",
        "title",
        "escalation",
        "guidance",
        "action",
        "because",
        "sources",
        "superseded_by",
    }


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"age_years": 10**5000}, "age_years: is far outside any plausible range"),
        (
            {"patient_id": "\ud800"},
            "patient_id: must be valid text (it holds an unpaired surrogate)",
        ),
        (
            {"symptoms": [{"name": "x" * 300}]},
            "symptoms.0.name: is too long (at most 200 characters)",
        ),
    ],
    ids=["huge-int", "surrogate", "long-name"],
)
def test_odd_values_get_plain_messages(given: dict, message: str) -> None:
    with pytest.raises(InvalidReport) as info:
        parse_report(given)
    assert str(info.value) == message


def test_constructed_results_equal_validated_ones_on_random_reports() -> None:
    """The engine builds Results without validating them again (issue 15): on thousands
    of random reports each one equals, field for field and in JSON, the same data put
    through pydantic's validation."""
    engine = Engine.load()
    checked = 0
    for report in random_reports(engine.pack.vocabulary, 3000, seed=15):
        result = engine.evaluate(report)
        validated = Result.model_validate(result.model_dump())
        assert validated == result, report
        assert validated.model_dump_json() == result.model_dump_json()
        assert validated.model_fields_set == result.model_fields_set
        assert Result.model_validate_json(result.model_dump_json()) == result
        for advice, again in zip(result.advice, validated.advice, strict=True):
            assert type(advice) is type(again)
            assert advice.model_fields_set == again.model_fields_set
        checked += 1
    assert checked == 3000
