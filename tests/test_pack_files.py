"""Issue 17, item 3: the rule-pack loader refuses aliases, non-regular files, links out of
the pack and oversized files, each with one line naming the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ktriage import RulePackError, load_pack
from ktriage.engine.pack import MAX_FILE_BYTES

from .conftest import STARTER

BOMB = """\
a: &a {symptom: fatigue}
b: &b {any: [*a, *a, *a, *a, *a, *a, *a, *a, *a]}
c: &c {all: [*b, *b, *b, *b, *b, *b, *b, *b, *b]}
d: &d {all: [*c, *c, *c, *c, *c, *c, *c, *c, *c]}
e: &e {all: [*d, *d, *d, *d, *d, *d, *d, *d, *d]}
rules:
  - id: bomb
    title: Bomb
    when: {all: [*e, *e, *e, *e, *e, *e, *e, *e, *e]}
    escalation: self_care
    guidance: g
    action: a
    sources: [seed-article]
    examples:
      - report: {symptoms: [{name: tired}]}
        expect: self_care
"""


def copy_pack(tmp_path: Path) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(STARTER, root)
    return root


def validate(root: Path) -> subprocess.CompletedProcess[str]:
    """``ktriage rules validate`` in a subprocess, bounded: a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "ktriage.cli", "rules", "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_yaml_aliases_are_refused_before_anything_expands(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    (root / "rules" / "bomb.yaml").write_text(BOMB)
    result = validate(root)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {root}/rules/bomb.yaml:2: YAML aliases (*name) and merges (<<) are not"
        " allowed in a rule pack; write the value out\n"
    )


def test_a_merge_key_is_an_alias_too(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    (root / "pack.yaml").write_text("base: &b {name: x, version: '1'}\n<<: *b\n")
    with pytest.raises(RulePackError, match=r"pack\.yaml:2: YAML aliases"):
        load_pack(root)


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_rule_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, target: str) -> None:
    root = copy_pack(tmp_path)
    link = root / "rules" / "odd.yaml"
    if target == "fifo":
        os.mkfifo(link)
    else:
        link.symlink_to(target)
    result = validate(root)
    assert result.returncode == 2
    expected = (
        f"error: {link}: is a link to a file outside the rule pack folder; copy the file in\n"
        if target == "/dev/zero"
        else f"error: {link}: not a regular file (a device, pipe or folder)\n"
    )
    assert result.stderr == expected


def test_a_link_out_of_the_pack_is_refused_and_one_inside_is_read(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    outside = tmp_path / "elsewhere.yaml"
    shutil.move(root / "rules" / "mood.yaml", outside)
    (root / "rules" / "mood.yaml").symlink_to(outside)
    with pytest.raises(RulePackError) as info:
        load_pack(root)
    assert str(info.value) == (
        f"{root}/rules/mood.yaml: is a link to a file outside the rule pack folder;"
        " copy the file in"
    )
    (root / "rules" / "mood.yaml").unlink()
    (root / "kept").mkdir()
    shutil.move(outside, root / "kept" / "mood.txt")
    (root / "rules" / "mood.yaml").symlink_to(root / "kept" / "mood.txt")
    assert load_pack(root).rule("mood.swings")


def test_a_file_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    root = copy_pack(tmp_path)
    big = root / "rules" / "big.yaml"
    big.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(RulePackError) as info:
        load_pack(root)
    assert str(info.value) == f"{big}: the file is larger than {MAX_FILE_BYTES} bytes; split it"
