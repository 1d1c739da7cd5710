"""FHIR R4 input: turn Observations, Patients and QuestionnaireResponses into a Report.

Needs the ``fhir`` extra (``pip install 'ktriage[fhir]'``); resources are validated with
the ``fhir.resources`` R4B models. The rules of the mapping (see docs/service.md):

* Observations are matched on sets of LOINC codes (``system`` must be
  ``http://loinc.org``) and their ``valueQuantity`` must carry a UCUM unit code
  (``system`` ``http://unitsofmeasure.org``) that the kind of measurement accepts.
  Values are converted to the Report's units (pounds to kilograms, mmol/L to mg/dL with
  the factor of the substance). A code or unit that is not in the table is reported as a
  ``FieldError``; nothing is guessed.
* Glucose codes other than fasting glucose (LOINC 1558-6) are known but not used: the
  rules grade fasting glucose only, and a random glucose must not be read as fasting.
  They are listed in ``FhirReading.skipped``.
* Of several values of one kind, the latest (``effective[x]``, else ``issued``, else the
  QuestionnaireResponse's ``authored``) wins; values without a time rank below timed ones
  and, among themselves, the one later in the input wins.
* The baseline weight is a body-weight Observation carrying the extension
  ``BASELINE_EXTENSION`` with ``valueBoolean: true`` (or the questionnaire's
  ``measurements.baseline_weight_kg`` answer). It is never inferred from the earliest
  weight: a bundle of recent observations need not reach back to the start of treatment.
* A ``Patient`` resource gives ``age_years`` (from a full ``birthDate``) and, with the
  subjects of the other resources, ``patient_id``; resources about different patients
  are an error.
* A QuestionnaireResponse must answer the questionnaire this module publishes
  (``questionnaire()``, canonical ``QUESTIONNAIRE_URL``); unknown questions and answer
  codes are errors.
"""

from __future__ import annotations

from .codes import (
    BASELINE_EXTENSION,
    GLUCOSE_MMOL_TO_MG_DL,
    LB_TO_KG,
    LDL_MMOL_TO_MG_DL,
    LOINC,
    QUESTIONNAIRE_URL,
    ROUTE_SYSTEM,
    SEVERITY_SYSTEM,
    SYMPTOM_SYSTEM,
    TRIGLYCERIDES_MMOL_TO_MG_DL,
    UCUM,
)
from .questionnaire import questionnaire
from .reader import FhirReading, read_fhir, report_from_fhir
from .triage import FhirTriage, triage_fhir

__all__ = [
    "BASELINE_EXTENSION",
    "GLUCOSE_MMOL_TO_MG_DL",
    "LB_TO_KG",
    "LDL_MMOL_TO_MG_DL",
    "LOINC",
    "QUESTIONNAIRE_URL",
    "ROUTE_SYSTEM",
    "SEVERITY_SYSTEM",
    "SYMPTOM_SYSTEM",
    "TRIGLYCERIDES_MMOL_TO_MG_DL",
    "UCUM",
    "FhirReading",
    "FhirTriage",
    "questionnaire",
    "read_fhir",
    "report_from_fhir",
    "triage_fhir",
]
