"""Check-in history: where a patient's earlier check-ins are kept between triages.

``HistoryStore`` is the interface; ``SqliteStore`` (one file, the default) and
``PostgresStore`` (``pip install 'ktriage[postgres]'``) implement it. ``open_store(target)``
picks one from a path or a ``postgresql://`` URL. A store's ``check_in(engine, report)``
reads the patient's earlier check-ins, triages the report with them and records the
check-in with its Result, all in one transaction: two processes checking in the same
patient at once never see half of each other's work.

An app that keeps its own store passes earlier check-ins in ``Report.history`` instead:
the same report with the same earlier check-ins gives the same Result either way.
"""

from __future__ import annotations

from .base import CheckInRecord, HistoryStore, StoreError, open_store
from .sqlite import SqliteStore

__all__ = ["CheckInRecord", "HistoryStore", "SqliteStore", "StoreError", "open_store"]
