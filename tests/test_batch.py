"""Batch triage: one output line per input line, in order; bad lines are records, not stops."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ktriage import Engine, InvalidReport
from ktriage.batch import (
    IN_FLIGHT_PER_WORKER,
    BatchStats,
    Chunk,
    error_record,
    run_batch,
    triage_lines,
)
from ktriage.engine.errors import FieldError

from .conftest import DATA
from .test_cli import run

BATCH = DATA / "cli" / "batch.jsonl"

# What each line of tests/data/cli/batch.jsonl gives: a level, or the line's error message.
EXPECTED = [
    ("self_care", None),
    (None, "symptoms.0.severity: must be one of mild, moderate, severe (got 'huge')"),
    (None, "malformed JSON at column 1: Expecting value"),
    (None, "empty line; expected a report (JSON object)"),
    ("emergency", None),
    (None, "a report must be a JSON object, got a list"),
    ("within_24h", None),
]


def outcomes(text: str) -> list[tuple[str | None, str | None]]:
    out = []
    for line in text.splitlines():
        record = json.loads(line)
        out.append((record.get("escalation"), record.get("error", {}).get("message")))
    return out


# -- the command ----------------------------------------------------------------------------


def test_batch_keeps_order_and_count_with_bad_lines_in_the_middle() -> None:
    result = run("batch", str(BATCH))
    assert result.exit_code == 1
    assert outcomes(result.stdout) == EXPECTED
    assert result.stderr == (
        "7 lines: 1 emergency, 1 within_24h, 1 self_care, 4 errors (lines 2, 3, 4, 6)\n"
    )


def test_batch_error_record_shape() -> None:
    lines = run("batch", str(BATCH)).stdout.splitlines()
    assert json.loads(lines[1]) == {
        "line": 2,
        "error": {
            "message": "symptoms.0.severity: must be one of mild, moderate, severe (got 'huge')",
            "errors": [
                {
                    "field": "symptoms.0.severity",
                    "message": "must be one of mild, moderate, severe (got 'huge')",
                }
            ],
        },
    }


def test_batch_results_are_results() -> None:
    from ktriage import Result

    first = run("batch", str(BATCH)).stdout.splitlines()[0]
    assert Result.model_validate_json(first).advice[0].rule == "fatigue.after_session"
    assert "\n" not in first and "\x1b" not in first


def test_batch_all_good_exit_0_to_output_file(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"symptoms": [{"name": "tired"}]}\n{"symptoms": []}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("batch", str(source), "-o", str(out))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "2 lines: 1 next_visit, 1 self_care\n"
    assert [json.loads(x)["escalation"] for x in out.read_text().splitlines()] == [
        "next_visit",
        "self_care",
    ]


def test_batch_from_stdin_crlf_and_no_final_newline() -> None:
    data = b'{"symptoms": [{"name": "tired", "severity": "mild"}]}\r\n{"symptoms": ['
    result = run("batch", "-", input=data)
    assert result.exit_code == 1
    assert outcomes(result.stdout) == [
        ("self_care", None),
        (None, "malformed JSON at column 15: Expecting value"),
    ]


def test_batch_survives_pathological_nesting() -> None:
    data = b"[" * 100_000 + b'\n{"symptoms": [{"name": "tired", "severity": "mild"}]}\n'
    result = run("batch", "-", input=data)
    assert result.exit_code == 1
    assert outcomes(result.stdout) == [(None, "JSON nested too deeply"), ("self_care", None)]


def test_batch_empty_input() -> None:
    result = run("batch", "-", input="")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "0 lines: nothing to triage\n"


def test_batch_many_errors_are_summarised(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text("x\n" * 25, encoding="utf-8")
    result = run("batch", str(source))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 25
    numbers = ", ".join(str(n) for n in range(1, 21))
    assert result.stderr == f"25 lines: 25 errors (lines {numbers}, ...)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["/no/such.jsonl"],
            "error: Invalid value for 'IN.jsonl|-': '/no/such.jsonl': No such file or"
            " directory (see 'main batch --help')",
        ),
        (
            [],
            "error: Missing argument 'IN.jsonl|-'. (see 'main batch --help')",
        ),
        (
            ["-", "--workers", "0"],
            "error: Invalid value for '--workers': 0 is not in the range x>=1."
            " (see 'main batch --help')",
        ),
    ],
)
def test_batch_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run("batch", *args, input="")
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


# -- the library ----------------------------------------------------------------------------


def _lines(n: int) -> list[bytes]:
    kinds = [
        b'{"symptoms": [{"name": "tired", "severity": "mild"}]}',
        b'{"symptoms": [{"name": "moody", "severity": "severe"}]}',
        b"not json",
        b'{"measurements": {"weight_kg": 84, "baseline_weight_kg": 80}}',
        b'{"symptoms": [{"name": "headache", "days": 2}]}',
        b'{"measurements": {"weight_kg": 1}}',
    ]
    return [kinds[i % len(kinds)] + b"\n" for i in range(n)]


def test_workers_give_the_same_output_in_the_same_order(starter_engine: Engine) -> None:
    lines = _lines(60)
    serial = "".join(c.text for c in triage_lines(lines, starter_engine, workers=1))
    parallel = "".join(
        c.text
        for c in triage_lines(lines, starter_engine, workers=2, chunk_lines=4, parallel_after=8)
    )
    assert parallel == serial
    records = [json.loads(x) for x in serial.splitlines()]
    assert len(records) == 60
    assert [r["line"] for r in records if "error" in r] == [
        n for n in range(1, 61) if n % 6 in (3, 0)
    ]


def test_input_is_streamed_with_bounded_chunks_in_flight(starter_engine: Engine) -> None:
    read = 0

    def source() -> Iterator[bytes]:
        nonlocal read
        for line in _lines(400):
            read += 1
            yield line

    chunk_lines, after, workers = 5, 10, 2
    chunks = triage_lines(
        source(), starter_engine, workers=workers, chunk_lines=chunk_lines, parallel_after=after
    )
    next(chunks)
    assert read == chunk_lines  # nothing is read ahead in this process
    next(chunks)
    next(chunks)  # the first chunk back from a worker
    in_flight = workers * IN_FLIGHT_PER_WORKER
    assert read <= after + (in_flight + 1) * chunk_lines
    assert sum(c.lines for c in chunks) == 400 - 3 * chunk_lines


def test_run_batch_counts(starter_engine: Engine) -> None:
    written: list[str] = []
    seen: list[Chunk] = []
    stats = run_batch(
        BATCH.read_bytes().splitlines(keepends=True),
        starter_engine,
        written.append,
        workers=1,
        progress=seen.append,
    )
    assert stats == BatchStats(
        lines=7, errors=4, first_error_lines=[2, 3, 4, 6], levels=[1, 0, 1, 0, 1]
    )
    assert outcomes("".join(written)) == EXPECTED
    assert sum(c.size for c in seen) == len(BATCH.read_bytes())


def test_error_record_without_field_errors() -> None:
    exc = InvalidReport([FieldError("", "empty line")])
    assert error_record(9, exc) == {
        "line": 9,
        "error": {"message": "empty line", "errors": [{"field": "", "message": "empty line"}]},
    }


# -- progress on a terminal -------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_for_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktriage.cli import _progress

    monkeypatch.setenv("TERM", "xterm")
    err = _Terminal()
    with BATCH.open("rb") as source:
        update, done = _progress(source, err)
        update(Chunk("", 7, BATCH.stat().st_size, ()))
        done()
    assert "triage" in err.getvalue()
    assert "100%" in err.getvalue()


def test_progress_counter_for_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    from ktriage.cli import _progress

    monkeypatch.setenv("TERM", "xterm")
    err = _Terminal()
    update, done = _progress(io.BytesIO(b""), err)
    update(Chunk("", 1000, 10, ()))
    update(Chunk("", 500, 10, ()))
    done()
    assert err.getvalue() == "\rtriaged 1000 lines\rtriaged 1500 lines\n"


def test_no_progress_when_stderr_is_not_a_terminal() -> None:
    from ktriage.cli import _progress

    err = io.StringIO()
    update, done = _progress(io.BytesIO(b""), err)
    done()
    assert update is None
    assert err.getvalue() == ""


def test_batch_line_with_a_huge_integer_is_an_error_record(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"symptoms": [{"name": "tired", "severity": "mild"}]}\n{"age_years": 1'
        + "0" * 5000
        + "}\n"
    )
    engine = Engine.load(DATA / "starter")
    from ktriage.batch import triage_chunk

    chunk = triage_chunk(engine, list(enumerate(source.read_text().splitlines(keepends=True), 1)))
    records = [json.loads(line) for line in chunk.text.splitlines()]
    assert records[0]["escalation"] == "self_care"
    assert records[1]["line"] == 2
    assert records[1]["error"]["errors"][0]["message"].startswith("unreadable JSON: Exceeds")
    assert chunk.error_lines == (2,)


def test_batch_summary_puts_emergencies_first_and_fail_on_exits_3(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"symptoms": [{"name": "tired", "severity": "mild"}]}\n'
        '{"symptoms": [{"name": "want to die"}]}\n'
        '{"symptoms": [{"name": "tired",}]}\n',
        encoding="utf-8",
    )
    result = run("batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--fail-on", "urgent")
    assert result.exit_code == 3  # reached: it wins over the error's exit 1
    assert result.stderr == "3 lines: 1 emergency, 1 self_care, 1 error (line 3)\n"
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    # the error names the input line in "line"; its message has no line number of its own
    assert records[2] == {
        "line": 3,
        "error": {
            "message": "malformed JSON at column 32: Expecting property name enclosed in double"
            " quotes",
            "errors": [
                {
                    "field": "",
                    "message": "malformed JSON at column 32: Expecting property name enclosed"
                    " in double quotes",
                }
            ],
        },
    }
    lines = source.read_text(encoding="utf-8").splitlines()
    source.write_text(lines[0] + "\n" + lines[2] + "\n", encoding="utf-8")
    not_reached = run("batch", str(source), "-o", str(tmp_path / "o2.jsonl"), "--fail-on", "urgent")
    assert not_reached.exit_code == 1  # not reached: the error's exit code
    assert not_reached.stderr == "2 lines: 1 self_care, 1 error (line 2)\n"
