"""Issue 17, item 13: deployments get floors on security fixes, and this install meets them."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).parent.parent


def constraints() -> dict[str, Requirement]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            req = Requirement(text)
            out[req.name.lower()] = req
    return out


def test_constraints_put_floors_on_the_security_fixes() -> None:
    found = constraints()
    assert str(found["h11"].specifier) == "<1,>=0.16.0"
    assert str(found["starlette"].specifier) == "<2,>=0.47.2"
    assert {"anyio", "uvicorn", "fastapi", "pydantic", "pydantic-core"} <= set(found)


@pytest.mark.parametrize("name", sorted(constraints()))
def test_the_tested_install_meets_the_constraints(name: str) -> None:
    assert constraints()[name].specifier.contains(version(name), prereleases=True)


def test_the_server_extra_excludes_vulnerable_h11() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    server = meta["project"]["optional-dependencies"]["server"]
    assert any(re.fullmatch(r"h11>=0\.16,<1", dep) for dep in server)
