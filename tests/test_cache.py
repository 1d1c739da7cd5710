"""The decision cache gives exactly the results durable_rules gives without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.workload import random_reports
from ktriage import Engine
from ktriage.engine.pack import default_pack_path

from .conftest import STARTER
from .test_pack_errors import make_pack, rule


def _agree(path: Path, n: int, seed: int, cache_size: int = 65_536) -> Engine:
    cached = Engine.load(path, cache_size=cache_size)
    uncached = Engine.load(path, cache_size=0)
    for i, report in enumerate(random_reports(cached.pack.vocabulary, n, seed=seed)):
        a = cached.evaluate(report)
        b = uncached.evaluate(report)
        assert a == b, f"report {i} differs: {report}"
    return cached


@pytest.mark.parametrize("path", [STARTER, default_pack_path()], ids=["starter", "shipped"])
def test_cached_equals_uncached(path: Path) -> None:
    cached = _agree(path, 3000, seed=1)
    info = cached.cache_info()
    assert info.hits > info.misses  # the cache was really used


def test_cached_equals_uncached_with_a_tiny_cache() -> None:
    cached = _agree(STARTER, 1000, seed=2, cache_size=8)
    assert cached.cache_info().size <= 8


def test_join_rules_are_decided_together(tmp_path: Path) -> None:
    # a rule over two symptom facts and a negated symptom ties their groups together
    joined = (
        rule(
            "all:\n  - symptom: fatigue\n  - symptom: mood_swings\n"
            "  - none:\n    - symptom: weight_gain",
            level="within_24h",
        )
        .replace("{symptoms: [{name: tired}]}", "{symptoms: [{name: tired}, {name: moody}]}")
        .replace("expect: next_visit", "expect: within_24h")
    )
    _agree(make_pack(tmp_path, joined), 2000, seed=4)


def test_cache_is_bounded_and_clearable() -> None:
    engine = Engine.load(STARTER, cache_size=16)
    for report in random_reports(engine.pack.vocabulary, 500, seed=9):
        engine.evaluate(report)
    info = engine.cache_info()
    assert info.size == 16
    assert info.maxsize == 16
    engine.clear_cache()
    assert engine.cache_info().size == 0
    assert engine.cache_info().hits == 0


def test_because_uses_the_reports_real_values() -> None:
    engine = Engine.load(STARTER)
    first = engine.evaluate({"measurements": {"weight_kg": 84, "baseline_weight_kg": 80}})
    second = engine.evaluate({"measurements": {"weight_kg": 85, "baseline_weight_kg": 80}})
    assert engine.cache_info().hits >= 1  # same band: the second came from the cache
    assert list(first.advice[0].because) == [
        "weight change from baseline +5 % (84 kg now, 80 kg at baseline)"
    ]
    assert list(second.advice[0].because) == [
        "weight change from baseline +6.25 % (85 kg now, 80 kg at baseline)"
    ]
    assert second.derived == {"weight_change_pct": 6.25}


def _sparse_reports(n: int, seed: int) -> list[dict]:
    """Reports holding random subsets of the measurements: a cache key must tell apart
    which fields are present, not only the intervals their values fall in."""
    import random

    rng = random.Random(seed)
    values = {
        "weight_kg": (40, 140),
        "baseline_weight_kg": (40, 140),
        "systolic_bp": (80, 200),
        "diastolic_bp": (40, 79),
        "oxygen_saturation_pct": (85, 100),
        "fasting_glucose_mg_dl": (40, 300),
        "ldl_cholesterol_mg_dl": (40, 300),
        "triglycerides_mg_dl": (40, 900),
    }
    reports = []
    for _ in range(n):
        fields = rng.sample(sorted(values), rng.randint(1, 3))
        report: dict = {"measurements": {f: rng.randint(*values[f]) for f in fields}}
        if rng.random() < 0.3:
            report["treatment"] = {"hours_since_dose": rng.randint(0, 48)}
        if rng.random() < 0.3:
            report["symptoms"] = [{"name": rng.choice(["headache", "tired", "dizzy"])}]
        reports.append(report)
    return reports


@pytest.mark.parametrize("path", [STARTER, default_pack_path()], ids=["starter", "shipped"])
def test_cache_tells_apart_which_fields_are_present(path: Path) -> None:
    cached = Engine.load(path)
    uncached = Engine.load(path, cache_size=0)
    for report in _sparse_reports(1500, seed=8):
        assert cached.evaluate(report) == uncached.evaluate(report), report


def test_cached_equals_uncached_on_reports_with_history() -> None:
    from .test_trends import random_histories

    cached = Engine.load(default_pack_path())
    uncached = Engine.load(default_pack_path(), cache_size=0)
    for i, report in enumerate(random_histories(cached, 400, seed=5)):
        assert cached.evaluate(report) == uncached.evaluate(report), f"report {i} differs"
    assert cached.cache_info().hits > cached.cache_info().misses


def test_joined_symptoms_of_the_shipped_pack_agree() -> None:
    """Reports crowded with the codes the shipped pack's rules join (several of them, some
    twice, with random context): each set of joined codes is decided as one unit."""
    import random

    cached = Engine.load()
    uncached = Engine.load(cache_size=0)
    component = cached._compiled.join_component
    assert len(component) >= 2  # the pack still joins symptoms
    codes = sorted(component)
    rng = random.Random(11)
    for _ in range(1500):
        symptoms = [
            {
                "name": rng.choice(codes).replace("_", " "),
                "severity": rng.choice(["mild", "moderate", "severe"]),
                **({"days": rng.choice([0, 1, 2, 5, 15])} if rng.random() < 0.5 else {}),
            }
            for _ in range(rng.randint(2, 5))
        ]
        m: dict = {}
        if rng.random() < 0.6:
            m["systolic_bp"] = rng.randint(85, 200)
            m["diastolic_bp"] = rng.randint(40, m["systolic_bp"] - 5)
        if rng.random() < 0.4:
            m["oxygen_saturation_pct"] = rng.randint(85, 100)
        if rng.random() < 0.3:
            m["temperature_c"] = rng.choice([35.0, 36.5, 38.2, 39.5])
        report: dict = {"symptoms": symptoms, "measurements": m}
        if rng.random() < 0.5:
            report["treatment"] = {"hours_since_dose": rng.choice([0.5, 3, 10, 30])}
        if rng.random() < 0.5:
            report["age_years"] = rng.choice([30, 70])
        assert cached.evaluate(report) == uncached.evaluate(report), report
    info = cached.cache_info()
    assert info.hits > 0 and info.misses > 0
