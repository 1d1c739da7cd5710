"""FHIR input: Observations, Patients and QuestionnaireResponses become a Report."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("fhir.resources")

from ktriage import Engine, InvalidReport, Report
from ktriage.cli import main
from ktriage.fhir import (
    BASELINE_EXTENSION,
    GLUCOSE_MMOL_TO_MG_DL,
    LB_TO_KG,
    LDL_MMOL_TO_MG_DL,
    QUESTIONNAIRE_URL,
    SYMPTOM_SYSTEM,
    TRIGLYCERIDES_MMOL_TO_MG_DL,
    questionnaire,
    read_fhir,
    report_from_fhir,
)

DATA = Path(__file__).parent / "data"
STARTER = DATA / "starter"
FHIR = DATA / "fhir"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # the data is of 2026-11-20


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(STARTER)


def load(name: str) -> dict[str, Any]:
    return json.loads((FHIR / name).read_text(encoding="utf-8"))


def obs(code: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org", "code": unit},
        "effectiveDateTime": "2026-11-20T09:00:00Z",  # effectiveDateTime=None: undated
    }
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def errors_of(data: Any, engine: Engine, **kw: Any) -> dict[str, str]:
    kw.setdefault("strict", True)
    with pytest.raises(InvalidReport) as info:
        report_from_fhir(data, engine.pack, now=NOW, **kw)
    return {e.field: e.message for e in info.value.errors}


# -- the check-in bundle -----------------------------------------------------------------


def test_checkin_bundle_maps_every_measurement(engine: Engine) -> None:
    reading = read_fhir(load("bundle-checkin.json"), engine.pack, now=NOW)
    m = reading.report.measurements
    assert m.weight_kg == round(198.4 * LB_TO_KG, 2) == 89.99  # latest weight, 3141-9
    assert m.baseline_weight_kg == 80  # flagged with the baseline extension
    assert (m.systolic_bp, m.diastolic_bp) == (148, 92)  # from the 85354-9 panel
    assert m.heart_rate == 72  # the questionnaire (10:00) is newer than the Observation
    assert m.oxygen_saturation_pct == 97
    assert m.fasting_glucose_mg_dl == round(6.1 * GLUCOSE_MMOL_TO_MG_DL, 2) == 109.9
    assert m.ldl_cholesterol_mg_dl == round(3.4 * LDL_MMOL_TO_MG_DL, 2) == 131.48
    assert m.triglycerides_mg_dl == round(2.0 * TRIGLYCERIDES_MMOL_TO_MG_DL, 2) == 177.14
    report = reading.report
    assert report.patient_id == "pat-001"
    assert report.age_years == 42  # from Patient.birthDate at NOW, not the typed 41
    assert [s.name for s in report.symptoms] == ["fatigue", "ringing in my ears"]
    assert report.treatment.route is not None and report.treatment.route.value == "nasal_spray"
    assert report.treatment.hours_since_dose == 20
    # The random glucose (2345-7) is known, not used, and said so.
    assert [(s.where, s.what) for s in reading.skipped] == [
        ("entry.8", "Observation 2345-7 glucose")
    ]
    assert reading.skipped[0].why.startswith("glucose not known to be fasting")


def test_checkin_bundle_triages_with_the_starter_pack(engine: Engine) -> None:
    result = engine.evaluate(report_from_fhir(load("bundle-checkin.json"), engine.pack, now=NOW))
    assert result.escalation.value == "within_24h"
    rules = [a.rule for a in result.advice]
    assert rules[0] == "weight.change_grade2"  # 12.49 % gain from 80 kg
    assert "ktriage.unrecognized" in rules  # "ringing in my ears" is reported, not dropped
    assert result.derived["weight_change_pct"] == 12.49


def test_report_from_fhir_accepts_json_text(engine: Engine) -> None:
    text = (FHIR / "bundle-checkin.json").read_text(encoding="utf-8")
    assert report_from_fhir(text, engine.pack, now=NOW) == report_from_fhir(
        json.loads(text), engine.pack, now=NOW
    )


def test_single_observation_in_pounds(engine: Engine) -> None:
    report = report_from_fhir(load("observation-weight-lb.json"), engine.pack, now=NOW)
    assert report.measurements.weight_kg == round(165 * LB_TO_KG, 2) == 74.84
    assert report.patient_id == "pat-001"
    assert engine.evaluate(report).advice[0].rule == "weight.baseline_missing"


@pytest.mark.parametrize(
    ("unit", "value", "kg"), [("kg", 70, 70), ("g", 70500, 70.5), ("lb", 150, 68.04)]
)
def test_weight_units(engine: Engine, unit: str, value: float, kg: float) -> None:
    report = report_from_fhir(obs("29463-7", value, unit), engine.pack, now=NOW)
    assert report.measurements.weight_kg == kg


def test_standalone_blood_pressure_and_search_outcome(engine: Engine) -> None:
    reading = read_fhir(load("searchset-bp-standalone.json"), engine.pack, now=NOW)
    assert reading.report.measurements.systolic_bp == 132
    assert reading.report.measurements.diastolic_bp == 84
    assert [(s.where, s.what, s.why) for s in reading.skipped] == [
        ("entry.2", "OperationOutcome", "carries no patient data")
    ]


def test_latest_value_wins_and_old_or_undated_values_are_listed(engine: Engine) -> None:
    data = bundle(
        obs("8867-4", 60, "/min", effectiveDateTime="2026-11-01"),
        obs("8867-4", 70, "/min", effectiveDateTime="2026-11-20T08:00:00+01:00"),
        obs("8867-4", 75, "/min", effectiveDateTime="2026-11-19T08:00:00+01:00"),
        obs("8867-4", 80, "/min", effectiveDateTime=None),  # no time: cannot be current
        obs(
            "8867-4",
            65,
            "/min",
            effectiveDateTime=None,
            effectivePeriod={"start": "2026-11-10", "end": "2026-11-11"},
        ),
    )
    reading = read_fhir(data, engine.pack, now=NOW)
    assert reading.report.measurements.heart_rate == 70
    assert reading.dates["heart_rate"] == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert [(s.where, s.why) for s in reading.skipped] == [
        ("entry.0", "measured 2026-11-01, older than 3 days"),
        ("entry.3", "no date: cannot tell whether it is current"),
        ("entry.4", "measured 2026-11-11, older than 3 days"),
    ]


def test_since_skips_old_and_undated_values_but_keeps_the_baseline(engine: Engine) -> None:
    data = bundle(
        obs("8867-4", 60, "/min", effectiveDateTime="2026-01-01"),
        obs("8867-4", 80, "/min", effectiveDateTime=None),
        obs(
            "29463-7",
            80,
            "kg",
            effectiveDateTime="2025-01-01",
            extension=[{"url": BASELINE_EXTENSION, "valueBoolean": True}],
        ),
    )
    reading = read_fhir(data, engine.pack, since=datetime(2026, 11, 1, tzinfo=UTC), now=NOW)
    assert reading.report.measurements.heart_rate is None
    assert reading.report.measurements.baseline_weight_kg == 80
    assert [s.why for s in reading.skipped] == [
        "measured 2026-01-01, before 2026-11-01",
        "no date: cannot tell whether it is current",
    ]


def test_since_reads_values_older_than_the_default_window(engine: Engine) -> None:
    data = bundle(obs("8867-4", 60, "/min", effectiveDateTime="2026-01-01"))
    assert read_fhir(data, engine.pack, now=NOW).report.measurements.heart_rate is None
    since = datetime(2025, 12, 1, tzinfo=UTC)
    assert read_fhir(data, engine.pack, since=since, now=NOW).report.measurements.heart_rate == 60


def test_baseline_from_the_earliest_weight_of_the_history(engine: Engine) -> None:
    data = bundle(
        obs("29463-7", 80, "kg", effectiveDateTime="2026-01-01"),
        obs("29463-7", 85, "kg", effectiveDateTime="2026-06-01"),
        obs("29463-7", 90, "kg", effectiveDateTime="2026-11-01"),
    )
    reading = read_fhir(data, engine.pack, now=NOW)
    m = reading.report.measurements
    assert (m.weight_kg, m.baseline_weight_kg) == (90, 80)
    assert reading.dates["baseline_weight_kg"] == datetime(2026, 1, 1, tzinfo=UTC)
    # the 85 kg of June is too old to be today's weight and is not the baseline: listed
    assert [(s.where, s.why) for s in reading.skipped] == [
        ("entry.1", "measured 2026-06-01, older than 90 days")
    ]


def test_no_baseline_from_weights_of_the_same_month_or_with_the_extension(engine: Engine) -> None:
    close = bundle(
        obs("29463-7", 80, "kg", effectiveDateTime="2026-11-01"),
        obs("29463-7", 90, "kg", effectiveDateTime="2026-11-20"),
    )
    m = report_from_fhir(close, engine.pack, now=NOW).measurements
    assert (m.weight_kg, m.baseline_weight_kg) == (90, None)
    flagged = bundle(
        obs("29463-7", 70, "kg", effectiveDateTime="2026-01-01"),
        obs(
            "29463-7",
            75,
            "kg",
            effectiveDateTime="2026-03-01",
            extension=[{"url": BASELINE_EXTENSION, "valueBoolean": True}],
        ),
        obs("29463-7", 90, "kg", effectiveDateTime="2026-11-20"),
    )
    m = report_from_fhir(flagged, engine.pack, now=NOW).measurements
    assert (m.weight_kg, m.baseline_weight_kg) == (90, 75)


def test_entered_in_error_and_absent_values_are_skipped(engine: Engine) -> None:
    wrong = obs("8867-4", 200, "/min", status="entered-in-error")
    absent = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "dataAbsentReason": {"text": "patient refused"},
    }
    reading = read_fhir(bundle(wrong, absent), engine.pack, now=NOW)
    assert reading.report.measurements.heart_rate is None
    assert len(reading.skipped) == 2


# -- what is reported, never guessed -----------------------------------------------------


def test_unknown_codes_units_and_resources_are_reported(engine: Engine) -> None:
    errors = errors_of(load("bundle-unknown.json"), engine)
    assert "unknown unit '[stone_av]'" in errors["entry.0.resource.valueQuantity.code"]
    assert "unknown unit 'beats'" in errors["entry.2.resource.valueQuantity.code"]
    assert "'Encounter' is not used" in errors["entry.3.resource.resourceType"]


def test_lenient_reading_skips_and_lists_what_it_cannot_grade(engine: Engine) -> None:
    reading = read_fhir(load("bundle-unknown.json"), engine.pack, now=NOW)
    assert [(s.where, s.what) for s in reading.skipped] == [
        ("entry.0", "Observation 29463-7 body weight"),
        ("entry.2", "Observation 8867-4 heart rate"),
        ("entry.3", "Encounter"),
    ]
    assert reading.skipped[0].why.startswith("unknown unit '[stone_av]' for body weight")
    assert reading.skipped[2].why == "resource type not used by ktriage"
    assert reading.report.measurements.temperature_c is not None
    assert reading.usable


@pytest.mark.parametrize(
    ("quantity", "field", "text"),
    [
        ({"value": 80, "unit": "kg"}, "valueQuantity.system", "must be a UCUM code"),
        (
            {"value": 80, "system": "http://example.org/units", "code": "kg"},
            "valueQuantity.system",
            "must be a UCUM code",
        ),
        (
            {"value": 80, "comparator": "<", "system": "http://unitsofmeasure.org", "code": "kg"},
            "valueQuantity.comparator",
            "cannot be graded",
        ),
        (
            {"value": 4000, "system": "http://unitsofmeasure.org", "code": "kg"},
            "valueQuantity.value",
            "outside the plausible range 20 to 400 kg",
        ),
    ],
)
def test_quantity_problems(engine: Engine, quantity: dict[str, Any], field: str, text: str) -> None:
    data = obs("29463-7", 0, "kg")
    data["valueQuantity"] = quantity
    errors = errors_of(data, engine)
    assert text in errors[field]


def test_loinc_code_needs_the_loinc_system(engine: Engine) -> None:
    data = obs("29463-7", 80, "kg")
    data["code"]["coding"][0]["system"] = "http://snomed.info/sct"
    assert errors_of(data, engine)["code"].startswith("code not used by ktriage")


def test_value_of_the_wrong_type(engine: Engine) -> None:
    data = obs("8867-4", 80, "/min")
    del data["valueQuantity"]
    data["valueString"] = "fast"
    assert "needs a valueQuantity, got a valueString" in errors_of(data, engine)["valueQuantity"]


def test_panel_without_components(engine: Engine) -> None:
    data = obs("85354-9", 1, "mm[Hg]")
    del data["valueQuantity"]
    assert "systolic (8480-6)" in errors_of(data, engine)["component"]


def test_invalid_fhir_is_reported_with_its_path(engine: Engine) -> None:
    data = obs("8867-4", 80, "/min")
    data["valueQuantity"]["value"] = "eighty"
    errors = errors_of(bundle(data), engine)
    assert errors["entry.0.resource.valueQuantity.value"].startswith("not valid FHIR")


def test_diastolic_above_systolic_uses_the_library_message(engine: Engine) -> None:
    data = bundle(obs("8480-6", 80, "mm[Hg]"), obs("8462-4", 120, "mm[Hg]"))
    errors = errors_of(data, engine)
    assert "were the two swapped?" in errors["measurements"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], ""),
        ({"resourceType": "Patient2"}, "resourceType"),
        ({"resourceType": "Bundle", "entry": {}}, "entry"),
        ({"resourceType": "Bundle", "entry": [3]}, "entry.0"),
        ({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Nope"}}]}, None),
    ],
)
def test_shapes_that_are_not_fhir(engine: Engine, data: Any, field: str | None) -> None:
    errors = errors_of(data, engine)
    if field is not None:
        assert field in errors


def test_malformed_json_text(engine: Engine) -> None:
    assert "malformed JSON" in errors_of("{nope", engine)[""]


def test_resources_about_different_patients(engine: Engine) -> None:
    a = obs("8867-4", 70, "/min", subject={"reference": "Patient/a"})
    b = obs("8867-4", 71, "/min", subject={"reference": "https://ehr.example/fhir/Patient/b"})
    errors = errors_of(bundle(a, b), engine)
    assert "different patients" in errors["entry.1.resource.subject.reference"]
    errors = errors_of(bundle(a), engine, patient_id="b")
    assert "another patient" in errors["entry.0.resource.subject.reference"]


# -- the questionnaire -------------------------------------------------------------------


def test_questionnaire_lists_the_pack_vocabulary(engine: Engine) -> None:
    q = questionnaire(engine.pack)
    assert q["resourceType"] == "Questionnaire"
    assert q["url"] == QUESTIONNAIRE_URL
    assert q["version"] == "ktriage-starter-0.1.0"
    symptom = next(i for i in q["item"] if i["linkId"] == "symptom")
    assert symptom["repeats"] is True
    choice = next(i for i in symptom["item"] if i["linkId"] == "symptom.code")
    codes = [o["valueCoding"]["code"] for o in choice["answerOption"]]
    assert codes == list(engine.pack.vocabulary.terms)
    assert all(o["valueCoding"]["system"] == SYMPTOM_SYSTEM for o in choice["answerOption"])
    measurements = next(i for i in q["item"] if i["linkId"] == "measurements")
    weight = next(i for i in measurements["item"] if i["linkId"] == "measurements.weight_kg")
    assert weight["code"][0]["code"] == "29463-7"
    units = [e for e in weight["extension"] if e["url"].endswith("questionnaire-unit")]
    assert units[0]["valueCoding"]["code"] == "kg"


def test_questionnaire_defaults_to_the_shipped_pack() -> None:
    assert questionnaire()["url"] == QUESTIONNAIRE_URL


def test_questionnaire_response_round_trip(engine: Engine) -> None:
    report = report_from_fhir(load("questionnaire-response.json"), engine.pack, now=NOW)
    expected = Report.model_validate(
        {
            "patient_id": "pat-001",
            "age_years": 41,
            "symptoms": [
                {"name": "fatigue", "severity": "moderate", "days": 10, "relieved_by_rest": False},
                {"name": "ringing in my ears", "severity": "mild"},
            ],
            "measurements": {"heart_rate": 72},
            "treatment": {"route": "nasal_spray", "hours_since_dose": 20},
        }
    )
    assert report == expected


def _qr(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": QUESTIONNAIRE_URL + "|ktriage-starter-0.1.0",
        "authored": "2026-11-20T10:00:00Z",
        "item": list(items),
    }
    out.update(extra)
    return out


def _symptom(*children: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": "symptom", "item": list(children)}


def _code(code: str, system: str = SYMPTOM_SYSTEM) -> dict[str, Any]:
    return {"linkId": "symptom.code", "answer": [{"valueCoding": {"system": system, "code": code}}]}


def test_questionnaire_response_unknown_symptom_code(engine: Engine) -> None:
    errors = errors_of(_qr(_symptom(_code("fatige"))), engine)
    message = errors["item.0.item.0.answer.0.valueCoding.code"]
    assert message == "unknown code 'fatige'; did you mean 'fatigue'?"


def test_questionnaire_response_problems(engine: Engine) -> None:
    data = _qr(
        _symptom(_code("fatigue", system="http://example.org/other")),
        _symptom(_code("fatigue"), {"linkId": "symptom.text", "answer": [{"valueString": "x"}]}),
        _symptom({"linkId": "symptom.days", "answer": [{"valueDecimal": 3}]}),
        {"linkId": "mood", "answer": [{"valueString": "low"}]},
        {"linkId": "measurements", "item": [{"linkId": "measurements.weight_kg", "answer": []}]},
        {
            "linkId": "treatment",
            "item": [{"linkId": "treatment.route", "answer": [{"valueString": "spray"}]}],
        },
    )
    errors = errors_of(data, engine)
    assert (
        "must be 'https://ktriage.org/fhir/CodeSystem/symptom'"
        in (errors["item.0.item.0.answer.0.valueCoding.system"])
    )
    assert "one symptom per group" in errors["item.1.item.1.answer.0"]
    assert "needs symptom.code or symptom.text" in errors["item.2.item"]
    assert "unknown question 'mood'" in errors["item.3.linkId"]
    assert "expected a valueCoding" in errors["item.5.item.0.answer.0"]
    assert len(errors) == 5  # the unanswered weight question is fine


def test_questionnaire_response_to_another_questionnaire(engine: Engine) -> None:
    errors = errors_of(_qr(questionnaire="http://example.org/Questionnaire/phq9"), engine)
    assert (
        "must be 'https://ktriage.org/fhir/Questionnaire/symptom-report'"
        in (errors["questionnaire"])
    )


def test_questionnaire_response_measurement_as_quantity(engine: Engine) -> None:
    answer = {
        "valueQuantity": {"value": 154, "system": "http://unitsofmeasure.org", "code": "[lb_av]"}
    }
    data = _qr(
        {
            "linkId": "measurements",
            "item": [{"linkId": "measurements.weight_kg", "answer": [answer]}],
        }
    )
    assert report_from_fhir(data, engine.pack, now=NOW).measurements.weight_kg == 69.85


def test_questionnaire_response_entered_in_error_is_skipped(engine: Engine) -> None:
    data = copy.deepcopy(load("questionnaire-response.json"))
    data["status"] = "entered-in-error"
    reading = read_fhir(data, engine.pack, now=NOW)
    assert reading.report.symptoms == []
    assert reading.skipped[0].why == "status entered-in-error: not a report"


# -- the CLI commands --------------------------------------------------------------------


# the real command group: --rules and KTRIAGE_RULES must reach these commands
_cli = main


def test_cli_questionnaire_prints_json() -> None:
    out = CliRunner().invoke(_cli, ["--rules", str(STARTER), "fhir", "questionnaire"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["version"] == "ktriage-starter-0.1.0"


def test_cli_questionnaire_broken_pack() -> None:
    out = CliRunner().invoke(_cli, ["--rules", str(FHIR), "fhir", "questionnaire"])
    assert out.exit_code == 2
    assert "no pack.yaml" in out.output


def test_cli_report_from_fhir_file() -> None:
    path = str(FHIR / "searchset-bp-standalone.json")
    out = CliRunner().invoke(_cli, ["--rules", str(STARTER), "fhir", "report", path])
    assert out.exit_code == 0, out.output
    assert '"systolic_bp": 132.0' in out.output
    bad = str(FHIR / "bundle-unknown.json")
    out = CliRunner().invoke(_cli, ["--rules", str(STARTER), "fhir", "report", "--strict", bad])
    assert out.exit_code == 2
    assert "unknown unit '[stone_av]'" in out.output


def test_cli_without_the_fhir_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import ktriage

    for name in [m for m in sys.modules if m == "ktriage.fhir" or m.startswith("ktriage.fhir.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(ktriage, "fhir")
    for name in [m for m in sys.modules if m == "fhir" or m.startswith("fhir.")]:
        monkeypatch.setitem(sys.modules, name, None)
    out = CliRunner().invoke(_cli, ["fhir", "questionnaire"])
    assert out.exit_code == 2
    assert out.output.strip() == (
        "error: FHIR support needs the fhir extra: pip install 'ktriage[fhir]'"
    )


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_fhir_commands_use_the_chosen_pack(tmp_path: Path, how: str) -> None:
    # --rules and KTRIAGE_RULES reach the fhir commands (they once fell back to the
    # shipped pack without a word)
    args = ["--rules", str(tmp_path)] if how == "option" else []
    env = {"KTRIAGE_RULES": str(tmp_path)} if how == "env" else {}
    out = CliRunner().invoke(main, [*args, "fhir", "questionnaire"], env=env)
    assert out.exit_code == 2
    named = "KTRIAGE_RULES: " if how == "env" else ""  # the variable is named when it gave it
    assert out.output == f"error: {named}{tmp_path}: the pack has no pack.yaml\n"


def test_a_lone_undated_questionnaire_response_is_answered_now(engine: Engine) -> None:
    data = _qr(_symptom(_code("fatigue")), authored=None)
    del data["authored"]
    assert [s.name for s in report_from_fhir(data, engine.pack, now=NOW).symptoms] == ["fatigue"]
    in_a_bundle = read_fhir(bundle(data), engine.pack, now=NOW)  # in a record: undated
    assert in_a_bundle.report.symptoms == []
    assert [s.why for s in in_a_bundle.skipped] == ["no date: cannot tell whether it is current"]


def test_the_docs_example_of_a_record_with_nothing_usable() -> None:
    from click.testing import CliRunner

    from ktriage.cli import main

    docs = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    command = "$ ktriage check --fhir tests/data/fhir/nothing-usable.json\n"
    shown = docs.split(command, 1)[1].split("```", 1)[0]
    record = Path(__file__).parent / "data" / "fhir" / "nothing-usable.json"
    out = CliRunner().invoke(main, ["check", "--fhir", str(record)], env={"KTRIAGE_RULES": None})
    assert out.exit_code == 4
    assert out.stderr + out.stdout == shown  # as a terminal shows them: the stderr line first
    assert out.stderr == (
        "skipped 3: entry.1 Encounter: resource type not used by ktriage; entry.2 Condition:"
        " resource type not used by ktriage; entry.3 Observation 85354-9 blood pressure:"
        " status cancelled: not a measurement\n"
    )
