from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

from ktriage import Engine

# CI must not fail on a different random draw than the one that passed here: in CI
# (CI=true) hypothesis uses a fixed seed derived from each test.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The compiled-pack cache of this test run (subprocesses inherit it): never the user's own.
os.environ.setdefault("KTRIAGE_CACHE_DIR", tempfile.mkdtemp(prefix="ktriage-test-cache-"))

DATA = Path(__file__).parent / "data"
STARTER = DATA / "starter"


@pytest.fixture(scope="session")
def starter_engine() -> Engine:
    """An engine on the frozen copy of the starter pack: its rules never change under a test."""
    return Engine.load(STARTER)


@pytest.fixture(scope="session")
def uncached_starter_engine() -> Engine:
    return Engine.load(STARTER, cache_size=0)
