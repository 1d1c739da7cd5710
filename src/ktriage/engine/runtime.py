"""The one module that talks to durable_rules.

What it relies on, each measured on this project's machines (see the shared notes and
``tests/test_runtime.py``):

* ``Host`` starts two timer threads that poke the ruleset every 0.2 s; with several
  threads posting, they cause upstream issue #291 (``error code: 307``) and wrong results.
  Triage needs no timers, so ``_QuietHost._run`` starts none, and one lock serialises
  every evaluation (the C engine holds the GIL anyway; processes give parallelism).
* Reusing a state across evaluations leaks facts into later joins, and ``delete_state``
  has crashed inside ``deleteStateNode`` in some runs. What held in every run: one
  session id reused under the lock, every fact given a fresh explicit id, and every fact
  retracted after the evaluation. The compiled rules have no negation, so retracting a
  fact can never fire a rule.
* Without a completion callback, ``assert_facts`` runs every action before it returns,
  so what fired is known when the call returns.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import weakref
from collections.abc import Callable
from typing import Any

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException, MessageObservedException

from .errors import EngineFailure

Fired = list[tuple[str, tuple[int, ...]]]
_SID = "0"
_names = itertools.count()


class _QuietHost(Host):
    def __init__(self, actions: dict[str, Callable[[Any], None]]) -> None:
        self._actions = actions
        super().__init__()

    def _run(self) -> None:
        """Start no timer threads: triage needs neither timers nor async dispatch."""

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return self._actions[action_name]


class Runtime:
    """A compiled ruleset, loaded into its own durable_rules host.

    ``run(facts)`` asserts the facts, returns every rule that fired with the ids of the
    facts it matched, and retracts the facts again, leaving nothing behind.
    """

    def __init__(
        self, ruleset: dict[str, dict[str, Any]], aliases: dict[str, tuple[str, ...]]
    ) -> None:
        self._lock = threading.Lock()
        self._fired: Fired = []
        self._ids = itertools.count(1)
        self._name = f"ktriage{next(_names)}"
        actions = {name: self._collector(name, aliases.get(name, ())) for name in ruleset}
        self._host = _QuietHost(actions)
        try:
            # registration deletes each rule's "run" key: hand it a copy
            self._host.register_rulesets({self._name: copy.deepcopy(ruleset)})
        except Exception as exc:  # durable_rules reports bad rules as bare numeric codes
            raise EngineFailure(f"durable_rules rejected the compiled ruleset: {exc}") from None
        # The C ruleset (about 2.6 MB for the shipped pack) is not freed with the Python
        # objects: free it when this runtime is closed or garbage-collected.
        handle = self._host.get_ruleset(self._name)._handle
        self._release = weakref.finalize(self, durable_rules_engine.delete_ruleset, handle)
        self._release.atexit = False  # the process frees everything at exit anyway

    def close(self) -> None:
        """Free the ruleset now. The runtime cannot evaluate afterwards."""
        with self._lock:
            self._release()

    def _collector(self, name: str, aliases: tuple[str, ...]) -> Callable[[Any], None]:
        fired = self._fired
        if not aliases:

            def ignore(c: Any) -> None:
                return None

            return ignore

        # durable_rules counts an action's parameters: exactly one, or it is taken for an
        # asynchronous action that never completes.
        def collect(c: Any) -> None:
            # c._m holds the matched facts by alias (what c.<alias> wraps in a Content)
            matched = c._m
            fired.append((name, tuple([matched[alias]["id"] for alias in aliases])))

        return collect

    def run(self, facts: list[dict[str, Any]]) -> Fired:
        """Evaluate one report's facts in isolation. Thread-safe."""
        for fact in facts:
            for name, value in fact.items():
                # repr() (and so json) writes a float in exponent notation below 1e-4
                # and from 1e16 up
                if isinstance(value, float) and value and not 1e-4 <= abs(value) < 1e16:
                    # durable_rules' parser crashes the whole process on exponent notation
                    raise EngineFailure(
                        f"refusing to pass {name}={value!r} to durable_rules: exponent"
                        " notation crashes its parser"
                    )
        with self._lock:
            if not self._release.alive:
                raise EngineFailure("this engine was closed")
            for fact in facts:
                fact["id"] = next(self._ids)
                fact["sid"] = _SID
            self._fired.clear()
            try:
                self._host.assert_facts(self._name, facts)
                fired = list(self._fired)
                self._host.retract_facts(self._name, facts)
            except (MessageNotHandledException, MessageObservedException) as exc:
                raise EngineFailure(f"durable_rules refused the facts: {exc.message}") from None
            except Exception as exc:
                raise EngineFailure(f"durable_rules failed: {exc}") from None
            finally:
                self._fired.clear()
            return fired

    def leftover_facts(self) -> list[dict[str, Any]]:
        """Facts still held after evaluations (always empty; for tests)."""
        with self._lock:
            return json.loads(json.dumps(self._host.get_facts(self._name, _SID)))

    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._host.get_state(self._name, _SID))
