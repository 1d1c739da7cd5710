"""Issue 17, items 6 and 10: batch killed mid-run, resumed, and fed hostile lines.

Real subprocesses: ``ktriage batch`` with worker processes, killed with SIGKILL, SIGTERM
or SIGINT once its workers run. Every wait is bounded; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ktriage.batch import MAX_LINE_BYTES
from ktriage.cli import main

from .conftest import STARTER

WAIT = 120.0
REPORTS = [
    {"symptoms": [{"name": "no energy", "severity": "severe", "limits_self_care": True}]},
    {"symptoms": [{"name": "tired", "severity": "mild"}]},
    {"measurements": {"systolic_bp": 150, "diastolic_bp": 95}},
    {"symptoms": [{"name": "mood swings", "severity": "moderate", "days": 3}]},
]


def children(pid: int) -> set[int]:
    """Every live process under ``pid`` (workers and multiprocessing's resource tracker)."""
    found: set[int] = set()
    parents = {pid}
    for _ in range(3):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in parents and fields[0] != "Z":
                found.add(int(entry.name))
        parents |= found
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def check_whole_numbered_lines(path: Path, torn_ok: bool = False) -> int:
    data = path.read_bytes()
    if torn_ok and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]  # what --resume keeps (tested below)
    assert data == b"" or data.endswith(b"\n"), "the last line is torn"
    lines = data.splitlines()
    for i, line in enumerate(lines, 1):
        assert json.loads(line)["line"] == i
    return len(lines)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_killed_batch_leaves_no_worker_and_only_whole_lines(
    tmp_path: Path, sig: signal.Signals
) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in REPORTS) * 50_000)  # 200,000
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "ktriage.cli", "--rules", str(STARTER), "batch", str(source)]
    proc = subprocess.Popen(
        [*cmd, "-o", str(out), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        workers: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            workers = children(proc.pid)
            # two workers and the resource tracker, and some output already written
            # (workers start with the first line)
            if len(workers) >= 3 and out.exists() and out.stat().st_size > 0:
                break
            time.sleep(0.2)
        assert len(workers) >= 3, "the batch never started its workers"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert [p for p in workers if alive(p)] == []
    # kill -9 can cut a write short: Linux stops copying a write at a page boundary when
    # a fatal signal is pending. Only then may the last line be torn; --resume drops it.
    written = check_whole_numbered_lines(out, torn_ok=sig == signal.SIGKILL)
    assert 0 < written < 200_000
    if sig != signal.SIGKILL:
        assert proc.returncode == 130
        assert err.endswith(
            f"Batch stopped after line {written}; every line written is whole."
            " Run it again with --resume to go on.\n"
        )
        assert "Traceback" not in err


def run(*args: str, input: str | None = None) -> object:
    return CliRunner().invoke(main, ["--rules", str(STARTER), *args], input=input)


def test_resume_goes_on_after_the_last_whole_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in REPORTS) * 3 + "[]\n")
    full = tmp_path / "full.jsonl"
    first = run("batch", str(source), "-o", str(full))
    assert first.exit_code == 1  # the last line is an error
    expected = full.read_bytes()
    lines = expected.splitlines(keepends=True)
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b"".join(lines[:5]) + lines[5][:40])  # killed mid-line 6
    result = run("batch", str(source), "-o", str(partial), "--resume")
    assert result.exit_code == 1
    assert partial.read_bytes() == expected
    # the levels of the lines answered before the stop are counted from the file
    assert first.stderr == ("13 lines: 3 within_24h, 9 self_care, 1 error (line 13)\n")
    assert result.stderr == (
        "13 lines (resumed after line 5): 3 within_24h, 9 self_care, 1 error (line 13)\n"
    )


def test_resume_refuses_a_file_that_is_not_batch_output(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(REPORTS[0]) + "\n")
    other = tmp_path / "other.jsonl"
    other.write_text('{"escalation": "self_care"}\n')
    result = run("batch", str(source), "-o", str(other), "--resume")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {other}: line 1 is not a batch output record with a line number;"
        " cannot resume from this file\n"
    )
    assert other.read_text() == '{"escalation": "self_care"}\n'  # untouched


def test_every_record_carries_its_input_line(tmp_path: Path) -> None:
    result = run("batch", "-", input=json.dumps(REPORTS[1]) + "\n\n" + json.dumps(REPORTS[0]))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[0]["escalation"] == "self_care"
    assert records[1]["error"]["message"] == "empty line; expected a report (JSON object)"
    assert records[2]["escalation"] != "self_care"


def test_an_overlong_line_is_an_error_record_and_the_batch_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    huge = json.dumps({"patient_id": "x" * (MAX_LINE_BYTES + 10)})
    source.write_text(f"{json.dumps(REPORTS[1])}\n{huge}\n{json.dumps(REPORTS[1])}\n")
    result = run("batch", str(source))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[1]["error"]["message"] == f"line longer than {MAX_LINE_BYTES} bytes; not read"
    assert records[2]["escalation"] == "self_care"


def test_line_separators_are_escaped_in_the_output() -> None:
    report = {"patient_id": "a\u2028b\u2029c", "symptoms": [{"name": "tired", "severity": "mild"}]}
    result = run("batch", "-", input=json.dumps(report, ensure_ascii=False) + "\n")
    assert "\u2028" not in result.stdout and "\u2029" not in result.stdout
    assert len(result.stdout.splitlines()) == 1
    assert json.loads(result.stdout)["patient_id"] == "a\u2028b\u2029c"


def test_resume_needs_an_output_file() -> None:
    result = run("batch", "-", "--resume", input="")
    assert result.exit_code == 2
    assert "--resume needs --output FILE" in result.output
