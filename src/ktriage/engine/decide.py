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

import functools
import threading
from collections.abc import Callable, Sequence
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
# A unit's cached decision: each rule that fired with the positions of its symptoms (for a
# unit without symptoms, positions are empty and the pairs are Hits as they are).
Decision = tuple[tuple[str, tuple[Any, ...]], ...]


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
        # The decisions, in functools' LRU cache (its bookkeeping runs in C). A key holds
        # only the reduced facts; on a miss, the miss function finds the real facts where this
        # thread left them (self._pending) and asks durable_rules. A decision is a tuple
        # of (rule, positions) pairs, or the Hits themselves for units without symptoms.
        self._pending = threading.local()
        # The miss function holds no reference to self: a cycle through the cache would
        # keep a dropped engine (and its C ruleset) alive until a full garbage collection.
        self._lookup = functools.lru_cache(maxsize=self._maxsize)(
            _miss_function(runtime, compiled.with_symptom, self._pending)
        )
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
            for part, (_gid, fields) in enumerate(compiled.context_only_fields)
            for name in fields
        }
        # the fields the rules of these joined codes test (few distinct sets of codes)
        self._join_fields: dict[tuple[str, ...], tuple[str, ...]] = {}
        # which parts, with which fields, a report holding these fields has (few shapes)
        self._layouts: dict[tuple[str, ...], tuple[tuple[int, tuple[str, ...]], ...]] = {}

    def decide(self, facts: Facts) -> list[Hit]:
        if self._maxsize == 0:
            return self._uncached(facts)
        return self._cached(facts)

    def cache_info(self) -> CacheInfo:
        info = self._lookup.cache_info()
        return CacheInfo(info.hits, info.misses, info.currsize, self._maxsize)

    def clear_cache(self) -> None:
        self._lookup.cache_clear()

    # -- one call for the whole report --------------------------------------------------

    def _uncached(self, facts: Facts) -> list[Hit]:
        symptoms = facts.symptoms
        return [
            (name, tuple(symptoms[p] for p in where if p != CONTEXT))
            for name, where in _ask(self._runtime, symptoms, facts.context)
        ]

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

    def _layout(self, present: tuple[str, ...]) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The parts a context with fields ``present`` splits into, and their fields."""
        parts: dict[int, list[str]] = {}
        for name in present:
            part = self._part_of_field.get(name)
            if part is not None:
                parts.setdefault(part, []).append(name)
        if len(self._layouts) >= 4096:
            self._layouts.clear()  # a backstop: the fields a report holds vary little
        layout = self._layouts[present] = tuple((p, tuple(f)) for p, f in parts.items())
        return layout

    def _cached(self, facts: Facts) -> list[Hit]:
        # The hot path of every cached evaluation, written for speed.
        compiled = self._compiled
        bucket = compiled.bucket
        by_code = compiled.group_of_code
        live = compiled.live_groups
        component = compiled.join_component
        code_fields = compiled.fields_with_code
        with_symptom = compiled.with_symptom
        pending = self._pending
        lookup = self._lookup
        context = facts.context
        hits: list[Hit] = []
        joined: dict[int, list[SymptomFact]] | None = None
        for s in facts.symptoms:
            code = s.code
            if by_code[code] not in live:
                continue  # no rule mentions it: only the catch-all would match
            number = component.get(code)
            if number is not None:
                if joined is None:
                    joined = {}
                joined.setdefault(number, []).append(s)
                continue
            # Every rule naming this code sees this one symptom fact and the context fields
            # it tests, nothing else: decide the symptom alone with just those fields.
            fields = code_fields.get(code, ())
            ckey = tuple([bucket(f, context[f]) if f in context else None for f in fields])
            pending.unit = ((s,), fields, context, with_symptom, False)
            decision = lookup((self._symptom_key(s), ckey))
            one = (s,)
            hits += [(name, one if where else ()) for name, where in decision]
        if joined is not None:
            for number, group in joined.items():
                if len(group) == 1:
                    s = group[0]
                    fields = code_fields.get(s.code, ())
                    ckey = tuple([bucket(f, context[f]) if f in context else None for f in fields])
                    pending.unit = ((s,), fields, context, with_symptom, False)
                    decision = lookup((self._symptom_key(s), ckey))
                    one = (s,)
                    hits += [(name, one if where else ()) for name, where in decision]
                else:
                    hits += self._joined(number, group, context)
        if context:
            present = tuple(context)
            layout = self._layouts.get(present) or self._layout(present)
            for part, fields in layout:
                pending.unit = ((), fields, context, None, True)
                # the fields' names too: which of them are present matters
                hits += lookup((part, fields, tuple([bucket(f, context[f]) for f in fields])))
        return hits

    def _joined(self, number: int, group: list[SymptomFact], context: dict[str, Any]) -> list[Hit]:
        """Symptoms that rules join together: decided together, with the context fields
        the rules naming their codes test."""
        compiled = self._compiled
        keyed = sorted(
            ((self._symptom_key(s), s) for s in group),
            key=lambda pair: pair[0],  # stable: equal keys keep report order
        )
        codes = tuple(sorted({s.code for s in group}))
        fields = self._join_fields.get(codes)
        if fields is None:
            if len(self._join_fields) >= 4096:
                self._join_fields.clear()  # a backstop: few sets of codes occur
            code_fields = compiled.fields_with_code
            fields = self._join_fields[codes] = tuple(
                sorted({f for c in codes for f in code_fields.get(c, ())})
            )
        bucket = compiled.bucket
        ckey = tuple([bucket(f, context[f]) if f in context else None for f in fields])
        ordered = tuple(s for _, s in keyed)
        self._pending.unit = (ordered, fields, context, compiled.with_symptom, False)
        decision = self._lookup((number, tuple(k for k, _ in keyed), fields, ckey))
        return [(name, tuple([ordered[p] for p in where])) for name, where in decision]


def _ask(
    runtime: Runtime, symptoms: Sequence[SymptomFact], context: dict[str, Any]
) -> list[tuple[str, tuple[int, ...]]]:
    """What durable_rules fires on these facts: each rule with the positions of the
    symptoms it matched (CONTEXT for the context fact)."""
    fired = runtime.run([*[s.durable() for s in symptoms], {"t": "c", **context}])
    last = len(symptoms)  # the context fact's position
    return [
        (name, tuple(CONTEXT if p == last else p for p in positions)) for name, positions in fired
    ]


def _miss_function(
    runtime: Runtime, with_symptom: frozenset[str], pending: threading.local
) -> Callable[[Any], Decision]:
    def miss(key: Any) -> Decision:
        """A unit never decided before (or evicted): ask durable_rules.

        The unit's facts are in ``pending.unit``, set by the caller just before the
        lookup: its symptoms in key order, the context fields it sees, the report's
        context, and which rules it is responsible for (``keep``; others fire on the
        same facts but are decided by their own unit) or ``symptomless`` to keep only
        rules that name no symptom.
        """
        ordered, fields, context, keep, symptomless = pending.unit
        fresh = _ask(runtime, ordered, {f: context[f] for f in fields if f in context})
        if keep is not None:
            fresh = [pair for pair in fresh if pair[0] in keep]
        elif symptomless:
            fresh = [pair for pair in fresh if pair[0] not in with_symptom]
        if ordered:
            return tuple((name, tuple(p for p in where if p != CONTEXT)) for name, where in fresh)
        # nothing to map back: the Hits themselves (immutable), returned as they are
        return tuple((name, ()) for name, _ in fresh)

    return miss
