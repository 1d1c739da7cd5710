"""Batch triage over JSON Lines: one output line per input line, in the same order.

A line that cannot be triaged becomes ``{"line": N, "error": {...}}`` in its place, so
output line N always answers input line N. Input is streamed in chunks: small inputs are
triaged in this process; once an input proves large, the rest goes to worker processes
(one Engine each) with a bounded number of chunks in flight, and chunks are written back
in order. Memory therefore stays flat however long the input is.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from .engine.errors import FieldError, InvalidReport, KtriageError
from .engine.triage import Engine

CHUNK_LINES = 1_000
# Starting worker processes costs about as much as triaging tens of thousands of lines in
# this process (each worker imports ktriage and compiles the pack), so only inputs longer
# than this go to workers.
PARALLEL_AFTER_LINES = 20_000
IN_FLIGHT_PER_WORKER = 2
ERROR_LINES_KEPT = 20


@dataclass(frozen=True)
class Chunk:
    """Consecutive output lines, ready to write: ``text`` ends with a newline."""

    text: str
    lines: int
    size: int  # bytes of input they answer, for progress
    error_lines: tuple[int, ...]


@dataclass
class BatchStats:
    lines: int = 0
    errors: int = 0
    first_error_lines: list[int] = field(default_factory=list)

    def add(self, chunk: Chunk) -> None:
        self.lines += chunk.lines
        self.errors += len(chunk.error_lines)
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


def triage_chunk(engine: Engine, lines: list[tuple[int, bytes | str]]) -> Chunk:
    out: list[str] = []
    bad: list[int] = []
    size = 0
    for number, text in lines:
        size += len(text)
        try:
            if not text.strip():
                raise InvalidReport([FieldError("", "empty line; expected a report (JSON object)")])
            out.append(engine.evaluate(text).model_dump_json())
        except KtriageError as exc:
            bad.append(number)
            out.append(json.dumps(error_record(number, exc), ensure_ascii=False))
    return Chunk("\n".join(out) + "\n" if out else "", len(lines), size, tuple(bad))


def chunked(
    lines: Iterable[bytes | str], size: int = CHUNK_LINES
) -> Iterator[list[tuple[int, bytes | str]]]:
    """Number the lines from 1 and group them (line ends are left on: JSON ignores them)."""
    chunk: list[tuple[int, bytes | str]] = []
    for number, line in enumerate(lines, 1):
        chunk.append((number, line))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def triage_lines(
    lines: Iterable[bytes | str],
    engine: Engine,
    *,
    workers: int | None = None,
    chunk_lines: int = CHUNK_LINES,
    parallel_after: int = PARALLEL_AFTER_LINES,
) -> Iterator[Chunk]:
    """Triage every line; yield the output in input order, a chunk at a time.

    ``workers``: processes for large inputs (default: one per CPU); 1 keeps it all in
    this process. Each worker loads its own Engine from ``engine.pack.root``. Workers are
    spawned, so a script calling this must guard its entry with ``if __name__ ==
    "__main__":`` (as any multiprocessing program must).
    """
    workers = workers or os.cpu_count() or 1
    chunks = chunked(lines, chunk_lines)
    seen = 0
    for chunk in chunks:
        yield triage_chunk(engine, chunk)
        seen += len(chunk)
        if workers > 1 and seen >= parallel_after:
            yield from _in_workers(chunks, engine.pack.root, workers)
            return


def _in_workers(
    chunks: Iterator[list[tuple[int, bytes | str]]], rules: str, workers: int
) -> Iterator[Chunk]:
    # spawn, not fork: a forked child would inherit durable_rules' native state and any
    # lock held by another thread at that moment.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(rules,)
    ) as pool:
        pending: deque[Future[Chunk]] = deque()
        limit = workers * IN_FLIGHT_PER_WORKER
        for chunk in chunks:
            pending.append(pool.submit(_work, chunk))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


_worker_engine: Engine | None = None


def _start_worker(rules: str) -> None:
    global _worker_engine
    _worker_engine = Engine.load(rules)


def _work(chunk: list[tuple[int, bytes | str]]) -> Chunk:
    assert _worker_engine is not None, "worker started without an engine"
    return triage_chunk(_worker_engine, chunk)


def run_batch(
    lines: Iterable[bytes | str],
    engine: Engine,
    write: Callable[[str], object],
    *,
    workers: int | None = None,
    progress: Callable[[Chunk], object] | None = None,
) -> BatchStats:
    """Triage ``lines`` and hand the output to ``write`` chunk by chunk."""
    stats = BatchStats()
    for chunk in triage_lines(lines, engine, workers=workers):
        write(chunk.text)
        stats.add(chunk)
        if progress is not None:
            progress(chunk)
    return stats
