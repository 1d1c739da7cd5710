"""Bounded loopback abuse of the HTTP service: what one client can do to everyone else.

Starts ``python -m ktriage.server`` on 127.0.0.1 (a free port, access log off, stderr to a
temporary file, descriptors limited to 1024 like a common default) and measures, one
scenario at a time, with a hard cap on the count and the time of everything it sends:

* ``flood`` (issue 17, item 1): one feedback body of ``{}`` ×330,000 (990 KB) and one
  report with 110,000 unknown keys: status, seconds, response bytes, the server's peak
  RSS, and the slowest ``/healthz`` answer while they run;
* ``slow`` (item 2): 100 clients that never finish their headers: how many are still
  open after 12 s; then 1,100 such clients: does ``/healthz`` answer, how many bytes of
  stderr the server wrote;
* ``batch`` (item 12): 50 clients × 100-report batches: the slowest ``/healthz``.

    python -m benchmarks.bench_abuse [--only flood,slow,batch] [--rules PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ktriage import load_pack

try:
    from benchmarks.workload import random_reports
except ImportError:  # run as a script from benchmarks/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workload import random_reports  # type: ignore[no-redef]

FD_LIMIT = 1024


class Server:
    def __init__(self, rules: str | None, extra: list[str]) -> None:
        self.err = tempfile.NamedTemporaryFile(prefix="ktriage-abuse-", suffix=".log")  # noqa: SIM115
        cmd = [sys.executable, "-m", "ktriage.server", "--host", "127.0.0.1", "--port", "0"]
        cmd += ["--no-access-log", *extra]
        if rules:
            cmd += ["--rules", rules]

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self.err, env=env, preexec_fn=limit
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            m = re.search(
                rb"running on http://127\.0\.0\.1:(\d+)", Path(self.err.name).read_bytes()
            )
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit("server did not start:\n" + Path(self.err.name).read_text())

    def stderr_bytes(self) -> int:
        return Path(self.err.name).stat().st_size

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def post(port: int, path: str, body: bytes, timeout: float = 120) -> tuple[int, int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        return r.status, len(data), time.perf_counter() - t0
    finally:
        conn.close()


def healthz(port: int, timeout: float = 10) -> float | None:
    """Seconds for one /healthz on a fresh connection, None when it failed or timed out."""
    t0 = time.perf_counter()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        return None
    return time.perf_counter() - t0 if ok else None


class HealthProbe:
    """Polls /healthz every 0.1 s in a thread; keeps the slowest answer and the failures."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.times: list[float] = []
        self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            t = healthz(self.port)
            if t is None:
                self.failed += 1
            else:
                self.times.append(t)
            self.stop.wait(0.1)

    def finish(self) -> dict[str, Any]:
        self.stop.set()
        self.thread.join(timeout=30)
        worst = max(self.times) if self.times else None
        return {
            "healthz_max_s": round(worst, 3) if worst is not None else None,
            "healthz_failed": self.failed,
        }


def _key(i: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = ""
    while True:
        i, r = divmod(i, len(digits))
        out += digits[r]
        if not i:
            return out


def flood(server: Server) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bodies = {
        "feedback {}x330000": (
            "/cds-services/ktriage-symptom-report/feedback",
            b'{"feedback":[' + b",".join([b"{}"] * 330_000) + b"]}",
        ),
        "report with 110000 unknown keys": (
            "/v1/triage",
            json.dumps({_key(i): 0 for i in range(110_000)}, separators=(",", ":")).encode(),
        ),
    }
    for name, (path, body) in bodies.items():
        probe = HealthProbe(server.port)
        try:
            status, size, seconds = post(server.port, path, body)
        except OSError as exc:
            status, size, seconds = 0, 0, float("nan")
            out.setdefault("errors", []).append(f"{name}: {exc}")
        out[name] = {
            "request_bytes": len(body),
            "status": status,
            "seconds": round(seconds, 2),
            "response_bytes": size,
            **probe.finish(),
            "server_peak_rss_mb": server.peak_rss_mb(),
        }
    return out


def _open_slow(port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /v1/triage HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    return socks


def _still_open(socks: list[socket.socket]) -> int:
    n = 0
    for s in socks:
        s.setblocking(False)
        try:
            n += s.recv(1) != b""  # b"": the server closed it
        except BlockingIOError:
            n += 1  # nothing to read and not closed: still open
        except OSError:
            pass
    return n


def slow(server: Server, rules: str | None, extra: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    socks = _open_slow(server.port, 100)
    try:
        time.sleep(12)
        out["100 slow clients: open after 12 s"] = _still_open(socks)
    finally:
        for s in socks:
            s.close()
    fresh = Server(rules, extra)
    try:
        before = fresh.stderr_bytes()
        socks = []
        refused = 0
        for _ in range(1_100):
            try:
                socks.extend(_open_slow(fresh.port, 1))
            except OSError:
                refused += 1
        time.sleep(2)
        t = healthz(fresh.port, timeout=10)
        out["1100 slow clients"] = {
            "connect_refused": refused,
            "healthz_s": round(t, 3) if t is not None else "no answer in 10 s",
            "stderr_bytes_written": fresh.stderr_bytes() - before,
        }
        for s in socks:
            s.close()
    finally:
        fresh.stop()
    return out


def batch(server: Server, rules: str | None) -> dict[str, Any]:
    pack = load_pack(rules)
    reports = list(random_reports(pack.vocabulary, 100, seed=3))
    body = json.dumps(reports).encode()
    probe = HealthProbe(server.port)
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        status, _, _ = post(server.port, "/v1/triage/batch", body)
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(50)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return {
        "50 clients x 100 reports": {
            "seconds": round(time.perf_counter() - t0, 2),
            "statuses": statuses,
            **probe.finish(),
        }
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="flood,slow,batch")
    parser.add_argument("--rules", default=None)
    parser.add_argument("--server-arg", action="append", default=[], help="passed to the server")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    figures: dict[str, Any] = {}
    server = Server(args.rules, args.server_arg)
    try:
        if "flood" in wanted:
            figures["flood"] = flood(server)
        if "batch" in wanted:
            figures["batch"] = batch(server, args.rules)
        if "slow" in wanted:
            figures["slow"] = slow(server, args.rules, args.server_arg)
    finally:
        server.stop()
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
