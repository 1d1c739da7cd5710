"""The fhir.resources R4B models ktriage uses, behind one clear error when the extra is
missing."""

from __future__ import annotations

try:
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient
    from fhir.resources.R4B.questionnaire import Questionnaire
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "ktriage.fhir needs the fhir extra: pip install 'ktriage[fhir]'", name=exc.name
    ) from exc

__all__ = ["Observation", "Patient", "Questionnaire", "QuestionnaireResponse"]
