"""Rule-change impact analysis: triage every input line with two packs and compare.

``ktriage rules diff OLD NEW --input FILE`` answers, before a clinic changes a rule, what
the change does to its real check-ins: how many reports change level, from which level to
which, which input lines go *down* (the ones a clinician must look at first), and how
often each rule fires before and after.

Input is JSON Lines (one report per line) or Parquet (``pyarrow``: one report per row,
either a ``report`` column of JSON text or columns named as the report's fields). Lines
are numbered from 1 in both. Chunks are compared in this process and worker processes
(``ktriage.parallel``) or on Dask, and merged in input order, so the answer is the same
however it was computed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .engine.errors import FieldError, InvalidReport, KtriageError
from .engine.models import Escalation
from .engine.triage import Engine

ERRORS_KEPT = 100
LEVELS = [level.value for level in Escalation]
_RANK = {level: i for i, level in enumerate(LEVELS)}


@dataclass
class DiffPart:
    """What a run of lines gave; parts merge in input order."""

    total: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    # (old level, new level) -> lines, for every line (changed or not)
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    lowered: list[int] = field(default_factory=list)
    raised: int = 0
    fired_old: Counter[str] = field(default_factory=Counter)
    fired_new: Counter[str] = field(default_factory=Counter)
    lines: int = 0  # input lines read (triaged or not)

    def merge(self, other: DiffPart) -> None:
        self.total += other.total
        self.error_count += other.error_count
        room = ERRORS_KEPT - len(self.errors)
        if room > 0:
            self.errors.extend(other.errors[:room])
        self.matrix.update(other.matrix)
        self.lowered.extend(other.lowered)
        self.raised += other.raised
        self.fired_old.update(other.fired_old)
        self.fired_new.update(other.fired_new)
        self.lines += other.lines

    @property
    def changed(self) -> int:
        return sum(n for (a, b), n in self.matrix.items() if a != b)

    def report(self) -> dict[str, Any]:
        """The JSON answer (``--format json``)."""
        transitions = {
            f"{a}->{b}": n
            for (a, b), n in sorted(
                self.matrix.items(), key=lambda kv: (_RANK[kv[0][0]], _RANK[kv[0][1]])
            )
            if a != b
        }
        rules = {
            rule: {"old": self.fired_old.get(rule, 0), "new": self.fired_new.get(rule, 0)}
            for rule in sorted(self.fired_old.keys() | self.fired_new.keys())
        }
        return {
            "total": self.total,
            "errors": self.errors,
            "error_count": self.error_count,
            "changed": self.changed,
            "transitions": transitions,
            "lowered": self.lowered,
            "rules": rules,
        }


def diff_chunk(old: Engine, new: Engine, lines: list[tuple[int, Any]]) -> DiffPart:
    part = DiffPart()
    for number, text in lines:
        part.lines += 1
        try:
            if text is None:
                from .batch import MAX_LINE_BYTES

                raise InvalidReport(
                    [FieldError("", f"line longer than {MAX_LINE_BYTES} bytes; not read")]
                )
            if isinstance(text, bytes | str) and not text.strip():
                raise InvalidReport([FieldError("", "empty line; expected a report (JSON object)")])
            before = old.evaluate(text)
            after = new.evaluate(text)
        except KtriageError as exc:
            part.error_count += 1
            if len(part.errors) < ERRORS_KEPT:
                part.errors.append({"line": number, "message": str(exc)})
            continue
        part.total += 1
        a, b = before.escalation.value, after.escalation.value
        part.matrix[(a, b)] += 1
        if _RANK[b] < _RANK[a]:
            part.lowered.append(number)
        elif _RANK[b] > _RANK[a]:
            part.raised += 1
        part.fired_old.update({advice.rule for advice in before.advice})
        part.fired_new.update({advice.rule for advice in after.advice})
    return part


def merge(parts: Iterable[DiffPart], progress: Any = None) -> DiffPart:
    total = DiffPart()
    for part in parts:
        total.merge(part)
        if progress is not None:
            progress(part)
    return total


# -- input -----------------------------------------------------------------------------------


def read_input(path: str, chunk_lines: int) -> Iterator[list[tuple[int, Any]]]:
    """Numbered lines of a JSON Lines or Parquet file, a chunk at a time."""
    from .batch import chunked, read_lines

    if path.endswith(".parquet") or path.endswith(".pq"):
        yield from chunked(parquet_lines(path), chunk_lines)
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below, after the generator ends)
    except OSError as exc:
        raise InputError(f"--input {path}: cannot read: {exc.strerror}") from None
    with stream:
        yield from chunked(read_lines(stream), chunk_lines)


class InputError(KtriageError):
    """An input file that cannot be read at all (one bad line is only an error record)."""


def parquet_lines(path: str, batch_rows: int = 10_000) -> Iterator[str]:
    """One JSON report per row: a ``report`` column of JSON text, or the report's fields
    as columns (null values are left out, as if the field were not given)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("Parquet input needs pyarrow: pip install 'ktriage[parquet]'") from None
    import pyarrow as pa

    try:
        source = pq.ParquetFile(path)
        batches = source.iter_batches(batch_size=batch_rows)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"--input {path}: not a readable Parquet file: {exc}") from None
    names = source.schema_arrow.names
    as_text = names == ["report"]
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"--input {path}: not a readable Parquet file: {exc}") from None
        if batch is None:
            return
        if as_text:
            for value in batch.column(0).to_pylist():
                yield value if isinstance(value, str) else json.dumps(value)
        else:
            for row in batch.to_pylist():
                yield json.dumps(_without_nulls(row), ensure_ascii=False)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- text output -----------------------------------------------------------------------------

SHOWN_LINES = 50


def render_text(result: DiffPart, old: Engine, new: Engine) -> str:
    """A level x level table, lowered lines flagged first."""
    info_old, info_new = old.info, new.info
    out = [
        f"Rule change: {info_old.name} {info_old.version} -> {info_new.name} {info_new.version}",
        f"{result.total:,} reports triaged with both packs, {result.changed:,} changed level"
        f" ({len(result.lowered):,} lowered, {result.raised:,} raised)"
        + (f"; {result.error_count:,} lines not triaged" if result.error_count else ""),
        "",
    ]
    if result.lowered:
        shown = ", ".join(map(str, result.lowered[:SHOWN_LINES]))
        more = len(result.lowered) - SHOWN_LINES
        out.append(
            f"LOWERED: {len(result.lowered):,} lines now get a lower level; review them first:"
        )
        out.append("  lines " + shown + (f" (+{more:,} more)" if more > 0 else ""))
        out.append("")
    width = max(len(level) for level in LEVELS) + 2
    out.append("old \\ new".ljust(width) + "".join(level.rjust(width) for level in LEVELS))
    for a in LEVELS:
        cells = []
        for b in LEVELS:
            n = result.matrix.get((a, b), 0)
            mark = "!" if n and _RANK[b] < _RANK[a] else " "
            cells.append((f"{n:,}" + mark).rjust(width))
        out.append((a.ljust(width) + "".join(cells)).rstrip())
    out.append("(! marks cells where the level went down)")
    moved = [
        (rule, result.fired_old.get(rule, 0), result.fired_new.get(rule, 0))
        for rule in sorted(result.fired_old.keys() | result.fired_new.keys())
        if result.fired_old.get(rule, 0) != result.fired_new.get(rule, 0)
    ]
    out.append("")
    if moved:
        out.append("Rules that fire a different number of times (old -> new):")
        out.extend(f"  {rule}: {a:,} -> {b:,}" for rule, a, b in moved)
    else:
        out.append("Every rule fires as often as before.")
    if result.errors:
        out.append("")
        out.append(f"Lines not triaged ({result.error_count:,}):")
        out.extend(f"  line {e['line']}: {e['message']}" for e in result.errors[:10])
        if result.error_count > 10:
            out.append(f"  ... and {result.error_count - 10:,} more (see --format json)")
    return "\n".join(out)
