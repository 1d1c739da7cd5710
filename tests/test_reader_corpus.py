"""The reader against a corpus of lines as people say them (tests/data/reader/corpus.tsv).

The corpus was written by a helper from how callers, app users and nurses talk, not from
the vocabulary: 467 lines (plain, variants, typos, negated, several symptoms in one line,
shorthand, 142 present red flags), each with the lowest and highest level a clinician
accepts. ``scripts/reader_corpus.py`` prints the rates per kind.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from ktriage import Engine, Escalation

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "reader" / "corpus.tsv"
SCRIPT = ROOT / "scripts" / "reader_corpus.py"

_spec = importlib.util.spec_from_file_location("reader_corpus", SCRIPT)
assert _spec is not None and _spec.loader is not None
reader_corpus = importlib.util.module_from_spec(_spec)
sys.modules["reader_corpus"] = reader_corpus
_spec.loader.exec_module(reader_corpus)

CASES = reader_corpus.load(CORPUS)


@pytest.fixture(scope="module")
def outcomes() -> list:  # type: ignore[type-arg]
    return reader_corpus.run(CASES, _engine())


def test_the_corpus_is_as_large_as_the_issue_asks() -> None:
    kinds = {c.kind for c in CASES}
    assert kinds == {"plain", "variant", "typo", "negated", "multi", "shorthand", "red_flag"}
    assert len(CASES) >= 400
    assert sum(c.red_flag for c in CASES) >= 80


@pytest.mark.parametrize("case", [c for c in CASES if c.red_flag], ids=lambda c: f"line{c.line}")
def test_every_red_flag_line_is_an_emergency(case) -> None:  # type: ignore[no-untyped-def]
    got = _engine().evaluate({"symptoms": [{"name": case.text}]}).escalation
    assert got is Escalation.EMERGENCY, case.text


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.kind == "negated" and c.highest is not Escalation.EMERGENCY],
    ids=lambda c: f"line{c.line}",
)
def test_no_negated_line_reaches_emergency(case) -> None:  # type: ignore[no-untyped-def]
    got = _engine().evaluate({"symptoms": [{"name": case.text}]}).escalation
    assert got is not Escalation.EMERGENCY, case.text


def test_almost_every_line_lands_in_its_accepted_range(outcomes) -> None:  # type: ignore[no-untyped-def]
    failed = [o for o in outcomes if not o.passed]
    shown = "\n".join(
        f"line {o.case.line} {o.case.text!r}: {o.got.value}, accepts"
        f" {o.case.lowest.value}..{o.case.highest.value}"
        for o in failed
    )
    # a floor, not a target: the lines below it are listed and reviewed in the issue note
    assert len(failed) <= len(outcomes) // 100, shown


def test_the_script_prints_rates_per_kind() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(CORPUS)], capture_output=True, text=True, check=False
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stdout + out.stderr
    assert [line.split()[0] for line in lines[:8]] == [
        "multi",
        "negated",
        "plain",
        "red_flag",
        "shorthand",
        "typo",
        "variant",
        "all",
    ]
    assert lines[8] == "red-flag recall: 142/142 (100.0 %)"
    assert lines[9].startswith("negated lines that reached emergency: 0/")


_ENGINE: list[Engine] = []


def _engine() -> Engine:
    if not _ENGINE:
        _ENGINE.append(Engine.load())
    return _ENGINE[0]
