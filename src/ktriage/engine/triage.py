"""The Engine: a loaded, compiled rule pack that triages reports, and ``triage()``."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import packcache
from .assemble import Assembler
from .compiler import CompiledPack, compile_pack
from .decide import CacheInfo, Decider
from .errors import FieldError, InvalidReport, RulePackError
from .facts import extract
from .intake import parse_report
from .models import Escalation, Reading, Report, Result, RulePackInfo
from .pack import RulePack, default_pack_path, load_pack
from .reader import Reader, reading_example_problems
from .runtime import RulesetRejected, Runtime

DEFAULT_CACHE_SIZE = 65_536
MAX_TEXT = 200  # as a symptom's name (models.Symptom)


@dataclass(frozen=True)
class ExampleOutcome:
    """One worked example of a rule, run through the whole pack."""

    rule: str
    name: str
    file: str
    line: int | None
    expect: Escalation
    got: Escalation
    fires: bool
    fired: bool
    # every rule the example's report fired (for coverage)
    fired_rules: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.expect == self.got and self.fires == self.fired

    def describe(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        problems = []
        if self.expect != self.got:
            problems.append(f"expected {self.expect.value}, got {self.got.value}")
        if self.fires != self.fired:
            problems.append("the rule did not fire" if self.fires else "the rule fired")
        status = "ok" if self.passed else "; ".join(problems)
        return f"{where}: {self.rule}: {self.name}: {status}"


@dataclass(frozen=True)
class ReadingOutcome:
    """One worked example of the reader (reader.yaml)."""

    text: str
    line: int | None
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        where = f"reader.yaml:{self.line}" if self.line else "reader.yaml"
        return f"{where}: reading {self.text!r}: " + (
            "ok" if self.passed else "; ".join(self.problems)
        )


class Engine:
    """A rule pack compiled into durable_rules, ready to evaluate reports.

    Safe to share between threads. Build it once (``Engine.load()``) and reuse it:
    loading validates and compiles the whole pack.
    """

    def __init__(
        self,
        pack: RulePack,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        _built: tuple[CompiledPack, Reader] | None = None,
    ) -> None:
        self.pack = pack
        self._compiled = compile_pack(pack) if _built is None else _built[0]
        aliases = {name: rule.aliases for name, rule in self._compiled.compiled.items()}
        try:
            # compile_pack checked the limits (for a cached pack, when it was compiled)
            self._runtime = Runtime(self._compiled.ruleset, aliases, limits_checked=True)
        except RulesetRejected as exc:  # durable_rules refused it all the same
            compiled = self._compiled.compiled.get(exc.rule or "")
            rule = next((r for r in pack.rules if compiled and r.id == compiled.rule_id), None)
            raise RulePackError(
                str(exc),
                file=rule.file if rule else pack.root,
                line=rule.line if rule else None,
                rule_id=rule.id if rule else None,
            ) from None
        self._decider = Decider(self._compiled, self._runtime, cache_size)
        self._assembler = Assembler(pack, self._compiled)
        if _built is not None:
            self.reader = _built[1]
        else:
            self.reader = pack.text_reader or Reader(pack.vocabulary, pack.reader)

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> Engine:
        """Load, validate and compile the pack in folder ``path`` (default: the shipped one).

        Raises ``RulePackError`` naming the file, line and rule for any problem.
        ``cache_size=0`` turns the decision cache off: every report goes to durable_rules.
        The loaded and compiled pack is kept in the user's cache folder, keyed by the
        sha256 of the pack's files (``packcache``), and reused while nothing changed.
        """
        root = Path(path) if path is not None else default_pack_path()
        key = packcache.pack_key(root) if packcache.enabled() else None
        if key is not None:
            cached = packcache.load(key)
            if cached is not None:
                pack, compiled, reader = cached
                return cls(pack, cache_size=cache_size, _built=(compiled, reader))
        engine = cls(load_pack(root), cache_size=cache_size)
        if key is not None:
            # the vocabulary's own words, read once and kept with the compiled pack
            engine.reader.prime(
                phrase
                for term in engine.pack.vocabulary.terms.values()
                for phrase in (term.code, term.code.replace("_", " "), term.label, *term.synonyms)
            )
            packcache.store(key, (engine.pack, engine._compiled, engine.reader))
        return engine

    @property
    def info(self) -> RulePackInfo:
        return self._assembler.info

    @property
    def ruleset(self) -> dict[str, dict[str, Any]]:
        """The durable_rules ruleset the pack compiled to (for inspection)."""
        return self._compiled.ruleset

    @property
    def limits_used(self) -> dict[str, int]:
        """How full the pack gets each of durable_rules' fixed tables (``LIMITS`` of
        ``ktriage.engine.runtime``): checked at load, shown by ``rules validate``."""
        return dict(self._compiled.limits_used)

    def evaluate(self, report: Report | dict[str, Any] | str | bytes) -> Result:
        """Triage one report: a Report, a dict of its JSON, or JSON text.

        Raises ``InvalidReport`` naming each bad field.
        """
        valid = parse_report(report)
        facts = extract(valid, self.reader, self._compiled.negated_codes, self._compiled.trends)
        hits = self._decider.decide(facts)
        return self._assembler.result(valid, facts, hits)

    def read(self, text: str) -> Reading:
        """How the symptom reader reads ``text`` (one symptom name, free text)."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidReport([FieldError("text", "must be non-blank text")], text)
        if len(text) > MAX_TEXT:
            raise InvalidReport(
                [FieldError("text", f"at most {MAX_TEXT} characters (got {len(text)})")], text
            )
        return self._assembler.reading(self.reader.read(text))

    def run_reading_examples(self) -> list[ReadingOutcome]:
        """Run the reader's worked examples (reader.yaml)."""
        return [
            ReadingOutcome(ex.text, ex.line, tuple(reading_example_problems(self.reader, ex)))
            for ex in self.pack.reader.examples
        ]

    def close(self) -> None:
        """Free the compiled ruleset held by durable_rules (also done when the engine is
        garbage-collected). A closed engine raises ``EngineFailure`` when asked to decide.
        """
        self._runtime.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cache_info(self) -> CacheInfo:
        return self._decider.cache_info()

    def clear_cache(self) -> None:
        self._decider.clear_cache()

    def run_examples(self) -> list[ExampleOutcome]:
        """Run every rule's worked examples through the whole pack."""
        out = []
        for rule in self.pack.rules:
            for ex in rule.examples:
                result = self.evaluate(ex.report)
                out.append(
                    ExampleOutcome(
                        rule=rule.id,
                        name=ex.name,
                        file=rule.file,
                        line=ex.line,
                        expect=ex.expect,
                        got=result.escalation,
                        fires=ex.fires,
                        fired=any(a.rule == rule.id for a in result.advice),
                        fired_rules=tuple(a.rule for a in result.advice),
                    )
                )
        return out


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The engine for the shipped pack, built on first use and shared."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine.load()
    return _default


def triage(report: Report | dict[str, Any] | str | bytes) -> Result:
    """Triage one report with the shipped rule pack."""
    return default_engine().evaluate(report)


def read(text: str) -> Reading:
    """How the shipped pack's symptom reader reads ``text``."""
    return default_engine().read(text)
