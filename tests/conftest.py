from __future__ import annotations

from pathlib import Path

import pytest

from ktriage import Engine

DATA = Path(__file__).parent / "data"
STARTER = DATA / "starter"


@pytest.fixture(scope="session")
def starter_engine() -> Engine:
    """An engine on the frozen copy of the starter pack: its rules never change under a test."""
    return Engine.load(STARTER)


@pytest.fixture(scope="session")
def uncached_starter_engine() -> Engine:
    return Engine.load(STARTER, cache_size=0)
