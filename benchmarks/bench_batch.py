"""Throughput and peak memory of ``ktriage batch`` on a generated JSON Lines file.

The file holds seeded, realistic reports (benchmarks.workload) with about 1 % bad lines.
Peak memory is sampled from /proc for the whole process tree (the CLI and its workers)
and per process; run two sizes to see that it stays flat as the input grows.

    python benchmarks/bench_batch.py                         # 100,000 lines
    python benchmarks/bench_batch.py --lines 1000000 --workers 1 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.workload import random_reports  # noqa: E402
from ktriage import load_pack  # noqa: E402


def write_input(path: Path, lines: int, rules: str | None, seed: int = 11) -> int:
    vocabulary = load_pack(rules).vocabulary
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8") as fh:
        for report in random_reports(vocabulary, lines, seed=seed):
            if rng.random() < 0.01:
                bad += 1
                fh.write('{"symptoms": [{"name": "tired", "severity": "awful"}]}\n')
            else:
                fh.write(json.dumps(report) + "\n")
    return bad


def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """(sum, max) of resident memory over ``pid`` and its descendants, in kB."""
    total = largest = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    kb = int(line.split()[1])
                    total += kb
                    largest = max(largest, kb)
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total, largest


def run(source: Path, workers: int | None, rules: str | None) -> dict[str, float]:
    argv = [str(Path(sys.executable).parent / "ktriage"), "batch", str(source), "-o", os.devnull]
    if workers:
        argv += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if k != "KTRIAGE_RULES"}
    if rules:
        env["KTRIAGE_RULES"] = rules
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    peak = {"total": 0, "largest": 0}

    def sample() -> None:
        while proc.poll() is None:
            total, largest = _tree_rss_kb(proc.pid)
            peak["total"] = max(peak["total"], total)
            peak["largest"] = max(peak["largest"], largest)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"ktriage batch failed ({proc.returncode}): {stderr}")
    return {
        "seconds": seconds,
        "peak_total_mb": peak["total"] / 1024,
        "peak_process_mb": peak["largest"] / 1024,
        "summary": stderr.strip(),  # type: ignore[dict-item]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append", help="default: 10,000 and 100,000")
    parser.add_argument("--workers", type=int, action="append", help="default: the CLI's own")
    parser.add_argument("--rules", help="rule pack folder (default: the shipped pack)")
    args = parser.parse_args()
    sizes = args.lines or [10_000, 100_000]
    worker_counts = args.workers or [None]
    print(f"{os.cpu_count()} CPUs, pack: {args.rules or 'shipped'}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in sizes:
            source = Path(tmp) / f"in-{lines}.jsonl"
            bad = write_input(source, lines, args.rules)
            mb = source.stat().st_size / 1e6
            for workers in worker_counts:
                r = run(source, workers, args.rules)
                print(
                    f"{lines:>9,} lines ({mb:.0f} MB, {bad} bad), workers={workers or 'auto'}:"
                    f" {r['seconds']:.1f} s, {lines / r['seconds']:,.0f} lines/s,"
                    f" peak RSS {r['peak_total_mb']:.0f} MB all processes,"
                    f" {r['peak_process_mb']:.0f} MB largest  [{r['summary']}]"
                )


if __name__ == "__main__":
    main()
