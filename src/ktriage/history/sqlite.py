"""The default store: one SQLite file.

Used properly: WAL (readers never block the writer), a busy timeout, one ``BEGIN
IMMEDIATE`` transaction per check-in, ``synchronous=FULL`` (a check-in reported done is on
disk), a schema version in ``user_version`` with forward migrations, and the file
created readable by its owner only. A file that is not a ktriage store, or one from a newer
ktriage, is refused before anything is written to it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import CheckInRecord, HistoryStore, StoreError, now_text, record

APPLICATION_ID = 0x6B747269  # "ktri": marks the file as a ktriage store
# Each step brings the schema from version i to i + 1; a step is never edited once shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE check_ins (
            id INTEGER PRIMARY KEY,
            patient_id TEXT NOT NULL,
            reported_utc TEXT NOT NULL,
            check_in TEXT NOT NULL,
            escalation TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""",
    ),
    ("CREATE INDEX check_ins_by_patient ON check_ins (patient_id, reported_utc, id)",),
)
SCHEMA_VERSION = len(MIGRATIONS)


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def lock(self, patient_id: str) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock

    def earlier(self, patient_id: str, start: str, end: str, limit: int) -> list[str]:
        rows = self._conn.execute(
            "SELECT check_in FROM check_ins WHERE patient_id = ? AND reported_utc >= ?"
            " AND reported_utc <= ? ORDER BY reported_utc DESC, id DESC LIMIT ?",
            (patient_id, start, end, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def add(self, patient_id: str, key: str, check_in: str, escalation: str, result: str) -> None:
        self._conn.execute(
            "INSERT INTO check_ins (patient_id, reported_utc, check_in, escalation, result,"
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            (patient_id, key, check_in, escalation, result, now_text()),
        )


class SqliteStore(HistoryStore):
    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, create: bool = True
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()  # one connection, shared by this process's threads
        shown = str(self.path)
        folder = self.path.parent
        if not folder.is_dir():
            raise StoreError(f"{shown}: the folder {str(folder)!r} does not exist")
        created = False
        if not self.path.exists() and not create:
            raise StoreError(f"{shown}: no such history store")
        if not self.path.exists():
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                created = True
            except FileExistsError:
                pass  # another process created it first
            except OSError as exc:
                raise StoreError(f"{shown}: cannot create the store: {exc.strerror}") from None
        elif not self.path.is_file():
            raise StoreError(f"{shown}: not a file")
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{shown}: cannot open: {exc}") from None
        try:
            self._prepare(created)
        except BaseException:
            self._conn.close()
            raise

    def _error(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"{self.path}: the store is locked by another process (waited"
                f" {self.timeout:g} s); try again"
            )
        if "not a database" in text:
            return StoreError(f"{self.path}: not a ktriage history store (not an SQLite file)")
        return StoreError(f"{self.path}: {text}")

    def _prepare(self, created: bool) -> None:
        conn = self._conn
        try:
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        fresh = app == 0 and version == 0 and tables == 0
        if not fresh and app != APPLICATION_ID:
            raise StoreError(f"{self.path}: not a ktriage history store (another SQLite database)")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer ktriage (schema {version}; this one reads up"
                f" to {SCHEMA_VERSION}); upgrade ktriage"
            )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if fresh or version < SCHEMA_VERSION:
                self._migrate()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")  # forget overwrites what it erases
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        if mode != "wal":  # e.g. a file system without shared memory
            raise StoreError(f"{self.path}: cannot use write-ahead logging here ({mode})")

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process may have migrated it
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for step in MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            try:
                yield _Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise self._error(exc) from None

    def records(self, patient_id: str | None = None) -> Iterator[CheckInRecord]:
        query = "SELECT patient_id, check_in, escalation, result, recorded_at FROM check_ins"
        args: tuple[str, ...] = ()
        if patient_id is not None:
            query += " WHERE patient_id = ?"
            args = (patient_id,)
        query += " ORDER BY patient_id, reported_utc, id"
        with self._lock:
            try:
                rows = self._conn.execute(query, args).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        for row in rows:
            yield record(*row)

    def forget(self, patient_id: str) -> int:
        with self.transaction():
            cur = self._conn.execute("DELETE FROM check_ins WHERE patient_id = ?", (patient_id,))
            count = cur.rowcount
        # the erased rows' pages may linger in the WAL and free pages: write them over
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        return count

    def close(self) -> None:
        self._conn.close()
