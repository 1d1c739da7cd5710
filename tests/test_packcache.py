"""The compiled-pack cache: used when everything matches, refused and rebuilt otherwise."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from ktriage import Engine
from ktriage.engine import packcache

from .conftest import STARTER

REPORT = {"symptoms": [{"name": "tired", "severity": "severe", "days": 4}]}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KTRIAGE_CACHE_DIR", str(folder))
    monkeypatch.delenv("KTRIAGE_PACK_CACHE", raising=False)
    return folder


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(STARTER, root)
    return root


def _built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every time the pack is built from its YAML."""
    import ktriage.engine.triage as triage_module

    calls: list[str] = []
    real = triage_module.load_pack

    def counting(path: object = None) -> object:
        calls.append(str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(triage_module, "load_pack", counting)
    return calls


def test_second_load_comes_from_the_cache_and_gives_the_same_results(
    cache: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _built(monkeypatch)
    first = Engine.load(pack)
    key = packcache.pack_key(pack)
    assert key is not None
    files = list(cache.iterdir())
    assert [f.name for f in files] == [f"{key}.pack"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    second = Engine.load(pack)
    assert len(built) == 1  # the second engine did not parse the YAML
    assert second.pack.sha256 == first.pack.sha256
    assert second.evaluate(REPORT) == first.evaluate(REPORT)
    assert [o.passed for o in second.run_examples()] == [o.passed for o in first.run_examples()]


def test_a_changed_pack_is_built_again(
    cache: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _built(monkeypatch)
    before = Engine.load(pack).evaluate(REPORT)
    rules = pack / "rules"
    for f in rules.glob("*.yaml"):
        f.write_text(f.read_text().replace("Fatigue", "Tiredness"))
    after = Engine.load(pack).evaluate(REPORT)
    assert len(built) == 2
    assert before.advice[0].title.startswith("Fatigue")
    assert after.advice[0].title.startswith("Tiredness")
    assert len(list(cache.iterdir())) == 2  # one file per pack content


@pytest.mark.parametrize("damage", ["payload", "header", "truncated", "mode", "empty"])
def test_a_damaged_cache_file_is_refused_and_rewritten(
    cache: Path, pack: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    built = _built(monkeypatch)
    expected = Engine.load(pack).evaluate(REPORT)
    [path] = cache.iterdir()
    data = path.read_bytes()
    if damage == "payload":
        path.write_bytes(data[:-20] + bytes(20))
    elif damage == "header":
        path.write_bytes(data.replace(b'"format": 1', b'"format": 0', 1))
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "mode":
        os.chmod(path, 0o644)  # readable by others: not trusted
    else:
        path.write_bytes(b"")
    assert packcache.load(packcache.pack_key(pack) or "") is None
    assert Engine.load(pack).evaluate(REPORT) == expected
    assert len(built) == 2  # refused, so built again ...
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # ... and written anew
    assert packcache.load(packcache.pack_key(pack) or "") is not None


def test_the_cache_can_be_turned_off(
    cache: Path, pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KTRIAGE_PACK_CACHE", "off")
    built = _built(monkeypatch)
    Engine.load(pack)
    Engine.load(pack)
    assert len(built) == 2
    assert not cache.exists()


def test_a_bad_pack_is_never_cached(cache: Path, pack: Path) -> None:
    (pack / "pack.yaml").write_text("name: [unclosed\n")
    from ktriage import RulePackError

    with pytest.raises(RulePackError):
        Engine.load(pack)
    assert not cache.exists() or not list(cache.iterdir())


def test_old_packs_are_pruned(cache: Path, pack: Path) -> None:
    cache.mkdir(mode=0o700)
    for i in range(packcache.KEEP_FILES + 5):
        old = cache / f"{i:064x}.pack"
        old.write_bytes(b"old")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    Engine.load(pack)
    kept = sorted(p.name for p in cache.glob("*.pack"))
    assert len(kept) == packcache.KEEP_FILES
    assert f"{packcache.pack_key(pack)}.pack" in kept
    assert f"{0:064x}.pack" not in kept  # the oldest went first
    assert f"{packcache.KEEP_FILES + 4:064x}.pack" in kept


def test_the_vocabulary_is_read_before_the_pack_is_cached(cache: Path, pack: Path) -> None:
    built = Engine.load(pack)
    again = Engine.load(pack)
    assert "tired" in again.reader._cache  # read once, kept with the compiled pack
    assert again.reader.read("tired") == built.reader.read("tired")
