"""Compile a validated rule pack into durable_rules ruleset definitions.

Each rule's ``when`` is brought to disjunctive normal form; every conjunction becomes one
durable_rules rule named ``<rule id>#<k>``. A conjunction joins one fact per symptom it
names with, when it tests any field, the report's single context fact (measurements,
derived values, treatment, age, and "was symptom X reported" flags).

Negation never reaches durable_rules: its ``$not`` depends on the order facts arrive in
(a negated fact asserted after the fact it should block does not withdraw the match), so
``none`` is pushed down to the field tests of the context fact, which is always present.

The compiler also works out which symptom codes and fields can ever meet in one rule
(the groups the decision cache splits a report into) and every threshold each field is
compared against (the intervals a value is reduced to for the cache key).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .conditions import (
    CONTEXT_FIELDS,
    AllOf,
    Condition,
    FieldCond,
    NoneOf,
    Op,
    SymptomCond,
    Test,
)
from .errors import RulePackError
from .models import SEVERITY_RANK
from .pack import Rule, RulePack
from .runtime import FORWARD, LIMITS, Breach, survey
from .trends import TREND_FIELDS, Trend

MAX_CONJUNCTIONS = 64
UNRECOGNIZED_CODE = "_unrecognized"  # cannot clash: vocabulary codes start with a letter
UNRECOGNIZED_RULE = "ktriage.unrecognized"
CATCH_ALL = ("ktriage.catch_symptom", "ktriage.catch_context")

# A context literal is a clause: the tests in it are alternatives (OR).
Clause = tuple[Test, ...]


@dataclass(frozen=True)
class Conjunction:
    symptoms: tuple[SymptomCond, ...]
    clauses: tuple[Clause, ...]

    @property
    def needs_data(self) -> bool:
        """True when something must be reported for it to hold (not only absences)."""
        return bool(self.symptoms) or any(
            all(t.op != "absent" for t in clause) for clause in self.clauses
        )


@dataclass(frozen=True)
class CompiledRule:
    """One durable_rules rule: the rule it belongs to and the aliases of its facts."""

    name: str
    rule_id: str
    conjunction: Conjunction
    aliases: tuple[str, ...]


@dataclass
class CompiledPack:
    ruleset: dict[str, dict[str, Any]]
    compiled: dict[str, CompiledRule]
    negated_codes: frozenset[str]
    group_of_code: dict[str, int]
    group_of_field: dict[str, int]
    live_groups: frozenset[int]  # groups holding at least one rule; the rest never fire
    join_groups: frozenset[int]  # groups with a rule that joins two symptom facts
    symptom_attrs: dict[str, frozenset[str]]  # attributes some rule tests, by symptom code
    # context fields tested together with each symptom code (sorted, for cache keys)
    fields_with_code: dict[str, tuple[str, ...]]
    # context fields tested by rules that name no symptom: (group, sorted fields) sets
    # that share no field, each decided on its own
    context_only_fields: tuple[tuple[int, tuple[str, ...]], ...]
    with_symptom: frozenset[str]  # compiled rules that name a symptom
    # the trends its rules test (trends.py), computed for reports with earlier check-ins
    trends: tuple[Trend, ...] = ()
    # codes that some rule joins with another symptom fact, by the component of codes
    # joined together (a rule sees only symptom facts of one component); every other
    # code is decided one symptom at a time
    join_component: dict[str, int] = field(default_factory=dict)
    # the context fields tested by the rules of each component, sorted
    component_fields: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # every distinct numeric test on each field, as ("ge" | "gt" | "eq", value)
    thresholds: dict[str, tuple[tuple[str, float], ...]] = field(default_factory=dict)
    # how full each of durable_rules' tables gets (runtime.LIMITS), for `rules validate`
    limits_used: dict[str, int] = field(default_factory=dict)
    _bucket_memo: dict[str, dict[float, int]] = field(default_factory=dict, repr=False)

    def bucket(self, name: str, value: Any) -> Any:
        """``value`` reduced to the answers it gives to every comparison the pack makes on
        ``name`` (a bit per distinct test). Two values in the same bucket lead to the same
        decision; numbers that no rule compares all fall in bucket 0.
        """
        if isinstance(value, str):
            return value
        memo = self._bucket_memo.get(name)
        if memo is None:
            memo = self._bucket_memo[name] = {}
        mask = memo.get(value)
        if mask is not None:
            return mask
        if len(memo) >= 4096:
            memo.clear()  # a backstop: values repeat (whole mmHg, 0.1 kg)
        mask = memo[value] = self._bucket(name, value)
        return mask

    def _bucket(self, name: str, value: float) -> int:
        mask = 0
        bit = 1
        for op, point in self.thresholds.get(name, ()):
            if value >= point if op == "ge" else value > point if op == "gt" else value == point:
                mask |= bit
            bit <<= 1
        return mask


def compile_pack(pack: RulePack) -> CompiledPack:
    ruleset: dict[str, dict[str, Any]] = {}
    compiled: dict[str, CompiledRule] = {}
    negated: set[str] = set()
    thresholds: dict[str, set[tuple[str, float]]] = {}
    attrs: dict[str, set[str]] = {}
    joins: set[str] = set()
    joined_sets: list[set[str]] = []
    fields_with_code: dict[str, set[str]] = {}
    context_only: list[Conjunction] = []
    for rule in pack.rules:
        conjunctions = _dnf(rule.when, rule)
        for k, conj in enumerate(conjunctions):
            if not conj.needs_data:
                raise RulePackError(
                    "this rule could fire on a report where nothing was reported; give every"
                    " alternative a positive condition (a symptom or a value that is present)",
                    file=rule.file,
                    line=rule.line,
                    rule_id=rule.id,
                )
            name = f"{rule.id}#{k}"
            definition, aliases = _durable_rule(conj)
            ruleset[name] = {**definition, "run": name}
            compiled[name] = CompiledRule(name, rule.id, conj, aliases)
            for clause in conj.clauses:
                for test in clause:
                    if test.field.startswith("has__"):
                        negated.add(test.field[5:])
                    _collect(thresholds, test.field, test)
            for sym in conj.symptoms:
                for test in sym.tests:
                    _collect(thresholds, "symptom." + test.field, test)
                for code in sym.codes:
                    attrs.setdefault(code, set()).update(t.field for t in sym.tests)
            if len(conj.symptoms) > 1:
                joins.update(c for sym in conj.symptoms for c in sym.codes)
                joined_sets.append({c for sym in conj.symptoms for c in sym.codes})
            clause_fields = {t.field for clause in conj.clauses for t in clause}
            for sym in conj.symptoms:
                for code in sym.codes:
                    fields_with_code.setdefault(code, set()).update(clause_fields)
            if not conj.symptoms:
                context_only.append(conj)
    unrecognized = Conjunction((SymptomCond((UNRECOGNIZED_CODE,)),), ())
    definition, aliases = _durable_rule(unrecognized)
    name = UNRECOGNIZED_RULE + "#0"
    ruleset[name] = {**definition, "run": name}
    compiled[name] = CompiledRule(name, UNRECOGNIZED_RULE, unrecognized, aliases)
    # Without a rule for every kind of fact, durable_rules refuses a batch in which any
    # fact matches nothing and runs the other facts' actions later on a timer thread. A
    # fact that matches the first pattern of a join is "handled"; joining it with a fact
    # that never exists means the catch-alls never run an action (an action round trip
    # through durable_rules' Python layer costs more than the match itself).
    never = {"never": {"t": "__never__"}}
    ruleset[CATCH_ALL[0]] = {"all": [{"m": {"t": "s"}}, never], "run": CATCH_ALL[0]}
    ruleset[CATCH_ALL[1]] = {"all": [{"m": {"t": "c"}}, never], "run": CATCH_ALL[1]}
    limits_used = _check_limits(pack, ruleset, compiled, negated)
    groups_code, groups_field = _groups(pack, negated)
    component = _components(joined_sets)
    component_fields: dict[int, set[str]] = {}
    for code, number in component.items():
        component_fields.setdefault(number, set()).update(fields_with_code.get(code, ()))
    live = {groups_code[UNRECOGNIZED_CODE]}
    live |= {groups_code[c] for rule in pack.rules for c in rule.codes}
    live |= {groups_field[f] for rule in pack.rules for f in rule.fields}
    return CompiledPack(
        ruleset=ruleset,
        compiled=compiled,
        negated_codes=frozenset(negated),
        group_of_code=groups_code,
        group_of_field=groups_field,
        live_groups=frozenset(live),
        join_groups=frozenset(groups_code[c] for c in joins),
        fields_with_code={c: tuple(sorted(f)) for c, f in fields_with_code.items()},
        context_only_fields=_context_only_fields(context_only, groups_field),
        with_symptom=frozenset(n for n, c in compiled.items() if c.conjunction.symptoms),
        symptom_attrs={code: frozenset(a) for code, a in attrs.items()},
        thresholds={name: tuple(sorted(tests)) for name, tests in thresholds.items()},
        trends=tuple(
            TREND_FIELDS[f]
            for f in sorted({f for rule in pack.rules for f in rule.fields})
            if f.startswith("trend__")
        ),
        join_component=component,
        component_fields={n: tuple(sorted(f)) for n, f in component_fields.items()},
        limits_used=limits_used,
    )


# -- durable_rules' limits, in the pack's terms ---------------------------------------------

_ADVICE = {
    "rules": "each alternative of a rule's 'any' is one; merge rules that give the same"
    " advice, or split the pack",
    "facts": "split the rule: a rule joins one fact per symptom it names, and one for the"
    " report's values",
    "markers": "split the rule: each 'all', 'any', list of symptoms, 'one_of' and 'none'"
    " of a value adds a group",
    "ending": "merge rules that give the same advice, or give some of them a further test",
    "joins": "absence tests ('none' of a symptom or a value not given) and lists of"
    " alternatives share this place; test a symptom or value first, or merge rules",
    "tests": "use fewer distinct thresholds or codes here, or test something else first",
    "stack": "use fewer distinct thresholds on the same value, or fewer absence tests",
}
_SYMBOL = {"eq": "=", "ne": "≠", "ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
_SEVERITY = {rank: str(member) for member, rank in SEVERITY_RANK.items()}


def _check_limits(
    pack: RulePack,
    ruleset: dict[str, dict[str, Any]],
    compiled: dict[str, CompiledRule],
    negated: set[str],
) -> dict[str, int]:
    """Refuse a pack that outgrows one of durable_rules' fixed tables, naming the rule
    where it does, in the pack's terms (the engine itself only says "error code: 108",
    or never returns). Returns how full each table gets."""
    by_id = {rule.id: rule for rule in pack.rules}
    problems: list[RulePackError] = []
    breaches, used = survey({n: {"all": r["all"]} for n, r in ruleset.items()})
    for found in breaches:
        rule = by_id.get(compiled[found.rule].rule_id)
        problems.append(
            RulePackError(
                _describe_breach(found, compiled),
                file=rule.file if rule else None,
                line=rule.line if rule else None,
                rule_id=rule.id if rule else compiled[found.rule].rule_id,
            )
        )
    # the report's context fact: every field a report can give, every trend the pack
    # tests, a "has" flag per symptom some rule negates, and t, id and sid
    trends = {f for r in pack.rules for f in r.fields if f.startswith("trend__")}
    fields = len(CONTEXT_FIELDS) + len(trends) + 3
    fields += len(negated)
    used["fields"] = fields
    if fields > LIMITS["fields"]:
        problems.append(
            RulePackError(
                f"the report's values would be a fact of up to {fields} fields, and"
                f" durable_rules takes at most {LIMITS['fields']}: {len(negated)} symptoms"
                " are tested with 'none', each adding one; test fewer symptoms' absence",
                file=pack.root,
            )
        )
    if problems:
        problems[0].problems = problems
        raise problems[0]
    return used


# what each of durable_rules' tables holds, in the pack's terms (`rules validate`)
LIMIT_WORDS = {
    "stack": "tests one report can pass at once",
    "fields": "fields of a report's values",
    "tests": "different tests after one test",
    "rules": "compiled rules",
    "ending": "conditions testing exactly the same thing",
    "joins": "absence tests and lists after one test",
    "facts": "facts one rule joins",
    "markers": "and/or groups testing one fact",
}


def nearest_limits(used: dict[str, int], count: int = 3) -> list[tuple[str, int, int]]:
    """The ``count`` tables closest to full: (words, used, allowed), fullest first. A
    pattern's and/or groups are counted as groups (two markers each)."""
    rows = []
    for limit, words in LIMIT_WORDS.items():
        allowed = LIMITS[limit] // 2 if limit == "markers" else LIMITS[limit]
        n = used.get(limit, 0) // 2 if limit == "markers" else used.get(limit, 0)
        rows.append((words, n, allowed))
    rows.sort(key=lambda row: row[1] / row[2], reverse=True)
    return rows[:count]


def _describe_breach(found: Breach, compiled: dict[str, CompiledRule]) -> str:
    allowed = found.allowed
    where = _describe_tests(found.tests)
    first = compiled[found.first].rule_id if found.first in compiled else None
    since = f" (the first is in rule {first!r})" if first and first != found.rule else ""
    what = {
        "rules": f"the pack compiles to more than {allowed} durable_rules rules; this rule"
        f" takes it to {found.count}",
        "facts": f"this rule joins {found.count} facts, and durable_rules joins at most {allowed}",
        "markers": f"one fact in this rule is tested through {found.count // 2} groups of"
        f" conditions, and durable_rules allows at most {allowed // 2}",
        "ending": f"{found.count} conditions in the pack test exactly {where}{since}, and"
        f" durable_rules allows at most {allowed}",
        "joins": f"{found.count} absence tests or lists of alternatives follow {where}, and"
        f" durable_rules allows at most {allowed}",
        "tests": f"{found.count} different tests follow {where}, and durable_rules"
        f" allows at most {allowed} (past that it never finishes loading)",
        "stack": f"with this rule one report could pass up to {found.count} tests at once on"
        f" its way through the rules, and durable_rules holds at most {allowed} (past that"
        " such a report fails when it is checked)",
    }[found.limit]
    return f"{what}; {_ADVICE[found.limit]}"


def _describe_tests(tests: tuple[tuple[str, str, Any], ...]) -> str:
    """A chain of fact tests in words: "symptom 'fatigue' and severity ≥ moderate"."""
    words: list[str] = []
    for test in tests:
        field_, op, value = test
        if test == FORWARD:
            words.append("one of a list of alternatives")
        elif field_ == "t":
            words.append("a symptom" if value == "s" else "the report's values")
        elif field_ == "code":
            words[-1:] = [f"symptom {value!r}"]
        elif field_.startswith("has__"):
            words.append(f"{field_[5:]!r} {'not ' if op == 'nex' else ''}reported")
        elif op in ("ex", "nex"):
            words.append(f"{field_} {'given' if op == 'ex' else 'not given'}")
        else:
            shown = _SEVERITY.get(value, value) if field_ == "sev" else value
            name = "severity" if field_ == "sev" else field_
            words.append(f"{name} {_SYMBOL[op]} {shown}")
    return " and ".join(words) if words else "the start of every fact"


def _components(joined: list[set[str]]) -> dict[str, int]:
    """Codes joined in one rule, merged into components: code -> component number."""
    parts: list[set[str]] = []
    for codes in joined:
        codes = set(codes)
        touching = [p for p in parts if p & codes]
        for p in touching:
            parts.remove(p)
            codes |= p
        parts.append(codes)
    ordered = sorted(parts, key=lambda p: sorted(p))
    return {code: i for i, p in enumerate(ordered) for code in p}


def _context_only_fields(
    conjunctions: list[Conjunction], group_of_field: dict[str, int]
) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Rules that name no symptom, split into sets that share no field: (group, fields)."""
    parts: list[set[str]] = []
    for conj in conjunctions:
        fields = {t.field for clause in conj.clauses for t in clause}
        touching = [p for p in parts if p & fields]
        for p in touching:
            parts.remove(p)
            fields |= p
        parts.append(fields)
    return tuple(
        (group_of_field[next(iter(p))], tuple(sorted(p)))
        for p in sorted(parts, key=lambda p: sorted(p))
    )


# x < v is "not x >= v" and x <= v is "not x > v": one bit answers both.
_BIT_OF = {"ge": "ge", "lt": "ge", "gt": "gt", "le": "gt", "eq": "eq", "ne": "eq"}


def _collect(thresholds: dict[str, set[tuple[str, float]]], name: str, test: Test) -> None:
    if test.op in ("in", "not_in"):
        tests = [("eq", v) for v in test.value]
    elif test.op in _BIT_OF:
        tests = [(_BIT_OF[test.op], test.value)]
    else:
        return
    for op, value in tests:
        if isinstance(value, int | float) and not isinstance(value, bool):
            thresholds.setdefault(name, set()).add((op, value))


# -- disjunctive normal form -------------------------------------------------------------

_NEGATE: dict[str, Op] = {"ge": "lt", "gt": "le", "le": "gt", "lt": "ge", "eq": "ne"}


def _dnf(cond: Condition, rule: Rule) -> list[Conjunction]:
    out = _dnf_of(cond, negate=False)
    if len(out) > MAX_CONJUNCTIONS:
        raise RulePackError(
            f"this rule's conditions expand to {len(out)} alternatives (at most"
            f" {MAX_CONJUNCTIONS}); split it into several rules",
            file=rule.file,
            line=rule.line,
            rule_id=rule.id,
        )
    return out


def _dnf_of(cond: Condition, negate: bool) -> list[Conjunction]:
    if isinstance(cond, SymptomCond):
        if not negate:
            return [Conjunction((cond,), ())]
        # "none of these symptoms": every one of the codes is absent (the parser allows
        # only bare codes here).
        clauses = tuple((Test(f"has__{code}", "absent"),) for code in cond.codes)
        return [Conjunction((), clauses)]
    if isinstance(cond, FieldCond):
        if not negate:
            return [Conjunction((), ((cond.test,),))]
        return [Conjunction((), (_negate_test(cond.test),))]
    if isinstance(cond, NoneOf):
        # none(a, b) == all(not a, not b)
        return _product([_dnf_of(item, not negate) for item in cond.items])
    conjunctive = isinstance(cond, AllOf) != negate  # De Morgan
    parts = [_dnf_of(item, negate) for item in cond.items]
    if conjunctive:
        return _product(parts)
    return [conj for part in parts for conj in part]


def _product(parts: list[list[Conjunction]]) -> list[Conjunction]:
    out = []
    for combo in itertools.product(*parts):
        out.append(
            Conjunction(
                tuple(s for c in combo for s in c.symptoms),
                tuple(dict.fromkeys(cl for c in combo for cl in c.clauses)),
            )
        )
        if len(out) > MAX_CONJUNCTIONS:
            break
    return out


def _negate_test(test: Test) -> Clause:
    if test.op == "present":
        return (Test(test.field, "absent"),)
    if test.op == "absent":
        return (Test(test.field, "present"),)
    absent = Test(test.field, "absent")
    if test.op == "in":
        return (Test(test.field, "not_in", test.value), absent)
    return (Test(test.field, _NEGATE[test.op], test.value), absent)


# -- durable_rules JSON -------------------------------------------------------------------

_DURABLE_OP = {"ge": "$gte", "gt": "$gt", "le": "$lte", "lt": "$lt", "ne": "$neq"}
_SYMPTOM_FACT_FIELD = {"severity": "sev"}


def _test_json(test: Test, fact_field: str) -> dict[str, Any]:
    if test.op == "eq":
        return {fact_field: test.value}
    if test.op == "in":
        if len(test.value) == 1:
            return {fact_field: test.value[0]}
        return {"$or": [{fact_field: v} for v in test.value]}
    if test.op == "not_in":
        return {"$and": [{"$neq": {fact_field: v}} for v in test.value]}
    if test.op == "present":
        return {"$ex": {fact_field: 1}}
    if test.op == "absent":
        return {"$nex": {fact_field: 1}}
    return {_DURABLE_OP[test.op]: {fact_field: test.value}}


def _durable_rule(conj: Conjunction) -> tuple[dict[str, Any], tuple[str, ...]]:
    patterns: list[dict[str, Any]] = []
    aliases: list[str] = []
    for i, sym in enumerate(conj.symptoms):
        codes = sym.codes
        code_test: dict[str, Any] = (
            {"code": codes[0]} if len(codes) == 1 else {"$or": [{"code": c} for c in codes]}
        )
        terms = [{"t": "s"}, code_test]
        terms += [_test_json(t, _SYMPTOM_FACT_FIELD.get(t.field, t.field)) for t in sym.tests]
        alias = f"s{i}"
        patterns.append({alias: {"$and": terms}})
        aliases.append(alias)
    if conj.clauses:
        terms = [{"t": "c"}]
        for clause in conj.clauses:
            tests = [_test_json(t, t.field) for t in clause]
            terms.append(tests[0] if len(tests) == 1 else {"$or": tests})
        patterns.append({"c": {"$and": terms}})
        aliases.append("c")
    return {"all": patterns}, tuple(aliases)


# -- independent groups for the decision cache -------------------------------------------


def _groups(pack: RulePack, negated: set[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Union the atoms (symptom codes, context fields) that appear together in a rule."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    atoms = [f"code:{c}" for c in pack.vocabulary.terms] + [f"code:{UNRECOGNIZED_CODE}"]
    atoms += [f"field:{f}" for f in CONTEXT_FIELDS]
    # trend fields (trends.py): known to the pack that names them
    atoms += sorted({f"field:{f}" for r in pack.rules for f in r.fields if f.startswith("trend__")})
    for atom in atoms:
        find(atom)
    for rule in pack.rules:
        mentioned = [f"code:{c}" for c in sorted(rule.codes)]
        mentioned += [f"field:{f}" for f in sorted(rule.fields)]
        for a, b in itertools.pairwise(mentioned):
            union(a, b)
    roots = sorted({find(a) for a in atoms})
    number = {root: i for i, root in enumerate(roots)}
    by_code = {a[5:]: number[find(a)] for a in atoms if a.startswith("code:")}
    by_field = {a[6:]: number[find(a)] for a in atoms if a.startswith("field:")}
    for code in negated:
        by_field[f"has__{code}"] = by_code[code]
    return by_code, by_field
