"""ktriage: turn side effects reported during ketamine or esketamine treatment into
troubleshooting guidance and an escalation level.

    >>> from ktriage import triage
    >>> triage({"symptoms": [{"name": "tired", "severity": "mild"}]}).escalation
    <Escalation.SELF_CARE: 'self_care'>
"""

from typing import Any

from .engine.errors import EngineFailure, FieldError, InvalidReport, KtriageError, RulePackError
from .engine.models import (
    AbsentSymptom,
    Advice,
    Escalation,
    Measurements,
    Reading,
    ReadSymptom,
    Report,
    Result,
    Route,
    RulePackInfo,
    Severity,
    Skipped,
    SourceRef,
    Symptom,
    Treatment,
)
from .engine.pack import RulePack, load_pack
from .engine.triage import Engine, ExampleOutcome, ReadingOutcome, read, triage


def __getattr__(name: str) -> Any:
    # importlib.metadata costs ~55 ms at start-up; only pay for it when asked
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("ktriage")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    raise AttributeError(f"module 'ktriage' has no attribute {name!r}")


__all__ = [
    "AbsentSymptom",
    "Advice",
    "Engine",
    "EngineFailure",
    "Escalation",
    "ExampleOutcome",
    "FieldError",
    "InvalidReport",
    "KtriageError",
    "Measurements",
    "ReadSymptom",
    "Reading",
    "ReadingOutcome",
    "Report",
    "Result",
    "Route",
    "RulePack",
    "RulePackError",
    "RulePackInfo",
    "Severity",
    "Skipped",
    "SourceRef",
    "Symptom",
    "Treatment",
    "__version__",
    "load_pack",
    "read",
    "triage",
]
