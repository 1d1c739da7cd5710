"""Which rules a pack's worked examples exercise: a rule no example fires is untested."""

from __future__ import annotations

from dataclasses import dataclass

from .engine.pack import Rule
from .engine.triage import Engine


@dataclass(frozen=True)
class Coverage:
    rules: int
    never_fired: tuple[Rule, ...]

    @property
    def fired(self) -> int:
        return self.rules - len(self.never_fired)

    @property
    def percent(self) -> float:
        return 100.0 if self.rules == 0 else 100.0 * self.fired / self.rules


def example_coverage(engine: Engine) -> Coverage:
    """Run every example of every rule and see which rules fired in any of them."""
    fired: set[str] = set()
    for rule in engine.pack.rules:
        for example in rule.examples:
            fired.update(a.rule for a in engine.evaluate(example.report).advice)
    never = tuple(r for r in engine.pack.rules if r.id not in fired)
    return Coverage(len(engine.pack.rules), never)
