"""The PostgreSQL store against a real, throwaway server: initdb and pg_ctl from Debian's
postgresql package, in a temporary folder, on a loopback port, removed afterwards."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ktriage import Engine
from ktriage.engine.pack import default_pack_path
from ktriage.history import StoreError, open_store

psycopg = pytest.importorskip("psycopg", reason="needs ktriage[postgres] (psycopg 3)")


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    bindir = _bin_dir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="ktriage-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as 'postgres'
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "ktriage",
                "-A",
                "trust",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield f"postgresql://ktriage@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)


ENGINE = Engine.load(default_pack_path())


def _day(d: int) -> str:
    return f"2026-05-{d:02d}T09:00:00Z"


def test_postgres_store_triages_with_history_like_stateless(pg_url: str) -> None:
    history = [
        {
            "reported_at": _day(1),
            "symptoms": [{"name": "moody", "severity": "mild"}],
            "measurements": {"weight_kg": 80},
        },
        {"reported_at": _day(6), "symptoms": [{"name": "ups and downs", "severity": "mild"}]},
    ]
    last = {
        "reported_at": _day(11),
        "symptoms": [{"name": "mood swings", "severity": "moderate"}],
        "measurements": {"weight_kg": 84.8},
    }
    with open_store(pg_url) as store:
        for entry in history:
            store.check_in(ENGINE, {**entry, "patient_id": "pg-1"})
        stored = store.check_in(ENGINE, {**last, "patient_id": "pg-1"})
        stateless = ENGINE.evaluate({**last, "patient_id": "pg-1", "history": history})
        assert stored == stateless
        assert stored.escalation.value == "within_24h"
        assert [r.escalation.value for r in store.records("pg-1")] == [
            "next_visit",
            "next_visit",
            "within_24h",
        ]
        assert len(list(store.records("pg-1"))) == 3
        assert store.forget("pg-1") == 3
        assert list(store.records("pg-1")) == []


def test_postgres_concurrent_check_ins_of_one_patient(pg_url: str) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with open_store(pg_url) as store:
                for _ in range(10):
                    store.check_in(ENGINE, {"patient_id": "pg-2", "symptoms": [{"name": "tired"}]})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_store(pg_url) as store:
        assert len(list(store.records("pg-2"))) == 40


def test_postgres_newer_schema_is_refused(pg_url: str) -> None:
    with open_store(pg_url):
        pass
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE ktriage_meta SET value = '9' WHERE key = 'schema'")
    try:
        with pytest.raises(StoreError) as info:
            open_store(pg_url)
        assert str(info.value) == (
            "PostgreSQL store: written by a newer ktriage (schema 9; this one reads up to 2);"
            " upgrade ktriage"
        )
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("UPDATE ktriage_meta SET value = '2' WHERE key = 'schema'")


def test_postgres_unreachable_names_no_password() -> None:
    with pytest.raises(StoreError) as info:
        open_store("postgresql://someone:hunter2@127.0.0.1:1/db", timeout=1)
    assert str(info.value).startswith("PostgreSQL store: cannot connect (")
    assert "hunter2" not in str(info.value)
