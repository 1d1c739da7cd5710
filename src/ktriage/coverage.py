"""Which rules a pack's worked examples exercise: a rule no example fires is untested."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .engine.pack import Rule, RulePack
from .engine.triage import ExampleOutcome


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


def example_coverage(pack: RulePack, outcomes: Iterable[ExampleOutcome]) -> Coverage:
    """Which of the pack's rules fired in any of its examples (``Engine.run_examples``)."""
    fired = {rule for outcome in outcomes for rule in outcome.fired_rules}
    never = tuple(r for r in pack.rules if r.id not in fired)
    return Coverage(len(pack.rules), never)
