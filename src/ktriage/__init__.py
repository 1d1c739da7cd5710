"""ktriage: turn side effects reported during ketamine or esketamine treatment into
troubleshooting guidance and an escalation level.

    >>> from ktriage import triage
    >>> triage({"symptoms": [{"name": "tired", "severity": "mild"}]}).escalation
    <Escalation.SELF_CARE: 'self_care'>
"""

from importlib.metadata import PackageNotFoundError, version

from .engine.errors import EngineFailure, FieldError, InvalidReport, KtriageError, RulePackError
from .engine.models import (
    Advice,
    Escalation,
    Measurements,
    Report,
    Result,
    Route,
    RulePackInfo,
    Severity,
    SourceRef,
    Symptom,
    Treatment,
)
from .engine.pack import RulePack, load_pack
from .engine.triage import Engine, ExampleOutcome, triage

try:
    __version__ = version("ktriage")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Advice",
    "Engine",
    "EngineFailure",
    "Escalation",
    "ExampleOutcome",
    "FieldError",
    "InvalidReport",
    "KtriageError",
    "Measurements",
    "Report",
    "Result",
    "Route",
    "RulePack",
    "RulePackError",
    "RulePackInfo",
    "Severity",
    "SourceRef",
    "Symptom",
    "Treatment",
    "__version__",
    "load_pack",
    "triage",
]
