"""``ktriage intake`` on a real terminal (tmux, 80x24): when the interview ends, the level
banner is still on the last screen, with what staff must do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def answers() -> list[str]:
    # one "n" for each red-flag question the shipped pack asks
    from ktriage import Engine
    from ktriage.interview import Interview

    with Engine.load() as engine:
        flags = len(Interview(engine.reader).red_flags())
    return ["n"] * flags + ["tired", "mild", "two weeks", "", "y"] + [""] * 9 + ["y", "spray", "2"]


def tmux(socket: str, *args: str) -> str:
    done = subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def screen(socket: str) -> str:
    return tmux(socket, "capture-pane", "-p", "-t", "intake")


def wait_for(socket: str, text: str, seconds: float = 30) -> str:
    # the intake answers in well under a second; the bound only stops a hung test
    end = time.monotonic() + seconds
    while True:
        shown = screen(socket)
        if text in shown or time.monotonic() > end:
            return shown
        time.sleep(0.1)


def test_intake_banner_is_on_the_last_screen(tmp_path: Path) -> None:
    socket = f"ktriage-{uuid.uuid4().hex[:8]}"
    ktriage = str(Path(sys.executable).parent / "ktriage")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KTRIAGE_")}
    env["TERM"] = "xterm-256color"
    env.pop("TMUX", None)
    subprocess.run(
        ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "intake",
         "-x", "80", "-y", "24", f"{ktriage} intake --patient-id P-9; sleep 30"],
        env=env, cwd=tmp_path, check=True, timeout=30,
    )  # fmt: skip
    try:
        shown = wait_for(socket, "RED FLAG")
        for answer in answers():
            before = screen(socket)
            if answer:
                tmux(socket, "send-keys", "-t", "intake", "-l", answer)
            tmux(socket, "send-keys", "-t", "intake", "Enter")
            end = time.monotonic() + 30
            while screen(socket) == before and time.monotonic() < end:
                time.sleep(0.05)
        shown = wait_for(socket, "--full adds")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], timeout=30, check=False)
    lines = [line.rstrip() for line in shown.splitlines()]
    assert any("NEXT VISIT" in line and "Raise it at the next scheduled visit" in line
               for line in lines), shown  # fmt: skip
    assert "Patient: P-9" in lines
    assert "3 pieces of advice: 1 next_visit, 2 self_care" in lines
    assert "[next_visit] Fatigue that rest does not relieve or that lasts" in lines
    assert "  For staff: Fatigue not relieved by rest or lasting several days (CTCAE grade" in lines
    assert "[self_care] No driving until the next day (nasal spray)" in lines  # 'spray' read
    assert "(--full adds why each rule fired, its sources and every item's guidance)" in lines
