"""Third stage: ask durable_rules which rules fire, remembering decisions already made.

The decision cache rests on two facts the compiler proves about the pack:

* Symptom codes and fields that never appear together in one rule form independent
  groups. A report is split by group and each group is decided on its own: no rule can
  see facts from two groups, and every rule needs something reported to fire.
* Within a group, a number only matters through the interval it falls in among the
  thresholds the pack compares it with. Two reports whose facts fall in the same
  intervals fire the same rules on the same facts.

So a group's decision is keyed on its facts reduced to intervals, and only a group never
seen before goes to durable_rules. ``because`` is rebuilt from the report's real values.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .compiler import CompiledPack
from .facts import Facts, SymptomFact
from .runtime import Runtime

CONTEXT = -1  # position of the context fact in a cached decision


@dataclass(frozen=True)
class Hit:
    """One durable_rules rule that fired, and the facts it matched."""

    name: str
    symptoms: tuple[SymptomFact, ...]


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int
    maxsize: int


class Decider:
    def __init__(self, compiled: CompiledPack, runtime: Runtime, cache_size: int) -> None:
        self._compiled = compiled
        self._runtime = runtime
        self._maxsize = max(0, cache_size)
        self._cache: OrderedDict[Any, tuple[tuple[str, tuple[int, ...]], ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def decide(self, facts: Facts) -> list[Hit]:
        if self._maxsize == 0:
            return self._uncached(facts)
        return self._cached(facts)

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._cache), self._maxsize)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()
            self._hits = self._misses = 0

    # -- one call for the whole report --------------------------------------------------

    def _uncached(self, facts: Facts) -> list[Hit]:
        return self._run(list(facts.symptoms), facts.context)[1]

    def _run(
        self, symptoms: list[SymptomFact], context: dict[str, Any]
    ) -> tuple[list[tuple[str, tuple[int, ...]]], list[Hit]]:
        durable = [s.durable() for s in symptoms]
        ctx_fact = {"t": "c", **context}
        fired = self._runtime.run([*durable, ctx_fact])
        position = {fact["id"]: i for i, fact in enumerate(durable)}
        position[ctx_fact["id"]] = CONTEXT
        decision = []
        hits = []
        for name, ids in fired:
            where = tuple(position[i] for i in ids)
            decision.append((name, where))
            hits.append(Hit(name, tuple(symptoms[p] for p in where if p != CONTEXT)))
        return decision, hits

    # -- cached decisions, one per independent unit -------------------------------------

    def _symptom_key(self, s: SymptomFact) -> tuple[Any, ...]:
        """The fact reduced to what the pack's rules can tell apart."""
        relevant = self._compiled.symptom_attrs.get(s.code, frozenset())
        bucket = self._compiled.bucket
        return (
            s.code,
            s.sev if "severity" in relevant else 0,
            # -1 stands for "not given", so that keys sort; booleans become 0/1
            (-1 if s.days is None else bucket("symptom.days", s.days)) if "days" in relevant else 0,
            *(
                (-1 if v is None else int(v)) if name in relevant else 0
                for name, v in (
                    ("limits_self_care", s.limits_self_care),
                    ("limits_daily_activities", s.limits_daily_activities),
                    ("relieved_by_rest", s.relieved_by_rest),
                )
            ),
        )

    def _cached(self, facts: Facts) -> list[Hit]:
        compiled = self._compiled
        live = compiled.live_groups
        by_code = compiled.group_of_code
        by_field = compiled.group_of_field
        symptoms: dict[int, list[SymptomFact]] = {}
        for s in facts.symptoms:
            gid = by_code[s.code]
            if gid in live:  # no rule mentions the others: only the catch-alls would match
                symptoms.setdefault(gid, []).append(s)
        contexts: dict[int, dict[str, Any]] = {}
        for name, value in facts.context.items():
            gid = by_field[name]
            if gid in live:
                contexts.setdefault(gid, {})[name] = value
        hits: list[Hit] = []
        for gid in sorted(symptoms.keys() | contexts.keys()):
            context = contexts.get(gid, {})
            ckey = tuple(sorted((n, compiled.bucket(n, v)) for n, v in context.items()))
            keyed = [(self._symptom_key(s), s) for s in symptoms.get(gid, ())]
            if gid in compiled.join_groups:
                # a rule here joins symptom facts: decide the group's facts together
                keyed.sort(key=lambda pair: pair[0])  # stable: equal keys keep report order
                units = [keyed]
            else:
                # every rule here sees at most one symptom fact (and the context fact), so
                # each symptom can be decided on its own
                units = [[pair] for pair in keyed] or [[]]
            for unit in units:
                hits.extend(self._decide_unit(gid, unit, context, ckey))
        return hits

    def _decide_unit(
        self,
        gid: int,
        unit: list[tuple[Any, SymptomFact]],
        context: dict[str, Any],
        ckey: tuple[Any, ...],
    ) -> list[Hit]:
        ordered = [s for _, s in unit]
        key = (gid, tuple(k for k, _ in unit), ckey)
        with self._lock:
            decision = self._cache.get(key)
            if decision is not None:
                self._cache.move_to_end(key)
                self._hits += 1
        if decision is None:
            fresh, hits = self._run(ordered, context)
            with self._lock:
                self._misses += 1
                self._cache[key] = tuple(fresh)
                if len(self._cache) > self._maxsize:
                    self._cache.popitem(last=False)
            return hits
        return [
            Hit(name, tuple(ordered[p] for p in where if p != CONTEXT)) for name, where in decision
        ]
