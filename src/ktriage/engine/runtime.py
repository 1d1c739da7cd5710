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
* The engine builds its network in fixed-size tables (``rules.h``, ``rete.c``,
  ``state.h``). Outgrowing one is refused with a bare number ("error code: 108"), or is
  worse: more than 512 different tests after one test make ``create_ruleset`` loop
  forever, a full list of absence tests is read and written past its end, and
  retracting the facts of a fired join reads past its frame (crashes from 5 joined
  facts up). ``check_limits`` walks
  a ruleset the way the engine builds it and reports every table it would outgrow, so
  nothing past a limit ever reaches the engine (``LIMITS`` lists them).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
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


# -- durable_rules' fixed sizes -----------------------------------------------------------
# The most each table may hold and stay safe, from durable_rules 2.0.28's sources; each
# was checked against the engine itself at the boundary (tests/test_runtime_limits.py).
LIMITS = {
    # MAX_ACTIONS: rules in one ruleset (over: code 106)
    "rules": 4096,
    # facts one rule joins. The frame holds 16 (MAX_MESSAGE_FRAMES; 17: code 304 when a
    # report matches), but retracting the facts of a fired join reads past the frame:
    # deleteMessageFromFrame blanks a message without lowering the frame's count, so the
    # second fact retracted from it scans beyond its 16 entries for one more. With 5 to 9
    # joined facts that crashed the process (SIGSEGV) on every run under one memory
    # layout (python -X faulthandler), and at 15 and 16 in two of three CI runs; with 2
    # to 4 it never did. The shipped pack joins at most 3.
    "facts": 4,
    # MAX_SEQUENCE_EXPRESSIONS - 1: "$and"/"$or" markers (two each) in one fact's pattern
    # (over: code 113)
    "markers": 31,
    # BETA_LIST_LENGTH - 1: patterns ending at the same chain of tests (over: code 108;
    # a full list has no end marker and is read past its end)
    "ending": 255,
    # NEXT_LIST_LENGTH - 1: absence tests and "$or" joins straight after one test (over:
    # code 107, or a write past the list's end)
    "joins": 127,
    # NEXT_BUCKET_LENGTH - 1: different tests straight after one test (at 512 the next
    # lookup never ends; over: code 106)
    "tests": 511,
    # MAX_OBJECT_PROPERTIES - 1: fields of one fact, id and sid included (a fact of 255
    # crashes the process when it is asserted)
    "fields": 254,
    # MAX_STACK_SIZE: tests matched and waiting while one fact goes through the network
    # (over: code 303 when a fact that matches that many is asserted)
    "stack": 64,
}
# what durable_rules' numeric codes mean (rules.h), for a ruleset it refuses anyway
_CODES = {
    101: "out of memory",
    102: "a value of an unexpected type",
    103: "a name that is too long",
    104: "an unexpected value",
    105: "an unexpected name",
    106: "too many rules, or too many different tests after one test",
    107: "too many absence tests or alternatives after one test",
    108: "too many patterns end at the same chain of tests",
    109: "a rule without all/any",
    113: "too many and/or groups in one fact's pattern",
    303: "a fact matched too many tests at once",
    201: "a value it cannot parse",
    202: "a string it cannot parse",
    203: "a number it cannot parse",
    204: "an object it cannot parse",
    205: "an array it cannot parse",
}
_OPERATORS = {
    "$lt": "lt", "$lte": "le", "$gt": "gt", "$gte": "ge", "$neq": "ne", "$ex": "ex",
    "$nex": "nex",
}  # fmt: skip
FORWARD = ("", "or", None)  # the node an "$or" joins its alternatives into
_MOST_FIELDS = LIMITS["fields"] - 2  # the id and sid the runtime adds


@dataclass(frozen=True)
class Breach:
    """One of durable_rules' tables that a ruleset would outgrow.

    ``rule`` is the rule that would outgrow it, ``first`` the first rule that uses the
    same table (when it is shared), ``tests`` the chain of ``(field, op, value)`` tests
    from a fact to the place in the network, ``count`` how many it would hold and
    ``limit`` (a key of ``LIMITS``) which table.
    """

    limit: str
    rule: str
    count: int
    tests: tuple[tuple[str, str, Any], ...] = ()
    first: str | None = None

    @property
    def allowed(self) -> int:
        return LIMITS[self.limit]


class _Node:
    __slots__ = ("ending", "first", "first_end", "joins", "keyed", "tests")

    def __init__(self, tests: tuple[tuple[str, str, Any], ...]) -> None:
        self.tests = tests
        self.keyed: dict[tuple[str, str, str, Any], _Node] = {}  # the hash set
        self.joins: dict[tuple[str, str, str, Any], _Node] = {}  # absence tests, "$or"s
        self.ending = 0
        self.first: str | None = None  # the first rule whose tests reach this node
        self.first_end: str | None = None  # the first rule with a pattern ending here


def check_limits(ruleset: dict[str, dict[str, Any]]) -> list[Breach]:
    """Every table of durable_rules that ``ruleset`` would outgrow, at the rule where it
    first would, without handing it to the engine."""
    return survey(ruleset)[0]


def survey(ruleset: dict[str, dict[str, Any]]) -> tuple[list[Breach], dict[str, int]]:
    """``check_limits``, and how full each table gets (a key of ``LIMITS`` for each but
    "fields", which depends on the facts: the compiler counts it)."""
    network = _network(ruleset)
    breaches, most = network.breaches, network.most
    if breaches:
        return breaches, most
    most["stack"] = max(1, _stack_rise(network.root, {}))
    if most["stack"] > LIMITS["stack"]:
        # the rule that takes the bound past the limit
        name = _first_failing(ruleset, lambda prefix: _peak(prefix) > LIMITS["stack"])
        breaches.append(Breach("stack", name, _peak(_through(ruleset, name))))
    return breaches, most


def _first_failing(ruleset: dict[str, dict[str, Any]], fails: Callable[[Any], bool]) -> str:
    """The rule that makes ``fails`` hold for a prefix of ``ruleset`` (which it does for
    the whole): the last of the shortest such prefix, found by halving. Adding rules never
    makes a failing prefix pass (the engine builds rules in order)."""
    names = list(ruleset)
    low, high = 0, len(names)  # the first `high` rules fail, the first `low` do not
    while high - low > 1:
        middle = (low + high) // 2
        if fails({n: ruleset[n] for n in names[:middle]}):
            high = middle
        else:
            low = middle
    return names[high - 1]


def _through(ruleset: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """The rules of ``ruleset`` up to and including ``name``."""
    names = list(ruleset)
    return {n: ruleset[n] for n in names[: names.index(name) + 1]}


def _peak(ruleset: dict[str, dict[str, Any]]) -> int:
    return max(1, _stack_rise(_network(ruleset).root, {}))


def _network(ruleset: dict[str, dict[str, Any]]) -> _Network:
    """The engine's test network for ``ruleset`` and the tables it outgrows while being
    built. Mirrors ``createTree``: tests are shared between rules when they have the same
    field, operator and value after the same tests; an ``$or`` joins its alternatives into
    a new node; each pattern ends in a join node of its own."""
    network = _Network()
    for number, (name, rule) in enumerate(ruleset.items(), 1):
        network.rule = name
        network.breach("rules", number)
        patterns = rule.get("all") or rule.get("any") or []
        network.breach("facts", len(patterns))
        for pattern in patterns:
            ((_alias, expression),) = pattern.items()
            network.markers = 0
            end = network.walk(expression, network.root)
            end.ending += 1
            end.first_end = end.first_end or name
            network.breach("ending", end.ending, end)
            network.breach("markers", network.markers)
    return network


class _Network:
    def __init__(self) -> None:
        self.root = _Node(())
        self.breaches: list[Breach] = []
        self.rule = ""  # the rule being added
        self.markers = 0  # in the pattern being added
        self._forwards = 0
        self._seen: set[tuple[str, int | str]] = set()  # (limit, node) already reported
        self.most = dict.fromkeys(LIMITS, 0)  # the fullest each table gets

    def breach(self, limit: str, count: int, node: _Node | None = None) -> None:
        if count > self.most[limit]:
            self.most[limit] = count
        key = (limit, id(node) if node is not None else self.rule)
        if count > LIMITS[limit] and key not in self._seen:
            self._seen.add(key)
            tests = node.tests if node is not None else ()
            first = None if node is None else node.first_end if limit == "ending" else node.first
            self.breaches.append(Breach(limit, self.rule, count, tests, first))

    def walk(self, expr: dict[str, Any], parent: _Node) -> _Node:
        """Add the tests of ``expr`` after ``parent``; returns the node they end at."""
        ((key, value),) = expr.items()
        if key == "$and":
            self.markers += 2
            node = parent
            for item in value:
                node = self.walk(item, node)
            return node
        if key == "$or":
            self.markers += 2
            self._forwards += 1
            joined = _Node((*parent.tests, FORWARD))
            joined.first = self.rule
            for item in value:
                alternative = self.walk(item, parent)
                alternative.joins[("", "or", "", self._forwards)] = joined
                self.breach("joins", len(alternative.joins), alternative)
            return joined
        op = _OPERATORS.get(key)
        if op is None:
            op, field, operand = "eq", key, value
        else:
            ((field, operand),) = value.items()
        tag = (field, op, type(operand).__name__, operand)
        found = parent.keyed.get(tag) or parent.joins.get(tag)
        if found is not None:
            return found
        node = _Node((*parent.tests, (field, op, operand)))
        node.first = self.rule
        if op == "nex":
            parent.joins[tag] = node
            self.breach("joins", len(parent.joins), parent)
        else:
            parent.keyed[tag] = node
            self.breach("tests", len(parent.keyed), parent)
        return node


def _stack_rise(node: _Node, memo: dict[int, int]) -> int:
    """An upper bound on how far the engine's stack rises while one fact goes through the
    tests after ``node`` (``handleAlpha``: pop a test, push every test after it that the
    fact matches; the last pushed is taken next). A fact pushes every absence test and
    "$or" join, and, for each field, the most tests one value of it can pass."""
    known = memo.get(id(node))
    if known is not None:
        return known
    after = [*node.keyed.values(), *node.joins.values()]
    if not after:
        memo[id(node)] = 0
        return 0
    pushed = len(node.joins) + _most_passed(node.keyed)
    deeper = max(_stack_rise(n, memo) for n in after)
    rise = memo[id(node)] = max(pushed, pushed - 1 + deeper)
    return rise


def _most_passed(keyed: dict[tuple[str, str, str, Any], _Node]) -> int:
    """The most of these tests one fact passes: for each field, the best value of it."""
    by_field: dict[str, list[tuple[str, Any]]] = {}
    for field, op, _type, operand in keyed:
        by_field.setdefault(field, []).append((op, operand))
    total = 0
    for tests in by_field.values():
        if all(op == "eq" for op, _ in tests):
            # one value equals those equal to each other (1 and 1.0 are two tests)
            total += max(Counter(operand for _, operand in tests).values())
            continue
        values: set[Any] = set()
        for _op, operand in tests:
            if isinstance(operand, int | float) and not isinstance(operand, bool):
                values.update((operand - 1e-9, operand, operand + 1e-9))
            else:
                values.add(operand)
        total += max(sum(_passes(op, operand, value) for op, operand in tests) for value in values)
    return total


def _passes(op: str, operand: Any, value: Any) -> bool:
    if op in ("ex", "nex"):
        return op == "ex"
    numeric = isinstance(operand, int | float) and not isinstance(operand, bool)
    if numeric != (isinstance(value, int | float) and not isinstance(value, bool)):
        return op == "ne"  # a value of another type: only "not equal" holds
    if op == "eq":
        return bool(value == operand)
    if op == "ne":
        return bool(value != operand)
    if not numeric:
        return False
    return bool(
        value < operand if op == "lt" else value <= operand if op == "le"
        else value > operand if op == "gt" else value >= operand
    )  # fmt: skip


class RulesetRejected(EngineFailure):
    """durable_rules refused a ruleset: ``rule`` names the rule where it stopped."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class Runtime:
    """A compiled ruleset, loaded into durable_rules.

    ``run(facts)`` asserts the facts, returns every rule that fired with the facts it
    matched, and retracts the facts again, leaving nothing behind.
    """

    def __init__(
        self,
        ruleset: dict[str, dict[str, Any]],
        aliases: dict[str, tuple[str, ...]],
        *,
        limits_checked: bool = False,
    ) -> None:
        """``limits_checked``: ``check_limits`` already passed this ruleset (the compiler
        runs it on every pack it compiles), so it is not walked again at each start."""
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
        breaches = [] if limits_checked else check_limits(definition)
        if breaches:
            first = breaches[0]
            raise RulesetRejected(
                f"durable_rules cannot take rule {first.rule!r}: it fills its"
                f" {first.limit!r} table to {first.count}, at most {first.allowed}",
                first.rule,
            )
        handle = _create(definition)
        if isinstance(handle, str):
            where = _first_refused(definition)
            raise RulesetRejected(f"durable_rules rejected rule {where!r}: {handle}", where)
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
            for fact in facts:
                if len(fact) > _MOST_FIELDS:  # the pack's check at load keeps facts smaller
                    raise EngineFailure(
                        f"refusing to pass a fact of {len(fact) + 2} fields to durable_rules:"
                        f" more than {LIMITS['fields']} crash it"
                    )
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


def _create(definition: dict[str, dict[str, Any]]) -> int | str:
    """A new ruleset's handle, or what durable_rules' refusal means."""
    try:
        return int(
            _engine.create_ruleset(
                f"ktriage{next(_names)}", json.dumps(definition, ensure_ascii=False)
            )
        )
    except Exception as exc:  # durable_rules reports bad rules as bare numeric codes
        found = re.search(r"error code: (\d+)", str(exc))
        code = int(found.group(1)) if found else None
        meaning = _CODES.get(code, "a reason it gives no name") if code else str(exc)
        return f"{meaning} (error code {code})" if code else meaning


def _first_refused(definition: dict[str, dict[str, Any]]) -> str:
    """The rule at which durable_rules refuses ``definition`` (which it does as a whole)."""
    return _first_failing(definition, _refused)


def _refused(definition: dict[str, dict[str, Any]]) -> bool:
    handle = _create(definition)
    if isinstance(handle, str):
        return True
    _engine.delete_ruleset(handle)
    return False


def _refuse_exponents(facts: list[dict[str, Any]]) -> None:
    for fact in facts:
        for name, value in fact.items():
            if isinstance(value, float) and value and not 1e-4 <= abs(value) < 1e16:
                # durable_rules' parser crashes the whole process on exponent notation
                raise EngineFailure(
                    f"refusing to pass {name}={value!r} to durable_rules: exponent"
                    " notation crashes its parser"
                )
