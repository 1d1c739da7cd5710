"""Docs that cannot drift: every ``console`` example in README.md and docs/*.md is run with
the installed ``ktriage`` and its shown output is compared with the real output.

In a ``console`` block, a line starting with ``$ `` is a command; the lines after it, up to
the next command, are what it prints (stdout and stderr together, as a terminal shows
them). A line ``...`` stands for any number of lines, and ``...`` inside a line for any
text; nothing else is loose. Commands run with bash in a scratch folder holding the files
the examples name (tests/data/docs, and ``tests`` linked to the repository's own), on the
shipped rule pack.

Blocks marked ``sh`` or ``bash`` are commands that cannot run here (installing, serving,
the test script itself); each of them is listed in NOT_RUN, so a new one must be placed
in a ``console`` block or listed here on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_DATA = Path(__file__).resolve().parent / "data" / "docs"
STARTER = Path(__file__).resolve().parent / "data" / "starter"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# (file, first line of the block): blocks of commands that are shown, not run, and why
NOT_RUN = {
    ("README.md", "python3 -m venv .venv && .venv/bin/pip install -q . && .venv/bin/ktriage"): (
        "installs the package; its ktriage command is run below it in a console block"
    ),
    ("README.md", "scripts/test"): "the test script itself",
    ("cli.md", "# bash, in ~/.bashrc"): "shell start-up files",
    ("cli.md", "# on the scheduler machine"): (
        "needs Dask on several machines (tests/test_rules_diff.py runs batch and rules diff"
        " on a LocalCluster by its tcp:// address)"
    ),
    ("service.md", "pip install 'ktriage[server]'         # HTTP service and CDS Hooks"): (
        "installs extras"
    ),
    ("service.md", "ktriage serve --host 127.0.0.1 --port 8000            # the shipped"): (
        "starts a server (tests/test_server*.py run it on 127.0.0.1)"
    ),
    ("service.md", "curl -s localhost:8000/v1/triage -H 'content-type: application/json' \\"): (
        "needs a running server"
    ),
    ("service.md", "python -m benchmarks.bench_server --rules tests/data/starter"): (
        "a benchmark, never a test"
    ),
}

_FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path: Path) -> list[tuple[str, int, list[str]]]:
    """Every fenced block: its info word, the line it starts on, its lines."""
    found: list[tuple[str, int, list[str]]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i].strip())
        if match and lines[i].startswith("```"):
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            found.append((match.group(1), start + 1, body))
        i += 1
    return found


def examples() -> list[tuple[str, str, list[str]]]:
    """(where, command, shown output) for every command in a console block."""
    out = []
    for path in DOCS:
        for info, line, body in blocks(path):
            if info != "console":
                continue
            command: str | None = None
            shown: list[str] = []
            start = line
            for n, text in enumerate(body, line):
                if text.startswith("$ "):
                    if command is not None:
                        out.append((f"{path.name}:{start}", command, shown))
                    command, shown, start = text[2:], [], n
                elif command is not None:
                    shown.append(text)
            if command is not None:
                out.append((f"{path.name}:{start}", command, shown))
    return out


def shown_pattern(shown: list[str]) -> re.Pattern[str]:
    parts = []
    for text in shown:
        if text.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(p) for p in text.split("...")) + r"\n")
    return re.compile("".join(parts))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("docs")
    for item in DOC_DATA.iterdir():
        shutil.copy(item, where / item.name)
    (where / "tests").symlink_to(ROOT / "tests")
    pack = where / "my-pack"
    shutil.copytree(STARTER, pack)  # a pack with one mistake, for `rules validate`
    mood = pack / "rules" / "mood.yaml"
    mood.write_text(
        mood.read_text(encoding="utf-8").replace("symptom: mood_swings", "symptom: mood_swing", 1),
        encoding="utf-8",
    )
    return where


EXAMPLES = examples()


@pytest.mark.parametrize(
    ("where", "command", "shown"), EXAMPLES, ids=[f"{w} {c[:40]}" for w, c, _ in EXAMPLES]
)
def test_doc_example_prints_what_the_doc_shows(
    scratch: Path, where: str, command: str, shown: list[str]
) -> None:
    bindir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KTRIAGE_", "COLUMNS"))}
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", "{ " + command + "\n} 2>&1"],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    real = done.stdout
    assert shown_pattern(shown).fullmatch(real), (
        f"{where}: `{command}` printed:\n{real}\nbut the doc shows:\n" + "\n".join(shown)
    )


def test_every_shell_block_is_run_or_listed() -> None:
    found = [
        (path.name, body[0])
        for path in DOCS
        for info, _, body in blocks(path)
        if info in ("sh", "bash", "shell") and body
    ]
    unlisted = [f for f in found if not any(f[0] == n and f[1].startswith(p) for n, p in NOT_RUN)]
    unused = [k for k in NOT_RUN if not any(f[0] == k[0] and f[1].startswith(k[1]) for f in found)]
    assert (unlisted, unused) == ([], [])


def test_the_docs_have_examples_to_run() -> None:
    where = {w.split(":")[0] for w, _, _ in EXAMPLES}
    assert {"README.md", "cli.md"} <= where
    assert len(EXAMPLES) >= 15
