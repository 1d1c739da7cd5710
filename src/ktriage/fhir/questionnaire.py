"""The FHIR Questionnaire ktriage publishes for symptom reports."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..engine.models import (
    NUMERIC_FIELDS,
    Route,
    Severity,
)
from .codes import (
    KIND_OF_CODE,
    KIND_OF_FIELD,
    LOINC,
    MAX_EXTENSION,
    MIN_EXTENSION,
    QUESTION_UNIT,
    QUESTIONNAIRE_URL,
    ROUTE_SYSTEM,
    SEVERITY_SYSTEM,
    SYMPTOM_SYSTEM,
    UCUM,
    UNIT_EXTENSION,
)
from .reader import default_pack
from .resources import Questionnaire

if TYPE_CHECKING:
    from ..engine.pack import RulePack


# -- the published questionnaire ---------------------------------------------------------


def questionnaire(pack: RulePack | None = None) -> dict[str, Any]:
    """The FHIR Questionnaire for symptom reports, built from ``pack``'s vocabulary.

    A QuestionnaireResponse to it is read by ``report_from_fhir``.
    """
    pack = pack or default_pack()
    terms = list(pack.vocabulary.terms.values())

    def coding(system: str, code: str, display: str) -> dict[str, Any]:
        return {"valueCoding": {"system": system, "code": code, "display": display}}

    def number(link: str, text: str, unit: str | None, loinc: str | None) -> dict[str, Any]:
        spec = NUMERIC_FIELDS[link.rpartition(".")[2]]
        item: dict[str, Any] = {"linkId": link, "text": text, "type": "decimal"}
        if loinc:
            kind = KIND_OF_CODE[loinc]
            item["code"] = [{"system": LOINC, "code": loinc, "display": kind.display}]
        ext = [
            {"url": MIN_EXTENSION, "valueDecimal": spec.low},
            {"url": MAX_EXTENSION, "valueDecimal": spec.high},
        ]
        if unit:
            ext.append(
                {
                    "url": UNIT_EXTENSION,
                    "valueCoding": {"system": UCUM, "code": unit, "display": unit},
                }
            )
        item["extension"] = ext
        return item

    measurement_text = {
        "weight_kg": "Weight today (kg)",
        "baseline_weight_kg": "Weight before treatment started (kg)",
        "systolic_bp": "Blood pressure: upper number (systolic, mmHg)",
        "diastolic_bp": "Blood pressure: lower number (diastolic, mmHg)",
        "heart_rate": "Heart rate (beats per minute)",
        "oxygen_saturation_pct": "Oxygen saturation (%)",
        "fasting_glucose_mg_dl": "Fasting blood sugar (mg/dL)",
        "ldl_cholesterol_mg_dl": "LDL cholesterol (mg/dL)",
        "triglycerides_mg_dl": "Triglycerides (mg/dL)",
    }
    route_text = {
        "iv": "Infusion into a vein (IV)",
        "nasal_spray": "Nasal spray",
        "intramuscular": "Injection into a muscle",
        "oral": "Swallowed (by mouth)",
        "sublingual": "Under the tongue",
        "other": "Other",
    }
    data: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": "ktriage-symptom-report",
        "url": QUESTIONNAIRE_URL,
        "version": f"{pack.name}-{pack.version}",
        "name": "KtriageSymptomReport",
        "title": "Side effects during ketamine or esketamine treatment",
        "status": "active",
        "subjectType": ["Patient"],
        "description": (
            f"Symptom report read by ktriage; symptom choices generated from rule pack"
            f" {pack.name} {pack.version}. Answer what applies; every question is optional."
        ),
        "item": [
            {
                "linkId": "symptom",
                "text": "A side effect you have noticed (one group per side effect)",
                "type": "group",
                "repeats": True,
                "item": [
                    {
                        "linkId": "symptom.code",
                        "text": "Which side effect?",
                        "type": "choice",
                        "answerOption": [coding(SYMPTOM_SYSTEM, t.code, t.label) for t in terms],
                    },
                    {
                        "linkId": "symptom.text",
                        "text": "Not in the list? Describe it in your own words",
                        "type": "string",
                        "maxLength": 200,
                    },
                    {
                        "linkId": "symptom.severity",
                        "text": "How bad is it?",
                        "type": "choice",
                        "answerOption": [
                            coding(SEVERITY_SYSTEM, s.value, s.value.capitalize()) for s in Severity
                        ],
                    },
                    {"linkId": "symptom.days", "text": "For how many days?", "type": "decimal"},
                    {
                        "linkId": "symptom.limits_self_care",
                        "text": "Does it stop you washing, dressing or eating on your own?",
                        "type": "boolean",
                    },
                    {
                        "linkId": "symptom.limits_daily_activities",
                        "text": "Does it stop you doing everyday tasks (shopping, cooking, work)?",
                        "type": "boolean",
                    },
                    {
                        "linkId": "symptom.relieved_by_rest",
                        "text": "Does rest make it better?",
                        "type": "boolean",
                    },
                ],
            },
            {
                "linkId": "measurements",
                "text": "Measurements, if you have them",
                "type": "group",
                "item": [
                    number(
                        f"measurements.{name}",
                        text,
                        QUESTION_UNIT[name],
                        KIND_OF_FIELD[name].question_code if name in KIND_OF_FIELD else None,
                    )
                    for name, text in measurement_text.items()
                ],
            },
            {
                "linkId": "treatment",
                "text": "Your treatment",
                "type": "group",
                "item": [
                    {
                        "linkId": "treatment.route",
                        "text": "How do you take it?",
                        "type": "choice",
                        "answerOption": [
                            coding(ROUTE_SYSTEM, r.value, route_text.get(r.value, r.value))
                            for r in Route
                        ],
                    },
                    number("treatment.hours_since_dose", "Hours since your last dose", "h", None),
                ],
            },
            number("age_years", "Your age in years", None, None),
        ],
    }
    # Validate against the R4B model and emit its canonical JSON.
    return json.loads(Questionnaire.model_validate(data).model_dump_json())
