"""Engine speed and memory, in one run (issue 3).

    python benchmarks/bench_engine.py            # the figures in the README
    python benchmarks/bench_engine.py --quick    # a smaller run while developing

Prints, on a seeded mix of distinct random reports (benchmarks/workload.py):

* evaluations/s through ``triage()`` with the decision cache: a single cold pass over
  2,000 reports, the same reports again once every unit was decided (the hit path alone;
  with pydantic validation alone beside it, the floor under any evaluation), and the
  steady state of a long-running process (a pass over 40,000
  reports it has never seen, after 40,000 others warmed the cache);
* the same reports through a hand-written if-chain that reproduces the frozen starter
  pack (tests/data/starter), checked to agree with the engine on every report;
* raw durable_rules on the very same facts, two ways, next to the uncached engine on the
  same pack and our overhead on top of each: through durable_rules' Python ``Host``
  (assert + retract with no-op actions: how its documentation drives it), and through
  the calls of its C engine that ktriage's runtime makes (assert, the action loop with
  nothing recorded, retract: the floor for any code built on that engine);
* RSS after 1,000 and 100,000 evaluations, uncached and cached.

Timings are wall-clock, best of ``--repeat`` runs; the machine is shared and runs vary.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.workload import random_reports  # noqa: E402
from ktriage import Engine  # noqa: E402
from ktriage.engine.facts import extract  # noqa: E402
from ktriage.engine.intake import parse_report  # noqa: E402
from ktriage.engine.pack import default_pack_path, load_pack  # noqa: E402

STARTER = ROOT / "tests" / "data" / "starter"
LEVELS = ("self_care", "next_visit", "within_24h", "urgent", "emergency")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def rate(fn: Callable[[Any], Any], items: list[Any], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


# -- the starter pack as a hand-written if-chain -----------------------------------------


def if_chain(report: dict[str, Any], lookup: Callable[[str], str | None]) -> str:
    """The starter pack's rules, by hand. Returns the level (for agreement and speed)."""
    level = 0
    m = report.get("measurements", {})
    weight, baseline = m.get("weight_kg"), m.get("baseline_weight_kg")
    codes = set()
    for s in report.get("symptoms", ()):
        code = lookup(s["name"])
        sev = {"mild": 1, "moderate": 2, "severe": 3}[s.get("severity", "moderate")]
        days = s.get("days")
        codes.add(code)
        if code is None or code in ("weight_gain", "weight_loss"):
            level = max(level, 1)
        elif code == "suicidal_thoughts":
            level = 4
        elif code == "fatigue":
            if sev == 3 or s.get("limits_self_care") is True:
                level = max(level, 2)
            elif (
                sev == 2
                or (days is not None and days >= 3)
                or s.get("relieved_by_rest") is False
                or s.get("limits_daily_activities") is True
            ):
                level = max(level, 1)
        elif code == "mood_swings" and (sev == 3 or (days is not None and days >= 14)):
            level = max(level, 2)
    if weight is not None and baseline is not None:
        pct = round((weight - baseline) / baseline * 100, 2)
        if abs(pct) >= 10:
            level = max(level, 2)
        elif abs(pct) >= 5:
            level = max(level, 1)
    return LEVELS[level]


# -- raw durable_rules on the same facts -------------------------------------------------


def quiet_host(
    name: str, ruleset: dict[str, Any], action: Callable[[str], Callable[[Any], None]]
) -> Any:
    """durable_rules' own Host with ``ruleset`` registered as ``name``, no timer threads,
    and ``action(rule)`` run when a rule fires (it must take exactly one parameter)."""
    from durable.engine import Host

    class QuietHost(Host):  # type: ignore[misc]
        def _run(self) -> None:
            pass

        def get_action(self, rule: str) -> Callable[[Any], None]:
            return action(rule)

    host = QuietHost()
    host.register_rulesets({name: copy.deepcopy(ruleset)})
    return host


def raw_durable(ruleset: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    host = quiet_host("raw", ruleset, lambda rule: lambda c: None)
    counter = iter(range(1, 10**12))

    def run(facts: list[dict[str, Any]]) -> None:
        for f in facts:
            f["id"] = next(counter)
            f["sid"] = "0"
        host.assert_facts("raw", facts)
        host.retract_facts("raw", facts)

    return run


def raw_engine(ruleset: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    """The engine calls ktriage's runtime makes, with nothing recorded or checked."""
    import durable_rules_engine as dre

    definition = {n: {k: v for k, v in r.items() if k != "run"} for n, r in ruleset.items()}
    handle = dre.create_ruleset("raw_engine", json.dumps(definition))
    counter = iter(range(1, 10**12))

    def drain(state: int) -> None:
        if dre.start_action_for_state(handle, state) is not None:
            while dre.complete_and_start_action(handle, state) is not None:
                pass

    def run(facts: list[dict[str, Any]]) -> None:
        for f in facts:
            f["id"] = next(counter)
            f["sid"] = "0"
        text = json.dumps(facts)
        drain(dre.assert_facts(handle, text)[1])
        drain(dre.retract_facts(handle, text)[1])

    return run


def facts_of(engine: Engine, reports: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    out = []
    compiled = engine._compiled
    for r in reports:
        f = extract(parse_report(r), engine.reader, compiled.negated_codes)
        out.append([s.durable() for s in f.symptoms] + [{"t": "c", **f.context}])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (10k RSS mark)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for short timings")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    long_n = 10_000 if args.quick else 100_000
    out: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_implementation()}"
        f" {platform.python_version()}, {_cpus()}",
    }

    # 1. triage() with the decision cache, shipped pack
    shipped = default_pack_path()
    vocab = load_pack(shipped).vocabulary
    mix = list(random_reports(vocab, 2_000, seed=1))
    cold = max(_cold_pass(shipped, mix) for _ in range(args.repeat))
    out["cached_cold_2k_per_s"] = round(cold)
    # the same 2,000 again, every unit decided before: the hit path alone
    seen = Engine.load(shipped)
    out["cached_warm_2k_per_s"] = round(rate(seen.evaluate, mix, args.repeat + 1))
    # the floor under any evaluation: validating the report, nothing else
    out["validation_only_per_s"] = round(rate(parse_report, mix, args.repeat))
    warm_engine = Engine.load(shipped)
    for r in random_reports(vocab, 40_000, seed=2):
        warm_engine.evaluate(r)
    stream = list(random_reports(vocab, 40_000, seed=3))
    before = warm_engine.cache_info()
    out["cached_steady_40k_per_s"] = round(rate(warm_engine.evaluate, stream))
    after = warm_engine.cache_info()
    lookups = (after.hits - before.hits) + (after.misses - before.misses)
    out["steady_cache_hit_pct"] = round(100 * (after.hits - before.hits) / lookups, 2)

    # 2. starter pack: if-chain vs engine (agreement first)
    starter = Engine.load(STARTER)
    starter_mix = list(random_reports(starter.pack.vocabulary, 2_000, seed=1))
    lookup = starter.pack.vocabulary.lookup
    disagree = [
        r for r in starter_mix if if_chain(r, lookup) != starter.evaluate(r).escalation.value
    ]
    out["if_chain_disagreements"] = len(disagree)
    out["if_chain_per_s"] = round(rate(lambda r: if_chain(r, lookup), starter_mix, args.repeat))
    out["starter_cached_cold_2k_per_s"] = round(
        max(_cold_pass(STARTER, starter_mix) for _ in range(args.repeat))
    )

    # 3. raw durable_rules vs the uncached engine, same pack, same facts
    uncached = Engine.load(shipped, cache_size=0)
    facts = facts_of(uncached, mix)
    raw = raw_durable(uncached.ruleset)
    out["raw_durable_per_s"] = round(rate(raw, facts, args.repeat))
    raw_c = raw_engine(uncached.ruleset)
    out["raw_engine_per_s"] = round(rate(raw_c, copy.deepcopy(facts), args.repeat))
    out["uncached_per_s"] = round(rate(uncached.evaluate, mix, args.repeat))
    for key in ("raw_durable", "raw_engine"):
        out[f"overhead_over_{key}_pct"] = round(
            100 * (out[f"{key}_per_s"] / out["uncached_per_s"] - 1), 1
        )
    # how far ktriage is from the hand-written if-chain, and from the goal (issue 15)
    out["if_chain_over_cached_cold"] = round(out["if_chain_per_s"] / cold, 1)
    out["if_chain_over_cached_steady"] = round(
        out["if_chain_per_s"] / out["cached_steady_40k_per_s"], 1
    )

    # 4. memory
    for label, size in (("uncached", 0), ("cached", 65_536)):
        engine = Engine.load(shipped, cache_size=size)
        reports = random_reports(vocab, long_n, seed=4)
        marks = {}
        for i, r in enumerate(reports, 1):
            engine.evaluate(r)
            if i in (1_000, long_n):
                marks[i] = rss_mb()
        out[f"rss_{label}_mb"] = {str(k): round(v, 1) for k, v in marks.items()}
        out[f"rss_{label}_growth_mb"] = round(marks[long_n] - marks[1_000], 1)

    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"machine: {out['machine']}")
    print(f"triage(), cached, one cold pass over 2,000 reports: {cold:,.0f}/s")
    print(
        f"triage(), cached, the same 2,000 reports again (hit path only):"
        f" {out['cached_warm_2k_per_s']:,}/s; pydantic validation alone:"
        f" {out['validation_only_per_s']:,}/s"
    )
    print(
        f"triage(), cached, steady state (40,000 unseen reports after 40,000 others):"
        f" {out['cached_steady_40k_per_s']:,}/s, {out['steady_cache_hit_pct']} % of lookups hit"
    )
    print(
        f"starter pack: if-chain {out['if_chain_per_s']:,}/s vs triage() cold"
        f" {out['starter_cached_cold_2k_per_s']:,}/s"
        f" ({out['if_chain_disagreements']} disagreements on 2,000 reports)"
    )
    print(
        f"uncached engine: {out['uncached_per_s']:,}/s; raw durable_rules through its Host:"
        f" {out['raw_durable_per_s']:,}/s (our overhead {out['overhead_over_raw_durable_pct']} %);"
        f" raw engine calls: {out['raw_engine_per_s']:,}/s"
        f" (our overhead {out['overhead_over_raw_engine_pct']} %)"
    )
    print(
        f"ratio: the if-chain is {out['if_chain_over_cached_cold']}x triage() cached cold and"
        f" {out['if_chain_over_cached_steady']}x triage() cached steady (goal: 50,000/s,"
        " within 7x)"
    )
    for label in ("uncached", "cached"):
        marks = out[f"rss_{label}_mb"]
        print(
            f"RSS {label}: {marks['1000']} MB after 1,000, {marks[str(long_n)]} MB after"
            f" {long_n:,} (growth {out[f'rss_{label}_growth_mb']} MB)"
        )


def _cold_pass(path: Path, reports: list[dict[str, Any]]) -> float:
    engine = Engine.load(path)
    return rate(engine.evaluate, reports)


def _cpus() -> str:
    import os

    return f"{os.cpu_count()} CPUs"


if __name__ == "__main__":
    main()
