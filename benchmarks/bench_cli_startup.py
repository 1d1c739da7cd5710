"""Start-up cost of the CLI: ``ktriage check --symptom fatigue:mild`` against importing its
dependencies (``python -c "import pydantic, click"``), median of N fresh processes each.

    python benchmarks/bench_cli_startup.py            # 15 runs each
    python benchmarks/bench_cli_startup.py -n 31 --rules tests/data/starter
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def ktriage_executable() -> str:
    return str(Path(sys.executable).parent / "ktriage")


def timings_ms(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(median, minimum) wall time; on a busy machine the minimum is the intrinsic cost."""
    subprocess.run(argv, capture_output=True, env=env, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15)
    parser.add_argument("--rules", help="rule pack folder (default: the shipped pack)")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "KTRIAGE_RULES"}
    if args.rules:
        env["KTRIAGE_RULES"] = args.rules
    py, exe = sys.executable, ktriage_executable()
    cases = [
        ("python -c pass", [py, "-c", "pass"]),
        ("python -c 'import pydantic, click'  (baseline)", [py, "-c", "import pydantic, click"]),
        ("python -c 'import ktriage'", [py, "-c", "import ktriage"]),
        ("ktriage --help", [exe, "--help"]),
        ("ktriage check --symptom fatigue:mild", [exe, "check", "--symptom", "fatigue:mild"]),
        (
            "ktriage check --symptom fatigue:mild --format json",
            [exe, "check", "--symptom", "fatigue:mild", "--format", "json"],
        ),
    ]
    print(f"{args.runs} runs each, pack: {args.rules or 'shipped'}, load {os.getloadavg()[0]:.1f}")
    base = None
    for name, argv in cases:
        ms, low = timings_ms(argv, args.runs, env)
        if "baseline" in name:
            base = (ms, low)
        extra = ""
        if base is not None and "baseline" not in name:
            extra = f"  (+{ms - base[0]:.0f} ms median, +{low - base[1]:.0f} ms min over baseline)"
        print(f"{ms:8.1f} ms median {low:8.1f} ms min  {name}{extra}")


if __name__ == "__main__":
    main()
