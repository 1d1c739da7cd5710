"""Smoke test: the real server (uvicorn) on 127.0.0.1 in a subprocess, called, stopped."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

JSON = {"content-type": "application/json"}
STARTER = Path(__file__).parent / "data" / "starter"
SECRET = "pt-smoke-secret-93"
STARTUP_TIMEOUT = 30.0


class Server:
    def __init__(self, *args: str, preexec_fn: Any = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("KTRIAGE_RULES", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ktriage.server", "--host", "127.0.0.1", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            self._queue.put(line)

    def wait_for_port(self) -> int:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
            if m:
                return int(m.group(1))
        raise AssertionError("server did not start:\n" + "".join(self.lines))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    srv = Server("--port", "0", "--rules", str(STARTER))  # port 0: the OS picks a free one
    try:
        port = srv.wait_for_port()
        yield srv, f"http://127.0.0.1:{port}"
    finally:
        srv.stop()


def test_real_server_answers_and_logs_no_patient_data(server: tuple[Server, str]) -> None:
    srv, base = server
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").json()["rule_pack"]["name"] == "ktriage-starter"
        report = {
            "patient_id": SECRET,
            "symptoms": [{"name": "thinking about ending life", "severity": "severe"}],
        }
        r = client.post("/v1/triage", json=report)
        assert r.status_code == 200
        assert r.json()["escalation"] == "emergency"
        assert r.json()["patient_id"] == SECRET
        r = client.post(
            "/v1/triage", content=b'{"patient_id": "' + SECRET.encode() + b'"', headers=JSON
        )
        assert r.status_code == 422
        services = client.get("/cds-services").json()["services"]
        assert {s["id"] for s in services} >= {"ktriage-symptom-report"}
        assert "server" not in r.headers  # no server banner
    assert srv.stop() in (0, -signal.SIGINT)
    log = "".join(srv.lines)
    assert "POST /v1/triage 200" in log
    assert "POST /v1/triage 422" in log
    assert "GET /healthz 200" in log
    assert SECRET not in log
    assert "ending life" not in log
    assert "Traceback" not in log


def test_broken_pack_refuses_to_start(tmp_path: Path) -> None:
    srv = Server("--port", "0", "--rules", str(tmp_path))
    code = srv.proc.wait(timeout=STARTUP_TIMEOUT)
    srv.stop()
    assert code == 2
    assert "error: cannot start:" in "".join(srv.lines)
    assert "no pack.yaml" in "".join(srv.lines)
