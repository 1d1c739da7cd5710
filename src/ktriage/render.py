"""Showing results and rules to a person: plain text when piped, rich when on a terminal.

Plain text is the contract scripts and tests read; the rich form shows the same content
with colour. ``rich`` is imported only when a terminal will show its output, so piped and
JSON use never pays for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from .engine.catalogue import describe_condition, rule_summary
from .engine.conditions import (
    CONTEXT_FIELDS,
)
from .engine.facts import describe_field, describe_symptom, extract, symptom_head
from .engine.models import Escalation, Reading, Report, Result
from .engine.pack import Rule, RulePack
from .engine.reader import Reader

LEVEL_STYLE = {
    Escalation.SELF_CARE: "bold green",
    Escalation.NEXT_VISIT: "bold cyan",
    Escalation.WITHIN_24H: "bold yellow",
    Escalation.URGENT: "bold white on dark_orange3",
    Escalation.EMERGENCY: "bold white on red",
}


@dataclass(frozen=True)
class Explanation:
    """Why a result came out as it did: the facts read from the report, the rules that fired."""

    facts: list[str]
    rules: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "rules": self.rules}


def explain(pack: RulePack, report: Report, result: Result, reader: Reader) -> Explanation:
    facts = extract(report, reader, frozenset())
    lines = [
        describe_symptom(s, symptom_head(s.name, s.code, pack.vocabulary)) for s in facts.symptoms
    ]
    lines += [
        describe_field(name, facts.context) for name in CONTEXT_FIELDS if name in facts.context
    ]
    rules = [
        {
            "rule": a.rule,
            "escalation": a.escalation.value,
            "title": a.title,
            "because": a.because,
            "superseded_by": a.superseded_by,
        }
        for a in result.advice
    ]
    return Explanation(lines, rules)


def is_terminal(stream: IO[Any]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


# -- results -------------------------------------------------------------------------------


def result_json(result: Result, explanation: Explanation | None = None) -> str:
    data = result.model_dump(mode="json")
    if explanation is not None:
        data["explanation"] = explanation.as_dict()
    return json.dumps(data, indent=2, ensure_ascii=False)


def reading_text(
    reading: Reading, suggest: Callable[[str], str | None] | None = None
) -> str | None:
    """How one symptom text was read, in one line; None when it was read plainly (one
    symptom, from the whole text, nothing corrected, raised, negated or left over)."""
    found = reading.symptoms
    if (
        not found
        and not reading.absent
        and reading.possible_red_flag is None
        and not reading.values
    ):
        return None  # nothing read: the text is listed as not recognised
    if (
        len(found) == 1
        and not reading.values
        and not reading.absent
        and not reading.unrecognized
        and reading.possible_red_flag is None
        and not found[0].corrections
        and not found[0].severe
        and found[0].matched.strip().casefold() == reading.text.strip().casefold()
    ):
        return None
    parts = []
    if reading.possible_red_flag is not None:
        parts.append(f"POSSIBLE RED FLAG ({reading.possible_red_flag!r}): confirm now")
    for f in found:
        notes = [*f.corrections]
        if f.severe:
            notes.append("severe")
        if f.context:
            notes.append(f"said as {f.context}")
        if f.matched.casefold() != f.label.casefold() and not f.corrections:
            notes.insert(0, repr(f.matched))
        parts.append(f.label.lower() + (f" ({', '.join(notes)})" if notes else ""))
    for a in reading.absent:
        parts.append(f"no {a.label.lower()} ({a.cue!r})")
    parts.extend(values_text(reading))
    for words in reading.unrecognized:
        hint = suggest(words) if suggest else None
        parts.append(f"not read: {words!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    return f"Read {reading.text!r}: " + "; ".join(parts)


def values_text(reading: Reading) -> list[str]:
    """The measurements typed in a text, one part per group of words: "blood pressure
    200/125 mmHg ('BP 200/125')", "temperature 38.9 °C ('fever of 102': 102 read as
    °F: 38.9 °C)"."""
    parts = []
    by_words: dict[str, list[Any]] = {}
    for v in reading.values:
        by_words.setdefault(v.matched, []).append(v)
    for words, values in by_words.items():
        if [v.field for v in values] == ["systolic_bp", "diastolic_bp"]:
            shown = f"blood pressure {values[0].value:g}/{values[1].value:g} mmHg"
        else:
            shown = ", ".join(f"{v.label} {v.value:g} {v.unit}" for v in values)
        notes = [v.note for v in values if v.note]
        parts.append(f"{shown} ({words!r}" + "".join(f": {n}" for n in notes) + ")")
    return parts


def unrecognised_names(result: Result, suggest: Callable[[str], str | None] | None) -> str:
    """The unread words, each with the nearest known symptom word when one is close."""
    shown = []
    for name in result.unrecognized:
        hint = suggest(name) if suggest else None
        shown.append(repr(name) + (f" (did you mean {hint!r}?)" if hint else ""))
    return ", ".join(shown)


FULL_HINT = "(--full adds why each rule fired, its sources and every item's guidance)"


def advice_counts(result: Result) -> str:
    """One line: how much advice there is at each level, red flags and unread words."""
    shown = [a for a in result.advice if a.superseded_by is None]
    if not shown:
        return result.summary
    counts: dict[str, int] = {}
    for item in shown:
        counts[item.escalation.value] = counts.get(item.escalation.value, 0) + 1
    if len(shown) == 1:
        parts = [f"1 piece of advice: {shown[0].escalation.value}"]
    else:
        levels = ", ".join(f"{n} {k}" for k, n in counts.items())
        parts = [f"{len(shown)} pieces of advice: {levels}"]
    if result.red_flags:
        parts.append(f"{len(result.red_flags)} red flag" + "s" * (len(result.red_flags) > 1))
    if result.unrecognized:
        parts.append(f"{len(result.unrecognized)} not recognised")
    return "; ".join(parts)


def short_lines(
    result: Result, suggest: Callable[[str], str | None] | None = None
) -> list[tuple[str, str]]:
    """The answer at a glance, as (text, kind) lines: the level and what it means, a count
    of the advice, how each text was read, what was not recognised, then what staff and
    the patient do for the advice at the top level and one line per lower item."""
    lines = [(f"{result.escalation.value.upper()}: {result.label}", "banner")]
    if result.patient_id is not None:
        lines.append((f"Patient: {result.patient_id}", "plain"))
    lines.append((advice_counts(result), "summary"))
    for reading in result.readings:
        line = reading_text(reading, suggest)
        if line is not None:
            lines.append((line, "reading"))
    if result.unrecognized:
        names = unrecognised_names(result, suggest)
        lines.append((f"NOT RECOGNISED (a clinician must read these): {names}", "unrecognised"))
    shown = [a for a in result.advice if a.superseded_by is None]
    for item in shown:
        flag = " RED FLAG" if item.rule in result.red_flags else ""
        head = f"[{item.escalation.value}]{flag} {item.title}"
        if item.escalation is result.escalation:
            lines.append(("", "plain"))
            lines.append((head, "title"))
            lines.append((f"  For staff: {item.action}", "plain"))
            lines.append((f"  For the patient: {item.guidance}", "plain"))
        else:
            lines.append((head, "lower"))
    if shown:
        lines.append((FULL_HINT, "hint"))
    return lines


def result_text(
    result: Result,
    explanation: Explanation | None = None,
    suggest: Callable[[str], str | None] | None = None,
    *,
    full: bool = True,
) -> str:
    if not full and explanation is None:
        return "\n".join(text for text, _ in short_lines(result, suggest))
    lines = [f"{result.escalation.value.upper()}: {result.label}"]
    if result.patient_id is not None:
        lines.append(f"Patient: {result.patient_id}")
    for reading in result.readings:
        line = reading_text(reading, suggest)
        if line is not None:
            lines.append(line)
    if result.unrecognized:
        names = unrecognised_names(result, suggest)
        lines.append(f"NOT RECOGNISED (a clinician must read these): {names}")
    for item in result.advice:
        if item.superseded_by is not None:
            continue  # a higher rule's advice says it better; JSON keeps it, marked
        flag = " RED FLAG" if item.rule in result.red_flags else ""
        lines.append("")
        lines.append(f"[{item.escalation.value}]{flag} {item.title} ({item.rule})")
        lines.append(f"  For the patient: {item.guidance}")
        lines.append(f"  For staff: {item.action}")
        lines.extend(f"  Because: {why}" for why in item.because)
        lines.append("  Sources: " + "; ".join(_source(s) for s in item.sources))
    if not result.advice:
        lines.append(result.summary)
    if explanation is not None:
        lines.append("")
        lines.append("Facts read from the report:")
        lines.extend(f"  {fact}" for fact in explanation.facts or ["(none)"])
        lines.append("Rules that matched:")
        if not explanation.rules:
            lines.append("  (none)")
        for rule in explanation.rules:
            by = f" (superseded by {rule['superseded_by']})" if rule["superseded_by"] else ""
            lines.append(f"  {rule['rule']} [{rule['escalation']}] {rule['title']}{by}")
            lines.extend(f"    because {why}" for why in rule["because"])
    return "\n".join(lines)


def _source(source: Any) -> str:
    return f"{source.title} <{source.url}>" if source.url else source.title


def print_result(
    result: Result,
    explanation: Explanation | None = None,
    *,
    file: IO[str],
    suggest: Callable[[str], str | None] | None = None,
    full: bool = True,
) -> None:
    """Write ``result`` for a person: coloured on a terminal, plain text otherwise.
    Short (the answer at a glance) unless ``full`` or an explanation is asked for."""
    full = full or explanation is not None
    if not is_terminal(file):
        file.write(result_text(result, explanation, suggest, full=full) + "\n")
        return
    if full:
        _rich_result(result, explanation, file, suggest)
    else:
        _rich_short(result, file, suggest)


_SHORT_STYLE = {
    "summary": "bold",
    "reading": "italic",
    "unrecognised": "bold magenta",
    "title": "bold",
    "lower": "",
    "hint": "dim",
    "plain": "",
}


def _rich_short(
    result: Result, file: IO[str], suggest: Callable[[str], str | None] | None = None
) -> None:
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    console = Console(file=file, highlight=False, soft_wrap=False)
    for text, kind in short_lines(result, suggest):
        if kind == "banner":
            head = Text(
                f" {result.escalation.value.upper().replace('_', ' ')} ",
                style=LEVEL_STYLE[result.escalation],
            )
            head.append(f"  {result.label}", style="bold")
            console.print(head)
        elif kind in ("title", "lower"):
            level, _, rest = text.partition("] ")
            line = Text(level + "]", style=LEVEL_STYLE[Escalation(level.lstrip("["))])
            line.append(" " + rest, style=_SHORT_STYLE[kind])
            console.print(line)
        elif text.startswith("  "):  # a wrapped body line keeps its indent
            console.print(Padding(Text(text.strip(), style=_SHORT_STYLE[kind]), (0, 0, 0, 2)))
        else:
            console.print(Text(text, style=_SHORT_STYLE[kind]))


def _rich_result(
    result: Result,
    explanation: Explanation | None,
    file: IO[str],
    suggest: Callable[[str], str | None] | None = None,
) -> None:
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.text import Text

    console = Console(file=file, highlight=False, soft_wrap=False)
    style = LEVEL_STYLE[result.escalation]
    head = Text(f" {result.escalation.value.upper().replace('_', ' ')} ", style=style)
    head.append(f"  {result.label}", style="bold")
    console.print(head)
    if result.patient_id is not None:
        console.print(f"Patient: {result.patient_id}", markup=False)
    for reading in result.readings:
        line = reading_text(reading, suggest)
        if line is not None:
            console.print(line, markup=False, style="italic")
    if result.unrecognized:
        names = unrecognised_names(result, suggest)
        console.print(
            Panel(
                Text(names),
                title="NOT RECOGNISED: a clinician must read these",
                border_style="bold magenta",
                title_align="left",
            )
        )
    for item in result.advice:
        if item.superseded_by is not None:
            continue
        body = Text()
        body.append("For the patient: ", style="bold")
        body.append(item.guidance + "\n")
        body.append("For staff: ", style="bold")
        body.append(item.action)
        for why in item.because:
            body.append("\nBecause: ", style="dim bold")
            body.append(why)
        body.append("\nSources: ", style="dim bold")
        body.append("; ".join(_source(s) for s in item.sources), style="dim")
        flag = " RED FLAG" if item.rule in result.red_flags else ""
        title = Text(f"[{item.escalation.value}]{flag} ", style=LEVEL_STYLE[item.escalation])
        title.append(f"{item.title} ({item.rule})", style="bold")
        console.print(Panel(body, title=title, title_align="left"))
    if not result.advice:
        console.print(result.summary, markup=False)
    if explanation is not None:
        facts = Text("\n".join(explanation.facts) or "(none)")
        rules = Text()
        for rule in explanation.rules:
            by = f" (superseded by {rule['superseded_by']})" if rule["superseded_by"] else ""
            rules.append(f"{rule['rule']} [{rule['escalation']}]{by}\n", style="bold")
            for why in rule["because"]:
                rules.append(f"  because {why}\n")
        console.print(
            Panel(
                Group(Text("Facts read from the report", style="bold underline"), facts),
                title="Explain",
                title_align="left",
            )
        )
        console.print(
            Panel(rules, title="Rules that matched", title_align="left")
            if rules.plain
            else "Rules that matched: (none)"
        )


# -- rules ---------------------------------------------------------------------------------


def rules_table(pack: RulePack) -> str:
    """One line per rule: id, level, red flag, title."""
    width = max((len(r.id) for r in pack.rules), default=2)
    lines = [f"{'ID':<{width}}  {'LEVEL':<10}  TITLE"]
    for rule in pack.rules:
        flag = "RED FLAG: " if rule.red_flag else ""
        lines.append(f"{rule.id:<{width}}  {rule.escalation.value:<10}  {flag}{rule.title}")
    lines.append(f"{len(pack.rules)} rules in {pack.name} {pack.version}")
    return "\n".join(lines)


def rule_dict(rule: Rule, pack: RulePack) -> dict[str, Any]:
    return {
        **rule_summary(rule),
        "when": "\n".join(describe_condition(rule.when, pack)),
        "note": rule.note,
        "examples": [
            {
                "name": ex.name,
                "expect": ex.expect.value,
                "fires": ex.fires,
                "report": report_dict(ex.report),
            }
            for ex in rule.examples
        ],
        "file": rule.file,
        "line": rule.line,
    }


def rule_text(rule: Rule, pack: RulePack) -> str:
    where = f"{rule.file}:{rule.line}" if rule.line else rule.file
    lines = [
        f"{rule.id}: {rule.title}",
        f"  Level: {rule.escalation.value}" + ("  (RED FLAG)" if rule.red_flag else ""),
        f"  Defined at: {where}",
        "  When:",
        *(f"    {line}" for line in describe_condition(rule.when, pack)),
        f"  For the patient: {rule.guidance.strip()}",
        f"  For staff: {rule.action.strip()}",
    ]
    if rule.note:
        lines.append(f"  Note: {rule.note.strip()}")
    lines.append("  Sources:")
    lines.extend(f"    {s.id}: {s.title}" + (f" <{s.url}>" if s.url else "") for s in rule.sources)
    lines.append("  Examples:")
    for ex in rule.examples:
        fires = "" if ex.fires else ", does not fire this rule"
        report = json.dumps(report_dict(ex.report), ensure_ascii=False)
        lines.append(f"    {ex.name} -> {ex.expect.value}{fires}: {report}")
    return "\n".join(lines)


def report_dict(report: Report) -> dict[str, Any]:
    """A report as JSON without the parts that were not given (for reading and for --save)."""
    data = report.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in data.items() if v != {} and (k != "history" or v)}
