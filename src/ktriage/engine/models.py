"""The public contract: what a caller sends (``Report``) and gets back (``Result``).

Field names here are the JSON API; renaming one is a breaking change.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


class _Words(enum.StrEnum):
    """An enum that also accepts "Nasal spray", "SEVERE", "nasal-spray" for its members.

    ``_missing_`` runs only when the exact value is not found, so the usual case stays in
    pydantic's fast path.
    """

    @classmethod
    def _missing_(cls, value: object) -> _Words | None:
        if isinstance(value, str):
            word = value.strip().lower().replace("-", "_").replace(" ", "_")
            for member in cls:
                if member.value == word:
                    return member
        return None


class Escalation(_Words):
    """How soon a clinician must hear about the report. Ordered: later members are higher."""

    SELF_CARE = "self_care"
    NEXT_VISIT = "next_visit"
    WITHIN_24H = "within_24h"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]

    @property
    def label(self) -> str:
        return LEVEL_LABELS[self]


_LEVEL_RANK = {level: i for i, level in enumerate(Escalation)}

LEVEL_LABELS: dict[Escalation, str] = {
    Escalation.SELF_CARE: "Self-care at home with the guidance given",
    Escalation.NEXT_VISIT: "Raise it at the next scheduled visit",
    Escalation.WITHIN_24H: "Contact the treating provider within 24 hours",
    Escalation.URGENT: "Get care now: call the clinic, urgent care or the emergency department",
    Escalation.EMERGENCY: "Call 911 now",
}


class Severity(_Words):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self]


# 1, 2, 3 in the enum's order: the order a rule's ordinal severity tests use too
# (conditions.py), so facts and rules always rank alike
SEVERITY_RANK = {member: rank for rank, member in enumerate(Severity, 1)}


class Route(_Words):
    IV = "iv"
    NASAL_SPRAY = "nasal_spray"
    INTRAMUSCULAR = "intramuscular"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"
    OTHER = "other"


@dataclass(frozen=True)
class NumericField:
    """A number a report may carry, with the range a real person's value can take."""

    name: str
    label: str
    unit: str
    low: float
    high: float


# The plausible ranges reject typing slips (a weight of -5, a systolic of 4000) without
# rejecting real extremes; they are not clinical thresholds.
MEASUREMENT_FIELDS: dict[str, NumericField] = {
    f.name: f
    for f in (
        NumericField("weight_kg", "weight", "kg", 20, 400),
        NumericField("baseline_weight_kg", "baseline weight", "kg", 20, 400),
        NumericField("systolic_bp", "systolic blood pressure", "mmHg", 50, 300),
        NumericField("diastolic_bp", "diastolic blood pressure", "mmHg", 20, 200),
        NumericField("heart_rate", "heart rate", "beats/min", 20, 250),
        NumericField("oxygen_saturation_pct", "oxygen saturation", "%", 50, 100),
        NumericField("temperature_c", "body temperature", "°C", 25, 45),
        NumericField("respiratory_rate", "respiratory rate", "breaths/min", 2, 80),
        NumericField("fasting_glucose_mg_dl", "fasting glucose", "mg/dL", 10, 1500),
        NumericField("ldl_cholesterol_mg_dl", "LDL cholesterol", "mg/dL", 10, 1000),
        NumericField("triglycerides_mg_dl", "triglycerides", "mg/dL", 10, 10000),
    )
}
OTHER_NUMERIC_FIELDS: dict[str, NumericField] = {
    f.name: f
    for f in (
        NumericField("age_years", "age", "years", 0, 120),
        NumericField("hours_since_dose", "hours since the last dose", "h", 0, 8760),
        NumericField("days", "duration", "days", 0, 3650),
    )
}
NUMERIC_FIELDS = {**MEASUREMENT_FIELDS, **OTHER_NUMERIC_FIELDS}


def _number(name: str) -> Any:
    f = NUMERIC_FIELDS[name]
    # strict: JSON true or "82" is not a number (lax mode would read them as 1 and 82)
    return Annotated[float, Field(ge=f.low, le=f.high, allow_inf_nan=False, strict=True)] | None


# strict: 0, 1, "yes" are not true/false (lax mode would accept them)
_Flag = Annotated[bool, Field(strict=True)] | None

# defer_build: schemas are built on first use, not at import (start-up time)
_STRICT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Symptom(BaseModel):
    """One side effect as the patient or staff described it."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1, max_length=200)]
    severity: Severity = Severity.MODERATE
    days: _number("days") = None  # type: ignore[valid-type]
    limits_self_care: _Flag = None
    limits_daily_activities: _Flag = None
    relieved_by_rest: _Flag = None

    @model_validator(mode="after")
    def _name_not_blank(self) -> Symptom:
        if not self.name.strip():
            raise ValueError("name must not be blank")
        return self


class Measurements(BaseModel):
    model_config = _STRICT

    weight_kg: _number("weight_kg") = None  # type: ignore[valid-type]
    baseline_weight_kg: _number("baseline_weight_kg") = None  # type: ignore[valid-type]
    systolic_bp: _number("systolic_bp") = None  # type: ignore[valid-type]
    diastolic_bp: _number("diastolic_bp") = None  # type: ignore[valid-type]
    heart_rate: _number("heart_rate") = None  # type: ignore[valid-type]
    oxygen_saturation_pct: _number("oxygen_saturation_pct") = None  # type: ignore[valid-type]
    temperature_c: _number("temperature_c") = None  # type: ignore[valid-type]
    respiratory_rate: _number("respiratory_rate") = None  # type: ignore[valid-type]
    fasting_glucose_mg_dl: _number("fasting_glucose_mg_dl") = None  # type: ignore[valid-type]
    ldl_cholesterol_mg_dl: _number("ldl_cholesterol_mg_dl") = None  # type: ignore[valid-type]
    triglycerides_mg_dl: _number("triglycerides_mg_dl") = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _pressures_consistent(self) -> Measurements:
        s, d = self.systolic_bp, self.diastolic_bp
        if s is not None and d is not None and d >= s:
            raise ValueError(
                f"diastolic_bp ({d:g}) must be lower than systolic_bp ({s:g}); "
                "were the two swapped?"
            )
        return self


class Treatment(BaseModel):
    model_config = _STRICT

    route: Route | None = None
    hours_since_dose: _number("hours_since_dose") = None  # type: ignore[valid-type]


# A report may be dated a little ahead of this machine's clock (a phone's clock drifts);
# further ahead is a mistake.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Bounds on the earlier check-ins a report carries (and a store hands to the engine): no
# shipped trend looks further back than 180 days.
MAX_HISTORY = 200
MAX_HISTORY_DAYS = 366


def _instant(value: Any) -> dt.datetime:
    """An ISO 8601 date-time with a UTC offset, or a date (midnight UTC), as an aware
    datetime. A date-time without an offset is refused: its instant is unknown."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                when = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            else:
                when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"must be an ISO 8601 date-time with a UTC offset"
                f" (2026-11-02T09:30:00+01:00) or a date (2026-11-02), got {value[:40]!r}"
            ) from None
    else:
        kind = "a number" if isinstance(value, int | float) else type(value).__name__
        raise ValueError(f"must be an ISO 8601 date-time or date as text (got {kind})")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            "needs a UTC offset (2026-11-02T09:30:00+01:00 or ...Z): without one the"
            " instant is unknown"
        )
    return when


def _report_instant(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    when = _instant(value)
    if when > dt.datetime.now(dt.UTC) + CLOCK_SKEW:
        raise ValueError(f"is in the future ({when.isoformat()}); check the clock or the date")
    return when


Instant = Annotated[dt.datetime, BeforeValidator(_instant)]


class CheckIn(BaseModel):
    """An earlier check-in of the same patient: when, and what was reported then."""

    model_config = _STRICT

    reported_at: Instant
    symptoms: list[Symptom] = Field(default_factory=list, max_length=100)
    measurements: Measurements = Measurements()
    treatment: Treatment = Treatment()


class Report(BaseModel):
    """What was reported at one check-in. Every field is optional but a symptom's name."""

    model_config = _STRICT

    patient_id: Annotated[str | None, Field(max_length=128)] = None
    # when: default, the moment it is triaged (not written back into the report)
    reported_at: Annotated[dt.datetime | None, BeforeValidator(_report_instant)] = None
    age_years: _number("age_years") = None  # type: ignore[valid-type]
    symptoms: list[Symptom] = Field(default_factory=list, max_length=100)
    # shared defaults: frozen models, never copied (a factory costs a Python call each)
    measurements: Measurements = Measurements()
    treatment: Treatment = Treatment()
    # earlier check-ins, in any order, for callers that keep their own store
    history: list[CheckIn] = Field(default_factory=list, max_length=MAX_HISTORY)


class SourceRef(BaseModel):
    """A document a rule rests on."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    title: str
    url: str | None = None


class Advice(BaseModel):
    """What one fired rule says: to the patient, to staff, and why it fired."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    rule: str
    title: str
    escalation: Escalation
    guidance: str
    action: str
    # tuples, so that one Advice can be shared by every Result that gives it
    because: tuple[str, ...]
    sources: tuple[SourceRef, ...]
    # the id of a higher rule that fired and makes this advice redundant (its YAML
    # ``supersedes:`` names this rule); kept in JSON, left out of the text output
    superseded_by: str | None = None


class ReadSymptom(BaseModel):
    """A symptom found in a text: its code, the words it was read from, and how."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str
    label: str
    matched: str  # the words as typed
    severe: bool = False  # an intensity word ("severe", "worst") raised its severity
    corrections: tuple[str, ...] = ()  # typos repaired: "read 'tierd' as 'tired'"
    context: str | None = None  # said as hypothetical or historical (still counted)


class AbsentSymptom(BaseModel):
    """A symptom a text says is not there: read, never matched, never unrecognised."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str
    label: str
    matched: str
    cue: str  # the words that negated it ("no", "denies", "gone")


class ReadValue(BaseModel):
    """A measurement typed in a symptom text ("BP 200/125"). It is used where the report
    gives no value of its own (a value the report gives stands: see ``Result.skipped``)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    field: str  # a field of the report's measurements: "systolic_bp"
    label: str  # "systolic blood pressure"
    value: float  # in the field's unit
    unit: str  # "mmHg"
    matched: str  # the words as typed
    note: str | None = None  # how a number without a unit was read


class Reading(BaseModel):
    """How one symptom text was read."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    text: str  # exactly as given
    symptoms: tuple[ReadSymptom, ...] = ()
    absent: tuple[AbsentSymptom, ...] = ()
    unrecognized: tuple[str, ...] = ()  # words that carry meaning and were not read
    possible_red_flag: str | None = None  # words that may be a red flag, not pinned down
    values: tuple[ReadValue, ...] = ()  # measurements typed in the text


class RulePackInfo(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    version: str
    sha256: str


class Skipped(BaseModel):
    """A piece of the input that was not triaged, and why (e.g. FHIR data ktriage cannot read)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    what: str  # "Observation 2339-0 glucose"
    where: str  # "entry.14"
    why: str  # "not known to be fasting"


class Result(BaseModel):
    """The triage decision for one report."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    patient_id: str | None = None
    escalation: Escalation
    label: str
    summary: Annotated[str, Field(max_length=140)]
    red_flags: list[str]
    advice: list[Advice]
    unrecognized: list[str]
    readings: list[Reading] = []
    derived: dict[str, float]
    rule_pack: RulePackInfo
    # a tuple: one empty value shared by every Result that skipped nothing
    skipped: tuple[Skipped, ...] = ()
