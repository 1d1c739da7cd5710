"""The SQLite check-in store: stored = stateless, transactions, schema, bad stores, many
processes, a killed batch; the CLI and the service over it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktriage import Engine, EngineFailure, InvalidReport
from ktriage.cli import main
from ktriage.engine.pack import default_pack_path
from ktriage.history import SqliteStore, StoreError, open_store
from ktriage.history.sqlite import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

ENGINE = Engine.load(default_pack_path())
NAMES = ["tired", "moody", "mood swings", "headache", "poor sleep", "nausea", "tierd"]


def _day(d: int, h: int = 9) -> str:
    return f"2026-05-{d:02d}T{h:02d}:00:00Z"


# -- stored = stateless ----------------------------------------------------------------------

checkins = st.lists(
    st.fixed_dictionaries(
        {
            "reported_at": st.builds(_day, st.integers(1, 28), st.integers(0, 23)),
            "symptoms": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(NAMES),
                        "severity": st.sampled_from(["mild", "moderate", "severe"]),
                    }
                ),
                max_size=2,
            ),
            "measurements": st.fixed_dictionaries(
                {},
                optional={
                    "weight_kg": st.integers(700, 900).map(lambda x: x / 10),
                    "systolic_bp": st.integers(120, 160),
                },
            ),
        }
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=checkins)
def test_stored_equals_stateless(
    tmp_path_factory: pytest.TempPathFactory, entries: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("s") / "h.db"
    *earlier, last = sorted(entries, key=lambda e: e["reported_at"])
    last = {**last, "reported_at": "2026-05-29T12:00:00Z"}
    with SqliteStore(path) as store:
        for e in earlier:
            store.check_in(ENGINE, {**e, "patient_id": "p"})
        stored = store.check_in(ENGINE, {**last, "patient_id": "p"})
    stateless = ENGINE.evaluate({**last, "patient_id": "p", "history": earlier[::-1]})
    assert stored == stateless


def test_check_in_records_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with open_store(str(path)) as store:
        store.check_in(
            ENGINE, {"patient_id": "a", "reported_at": _day(1), "measurements": {"weight_kg": 80}}
        )
        store.check_in(
            ENGINE, {"patient_id": "b", "reported_at": _day(2), "symptoms": [{"name": "tired"}]}
        )
        result = store.check_in(
            ENGINE,
            {"patient_id": "a", "reported_at": _day(20), "measurements": {"weight_kg": 84.8}},
        )
        assert result.escalation.value == "within_24h"
        records = list(store.records("a"))
        assert [r.check_in.reported_at.day for r in records] == [1, 20]
        assert [r.escalation.value for r in records] == ["self_care", "within_24h"]
        assert records[1].result == json.loads(result.model_dump_json())
        assert store.forget("a") == 2
        assert list(store.records("a")) == []
        assert [r.patient_id for r in store.records()] == ["b"]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_check_in_needs_a_patient_and_no_inline_history(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "h.db") as store:
        with pytest.raises(InvalidReport) as info:
            store.check_in(ENGINE, {"symptoms": [{"name": "tired"}]})
        assert str(info.value) == "patient_id: is required to keep check-ins in a history store"
        with pytest.raises(InvalidReport) as info:
            store.check_in(ENGINE, {"patient_id": "p", "history": [{"reported_at": _day(1)}]})
        assert str(info.value) == (
            "history: give earlier check-ins either in the report or from a history store, not both"
        )
        assert list(store.records()) == []


def test_a_failed_triage_records_nothing(tmp_path: Path) -> None:
    closed = Engine.load(default_pack_path())
    closed.close()  # a closed engine raises EngineFailure when asked to decide
    with SqliteStore(tmp_path / "h.db") as store:
        with pytest.raises(EngineFailure):
            store.check_in(closed, {"patient_id": "p", "symptoms": [{"name": "tired"}]})
        assert list(store.records()) == []


# -- the file --------------------------------------------------------------------------------


def test_wal_schema_version_and_application_id(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_an_older_schema_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO check_ins (patient_id, reported_utc, check_in, escalation, result,"
        " recorded_at) VALUES ('p', '2026-05-01T09:00:00.000000Z',"
        ' \'{"reported_at": "2026-05-01T09:00:00Z", "measurements": {"weight_kg": 80}}\','
        " 'self_care', '{}', '2026-05-01T09:00:00Z')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with SqliteStore(path) as store:
        result = store.check_in(
            ENGINE,
            {"patient_id": "p", "reported_at": _day(20), "measurements": {"weight_kg": 84.8}},
        )
        assert "weight.trend_month" in [a.rule for a in result.advice]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "check_ins_by_patient" in names
    conn.close()


def _untouched(path: Path, message: str, **options: Any) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        SqliteStore(path, **options)
    assert str(info.value) == message
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_bad_stores_are_refused_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some text that is long enough" * 3)
    _untouched(text, f"{text}: not a ktriage history store (not an SQLite file)")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    _untouched(other, f"{other}: not a ktriage history store (another SQLite database)")
    newer = tmp_path / "newer.db"
    SqliteStore(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 9")
    conn.commit()
    conn.close()
    _untouched(
        newer,
        f"{newer}: written by a newer ktriage (schema 9; this one reads up to 2); upgrade ktriage",
    )
    with pytest.raises(StoreError) as info:
        SqliteStore(tmp_path / "no" / "h.db")
    assert (
        str(info.value)
        == f"{tmp_path / 'no' / 'h.db'}: the folder {str(tmp_path / 'no')!r} does not exist"
    )
    assert not (tmp_path / "no").exists()


def test_locked_past_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with SqliteStore(path, timeout=0.2) as store:
            with pytest.raises(StoreError) as info:
                store.check_in(ENGINE, {"patient_id": "p", "symptoms": [{"name": "tired"}]})
            assert str(info.value) == (
                f"{path}: the store is locked by another process (waited 0.2 s); try again"
            )
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- many processes, and a killed batch ---------------------------------------------------------

WRITER = """
import sys
from ktriage import Engine
from ktriage.history import SqliteStore
engine = Engine.load()
name, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SqliteStore(path, timeout=30) as store:
    for i in range(n):
        store.check_in(engine, {"patient_id": f"{name}-{i % 7}", "symptoms": [{"name": "tired"}],
                                "measurements": {"weight_kg": 70 + i % 20}})
"""


def test_four_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    SqliteStore(path).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, f"w{k}", str(path), "200"])
        for k in range(4)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0
    conn = sqlite3.connect(path)
    counts = dict(
        conn.execute("SELECT substr(patient_id, 1, 2), count(*) FROM check_ins GROUP BY 1")
    )
    conn.close()
    assert counts == {"w0": 200, "w1": 200, "w2": 200, "w3": 200}


def test_a_killed_batch_leaves_every_reported_check_in(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        "".join(
            json.dumps({"patient_id": f"p{i % 5}", "symptoms": [{"name": "moody"}]}) + "\n"
            for i in range(5000)
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktriage.cli", "batch", str(lines), "--history", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    reported = []
    for raw in proc.stdout:
        reported.append(json.loads(raw))
        if len(reported) == 150:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    proc.stdout.close()
    with SqliteStore(path) as store:
        stored = list(store.records())
    assert len(stored) >= 150  # every line reported done is in the store
    assert len(stored) < 5000  # and it was really killed mid-batch
    assert all(r["escalation"] for r in reported)


# -- the command line ---------------------------------------------------------------------------


def test_cli_check_history_show_export_forget(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    runner = CliRunner()
    for day, weight in ((1, "80"), (15, "82")):
        report = json.dumps(
            {
                "patient_id": "p-17",
                "reported_at": _day(day),
                "measurements": {"weight_kg": float(weight)},
            }
        )
        r = runner.invoke(
            main, ["check", "--input", "-", "--history", path, "--format", "json"], input=report
        )
        assert r.exit_code == 0, r.output
    report = json.dumps(
        {"patient_id": "p-17", "reported_at": _day(29), "measurements": {"weight_kg": 84.8}}
    )
    r = runner.invoke(
        main,
        ["check", "--input", "-", "--format", "json"],
        input=report,
        env={"KTRIAGE_HISTORY": path},
    )
    assert json.loads(r.output)["escalation"] == "within_24h"
    r = runner.invoke(main, ["history", "show", "p-17", "--history", path])
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == "3 check-ins for p-17, oldest first:"
    assert r.output.splitlines()[3].startswith(
        "  2026-05-29T09:00:00Z  within_24h  Within 24 hours:"
    )
    r = runner.invoke(main, ["history", "show", "p-17", "--history", path, "--format", "json"])
    shown = json.loads(r.output)
    assert [c["escalation"] for c in shown] == ["self_care", "self_care", "within_24h"]
    r = runner.invoke(main, ["history", "export", "--history", path])
    assert len(r.output.splitlines()) == 3
    r = runner.invoke(main, ["history", "forget", "p-17", "--history", path])
    assert r.output == "Erased 3 check-ins of p-17.\n"
    r = runner.invoke(main, ["history", "show", "p-17", "--history", path])
    assert r.output == "No check-ins for p-17.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["history", "show", "p", "--history", "{tmp}/none.db"],
            "error: --history: {tmp}/none.db: no such history store",
        ),
        (
            ["check", "--symptom", "tired", "--patient-id", "p", "--history", "{tmp}/x/h.db"],
            "error: --history: {tmp}/x/h.db: the folder '{tmp}/x' does not exist",
        ),
        (
            ["check", "--symptom", "tired", "--patient-id", "p", "--history", "{tmp}/text"],
            "error: --history: {tmp}/text: not a ktriage history store (not an SQLite file)",
        ),
        (["history", "show", "p"], "error: Missing option '--history'."),
    ],
)
def test_cli_bad_stores(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "text").write_text("hello " * 40)
    before = (tmp_path / "text").read_bytes()
    r = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2
    assert r.output.splitlines()[0].startswith(message.format(tmp=tmp_path))
    assert "Traceback" not in r.output
    assert (tmp_path / "text").read_bytes() == before


def test_cli_history_without_patient_id_says_so(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        main, ["check", "--symptom", "tired", "--history", str(tmp_path / "h.db")]
    )
    assert r.exit_code == 0
    assert "--history: the report has no patient_id; nothing read or recorded" in r.output


# -- the service -----------------------------------------------------------------------------------


def test_service_check_ins(tmp_path: Path) -> None:
    httpx = pytest.importorskip("httpx")
    from .test_server_smoke import Server

    srv = Server("--port", "0", "--history", str(tmp_path / "h.db"))
    try:
        port = srv.wait_for_port()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            url = "/v1/patients/pt-secret-41/check-ins"
            for day, w in ((1, 80), (15, 82)):
                r = client.post(
                    url, json={"reported_at": _day(day), "measurements": {"weight_kg": w}}
                )
                assert r.status_code == 200
            r = client.post(
                url, json={"reported_at": _day(29), "measurements": {"weight_kg": 84.8}}
            )
            assert r.json()["escalation"] == "within_24h"
            assert r.json()["patient_id"] == "pt-secret-41"
            listed = client.get(url).json()["check_ins"]
            assert [c["escalation"] for c in listed] == ["self_care", "self_care", "within_24h"]
            r = client.post(url, json={"patient_id": "other"})
            assert r.status_code == 422
            assert r.json()["errors"][0] == {
                "field": "patient_id",
                "message": "differs from the patient in the path",
            }
            r = client.post(url, json={"history": [{"reported_at": _day(1)}]})
            assert r.status_code == 422
            r = client.post(url, json={"measurements": {"weight_kg": -1}})
            assert r.json()["errors"][0]["field"] == "measurements.weight_kg"
    finally:
        srv.stop()
    log = "".join(srv.lines)
    assert "POST /v1/patients/{patient_id}/check-ins 200" in log
    assert "pt-secret-41" not in log
    assert "Traceback" not in log
    assert os.stat(tmp_path / "h.db").st_mode & 0o777 == 0o600


def test_service_without_a_store_says_404() -> None:
    pytest.importorskip("fastapi")
    from ktriage.server.app import create_app

    app = create_app(ENGINE)
    import httpx

    transport = httpx.ASGITransport(app=app)

    async def call() -> Any:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/v1/patients/p/check-ins")

    import asyncio

    r = asyncio.run(call())
    assert r.status_code == 404
    assert (
        r.json()["errors"][0]["message"]
        == "this service keeps no check-ins (start it with --history)"
    )


def test_threads_share_one_store(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "h.db") as store:

        def work(k: int) -> None:
            for _ in range(25):
                store.check_in(ENGINE, {"patient_id": f"t{k}", "symptoms": [{"name": "tired"}]})

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(list(store.records())) == 100
