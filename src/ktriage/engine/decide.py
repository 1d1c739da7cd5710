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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .compiler import CompiledPack
from .facts import Facts, SymptomFact
from .runtime import Runtime

CONTEXT = -1  # position of the context fact in a cached decision
_NOTHING = (False, False, False, False, False)


# One durable_rules rule that fired, and the symptom facts it matched. A plain tuple:
# a NamedTuple's constructor is a Python function, and hits are built on every evaluation.
Hit = tuple[str, tuple[SymptomFact, ...]]


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
        # value: (rule, positions) pairs, or the Hits themselves for units without symptoms
        self._cache: OrderedDict[Any, tuple[tuple[str, tuple[Any, ...]], ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._relevant = {
            code: tuple(
                name in attrs
                for name in (
                    "severity",
                    "days",
                    "limits_self_care",
                    "limits_daily_activities",
                    "relieved_by_rest",
                )
            )
            for code, attrs in compiled.symptom_attrs.items()
        }
        # context fields decided on their own (rules that name no symptom), by part
        self._part_of_field = {
            name: part
            for part, (gid, fields) in enumerate(compiled.context_only_fields)
            if gid not in compiled.join_groups
            for name in fields
        }

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
        fired = self._runtime.run([*[s.durable() for s in symptoms], {"t": "c", **context}])
        last = len(symptoms)  # the context fact's position
        decision = []
        hits = []
        for name, positions in fired:
            where = tuple(CONTEXT if p == last else p for p in positions)
            decision.append((name, where))
            hits.append((name, tuple(symptoms[p] for p in where if p != CONTEXT)))
        return decision, hits

    # -- cached decisions, one per independent unit -------------------------------------

    def _symptom_key(self, s: SymptomFact) -> tuple[Any, ...]:
        """The fact reduced to what the pack's rules can tell apart.

        An attribute no rule tests for this code is left out (0); "not given" is -1 so
        that keys sort; booleans become 0/1.
        """
        sev, days, lsc, lda, rbr = self._relevant.get(s.code, _NOTHING)
        return (
            s.code,
            s.sev if sev else 0,
            (-1 if s.days is None else self._compiled.bucket("symptom.days", s.days))
            if days
            else 0,
            (-1 if s.limits_self_care is None else int(s.limits_self_care)) if lsc else 0,
            (-1 if s.limits_daily_activities is None else int(s.limits_daily_activities))
            if lda
            else 0,
            (-1 if s.relieved_by_rest is None else int(s.relieved_by_rest)) if rbr else 0,
        )

    def _cached(self, facts: Facts) -> list[Hit]:
        # The hot path of every cached evaluation, written for speed. Keys are built in the
        # context's own insertion order, which is the same for every report (facts.extract).
        compiled = self._compiled
        bucket = compiled.bucket
        by_code = compiled.group_of_code
        live = compiled.live_groups
        joins = compiled.join_groups
        code_fields = compiled.fields_with_code
        with_symptom = compiled.with_symptom
        context = facts.context
        hits: list[Hit] = []
        joined: dict[int, list[SymptomFact]] = {}
        for s in facts.symptoms:
            gid = by_code[s.code]
            if gid not in live:
                continue  # no rule mentions it: only the catch-all would match
            if gid in joins:
                joined.setdefault(gid, []).append(s)
                continue
            # Every rule naming this code sees this one symptom fact and the context fields
            # it tests, nothing else: decide the symptom alone with just those fields.
            fields = code_fields.get(s.code)
            if fields and context:
                ctx = {f: context[f] for f in fields if f in context}
                ckey = tuple([(f, bucket(f, v)) for f, v in ctx.items()])
            else:
                ctx, ckey = {}, ()
            hits += self._decide_unit((self._symptom_key(s), ckey), [s], ctx, with_symptom)
        if context:
            parts: dict[int, dict[str, Any]] = {}
            part_of = self._part_of_field
            for name, value in context.items():
                part = part_of.get(name)
                if part is not None:
                    known = parts.get(part)
                    if known is None:
                        parts[part] = {name: value}
                    else:
                        known[name] = value
            for part, ctx in parts.items():
                key = (part, tuple([(f, bucket(f, v)) for f, v in ctx.items()]))
                hits += self._decide_unit(key, [], ctx, None, symptomless=True)
        if joins and (joined or context):
            hits += self._joined(facts, joined)
        return hits

    def _joined(self, facts: Facts, joined: dict[int, list[SymptomFact]]) -> list[Hit]:
        """Groups where a rule joins symptom facts: decide all their facts together."""
        compiled = self._compiled
        by_field = compiled.group_of_field
        contexts: dict[int, dict[str, Any]] = {}
        for name, value in facts.context.items():
            gid = by_field[name]
            if gid in compiled.join_groups:
                contexts.setdefault(gid, {})[name] = value
        hits: list[Hit] = []
        for gid in sorted(joined.keys() | contexts.keys()):
            ctx = contexts.get(gid, {})
            keyed = sorted(
                ((self._symptom_key(s), s) for s in joined.get(gid, ())),
                key=lambda pair: pair[0],  # stable: equal keys keep report order
            )
            ckey = tuple(sorted((n, compiled.bucket(n, v)) for n, v in ctx.items()))
            key = (gid, tuple(k for k, _ in keyed), ckey)
            hits += self._decide_unit(key, [s for _, s in keyed], ctx, None)
        return hits

    def _decide_unit(
        self,
        key: Any,
        ordered: list[SymptomFact],
        context: dict[str, Any],
        keep: frozenset[str] | None,
        symptomless: bool = False,
    ) -> Sequence[Hit]:
        """One unit's decision: from the cache, or from durable_rules and then cached.

        ``keep`` limits the decision to the rules this unit is responsible for (others fire
        on the same facts but are decided by their own unit); ``symptomless`` keeps only
        rules that name no symptom.
        """
        # Reads take no lock: a dict lookup is atomic under the GIL, and an entry evicted
        # between get and move_to_end is simply not refreshed. The hit counter may miss a
        # count under threads; it is a statistic, never a decision.
        decision = self._cache.get(key)
        if decision is not None:
            self._hits += 1
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on the hot path
                self._cache.move_to_end(key)
            except KeyError:
                pass
            if not ordered:
                return decision  # stored as Hits already (see below)
            if len(ordered) == 1:
                one = (ordered[0],)
                return [(name, one if where else ()) for name, where in decision]
            return [(name, tuple([ordered[p] for p in where])) for name, where in decision]
        fresh, hits = self._run(ordered, context)
        if keep is not None or symptomless:
            with_symptom = self._compiled.with_symptom
            wanted = [
                i
                for i, (name, _) in enumerate(fresh)
                if (name in keep if keep is not None else name not in with_symptom)
            ]
            fresh = [fresh[i] for i in wanted]
            hits = [hits[i] for i in wanted]
        if ordered:
            stored = tuple((name, tuple(p for p in where if p != CONTEXT)) for name, where in fresh)
        else:  # nothing to map back: keep the Hits themselves (immutable)
            stored = tuple((name, ()) for name, _ in fresh)
        with self._lock:
            self._misses += 1
            self._cache[key] = stored
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
        return hits
