"""Triage a FHIR record: read it, grade it, and say what each value's date was and what
was left out. Shared by ``ktriage check --fhir`` and the CDS Hooks service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..engine.facts import describe_field
from ..engine.models import Advice, Result
from .reader import FhirReading, read_fhir

if TYPE_CHECKING:
    from ..engine.triage import Engine

NO_DATA_LABEL = "Nothing triaged: no usable data in the record"


@dataclass(frozen=True)
class FhirTriage:
    """The Result for a FHIR record, and the reading it was graded from."""

    result: Result
    reading: FhirReading

    @property
    def usable(self) -> bool:
        """False when nothing gradable was read: the result is then not an all clear."""
        return self.reading.usable


def triage_fhir(
    engine: Engine,
    data: dict[str, Any] | str | bytes,
    *,
    strict: bool = False,
    since: datetime | None = None,
    patient_id: str | None = None,
    now: datetime | None = None,
) -> FhirTriage:
    """Read ``data`` (see ``read_fhir`` for the keywords), grade it with ``engine``, and
    return a Result whose ``because`` lines carry each measurement's date and whose
    ``skipped`` lists what was left out. Raises ``InvalidReport`` when the input as a
    whole is unusable (not JSON, not FHIR, more than one patient) or, with ``strict``,
    for anything it cannot read."""
    reading = read_fhir(
        data, engine.pack, strict=strict, since=since, patient_id=patient_id, now=now
    )
    return FhirTriage(annotate(engine.evaluate(reading.report), reading), reading)


def annotate(result: Result, reading: FhirReading) -> Result:
    """``result`` with the reading's dates in ``because``, its skipped items, and, when
    nothing was usable, a summary that says so."""
    update: dict[str, Any] = {"skipped": (*result.skipped, *reading.skipped)}
    dated = _dated_texts(result, reading)
    if dated:
        update["advice"] = [_dated_advice(a, dated) for a in result.advice]
    if not reading.usable:
        n = len(reading.skipped)
        update["summary"] = (
            f"No usable data: nothing in the record could be triaged ({n} item"
            f"{'' if n == 1 else 's'} skipped)"
        )
        update["label"] = NO_DATA_LABEL
    return result.model_copy(update=update)


def _day(when: datetime | None) -> str:
    return when.date().isoformat() if when is not None else "undated"


def _dated_texts(result: Result, reading: FhirReading) -> dict[str, str]:
    """Each ``because`` text a measurement explains itself with -> the text with its date."""
    m = reading.report.measurements
    context: dict[str, Any] = {
        name: getattr(m, name) for name in reading.dates if getattr(m, name) is not None
    }
    context.update(result.derived)
    out: dict[str, str] = {}
    for name, when in reading.dates.items():
        if name in context:
            text = describe_field(name, context)
            out[text] = f"{text} (measured {_day(when)})"
    if "weight_change_pct" in context and "baseline_weight_kg" in context:
        text = describe_field("weight_change_pct", context)  # "... at baseline)"
        out[text] = (
            f"{text.removesuffix(')')}; measured {_day(reading.dates.get('weight_kg'))}"
            f" and {_day(reading.dates.get('baseline_weight_kg'))})"
        )
    return out


def _dated_advice(advice: Advice, dated: dict[str, str]) -> Advice:
    because = tuple(dated.get(line, line) for line in advice.because)
    if because == advice.because:
        return advice
    return advice.model_copy(update={"because": because})
