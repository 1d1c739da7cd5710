"""The store interface and what every store shares: one transaction per check-in."""

from __future__ import annotations

import datetime as dt
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..engine.errors import FieldError, InvalidReport, KtriageError
from ..engine.intake import parse_report
from ..engine.models import MAX_HISTORY, MAX_HISTORY_DAYS, CheckIn, Escalation, Report, Result

# The environment variable that names a store when --history is not given.
ENV = "KTRIAGE_HISTORY"


class StoreError(KtriageError):
    """A history store that cannot be used as asked: missing folder, not a ktriage store,
    a newer schema, locked past the timeout. The message is one line and never holds
    patient data or a connection password."""


@dataclass(frozen=True)
class CheckInRecord:
    """One stored check-in: what was reported, when, and the Result it got."""

    patient_id: str
    check_in: CheckIn
    escalation: Escalation
    result: dict[str, Any]  # the Result as JSON
    recorded_at: str  # when it was stored (UTC, ISO 8601)

    def as_json(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "reported_at": self.check_in.reported_at.isoformat(),
            "escalation": self.escalation.value,
            "check_in": self.check_in.model_dump(mode="json", exclude_defaults=True),
            "result": self.result,
            "recorded_at": self.recorded_at,
        }


def sort_key(when: dt.datetime) -> str:
    """An instant as text that sorts in time order (UTC, fixed width)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Transaction(Protocol):
    def lock(self, patient_id: str) -> None:
        """Hold ``patient_id``'s check-ins to this transaction until it ends."""

    def earlier(self, patient_id: str, start: str, end: str, limit: int) -> list[str]:
        """The check-in JSON of ``patient_id`` with ``start <= key <= end``, newest first."""

    def add(self, patient_id: str, key: str, check_in: str, escalation: str, result: str) -> None:
        """Record one check-in."""


class HistoryStore(ABC):
    """Where check-ins are kept. Subclasses supply transactions and the listing queries;
    the triage-and-record logic is here, shared, so every store behaves alike."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """One write transaction: everything in it is stored together or not at all."""

    @abstractmethod
    def records(self, patient_id: str | None = None) -> Iterator[CheckInRecord]:
        """Stored check-ins, oldest first (of one patient, or of all by patient)."""

    @abstractmethod
    def forget(self, patient_id: str) -> int:
        """Erase every row of ``patient_id``; returns how many check-ins were erased."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_in(self, engine: Any, report: Report | dict[str, Any] | str | bytes) -> Result:
        """Triage ``report`` with the patient's earlier check-ins and record it with its
        Result, in one transaction. The report needs a ``patient_id`` and no ``history``.
        """
        valid = parse_report(report)
        if valid.patient_id is None or not valid.patient_id.strip():
            raise InvalidReport(
                [FieldError("patient_id", "is required to keep check-ins in a history store")],
                report,
            )
        if valid.history:
            raise InvalidReport(
                [
                    FieldError(
                        "history",
                        "give earlier check-ins either in the report or from a history store,"
                        " not both",
                    )
                ],
                report,
            )
        when = valid.reported_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
        start = sort_key(when - dt.timedelta(days=MAX_HISTORY_DAYS))
        with self.transaction() as tx:
            tx.lock(valid.patient_id)
            rows = tx.earlier(valid.patient_id, start, sort_key(when), MAX_HISTORY)
            earlier = [CheckIn.model_validate_json(row) for row in rows]
            full = valid.model_copy(update={"reported_at": when, "history": earlier})
            result: Result = engine.evaluate(full)
            entry = CheckIn(
                reported_at=when,
                symptoms=valid.symptoms,
                measurements=valid.measurements,
                treatment=valid.treatment,
            )
            tx.add(
                valid.patient_id,
                sort_key(when),
                entry.model_dump_json(exclude_defaults=True),
                result.escalation.value,
                result.model_dump_json(),
            )
        return result

    def earlier(self, patient_id: str, before: dt.datetime) -> list[CheckIn]:
        """The check-ins a report of ``patient_id`` at ``before`` is triaged with."""
        start = sort_key(before - dt.timedelta(days=MAX_HISTORY_DAYS))
        with self.transaction() as tx:
            rows = tx.earlier(patient_id, start, sort_key(before), MAX_HISTORY)
        return [CheckIn.model_validate_json(row) for row in rows]


def record(patient_id: str, check_in: str, escalation: str, result: str, at: str) -> CheckInRecord:
    return CheckInRecord(
        patient_id=patient_id,
        check_in=CheckIn.model_validate_json(check_in),
        escalation=Escalation(escalation),
        result=json.loads(result),
        recorded_at=at,
    )


def now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def open_store(target: str, *, timeout: float = 5.0, create: bool = True) -> HistoryStore:
    """The store at ``target``: a ``postgresql://`` URL, or the path of an SQLite file
    (created, readable by its owner only, when it does not exist and ``create``)."""
    if target.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(target, timeout=timeout)
    from .sqlite import SqliteStore

    return SqliteStore(target, timeout=timeout, create=create)
