"""A Markdown catalogue of a loaded rule pack, for clinical review (``ktriage rules docs``).

Everything is rendered from the validated pack: each rule's ``when`` is turned back into
words from the parsed condition tree, so the catalogue shows what the engine runs, not
what the YAML author meant. The output is deterministic: the same pack gives the same
text on every machine (file paths are shown relative to the pack folder).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from .conditions import (
    SYMPTOM_FIELDS,
    AllOf,
    AnyOf,
    Condition,
    FieldCond,
    FieldSpec,
    NoneOf,
    SymptomCond,
    Test,
)
from .models import Escalation
from .pack import Rule, RulePack
from .trends import field_spec

_OP_WORDS = {
    "eq": "is",
    "ne": "is not",
    "ge": "at least",
    "gt": "above",
    "le": "at most",
    "lt": "below",
    "in": "is one of",
    "not_in": "is none of",
    "present": "is recorded",
    "absent": "is not recorded",
}
_COMBINATOR_WORDS = {AllOf: "all of:", AnyOf: "any of:", NoneOf: "none of:"}


def render_catalogue(pack: RulePack) -> str:
    """The whole pack as Markdown: summary, rules by file, vocabulary, sources."""
    lines = [f"# Rule catalogue: {pack.name} {pack.version}", ""]
    if pack.description:
        lines += [pack.description.strip(), ""]
    lines += [
        "Generated from the rule pack by `ktriage rules docs`; do not edit by hand.",
        "",
        *_summary(pack),
        "## Rules",
        "",
    ]
    current_file = None
    for rule in pack.rules:
        rel = _relative(rule.file, pack.root)
        if rel != current_file:
            current_file = rel
            lines += [f"### {rel}", ""]
        lines += _rule(rule, pack)
    lines += _vocabulary(pack)
    lines += _sources(pack)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _summary(pack: RulePack) -> list[str]:
    examples = sum(len(rule.examples) for rule in pack.rules)
    counts = Counter(rule.escalation for rule in pack.rules)
    red = sum(rule.red_flag for rule in pack.rules)
    lines = [
        f"{_count(len(pack.rules), 'rule')} ({_count(red, 'red flag')}),"
        f" {_count(examples, 'worked example')}, {_count(len(pack.vocabulary.terms), 'symptom')},"
        f" {_count(len(pack.sources), 'source')}.",
        "",
        "| level | meaning | rules |",
        "|---|---|---|",
    ]
    for level in Escalation:
        lines.append(f"| `{level.value}` | {level.label} | {counts.get(level, 0)} |")
    return [*lines, ""]


def _rule(rule: Rule, pack: RulePack) -> list[str]:
    level = f"`{rule.escalation.value}`" + (" (red flag)" if rule.red_flag else "")
    lines = [f"#### `{rule.id}`: {rule.title}", "", f"- **Level:** {level}"]
    when = describe_condition(rule.when, pack)
    if len(when) == 1:
        lines.append(f"- **When:** {when[0]}")
    else:
        lines.append("- **When:**")
        lines += [f"  {line}" for line in when]
    lines.append(f"- **Patient guidance:** {_flat(rule.guidance)}")
    lines.append(f"- **Staff action:** {_flat(rule.action)}")
    if rule.note:
        lines.append(f"- **Note:** {_flat(rule.note)}")
    if rule.label:
        lines.append(f"- **Result label:** {rule.label}")
    if rule.supersedes:
        lines.append(
            "- **Supersedes** (their advice is left out of the text output when this fires):"
            f" {', '.join(f'`{r}`' for r in rule.supersedes)}"
        )
    lines.append("- **Sources:** " + "; ".join(f"`{s.id}`" for s in rule.sources))
    fires = sum(ex.fires for ex in rule.examples)
    lines.append(
        f"- **Examples:** {len(rule.examples)} ({fires} firing,"
        f" {len(rule.examples) - fires} not firing)"
    )
    return [*lines, ""]


def rule_summary(rule: Rule) -> dict[str, Any]:
    """A rule's reviewable parts as JSON (for `ktriage rules show` and `GET /v1/rules`)."""
    return {
        "id": rule.id,
        "title": rule.title,
        "escalation": rule.escalation.value,
        "red_flag": rule.red_flag,
        "guidance": rule.guidance,
        "action": rule.action,
        "sources": [{"id": s.id, "title": s.title, "url": s.url} for s in rule.sources],
    }


def describe_condition(cond: Condition, pack: RulePack) -> list[str]:
    """A condition in words: one line for a single test, a nested Markdown list otherwise."""
    if isinstance(cond, AllOf | AnyOf | NoneOf):
        merged = _merged_range(cond)
        if merged is not None:
            return [merged]
        out = [f"- {_COMBINATOR_WORDS[type(cond)]}"]
        for item in cond.items:
            inner = describe_condition(item, pack)
            if len(inner) == 1 and not inner[0].startswith("- "):
                out.append(f"  - {inner[0]}")
            else:
                out += [f"  {line}" for line in inner]
        return out
    if isinstance(cond, SymptomCond):
        return [_symptom(cond, pack)]
    return [_test(cond.test, field_spec(cond.test.field))]


def _merged_range(cond: AllOf | AnyOf | NoneOf) -> str | None:
    """``all`` of tests on one field (a band such as 5 to under 10 %) reads as one line."""
    if not isinstance(cond, AllOf) or not all(isinstance(i, FieldCond) for i in cond.items):
        return None
    tests = [item.test for item in cond.items if isinstance(item, FieldCond)]
    if len({t.field for t in tests}) != 1:
        return None
    spec = field_spec(tests[0].field)
    parts = [_test(t, spec) for t in tests]
    return parts[0] + "".join(" and " + p.removeprefix(spec.label + " ") for p in parts[1:])


def _symptom(cond: SymptomCond, pack: RulePack) -> str:
    names = [f"`{code}` ({pack.vocabulary.label(code)})" for code in cond.codes]
    head = "symptom " + (names[0] if len(names) == 1 else "one of " + ", ".join(names))
    if not cond.tests:
        return head
    tests = [_test(t, SYMPTOM_FIELDS[t.field]) for t in cond.tests]
    return f"{head} with {' and '.join(tests)}"


def _test(test: Test, spec: FieldSpec) -> str:
    words = _OP_WORDS[test.op]
    if test.op in ("present", "absent"):
        return f"{spec.label} {words}"
    if spec.kind == "bool":
        value = "yes" if test.value else "no"
        return f"{spec.label}: {value}" if test.op == "eq" else f"{spec.label} {words} {value}"
    if test.op in ("eq", "in") and spec.kind == "ordinal":
        values = test.value if test.op == "in" else (test.value,)
        return f"{spec.label} " + " or ".join(_value(v, spec) for v in values)
    if test.op in ("in", "not_in"):
        values = ", ".join(_value(v, spec) for v in test.value)
        return f"{spec.label} {words} {values}"
    return f"{spec.label} {words} {_value(test.value, spec)}"


def _value(value: Any, spec: FieldSpec) -> str:
    if spec.kind == "ordinal":
        return spec.values[int(value) - 1]
    if spec.kind == "enum":
        return f"`{value}`"
    unit = "day" if spec.unit == "days" and value == 1 else spec.unit
    sep = "" if unit in ("", "%") else " "
    shown = f"{value:g}" + (" " if unit == "%" else sep) + unit
    return shown.rstrip()


def _vocabulary(pack: RulePack) -> list[str]:
    lines = [
        "## Vocabulary",
        "",
        "Words are matched ignoring case, spaces, hyphens and punctuation.",
        "",
        "| code | label | red flag | synonyms |",
        "|---|---|---|---|",
    ]
    for code in sorted(pack.vocabulary.terms):
        term = pack.vocabulary.terms[code]
        synonyms = ", ".join(term.synonyms) or "(none)"
        flag = "yes" if term.red_flag else ""
        lines.append(f"| `{code}` | {term.label} | {flag} | {synonyms} |")
    return [*lines, ""]


def _sources(pack: RulePack) -> list[str]:
    lines = ["## Sources", ""]
    cited = Counter(s.id for rule in pack.rules for s in rule.sources)
    for source_id in sorted(pack.sources):
        source = pack.sources[source_id]
        title = f"[{source.title}]({source.url})" if source.url else source.title
        uses = _count(cited.get(source_id, 0), "rule")
        lines.append(f"- `{source_id}`: {title} (cited by {uses})")
        if source.note:
            lines.append(f"  {_flat(source.note)}")
    return [*lines, ""]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _flat(text: str) -> str:
    return " ".join(text.split())


def _relative(file: str, root: str) -> str:
    try:
        return Path(file).relative_to(root).as_posix()
    except ValueError:
        return Path(file).name
