"""FHIR codes, systems and units ktriage reads, and the conversions between units."""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as _field

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BASE = "https://ktriage.org/fhir"
QUESTIONNAIRE_URL = f"{BASE}/Questionnaire/symptom-report"
SYMPTOM_SYSTEM = f"{BASE}/CodeSystem/symptom"
SEVERITY_SYSTEM = f"{BASE}/CodeSystem/severity"
ROUTE_SYSTEM = f"{BASE}/CodeSystem/route"
BASELINE_EXTENSION = f"{BASE}/StructureDefinition/baseline-weight"
UNIT_EXTENSION = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
MIN_EXTENSION = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/maxValue"

LB_TO_KG = 0.45359237
GLUCOSE_MMOL_TO_MG_DL = 18.016
LDL_MMOL_TO_MG_DL = 38.67
TRIGLYCERIDES_MMOL_TO_MG_DL = 88.57
DECIMALS = 2  # converted values are rounded to this many decimal places
# How old a value may be and still be graded, by default (``since`` replaces these): vital
# signs describe the patient's state now; weight and pressure move over weeks; labs are
# repeated a few times a year at most.
VITALS_DAYS = 3
LAB_DAYS = 365
SYMPTOM_DAYS = 30  # questionnaire answers
# A baseline weight read from the record's history (no baseline extension): the earliest
# body weight, if measured this many days or more before the latest one, and no more than
# BASELINE_MAX_DAYS before it.
BASELINE_MIN_DAYS = 28
BASELINE_MAX_DAYS = 730


@dataclass(frozen=True)
class Kind:
    """One kind of measurement: the Report field, the LOINC codes, the accepted units."""

    field: str
    codes: tuple[str, ...]
    units: dict[str, float]  # UCUM code -> factor to the Report's unit
    display: str
    question_code: str  # the LOINC code the questionnaire item carries
    window_days: int  # older values are not graded unless ``since`` says otherwise
    offsets: dict[str, float] = _field(default_factory=dict)  # added before the factor


KINDS: tuple[Kind, ...] = (
    Kind(
        "weight_kg",
        ("29463-7", "3141-9"),
        {"kg": 1.0, "g": 0.001, "[lb_av]": LB_TO_KG, "lb": LB_TO_KG},
        "Body weight",
        "29463-7",
        90,
    ),
    Kind("systolic_bp", ("8480-6",), {"mm[Hg]": 1.0}, "Systolic blood pressure", "8480-6", 30),
    Kind("diastolic_bp", ("8462-4",), {"mm[Hg]": 1.0}, "Diastolic blood pressure", "8462-4", 30),
    Kind(
        "heart_rate",
        ("8867-4",),
        {"/min": 1.0, "{beats}/min": 1.0, "{Beats}/min": 1.0},
        "Heart rate",
        "8867-4",
        VITALS_DAYS,
    ),
    Kind(
        "oxygen_saturation_pct",
        ("2708-6", "59408-5"),
        {"%": 1.0},
        "Oxygen saturation",
        "59408-5",
        VITALS_DAYS,
    ),
    Kind(
        "temperature_c",
        ("8310-5",),
        {"Cel": 1.0, "[degF]": 5 / 9},
        "Body temperature",
        "8310-5",
        VITALS_DAYS,
        offsets={"[degF]": -32.0},
    ),
    Kind(
        "respiratory_rate",
        ("9279-1",),
        {"/min": 1.0, "{breaths}/min": 1.0, "{Breaths}/min": 1.0},
        "Respiratory rate",
        "9279-1",
        VITALS_DAYS,
    ),
    Kind(
        "fasting_glucose_mg_dl",
        ("1558-6", "14771-0"),
        {"mg/dL": 1.0, "mmol/L": GLUCOSE_MMOL_TO_MG_DL},
        "Fasting glucose",
        "1558-6",
        LAB_DAYS,
    ),
    Kind(
        "ldl_cholesterol_mg_dl",
        ("18262-6", "13457-7", "2089-1", "22748-8"),
        {"mg/dL": 1.0, "mmol/L": LDL_MMOL_TO_MG_DL},
        "LDL cholesterol",
        "2089-1",
        LAB_DAYS,
    ),
    Kind(
        "triglycerides_mg_dl",
        ("2571-8", "14927-8", "35217-9"),
        {"mg/dL": 1.0, "mmol/L": TRIGLYCERIDES_MMOL_TO_MG_DL},
        "Triglycerides",
        "2571-8",
        LAB_DAYS,
    ),
)
KIND_OF_FIELD = {k.field: k for k in KINDS}
KIND_OF_CODE = {code: k for k in KINDS for code in k.codes}
BP_PANEL_CODES = ("85354-9", "55284-4")
# Glucose measured without a fasting qualifier: known, never read as fasting glucose.
OTHER_GLUCOSE_CODES = ("2345-7", "2339-0", "41653-7", "15074-8", "14749-6")
# Questionnaire units for the decimal measurement items (the Report's own units).
QUESTION_UNIT = {
    "weight_kg": "kg",
    "baseline_weight_kg": "kg",
    "systolic_bp": "mm[Hg]",
    "diastolic_bp": "mm[Hg]",
    "heart_rate": "/min",
    "oxygen_saturation_pct": "%",
    "temperature_c": "Cel",
    "respiratory_rate": "/min",
    "fasting_glucose_mg_dl": "mg/dL",
    "ldl_cholesterol_mg_dl": "mg/dL",
    "triglycerides_mg_dl": "mg/dL",
}
IGNORED_STATUS = {"entered-in-error", "cancelled"}
NO_RESULT_STATUS = {"registered"}  # ordered, no value yet
SYMPTOM_BOOLEANS = ("limits_self_care", "limits_daily_activities", "relieved_by_rest")
# relative or absolute, optionally versioned: Patient/x, http://h/fhir/Patient/x/_history/3
PATIENT_REF = re.compile(
    r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
