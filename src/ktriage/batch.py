"""Batch triage over JSON Lines: one output line per input line, in the same order.

Every output record starts with ``"line": N``, the input line it answers: a Result
(``{"line": N, "patient_id": ..., "escalation": ...}``) or, for a line that cannot be
triaged, ``{"line": N, "error": {...}}``. So output line N answers input line N, and an
interrupted run can be resumed after the last whole line (``resume_point``). Input is
streamed in chunks, from the first line both in this process and in worker processes (one
Engine each, each ending itself when this process dies; ``ktriage.parallel``), with a
bounded number of chunks in flight, and chunks are written back in order.
Memory therefore stays flat however long the input is; a line longer than
``MAX_LINE_BYTES`` is skipped unread and answered with an error record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO, Any

from .engine.errors import FieldError, InvalidReport, KtriageError
from .engine.intake import parse_report
from .engine.models import Escalation, Result
from .engine.triage import Engine
from .history.base import HistoryStore

CHUNK_LINES = 1_000
# Lines triaged in this process before workers start (0: workers start with the first line;
# this process triages beside them while they start, see ktriage.parallel)
PARALLEL_AFTER_LINES = 0
IN_FLIGHT_PER_WORKER = 2  # as ktriage.parallel
ERROR_LINES_KEPT = 20
MAX_LINE_BYTES = 1_000_000  # the HTTP service's body limit: one report is far smaller
TOO_LONG = None  # what stands for a line that was too long to read


@dataclass(frozen=True)
class Chunk:
    """Consecutive output lines, ready to write: ``text`` ends with a newline."""

    text: str
    lines: int
    size: int  # bytes of input they answer, for progress
    error_lines: tuple[int, ...]
    # how many results at each level, in Escalation's order (self_care first)
    levels: tuple[int, ...] = (0,) * len(Escalation)


@dataclass
class BatchStats:
    lines: int = 0
    errors: int = 0
    first_error_lines: list[int] = field(default_factory=list)
    levels: list[int] = field(default_factory=lambda: [0] * len(Escalation))

    def add(self, chunk: Chunk) -> None:
        self.lines += chunk.lines
        self.errors += len(chunk.error_lines)
        self.levels = [a + b for a, b in zip(self.levels, chunk.levels, strict=True)]
        room = ERROR_LINES_KEPT - len(self.first_error_lines)
        if room > 0:
            self.first_error_lines.extend(chunk.error_lines[:room])


def error_record(line: int, exc: KtriageError) -> dict[str, object]:
    """What stands in the output for an input line that could not be triaged."""
    errors = exc.errors if isinstance(exc, InvalidReport) else [FieldError("", str(exc))]
    return {
        "line": line,
        "error": {
            "message": str(exc),
            "errors": [{"field": e.field, "message": e.message} for e in errors],
        },
    }


Line = bytes | str | None  # None: the line was longer than MAX_LINE_BYTES


def triage_chunk(
    engine: Engine, lines: list[tuple[int, Line]], store: HistoryStore | None = None
) -> Chunk:
    evaluate = engine.evaluate if store is None else partial(_check_in, store, engine)
    out: list[str] = []
    bad: list[int] = []
    levels = [0] * len(Escalation)
    size = 0
    for number, text in lines:
        size += len(text) if text is not None else MAX_LINE_BYTES
        try:
            if text is None:
                raise InvalidReport(
                    [FieldError("", f"line longer than {MAX_LINE_BYTES} bytes; not read")]
                )
            if not text.strip():
                raise InvalidReport([FieldError("", "empty line; expected a report (JSON object)")])
            result = evaluate(text)
            levels[result.escalation.rank] += 1
            out.append(f'{{"line":{number},' + result.model_dump_json()[1:])
        except KtriageError as exc:
            bad.append(number)
            out.append(json.dumps(error_record(number, exc), ensure_ascii=False))
    text = "\n".join(out) + "\n" if out else ""
    # Valid JSON, but line breaks to JavaScript and to str.splitlines(): always escaped.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Chunk(text, len(lines), size, tuple(bad), tuple(levels))


def _check_in(store: HistoryStore, engine: Engine, text: bytes | str) -> Result:
    """Triage one line; a report with a patient_id through the store (read and record)."""
    report = parse_report(text)
    if report.patient_id is None:
        return engine.evaluate(report)
    return store.check_in(engine, report)


def read_lines(stream: IO[bytes], limit: int = MAX_LINE_BYTES) -> Iterator[bytes | None]:
    """The lines of ``stream``; ``None`` for a line longer than ``limit`` bytes, which is
    skipped without ever being held in memory whole."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(1 << 16)
                if not rest or rest.endswith(b"\n"):
                    break
            yield TOO_LONG
        else:
            yield line


def chunked(
    lines: Iterable[Line], size: int = CHUNK_LINES, first: int = 1
) -> Iterator[list[tuple[int, Line]]]:
    """Number the lines from ``first`` and group them (line ends are left on: JSON
    ignores them)."""
    chunk: list[tuple[int, Line]] = []
    for number, line in enumerate(lines, first):
        chunk.append((number, line))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def triage_lines(
    lines: Iterable[Line],
    engine: Engine,
    *,
    workers: int | None = None,
    chunk_lines: int = CHUNK_LINES,
    parallel_after: int = PARALLEL_AFTER_LINES,
    first_line: int = 1,
    dask: Any = None,
) -> Iterator[Chunk]:
    """Triage every line; yield the output in input order, a chunk at a time.

    ``dask``: a ``dask.distributed.Client``: the chunks are triaged on its cluster
    (``ktriage.parallel.run_dask``) and come back in the same order, the same output.

    ``workers``: processes beside this one (default: one per CPU), started at once while
    this process triages too (``ktriage.parallel.run_local``); 1 keeps it all in this
    process. ``parallel_after`` lines are triaged here before any worker starts (0: none).
    Each worker loads its own Engine from ``engine.pack.root``. Workers are spawned, so
    a script calling this must guard its entry with ``if __name__ == "__main__":`` (as
    any multiprocessing program must).
    """
    from .parallel import Job, adopt, run_dask, run_local

    workers = workers or os.cpu_count() or 1
    chunks = chunked(lines, chunk_lines, first_line)
    if dask is not None:
        yield from run_dask(Job("batch", (engine.pack.root,)), chunks, dask)
        return
    seen = 0
    while workers > 1 and seen < parallel_after:
        chunk = next(chunks, None)
        if chunk is None:
            return
        yield triage_chunk(engine, chunk)
        seen += len(chunk)
    root = engine.pack.root
    adopt(root, engine)  # this process triages with the caller's engine
    yield from run_local(Job("batch", (root,)), chunks, workers)


def run_batch(
    lines: Iterable[Line],
    engine: Engine,
    write: Callable[[str], object],
    *,
    workers: int | None = None,
    progress: Callable[[Chunk], object] | None = None,
    first_line: int = 1,
    store: HistoryStore | None = None,
    dask: Any = None,
) -> BatchStats:
    """Triage ``lines`` (numbered from ``first_line``) and hand the output to ``write``
    chunk by chunk: each chunk is whole lines.

    With a ``store``, lines run one at a time in this process, and each line's output is
    written as soon as its check-in is committed: every line written is in the store.
    """
    stats = BatchStats()
    chunks = (
        triage_lines(lines, engine, workers=workers, first_line=first_line, dask=dask)
        if store is None
        else (triage_chunk(engine, c, store) for c in chunked(lines, 1, first_line))
    )
    try:
        for chunk in chunks:
            write(chunk.text)
            stats.add(chunk)
            if progress is not None:
                progress(chunk)
    finally:
        # stopped by ``write`` (Ctrl-C, SIGTERM, a closed output) or done: the workers
        # stop now, not whenever the garbage collector gets to the generator
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return stats


class ResumeError(KtriageError):
    """An output file that a batch cannot be resumed from."""


@dataclass(frozen=True)
class ResumePoint:
    lines: int  # input lines already answered
    errors: int  # how many of them were error records
    keep_bytes: int  # the output's length up to its last whole line
    levels: tuple[int, ...] = (0,) * len(Escalation)  # results at each level


def resume_point(output: IO[bytes], name: str) -> ResumePoint:
    """Where a batch writing to ``output`` stopped: its last whole, numbered line.

    A torn last line (no newline: the process was killed mid-write) is not counted;
    the caller truncates the file to ``keep_bytes`` and triages from there.
    """
    lines = errors = kept = 0
    levels = [0] * len(Escalation)
    for raw in iter(lambda: output.readline(), b""):
        if not raw.endswith(b"\n"):
            break  # torn
        try:
            record = json.loads(raw)
            number = record["line"]
        except (ValueError, TypeError, KeyError):
            raise ResumeError(
                f"{name}: line {lines + 1} is not a batch output record with a line number;"
                " cannot resume from this file"
            ) from None
        if number != lines + 1:
            raise ResumeError(
                f"{name}: line {lines + 1} answers input line {number}; cannot resume"
            )
        lines += 1
        errors += "error" in record
        if "escalation" in record:
            try:
                levels[Escalation(record["escalation"]).rank] += 1
            except ValueError:
                raise ResumeError(
                    f"{name}: line {lines}: unknown level {record['escalation']!r};"
                    " cannot resume from this file"
                ) from None
        kept += len(raw)
    return ResumePoint(lines, errors, kept, tuple(levels))


def summary_line(
    lines: int, levels: list[int] | tuple[int, ...], errors: int, error_lines: list[int]
) -> str:
    """``3 lines: 1 emergency, 1 next_visit, 1 error (line 3)``: counts by level, the
    highest first, then the errors and where the first of them are."""
    parts = [
        f"{n} {level.value}"
        for level, n in reversed(list(zip(Escalation, levels, strict=True)))
        if n
    ]
    if errors:
        shown = ", ".join(map(str, error_lines))
        more = ", ..." if errors > len(error_lines) else ""
        where = f" (line{'s' if errors > 1 else ''} {shown}{more})" if error_lines else ""
        parts.append(f"{errors} error{'s' if errors > 1 else ''}{where}")
    return f"{lines} line{'s' if lines != 1 else ''}: " + (", ".join(parts) or "nothing to triage")
