"""Last stage: what fired becomes a Result a person can act on.

The level is the highest any fired rule gives. A symptom the vocabulary does not know, or
one that no rule matched, is never dropped: it is reported and lifts the level to at least
``next_visit`` so that a clinician reads it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from .compiler import UNRECOGNIZED_CODE, UNRECOGNIZED_RULE, CompiledPack
from .conditions import CONTEXT_FIELDS
from .decide import Hit
from .facts import Facts, describe_field, describe_symptom
from .models import Advice, Escalation, Report, Result, RulePackInfo, SourceRef
from .pack import RulePack

M = TypeVar("M", bound=BaseModel)

UNMATCHED_RULE = "ktriage.unmatched"
SUMMARY_MAX = 140

_POLICY = SourceRef(
    id="ktriage-policy",
    title="ktriage escalation policy: a symptom no rule recognises is read by a clinician",
    url=None,
)
_SHORT = {
    Escalation.SELF_CARE: "Self-care",
    Escalation.NEXT_VISIT: "Next visit",
    Escalation.WITHIN_24H: "Within 24 hours",
    Escalation.URGENT: "Urgent",
    Escalation.EMERGENCY: "EMERGENCY",
}
_FIELD_ORDER = {name: i for i, name in enumerate(CONTEXT_FIELDS)}


@dataclass(frozen=True)
class _RuleText:
    order: int
    title: str
    escalation: Escalation
    guidance: str
    action: str
    sources: tuple[SourceRef, ...]
    red_flag: bool


_SYSTEM = {
    UNRECOGNIZED_RULE: _RuleText(
        order=10**6,
        title="Symptom not recognised",
        escalation=Escalation.NEXT_VISIT,
        guidance=(
            "Tell your care team about this symptom at your next visit, or sooner if it"
            " gets worse or worries you."
        ),
        action=(
            "Read the symptom as the patient described it: no rule in the pack recognises"
            " it. Decide whether it needs sooner follow-up."
        ),
        sources=(_POLICY,),
        red_flag=False,
    ),
    UNMATCHED_RULE: _RuleText(
        order=10**6 + 1,
        title="Symptom not covered by any rule",
        escalation=Escalation.NEXT_VISIT,
        guidance=(
            "Tell your care team about this symptom at your next visit, or sooner if it"
            " gets worse or worries you."
        ),
        action=(
            "The symptom is known but no rule covers it as reported (this severity or"
            " duration); a clinician should review it. Report the gap to the rule-pack owner."
        ),
        sources=(_POLICY,),
        red_flag=False,
    ),
}


class Assembler:
    def __init__(self, pack: RulePack, compiled: CompiledPack) -> None:
        self._pack = pack
        self._compiled = compiled
        self._info = RulePackInfo(name=pack.name, version=pack.version, sha256=pack.sha256)
        self._texts: dict[str, _RuleText] = dict(_SYSTEM)
        for i, rule in enumerate(pack.rules):
            self._texts[rule.id] = _RuleText(
                order=i,
                title=rule.title,
                escalation=rule.escalation,
                guidance=rule.guidance,
                action=rule.action,
                sources=tuple(SourceRef(id=s.id, title=s.title, url=s.url) for s in rule.sources),
                red_flag=rule.red_flag,
            )

        vocabulary = pack.vocabulary
        self._describe = functools.lru_cache(maxsize=16_384)(
            lambda fact: describe_symptom(fact, vocabulary)
        )

    @property
    def info(self) -> RulePackInfo:
        return self._info

    def result(self, report: Report, facts: Facts, hits: list[Hit]) -> Result:
        describe = self._describe
        compiled = self._compiled.compiled
        reasons: dict[str, dict[str, tuple[Any, ...]]] = {}
        matched: set[int] = set()
        for hit in hits:
            rule = compiled[hit.name]
            why = reasons.setdefault(rule.rule_id, {})
            for s in hit.symptoms:
                matched.add(s.index)
                why.setdefault(describe(s), (0, s.index))
            for clause in rule.conjunction.clauses:
                for test in clause:
                    if test.field in _FIELD_ORDER:
                        text = describe_field(test.field, facts.context)
                        why.setdefault(text, (1, _FIELD_ORDER[test.field]))
        unmatched = [
            s for s in facts.symptoms if s.index not in matched and s.code != UNRECOGNIZED_CODE
        ]
        if unmatched:
            why = reasons.setdefault(UNMATCHED_RULE, {})
            for s in unmatched:
                why.setdefault(describe(s), (0, s.index))
        advice = []
        for rule_id, why in reasons.items():
            text = self._texts[rule_id]
            advice.append(
                (
                    -text.escalation.rank,
                    text.order,
                    _construct(
                        Advice,
                        rule=rule_id,
                        title=text.title,
                        escalation=text.escalation,
                        guidance=text.guidance,
                        action=text.action,
                        because=[t for t, _ in sorted(why.items(), key=lambda kv: kv[1])],
                        sources=list(text.sources),
                    ),
                )
            )
        advice.sort(key=lambda item: (item[0], item[1]))
        items = [a for _, _, a in advice]
        level = items[0].escalation if items else Escalation.SELF_CARE
        return _construct(
            Result,
            patient_id=report.patient_id,
            escalation=level,
            label=level.label,
            summary=summarise(level, items),
            red_flags=[a.rule for a in items if self._texts[a.rule].red_flag],
            advice=items,
            unrecognized=list(facts.unrecognized),
            derived=dict(facts.derived),
            rule_pack=self._info,
        )


def _construct(cls: type[M], **values: Any) -> M:
    """Build a model from values this module made itself, skipping validation.

    Does what ``model_construct`` does for models with no defaults left unset, extras or
    private attributes, at a fraction of its cost (it was a third of a cached evaluation).
    ``tests/test_assemble.py`` checks that the result equals a validated model.
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def summarise(level: Escalation, advice: list[Advice]) -> str:
    """One line for a list view: the level and what drove it, at most 140 characters."""
    if not advice:
        return "Self-care: nothing reported needs a clinician's attention"
    head = f"{_SHORT[level]}: "
    titles = [a.title for a in advice]
    for shown in range(len(titles), 0, -1):
        rest = len(titles) - shown
        text = head + "; ".join(titles[:shown]) + (f" (+{rest} more)" if rest else "")
        if len(text) <= SUMMARY_MAX:
            return text
    text = head + titles[0]
    tail = f" (+{len(titles) - 1} more)" if len(titles) > 1 else ""
    return text[: SUMMARY_MAX - len(tail) - 1].rstrip() + "…" + tail
