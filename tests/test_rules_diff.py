"""``ktriage rules diff``: what a rule change does to real reports (issue 15)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ktriage.cli import main

from .conftest import DATA, STARTER

LINES = [
    '{"symptoms": [{"name": "mood swings", "severity": "mild", "days": 14}]}',
    '{"symptoms": [{"name": "mood swings", "severity": "mild", "days": 21}]}',
    '{"symptoms": [{"name": "mood swings", "severity": "severe"}]}',
    '{"symptoms": [{"name": "tired", "severity": "mild"}]}',
    "not json",
    '{"symptoms": [{"name": "moody", "severity": "moderate", "days": 15}]}',
    "",
    '{"symptoms": [{"name": "moody", "severity": "mild", "days": 20.99}]}',
    '{"measurements": {"weight_kg": 84, "baseline_weight_kg": 80}}',
]
EXPECTED = {
    "total": 7,
    "errors": [
        {"line": 5, "message": "malformed JSON at column 1: Expecting value"},
        {"line": 7, "message": "empty line; expected a report (JSON object)"},
    ],
    "error_count": 2,
    "changed": 3,
    "transitions": {"within_24h->self_care": 3},
    "lowered": [1, 6, 8],
    "rules": {
        "fatigue.after_session": {"old": 1, "new": 1},
        "mood.swings": {"old": 4, "new": 4},
        "mood.swings_persistent": {"old": 5, "new": 2},
        "weight.change_grade1": {"old": 1, "new": 1},
    },
}


@pytest.fixture(scope="module")
def packs() -> tuple[Path, Path, Path]:
    """OLD = the starter pack; NEW = the same with mood swings persistent from 21 days,
    not 14 (one threshold moved; tests/data/diff/new); the input file (LINES)."""
    new = DATA / "diff" / "new"
    source = DATA / "diff" / "checkins.jsonl"
    assert source.read_text() == "\n".join(LINES) + "\n"
    return STARTER, new, source


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_one_threshold_moved_gives_exact_transitions_and_lowered_lines(packs) -> None:
    old, new, source = packs
    result = run("rules", "diff", str(old), str(new), "--input", str(source), "--format", "json")
    assert result.exit_code == 1, result.output  # two lines were not triaged
    assert json.loads(result.stdout) == EXPECTED


def test_the_same_pack_changes_nothing(packs) -> None:
    old, _, source = packs
    result = run("rules", "diff", str(old), str(old), "--input", str(source), "--format", "json")
    got = json.loads(result.stdout)
    assert (got["changed"], got["transitions"], got["lowered"]) == (0, {}, [])
    assert all(v["old"] == v["new"] for v in got["rules"].values())


def test_text_form_flags_lowered_lines_first(packs) -> None:
    old, new, source = packs
    result = run("rules", "diff", str(old), str(new), "--input", str(source))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[:12] == [
        "Rule change: ktriage-starter 0.1.0 -> ktriage-starter 0.2.0",
        "7 reports triaged with both packs, 3 changed level (3 lowered, 0 raised);"
        " 2 lines not triaged",
        "",
        "LOWERED: 3 lines now get a lower level; review them first:",
        "  lines 1, 6, 8",
        "",
        "old \\ new      self_care  next_visit  within_24h      urgent   emergency",
        "self_care             1           0           0           0           0",
        "next_visit            0           1           0           0           0",
        "within_24h            3!          0           2           0           0",
        "urgent                0           0           0           0           0",
        "emergency             0           0           0           0           0",
    ]
    assert "  mood.swings_persistent: 5 -> 2" in result.stdout
    assert "  line 5: malformed JSON at column 1: Expecting value" in result.stdout


def test_workers_and_many_chunks_give_the_same_answer(packs, tmp_path: Path) -> None:
    old, new, _ = packs
    big = tmp_path / "big.jsonl"
    big.write_text(("\n".join(LINES) + "\n") * 400)  # 3,600 lines, 4 chunks
    one = run(
        "rules",
        "diff",
        str(old),
        str(new),
        "--input",
        str(big),
        "--format",
        "json",
        "--workers",
        "1",
    )
    two = run(
        "rules",
        "diff",
        str(old),
        str(new),
        "--input",
        str(big),
        "--format",
        "json",
        "--workers",
        "2",
    )
    assert one.stdout == two.stdout
    got = json.loads(two.stdout)
    assert got["total"] == 7 * 400 and got["error_count"] == 2 * 400
    assert len(got["errors"]) == 100  # capped, in input order
    assert got["errors"][:3] == [
        EXPECTED["errors"][0],
        EXPECTED["errors"][1],
        {"line": 14, "message": "malformed JSON at column 1: Expecting value"},
    ]
    assert got["lowered"] == [n + 9 * k for k in range(400) for n in (1, 6, 8)]


def test_parquet_input_gives_the_same_answer(packs, tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    old, new, _ = packs
    as_text = tmp_path / "text.parquet"
    pq.write_table(pa.table({"report": LINES}), as_text)
    result = run("rules", "diff", str(old), str(new), "--input", str(as_text), "--format", "json")
    assert json.loads(result.stdout) == EXPECTED
    # the reports' fields as columns (nulls are fields not given)
    rows = [json.loads(line) for line in LINES if line.startswith("{")]
    columns = tmp_path / "columns.parquet"
    pq.write_table(pa.Table.from_pylist(rows), columns)
    result = run("rules", "diff", str(old), str(new), "--input", str(columns), "--format", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert (got["total"], got["changed"], got["lowered"]) == (7, 3, [1, 5, 6])


def test_bad_packs_and_inputs_are_one_line_errors(packs, tmp_path: Path) -> None:
    old, new, source = packs
    broken = tmp_path / "broken"
    shutil.copytree(STARTER, broken)
    (broken / "rules" / "mood.yaml").write_text("rules:\n  - id: [unclosed\n")
    for args, needle in [
        ((str(tmp_path / "nope"), str(new), "--input", str(source)), "no such rule pack folder"),
        ((str(old), str(broken), "--input", str(source)), "mood.yaml"),
        ((str(old), str(new), "--input", str(tmp_path / "missing.jsonl")), "no such file"),
    ]:
        result = run("rules", "diff", *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
        assert needle in result.stderr
        assert "Traceback" not in result.output
    garbage = tmp_path / "bad.parquet"
    garbage.write_bytes(b"this is not parquet")
    result = run("rules", "diff", str(old), str(new), "--input", str(garbage))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --input") and "Parquet" in result.stderr


# -- Dask ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real LocalCluster (two worker processes on 127.0.0.1), reached by its address."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_diff_on_dask_gives_the_local_answer(packs, scheduler: str, tmp_path: Path) -> None:
    old, new, _ = packs
    big = tmp_path / "big.jsonl"
    big.write_text(("\n".join(LINES) + "\n") * 300)
    local = run("rules", "diff", str(old), str(new), "--input", str(big), "--format", "json")
    remote = run(
        "rules",
        "diff",
        str(old),
        str(new),
        "--input",
        str(big),
        "--format",
        "json",
        "--dask",
        scheduler,
    )
    assert remote.exit_code == 1, remote.output
    assert remote.stdout == local.stdout


def test_batch_on_dask_gives_the_local_output(packs, scheduler: str, tmp_path: Path) -> None:
    old, _, _ = packs
    big = tmp_path / "big.jsonl"
    big.write_text(("\n".join(LINES) + "\n") * 300)  # 2,700 lines, 3 chunks
    local = run("--rules", str(old), "batch", str(big), "-o", str(tmp_path / "a.jsonl"))
    remote = run(
        "--rules", str(old), "batch", str(big), "-o", str(tmp_path / "b.jsonl"), "--dask", scheduler
    )
    assert local.exit_code == remote.exit_code == 1
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert remote.stderr == local.stderr


def test_dask_local_starts_its_own_cluster(packs) -> None:
    old, new, source = packs
    result = run(
        "rules",
        "diff",
        str(old),
        str(new),
        "--input",
        str(source),
        "--format",
        "json",
        "--dask",
        "local",
    )
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout.startswith("{"), repr(result.stdout[:300])
    assert json.loads(result.stdout) == EXPECTED


def test_an_unreachable_scheduler_is_a_one_line_error(packs) -> None:
    old, new, source = packs
    result = run(
        "rules", "diff", str(old), str(new), "--input", str(source), "--dask", "tcp://127.0.0.1:9"
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --dask tcp://127.0.0.1:9: cannot reach the scheduler")
    assert result.stderr.count("\n") == 1


def test_the_documented_example_prints_what_it_shows() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n(\$ ktriage rules diff .*?)```", docs, re.S)
    assert block is not None
    command, *shown = block.group(1).splitlines()
    args = command.removeprefix("$ ktriage ").split()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == shown
