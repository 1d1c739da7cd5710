"""Every rule's worked examples run as tests, for the shipped pack and the test pack."""

from __future__ import annotations

import pytest

from ktriage import Engine, ExampleOutcome
from ktriage.engine.pack import default_pack_path

from .conftest import STARTER

PACKS = {"shipped": default_pack_path(), "starter": STARTER}
CASES = [
    pytest.param(outcome, id=f"{name}:{outcome.rule}:{outcome.name}")
    for name, path in PACKS.items()
    for outcome in Engine.load(path).run_examples()
]


@pytest.mark.parametrize("outcome", CASES)
def test_rule_example(outcome: ExampleOutcome) -> None:
    assert outcome.passed, outcome.describe()


def test_every_pack_has_examples() -> None:
    for name in PACKS:
        assert any(c.values[0] for c in CASES if c.id.startswith(f"{name}:")), name
