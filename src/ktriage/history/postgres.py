"""A server-grade store: PostgreSQL through psycopg 3 (``pip install 'ktriage[postgres]'``).

Same interface and same rows as the SQLite store. Each check-in is one transaction that
first takes an advisory lock on the patient, so two check-ins of one patient never read
the history without each other; a lock not granted within the timeout is an error, not a
wait without end. The schema version lives in ``ktriage_meta``; migrations run forward
under a lock of their own. Error messages never show the connection URL (it may hold a
password).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .base import CheckInRecord, HistoryStore, StoreError, now_text, record

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE ktriage_check_ins (
            id BIGSERIAL PRIMARY KEY,
            patient_id TEXT NOT NULL,
            reported_utc TEXT NOT NULL,
            check_in TEXT NOT NULL,
            escalation TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""",
    ),
    (
        "CREATE INDEX ktriage_check_ins_by_patient"
        " ON ktriage_check_ins (patient_id, reported_utc, id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
_SCHEMA_LOCK = 0x6B747269


class _Tx:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def lock(self, patient_id: str) -> None:
        # held to the end of the transaction: the patient's check-ins go one at a time
        self._cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (patient_id,))

    def earlier(self, patient_id: str, start: str, end: str, limit: int) -> list[str]:
        self._cur.execute(
            "SELECT check_in FROM ktriage_check_ins WHERE patient_id = %s AND reported_utc >= %s"
            " AND reported_utc <= %s ORDER BY reported_utc DESC, id DESC LIMIT %s",
            (patient_id, start, end, limit),
        )
        return [r[0] for r in self._cur.fetchall()]

    def add(self, patient_id: str, key: str, check_in: str, escalation: str, result: str) -> None:
        self._cur.execute(
            "INSERT INTO ktriage_check_ins (patient_id, reported_utc, check_in, escalation,"
            " result, recorded_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (patient_id, key, check_in, escalation, result, now_text()),
        )


class PostgresStore(HistoryStore):
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError(
                "a PostgreSQL store needs psycopg: pip install 'ktriage[postgres]'"
            ) from None
        self._psycopg = psycopg
        self.timeout = timeout
        self._lock = threading.Lock()  # one connection, shared by this process's threads
        try:
            self._conn = psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL store: cannot connect ({_reason(exc)})") from None
        try:
            self._conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{int(timeout * 1000)}ms",)
            )
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _error(self, exc: Exception) -> StoreError:
        errors = self._psycopg.errors
        if isinstance(exc, errors.LockNotAvailable):
            return StoreError(
                f"PostgreSQL store: locked by another check-in (waited {self.timeout:g} s);"
                " try again"
            )
        return StoreError(f"PostgreSQL store: {_reason(exc)}")

    def _migrate(self) -> None:
        conn = self._conn
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS ktriage_meta (key TEXT PRIMARY KEY,"
                    " value TEXT NOT NULL)"
                )
                cur.execute("SELECT value FROM ktriage_meta WHERE key = 'schema'")
                row = cur.fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"PostgreSQL store: written by a newer ktriage (schema {version}; this"
                        f" one reads up to {SCHEMA_VERSION}); upgrade ktriage"
                    )
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        cur.execute(statement)
                cur.execute(
                    "INSERT INTO ktriage_meta (key, value) VALUES ('schema', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(SCHEMA_VERSION),),
                )
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        with self._lock:
            yield from self._transaction()

    def _transaction(self) -> Iterator[_Tx]:
        conn = self._conn
        try:
            tx = conn.transaction()
            tx.__enter__()
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        ok = False
        try:
            with conn.cursor() as cur:
                yield _Tx(cur)
            ok = True
        except self._psycopg.Error as exc:
            tx.__exit__(type(exc), exc, None)
            raise self._error(exc) from None
        except BaseException as exc:
            tx.__exit__(type(exc), exc, None)
            raise
        if ok:
            try:
                tx.__exit__(None, None, None)
            except self._psycopg.Error as exc:
                raise self._error(exc) from None

    def records(self, patient_id: str | None = None) -> Iterator[CheckInRecord]:
        query = (
            "SELECT patient_id, check_in, escalation, result, recorded_at FROM ktriage_check_ins"
        )
        args: tuple[str, ...] = ()
        if patient_id is not None:
            query += " WHERE patient_id = %s"
            args = (patient_id,)
        query += " ORDER BY patient_id, reported_utc, id"
        try:
            with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute(query, args)
                rows = cur.fetchall()
        except self._psycopg.Error as exc:
            raise self._error(exc) from None
        for row in rows:
            yield record(*row)

    def forget(self, patient_id: str) -> int:
        try:
            with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute("DELETE FROM ktriage_check_ins WHERE patient_id = %s", (patient_id,))
                return int(cur.rowcount)
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        self._conn.close()


def _reason(exc: Exception) -> str:
    """The server's reason in one line, without the URL or the query."""
    diag = getattr(exc, "diag", None)
    text = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    return text.strip()
