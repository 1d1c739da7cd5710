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

    # -- one cached decision per independent group --------------------------------------

    def _cached(self, facts: Facts) -> list[Hit]:
        compiled = self._compiled
        bucket = compiled.bucket
        by_code = compiled.group_of_code
        by_field = compiled.group_of_field
        groups: dict[int, tuple[list[tuple[Any, SymptomFact]], dict[str, Any]]] = {}
        for s in facts.symptoms:
            key = (
                s.code,
                s.sev,
                None if s.days is None else bucket("symptom.days", s.days),
                s.limits_self_care,
                s.limits_daily_activities,
                s.relieved_by_rest,
            )
            groups.setdefault(by_code[s.code], ([], {}))[0].append((key, s))
        for name, value in facts.context.items():
            groups.setdefault(by_field[name], ([], {}))[1][name] = value
        hits: list[Hit] = []
        for gid in sorted(groups):
            keyed, context = groups[gid]
            keyed.sort(key=lambda pair: pair[0])  # stable: equal keys keep report order
            ordered = [s for _, s in keyed]
            cache_key = (
                gid,
                tuple(k for k, _ in keyed),
                tuple(sorted((n, bucket(n, v)) for n, v in context.items())),
            )
            with self._lock:
                decision = self._cache.get(cache_key)
                if decision is not None:
                    self._cache.move_to_end(cache_key)
                    self._hits += 1
            if decision is None:
                fresh, group_hits = self._run(ordered, context)
                with self._lock:
                    self._misses += 1
                    self._cache[cache_key] = tuple(fresh)
                    if len(self._cache) > self._maxsize:
                        self._cache.popitem(last=False)
                hits.extend(group_hits)
                continue
            for name, where in decision:
                hits.append(Hit(name, tuple(ordered[p] for p in where if p != CONTEXT)))
        return hits
