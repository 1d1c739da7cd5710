"""A triage with 50 earlier check-ins, stateless (``Report.history``) and stored (SQLite,
and PostgreSQL with --postgres URL), next to the same reports without history (issue 14).

    python benchmarks/bench_history.py [--patients 200] [--postgres postgresql://...]

Each patient has 50 earlier check-ins over the 120 days before its report, drawn from
the seeded workload (benchmarks/workload.py). Prints per-triage times (mean and median,
wall clock, best of --repeat passes for the stateless figures). The stored figure is one
whole check-in: one transaction that reads the 50 rows, triages and writes the new row
(SQLite with synchronous=FULL: each commit waits for the disk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.workload import random_reports  # noqa: E402
from ktriage import Engine  # noqa: E402
from ktriage.engine.models import CheckIn  # noqa: E402
from ktriage.history import open_store  # noqa: E402
from ktriage.history.base import sort_key  # noqa: E402

NOW = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
EARLIER = 50


def workload(engine: Engine, patients: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    pool = list(random_reports(engine.pack.vocabulary, patients * (EARLIER + 1), seed=14))
    out = []
    for p in range(patients):
        rows = pool[p * (EARLIER + 1) : (p + 1) * (EARLIER + 1)]
        report = {k: v for k, v in rows[0].items() if k != "patient_id"}
        report["patient_id"] = f"bench-{p}"
        report["reported_at"] = NOW.isoformat()
        history = []
        for i, row in enumerate(rows[1:]):
            entry = {k: row[k] for k in ("symptoms", "measurements", "treatment") if k in row}
            when = NOW - dt.timedelta(days=120) + dt.timedelta(hours=i * 57.3)
            entry["reported_at"] = when.isoformat()
            history.append(entry)
        out.append((report, history))
    return out


def timed(fn: Any, items: list[Any], repeat: int) -> list[float]:
    best: list[float] | None = None
    for _ in range(repeat):
        times = []
        for item in items:
            start = time.perf_counter()
            fn(item)
            times.append(time.perf_counter() - start)
        if best is None or sum(times) < sum(best):
            best = times
    assert best is not None
    return best


def show(label: str, times: list[float]) -> None:
    mean = statistics.fmean(times) * 1e6
    median = statistics.median(times) * 1e6
    print(f"{label:<58} mean {mean:8.0f} us  median {median:8.0f} us  ({len(times)} triages)")


def stored(target: str, engine: Engine, work: list[Any]) -> list[float]:
    with open_store(target) as store:
        with store.transaction() as tx:  # the earlier check-ins, loaded in one go
            for report, history in work:
                for entry in history:
                    check_in = CheckIn.model_validate(entry)
                    tx.add(
                        report["patient_id"],
                        sort_key(check_in.reported_at),
                        check_in.model_dump_json(exclude_defaults=True),
                        "self_care",
                        "{}",
                    )
        times = timed(lambda rh: store.check_in(engine, rh[0]), work, 1)
        for report, _ in work:
            store.forget(report["patient_id"])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="also time a PostgreSQL store")
    args = parser.parse_args()
    engine = Engine.load()
    work = workload(engine, args.patients)
    print(
        f"{platform.machine()}, Python {platform.python_version()}, {args.patients} patients,"
        f" {EARLIER} earlier check-ins each"
    )
    plain = [r for r, _ in work]
    with_history = [{**r, "history": h} for r, h in work]
    for r in with_history[:20]:  # warm the reader and the cache a little, like a server
        engine.evaluate(r)
    show("without history (the same reports)", timed(engine.evaluate, plain, args.repeat))
    show(
        "stateless: Report.history with 50 check-ins",
        timed(engine.evaluate, with_history, args.repeat),
    )
    with tempfile.TemporaryDirectory() as folder:
        show(
            "stored: SQLite check_in (read 50, triage, write, commit)",
            stored(str(Path(folder) / "h.db"), engine, work),
        )
    if args.postgres:
        show(
            "stored: PostgreSQL check_in (read 50, triage, write, commit)",
            stored(args.postgres, engine, work),
        )


if __name__ == "__main__":
    main()
