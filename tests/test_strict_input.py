"""Issue 17, items 1 and 5 in the library and the CLI: strict JSON, bounded error lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ktriage import Engine, InvalidReport
from ktriage.batch import run_batch
from ktriage.cli import MAX_ERRORS_SHOWN, main
from ktriage.engine.errors import MAX_ERRORS
from ktriage.engine.intake import load_json

STARTER = Path(__file__).parent / "data" / "starter"
DUPLICATE = '{"measurements": {"systolic_bp": 190, "systolic_bp": 120}}'
MESSAGE = "duplicate key 'systolic_bp': a key may appear only once in an object"


@pytest.mark.parametrize(
    ("text", "field", "key"),
    [
        (DUPLICATE, "measurements.systolic_bp", "systolic_bp"),
        ('[{"a": 1}, {"b": {"c": 1, "c": 2}}]', "1.b.c", "c"),
        ('{"x": 1, "x": 1}', "x", "x"),  # even with the same value
    ],
)
def test_load_json_refuses_a_duplicate_key_naming_it(text: str, field: str, key: str) -> None:
    with pytest.raises(InvalidReport) as info:
        load_json(text)
    assert [(e.field, e.message) for e in info.value.errors] == [
        (field, f"duplicate key {key!r}: a key may appear only once in an object")
    ]
    assert info.value.input == text


def test_engine_and_cli_refuse_duplicate_keys(starter_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidReport, match="duplicate key 'systolic_bp'"):
        starter_engine.evaluate(DUPLICATE)
    path = tmp_path / "r.json"
    path.write_text(DUPLICATE)
    result = CliRunner().invoke(main, ["--rules", str(STARTER), "check", "--input", str(path)])
    assert result.exit_code == 2
    assert result.output == f"error: measurements.systolic_bp: {MESSAGE}\n"


def test_batch_refuses_duplicate_keys(starter_engine: Engine) -> None:
    out: list[str] = []
    run_batch([DUPLICATE.encode() + b"\n"], starter_engine, out.append, workers=1)
    record = json.loads("".join(out))
    assert record["line"] == 1
    assert record["error"]["errors"] == [{"field": "measurements.systolic_bp", "message": MESSAGE}]


def test_error_lists_are_capped_with_a_count(starter_engine: Engine) -> None:
    report = {f"k{i}": 0 for i in range(5_000)}
    with pytest.raises(InvalidReport) as info:
        starter_engine.evaluate(report)
    assert len(info.value.errors) == MAX_ERRORS
    assert info.value.error_count == 5_000
    assert str(info.value).endswith("(and 4999 more problems)")


def test_cli_shows_the_first_errors_and_how_many_more(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({f"k{i}": 0 for i in range(300)}))
    result = CliRunner().invoke(main, ["--rules", str(STARTER), "check", "--input", str(path)])
    assert result.exit_code == 2
    # the library keeps MAX_ERRORS and counts all 300; the CLI shows 10 and counts the rest
    assert result.output.count("unknown field") == MAX_ERRORS_SHOWN
    assert result.output.endswith("; … (+290 more)\n")
