"""The one module that talks to durable_rules.

It drives durable_rules' compiled engine (``durable_rules_engine``, the C extension its
Python ``Host`` is a wrapper over) directly. What it relies on, each measured on this
project's machines (see the shared notes and ``tests/test_runtime.py``):

* ``Host`` wraps every fired action in Python objects (a ``Closure`` that reads the clock,
  a ``Promise``, a state round trip through JSON) and starts two timer threads that poke
  the ruleset every 0.2 s; with several threads posting, those cause upstream issue #291
  (``error code: 307``) and wrong results. Triage needs neither timers nor state, so this
  module creates the ruleset itself, starts no thread, and runs the action loop that
  ``Host`` runs (start an action, record it, complete it and start the next) without the
  wrappers: about a third of the cost of the same facts through ``Host``
  (``benchmarks/bench_engine.py``), and ``tests/test_runtime.py`` checks that it fires
  exactly what ``Host`` fires. One lock serialises every evaluation (the C engine holds
  the GIL anyway; processes give parallelism).
* Reusing a state across evaluations leaks facts into later joins, and ``delete_state``
  has crashed inside ``deleteStateNode`` in some runs. What held in every run: one
  session id reused under the lock, every fact given a fresh explicit id, and every fact
  retracted after the evaluation. The compiled rules have no negation, so retracting a
  fact can never fire a rule (any action it queued would be drained and dropped).
* The engine's JSON parser crashes the process (SIGSEGV) on a number in exponent
  notation, so such numbers are refused before they reach it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import weakref
from typing import Any

import durable_rules_engine as _engine

from .errors import EngineFailure

Fired = list[tuple[str, tuple[int, ...]]]
_SID = "0"
_names = itertools.count()
# durable_rules' result codes for an assert that it refused (rules.h)
_NOT_HANDLED, _OBSERVED = 1, 2
# Facts as compact JSON. One encoder for all: json.dumps with any option builds a new one
# per call, which cost more than durable_rules' own assert.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# json writes a float in exponent notation below 1e-4 and from 1e16 up ("1e-05"); a digit
# followed by "e" may also be part of a code, so a hit is checked value by value
_MAYBE_EXPONENT = re.compile(r"[0-9][eE]")
_REFUSED = {
    _NOT_HANDLED: "a fact matched no rule",
    _OBSERVED: "a fact id was seen before",
}


class Runtime:
    """A compiled ruleset, loaded into durable_rules.

    ``run(facts)`` asserts the facts, returns every rule that fired with the facts it
    matched, and retracts the facts again, leaving nothing behind.
    """

    def __init__(
        self, ruleset: dict[str, dict[str, Any]], aliases: dict[str, tuple[str, ...]]
    ) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        # For each rule, what precedes the id of each fact it reports in the message it
        # fires: '{"rule#0":{"s0":{"id":7,...},"c":{"id":8,...}}}'. A fact holds no
        # object, so the text cannot occur inside one. () for rules nobody reads.
        self._needles = {
            name: tuple(f'"{alias}":{{"id":' for alias in aliases.get(name, ())) for name in ruleset
        }
        # "run" names a Host action: the engine itself has no use for it
        definition = {
            name: {key: value for key, value in rule.items() if key != "run"}
            for name, rule in ruleset.items()
        }
        try:
            handle = _engine.create_ruleset(
                f"ktriage{next(_names)}", json.dumps(definition, ensure_ascii=False)
            )
        except Exception as exc:  # durable_rules reports bad rules as bare numeric codes
            raise EngineFailure(f"durable_rules rejected the compiled ruleset: {exc}") from None
        self._handle: int = handle
        # The C ruleset (about 2.6 MB for the shipped pack) is not freed with the Python
        # objects: free it when this runtime is closed or garbage-collected.
        self._release = weakref.finalize(self, _engine.delete_ruleset, handle)
        self._release.atexit = False  # the process frees everything at exit anyway

    def close(self) -> None:
        """Free the ruleset now. The runtime cannot evaluate afterwards."""
        with self._lock:
            self._release()

    def run(self, facts: list[dict[str, Any]]) -> Fired:
        """Evaluate one report's facts in isolation. Thread-safe.

        Returns each rule that fired, in firing order, with the positions in ``facts`` of
        the facts it matched (one per alias the rule reports). ``facts`` is not changed.
        """
        with self._lock:
            if not self._release.alive:
                raise EngineFailure("this engine was closed")
            if not facts:
                return []  # nothing to assert (the engine would read an unset state)
            first = self._next_id
            self._next_id += len(facts)
            # The id goes first: a fired rule's message repeats each matched fact's text
            # as given, so the ids can be read without parsing the JSON (see _drain).
            text = _encode([{"id": first + i, "sid": _SID, **fact} for i, fact in enumerate(facts)])
            if _MAYBE_EXPONENT.search(text):
                _refuse_exponents(facts)
            handle = self._handle
            try:
                code, state = _engine.assert_facts(handle, text)
                try:
                    if code in _REFUSED:
                        raise EngineFailure(
                            f"durable_rules refused the facts (code {code}: {_REFUSED[code]})"
                        )
                    return self._drain(state, first)
                finally:
                    # retract the very text asserted: same facts, same ids
                    _, state = _engine.retract_facts(handle, text)
                    self._drain(state, None)
            except EngineFailure:
                raise
            except Exception as exc:
                raise EngineFailure(f"durable_rules failed: {exc}") from None

    def _drain(self, state: int, first: int | None) -> Fired:
        """Run the action loop for ``state``: every rule that fired, in firing order, with
        its facts' positions counted from id ``first`` (``None``: record nothing)."""
        handle = self._handle
        started = _engine.start_action_for_state(handle, state)
        if started is None:
            return []
        fired: Fired = []
        message: str | None = started[1]
        needles = self._needles
        try:
            while message is not None:
                if first is not None:
                    name = message[2 : message.index('"', 2)]  # one rule per message
                    wanted = needles[name]
                    if wanted:
                        positions = []
                        for needle in wanted:
                            start = message.index(needle) + len(needle)
                            positions.append(int(message[start : message.index(",", start)]))
                        fired.append((name, tuple([p - first for p in positions])))
                message = _engine.complete_and_start_action(handle, state)
        except BaseException:
            # Complete the remaining actions rather than abandon them: an abandoned action
            # stays queued, and the retract that follows would leave it pointing at freed
            # facts (reading them is undefined behaviour in the C engine).
            try:
                while _engine.complete_and_start_action(handle, state) is not None:
                    pass
            except Exception:
                _engine.abandon_action(handle, state)
            raise
        return fired

    def leftover_facts(self) -> list[dict[str, Any]]:
        """Facts still held after evaluations (always empty; for tests)."""
        with self._lock:
            return json.loads(_engine.get_facts(self._handle, _SID))

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(json.loads(_engine.get_state(self._handle, _SID)))


def _refuse_exponents(facts: list[dict[str, Any]]) -> None:
    for fact in facts:
        for name, value in fact.items():
            if isinstance(value, float) and value and not 1e-4 <= abs(value) < 1e16:
                # durable_rules' parser crashes the whole process on exponent notation
                raise EngineFailure(
                    f"refusing to pass {name}={value!r} to durable_rules: exponent"
                    " notation crashes its parser"
                )
