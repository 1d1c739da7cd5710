"""Bounded loopback load on the HTTP service: requests/s and p50/p99 of POST /v1/triage.

Starts ``python -m ktriage.server`` on 127.0.0.1 (a free port, access log off), sends a
fixed number of distinct reports from a few concurrent httpx clients, then a fixed number
of batches, prints the figures and stops the server. Nothing runs unbounded.

    python -m benchmarks.bench_server [--requests 2000] [--concurrency 8] [--rules PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ktriage import load_pack

try:
    from benchmarks.workload import random_reports
except ImportError:  # run as a script from benchmarks/
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from workload import random_reports  # type: ignore[no-redef]


def start_server(rules: str | None) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "ktriage.server", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--no-access-log"]
    if rules:
        cmd += ["--rules", rules]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"running on http://127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("server did not start:\n" + "".join(seen))


def stop_server(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[k]


async def run_load(
    base: str, path: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(bodies):
                body = bodies[next_index]
                next_index += 1
                t0 = time.perf_counter()
                r = await client.post(path, content=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return elapsed, sorted(latencies), statuses


def run_load_stdlib(
    port: int, path: str, bodies: list[bytes], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """The same load from threads using http.client: a much cheaper client than httpx,
    so the figures show more of the server and less of the client."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    items = iter(bodies)
    headers = {"content-type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while True:
                with lock:
                    body = next(items, None)
                if body is None:
                    return
                t0 = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(ms)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, sorted(latencies), statuses


def summarise(
    name: str, count: int, elapsed: float, lat: list[float], st: dict[int, int]
) -> dict[str, Any]:
    return {
        "endpoint": name,
        "requests": count,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(count / elapsed, 1),
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "max_ms": round(lat[-1], 2) if lat else None,
        "statuses": st,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batches", type=int, default=20, help="batches of --batch-size")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rules", default=None, help="rule pack folder (default: shipped)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--client",
        choices=["httpx", "stdlib"],
        default="httpx",
        help="httpx.AsyncClient tasks (default) or http.client threads (cheaper client)",
    )
    args = parser.parse_args(argv)

    pack = load_pack(args.rules)
    total = args.warmup + args.requests + args.batches * args.batch_size
    reports = list(random_reports(pack.vocabulary, total, seed=args.seed))
    bodies = [json.dumps(r).encode() for r in reports]
    warm = bodies[: args.warmup]
    single = bodies[args.warmup : args.warmup + args.requests]
    rest = reports[args.warmup + args.requests :]
    batches = [
        json.dumps(rest[i : i + args.batch_size]).encode()
        for i in range(0, len(rest), args.batch_size)
    ]

    proc, port = start_server(args.rules)
    base = f"http://127.0.0.1:{port}"
    try:

        def load(path: str, items: list[bytes], concurrency: int) -> Any:
            if args.client == "stdlib":
                return run_load_stdlib(port, path, items, concurrency)
            return asyncio.run(run_load(base, path, items, concurrency))

        load("/v1/triage", warm, args.concurrency)
        one = summarise("/v1/triage", len(single), *load("/v1/triage", single, args.concurrency))
        many = summarise(
            f"/v1/triage/batch ({args.batch_size} reports)",
            len(batches),
            *load("/v1/triage/batch", batches, min(args.concurrency, 4)),
        )
        many["reports_per_s"] = round(len(rest) / many["seconds"], 1)
    finally:
        stop_server(proc)

    figures = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rule_pack": {"name": pack.name, "version": pack.version},
        "concurrency": args.concurrency,
        "client": args.client,
        "results": [one, many],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        m = figures["machine"]
        print(f"machine: {m['cpus']} CPUs, Python {m['python']}, {m['platform']}")
        print(
            f"rule pack: {pack.name} {pack.version}; {args.concurrency} concurrent"
            f" {args.client} clients"
        )
        for res in (one, many):
            extra = f", {res['reports_per_s']} reports/s" if "reports_per_s" in res else ""
            print(
                f"{res['endpoint']}: {res['requests']} requests in {res['seconds']} s ="
                f" {res['requests_per_s']} req/s{extra}; p50 {res['p50_ms']} ms,"
                f" p99 {res['p99_ms']} ms, max {res['max_ms']} ms; statuses {res['statuses']}"
            )
    bad = sum(n for code, n in {**one["statuses"]}.items() if code != 200)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
