"""durable_rules behind the runtime: isolation, threads, memory and crashes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from benchmarks.workload import random_reports
from ktriage import Engine, EngineFailure

from .conftest import STARTER

ROOT = Path(__file__).resolve().parent.parent


def run_script(script: str, *args: str, timeout: int = 300) -> str:
    """Run ``script`` in a fresh interpreter: a crash inside durable_rules' C code then
    fails the calling test instead of killing pytest. Returns what it printed."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_no_fact_survives_an_evaluation(uncached_starter_engine: Engine) -> None:
    engine = uncached_starter_engine
    engine.evaluate({"symptoms": [{"name": "tired"}], "measurements": {"weight_kg": 80}})
    assert engine._runtime.leftover_facts() == []
    assert "exception" not in engine._runtime.state()


def test_evaluations_do_not_see_each_other(uncached_starter_engine: Engine) -> None:
    engine = uncached_starter_engine
    with_baseline = {"measurements": {"weight_kg": 80, "baseline_weight_kg": 70}}
    weight_only = {"measurements": {"weight_kg": 80}}
    first = engine.evaluate(with_baseline)
    # had the baseline leaked, weight.baseline_missing would not fire here
    second = engine.evaluate(weight_only)
    assert [a.rule for a in second.advice] == ["weight.baseline_missing"]
    assert engine.evaluate(with_baseline) == first


def test_order_of_reports_does_not_matter(starter_engine: Engine) -> None:
    reports = list(random_reports(starter_engine.pack.vocabulary, 300, seed=3))
    fresh = Engine.load(STARTER, cache_size=0)
    forward = [fresh.evaluate(r) for r in reports]
    backward = [fresh.evaluate(r) for r in reversed(reports)][::-1]
    assert forward == backward


def _in_threads(engine: Engine, reports: list[dict], threads: int) -> list[list]:
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            results[t] = [engine.evaluate(r) for r in reports]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    return [results[t] for t in range(threads)]


@pytest.mark.parametrize("cache_size", [0, 65_536], ids=["uncached", "cached"])
def test_threads_agree_with_sequential(starter_engine: Engine, cache_size: int) -> None:
    reports = list(random_reports(starter_engine.pack.vocabulary, 1000, seed=11))
    reference = Engine.load(STARTER, cache_size=0)
    expected = [reference.evaluate(r) for r in reports]
    for got in _in_threads(Engine.load(STARTER, cache_size=cache_size), reports, 8):
        assert got == expected


SOAK = textwrap.dedent(
    """
    import json, sys
    from benchmarks.workload import random_reports
    from ktriage import Engine, EngineFailure

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    engine = Engine.load(sys.argv[1], cache_size=0)
    reports = list(random_reports(engine.pack.vocabulary, 1000, seed=5))
    n = int(sys.argv[2])
    marks = {}
    for i in range(n):
        engine.evaluate(reports[i % len(reports)])
        if i + 1 in (1000, n):
            marks[i + 1] = rss_mb()
    print(json.dumps({"evaluations": n, "rss_mb": marks}))
    """
)


def test_soak_in_a_subprocess_stays_flat() -> None:
    # A crash inside durable_rules' C code must fail this test, not kill pytest.
    n = 20_000
    marks = json.loads(run_script(SOAK, str(STARTER), str(n), timeout=600))["rss_mb"]
    growth = marks[str(n)] - marks["1000"]
    assert growth < 5, f"RSS grew {growth:.1f} MB over {n} evaluations"


TINY = textwrap.dedent(
    """
    import sys
    from ktriage import Engine, EngineFailure
    engine = Engine.load(sys.argv[1], cache_size=0)
    for value in (1e-05, 1e-300, 5e-324, 0.004, 99.99999999):
        result = engine.evaluate({
            "age_years": value,
            "symptoms": [{"name": "tired", "severity": "mild", "days": value}],
            "treatment": {"hours_since_dose": value},
        })
        print(result.escalation.value)
    """
)


def test_tiny_numbers_do_not_crash_durable_rules() -> None:
    # durable_rules' parser segfaults on exponent notation such as 1e-05: run in a
    # subprocess so that a regression fails this test instead of killing pytest
    out = run_script(TINY, str(STARTER), timeout=120)
    assert out.split() == ["self_care", "self_care", "self_care", "self_care", "next_visit"]


def test_runtime_refuses_exponent_notation(uncached_starter_engine: Engine) -> None:
    with pytest.raises(EngineFailure, match="exponent notation crashes its parser"):
        uncached_starter_engine._runtime.run([{"t": "c", "weight_kg": 1e-05}])


def test_a_closed_engine_refuses_to_decide() -> None:
    with Engine.load(STARTER, cache_size=0) as engine:
        assert engine.evaluate({"symptoms": [{"name": "tired"}]}).escalation == "next_visit"
    with pytest.raises(EngineFailure, match="this engine was closed"):
        engine.evaluate({"symptoms": [{"name": "tired"}]})
    engine.close()  # closing twice is harmless


RELOAD = textwrap.dedent(
    """
    import gc, sys
    from ktriage import Engine
    for i in range(60):
        engine = Engine.load(sys.argv[1])
        engine.evaluate({"symptoms": [{"name": "tired"}]})
        if i % 2:
            engine.close()
        del engine
        gc.collect()
    print("ok")
    """
)


def test_engines_are_freed_without_crashing() -> None:
    # freeing durable_rules' C ruleset must never crash, closed or garbage-collected
    assert run_script(RELOAD, str(STARTER)).strip() == "ok"


def _host_fired(engine: Engine, facts: list[list[dict]]) -> list[list[tuple[str, tuple[int, ...]]]]:
    """What durable_rules' own Python Host fires on each report's facts, by position."""
    import copy

    from benchmarks.bench_engine import quiet_host

    fired: list[tuple[str, tuple[int, ...]]] = []
    aliases = {name: rule.aliases for name, rule in engine._compiled.compiled.items()}

    def action(name: str):
        def run(c) -> None:
            if aliases.get(name):
                fired.append((name, tuple(c._m[a]["id"] for a in aliases[name])))

        return run

    host = quiet_host("host", engine.ruleset, action)
    out = []
    next_id = 10**9
    for report in copy.deepcopy(facts):
        for i, fact in enumerate(report):
            fact["id"] = next_id + i
            fact["sid"] = "0"
        fired.clear()
        host.assert_facts("host", report)
        host.retract_facts("host", report)
        out.append([(name, tuple(i - next_id for i in ids)) for name, ids in fired])
        next_id += len(report)
    return out


@pytest.mark.parametrize("which", ["starter", "shipped"])
def test_runtime_fires_exactly_what_durable_rules_host_fires(which: str) -> None:
    from benchmarks.bench_engine import facts_of
    from ktriage.engine.pack import default_pack_path

    engine = Engine.load(STARTER if which == "starter" else default_pack_path(), cache_size=0)
    reports = list(random_reports(engine.pack.vocabulary, 1500, seed=21))
    facts = facts_of(engine, reports)
    expected = _host_fired(engine, facts)
    got = [engine._runtime.run(report) for report in facts]
    assert got == expected
    assert sum(map(len, got)) > len(reports)  # rules really fired
    assert engine._runtime.leftover_facts() == []


def test_a_refused_fact_is_an_engine_failure_and_leaves_nothing(
    uncached_starter_engine: Engine,
) -> None:
    runtime = uncached_starter_engine._runtime
    with pytest.raises(EngineFailure) as caught:
        runtime.run([{"t": "nobody-matches-this", "x": 1}])
    assert str(caught.value) == "durable_rules refused the facts (code 1: a fact matched no rule)"
    assert runtime.leftover_facts() == []
    # and the runtime still works
    assert runtime.run([{"t": "s", "code": "suicidal_thoughts", "sev": 2}])


def test_a_dropped_engine_is_freed_at_once() -> None:
    # no reference cycle: the C ruleset goes with the last reference, not at a later
    # garbage collection
    import gc
    import weakref

    gc.disable()
    try:
        engine = Engine.load(STARTER)
        engine.evaluate({"symptoms": [{"name": "tired", "days": 4}]})
        runtime = weakref.ref(engine._runtime)
        del engine
        assert runtime() is None
    finally:
        gc.enable()


def test_no_facts_fire_nothing(uncached_starter_engine: Engine) -> None:
    assert uncached_starter_engine._runtime.run([]) == []
