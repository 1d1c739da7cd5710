"""Rendering: plain text when piped, rich on a terminal, rich never imported unless needed."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from ktriage import Engine
from ktriage.engine.intake import parse_report
from ktriage.render import (
    explain,
    is_terminal,
    print_result,
    report_dict,
    result_json,
    result_text,
)

from .conftest import STARTER


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def emergency(starter_engine: Engine):  # type: ignore[no-untyped-def]
    report = parse_report(
        {"patient_id": "P-9", "symptoms": [{"name": "want to die"}, {"name": "earache"}]}
    )
    return report, starter_engine.evaluate(report)


def test_plain_when_not_a_terminal(emergency) -> None:  # type: ignore[no-untyped-def]
    _, result = emergency
    out = io.StringIO()
    print_result(result, file=out)
    assert out.getvalue() == result_text(result) + "\n"
    assert "\x1b" not in out.getvalue()


def test_plain_text_leads_with_level_then_unrecognised(emergency) -> None:  # type: ignore[no-untyped-def]
    _, result = emergency
    lines = result_text(result).splitlines()
    assert lines[:3] == [
        "EMERGENCY: Call 911 now",
        "Patient: P-9",
        "NOT RECOGNISED (a clinician must read these): 'earache'",
    ]
    assert (
        lines[4]
        == "[emergency] RED FLAG Suicidal thoughts or self-harm (red_flag.suicidal_thoughts)"
    )
    assert lines[7] == "  Because: suicidal thoughts (reported as 'want to die'): moderate"
    assert lines[8] == (
        "  Sources: 988 Suicide & Crisis Lifeline <https://988lifeline.org>; SPRAVATO (esketamine)"
        " nasal spray, US Prescribing Information <https://www.accessdata.fda.gov/scripts/cder/daf/>"
    )


def test_rich_on_a_terminal(emergency, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    report, result = emergency
    out = Terminal()
    starter = Engine.load(STARTER)
    print_result(result, explain(starter.pack, report, result, starter.reader), file=out)
    text = out.getvalue()
    assert "\x1b[" in text  # coloured
    assert text.index("EMERGENCY") < text.index("NOT RECOGNISED") < text.index("For the patient")
    for words in ("earache", "Suicidal thoughts or self-harm", "For staff", "Sources", "Explain"):
        assert words in text


def test_no_color_is_honoured(emergency, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    _, result = emergency
    out = Terminal()
    print_result(result, file=out)
    assert "EMERGENCY" in out.getvalue()
    assert "\x1b[3" not in out.getvalue() and "\x1b[4" not in out.getvalue()  # no colours


def test_dumb_terminal_is_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert not is_terminal(Terminal())
    monkeypatch.setenv("TERM", "xterm")
    assert is_terminal(Terminal())
    assert not is_terminal(io.StringIO())


def test_result_json_with_explanation(emergency, starter_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    report, result = emergency
    data = json.loads(
        result_json(result, explain(starter_engine.pack, report, result, starter_engine.reader))
    )
    assert data["explanation"]["facts"] == [
        "suicidal thoughts (reported as 'want to die'): moderate",
        "'earache' is not a symptom the rule pack knows",
    ]
    assert "explanation" not in json.loads(result_json(result))


def test_report_dict_drops_what_was_not_given() -> None:
    report = parse_report({"symptoms": [{"name": "tired"}]})
    assert report_dict(report) == {"symptoms": [{"name": "tired", "severity": "moderate"}]}


def test_check_does_not_import_rich_or_batch_when_piped() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from ktriage.cli import main\n"
        f"args = ['--rules', {str(STARTER)!r}, 'check', '--symptom', 'tired']\n"
        "r = CliRunner().invoke(main, args)\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = ('rich', 'ktriage.batch', 'multiprocessing')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"
