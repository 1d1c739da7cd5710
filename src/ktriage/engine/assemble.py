"""Last stage: what fired becomes a Result a person can act on.

The level is the highest any fired rule gives. A symptom the vocabulary does not know, or
one that no rule matched, is never dropped: it is reported and lifts the level to at least
``next_visit`` so that a clinician reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from .compiler import UNRECOGNIZED_CODE, UNRECOGNIZED_RULE, CompiledPack
from .conditions import CONTEXT_FIELDS
from .decide import Hit
from .facts import Facts, SymptomFact, describe_field, describe_symptom, symptom_head
from .models import (
    LEVEL_LABELS,
    MEASUREMENT_FIELDS,
    AbsentSymptom,
    Advice,
    Escalation,
    Reading,
    ReadSymptom,
    ReadValue,
    Report,
    Result,
    RulePackInfo,
    SourceRef,
)
from .pack import RulePack
from .reader import TextReading
from .vocabulary import Vocabulary

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
    order: int  # position in the pack; ties within a level keep pack order
    title: str
    escalation: Escalation
    guidance: str
    action: str
    sources: tuple[SourceRef, ...]
    red_flag: bool
    own_label: str = ""  # the rule's ``label:``, used when it sets the level
    # precomputed: hashing an Enum member runs Python code, and this is the hot path
    rank: tuple[int, int] = field(init=False)
    label: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rank", (-self.escalation.rank, self.order))
        object.__setattr__(self, "label", self.own_label or self.escalation.label)


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


class Plan(NamedTuple):
    """A Result without the report's values: what fired, in order, and what each piece of
    advice explains itself with (a symptom's position in the report, or a field's name)."""

    escalation: Escalation
    label: str
    summary: str
    red_flags: tuple[str, ...]
    # (rule id, what it cites, the rule that supersedes it or None)
    advice: tuple[tuple[str, tuple[int | str, ...], str | None], ...]


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
                own_label=rule.label,
            )
        # rule id -> the rules it supersedes; only rules that name some, so a report where
        # none of them fired pays one set lookup per fired rule
        self._supersedes: dict[str, frozenset[str]] = {
            rule.id: frozenset(rule.supersedes) for rule in pack.rules if rule.supersedes
        }
        self._labelled = frozenset(rule.id for rule in pack.rules if rule.label)

        # For each compiled rule: the rule it belongs to, and the fields of the context fact
        # it tests (explained in ``because`` with the report's own values). Trend fields
        # come last, each in its own place, so that the order never depends on hit order.
        order_of = dict(_FIELD_ORDER)
        for i, trend in enumerate(compiled.trends):
            order_of[trend.field] = len(_FIELD_ORDER) + i
        self._hit_info: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {
            name: (
                c.rule_id,
                tuple(
                    dict.fromkeys(
                        (t.field, order_of[t.field])
                        for clause in c.conjunction.clauses
                        for t in clause
                        if t.field in order_of
                    )
                ),
            )
            for name, c in compiled.compiled.items()
        }
        self._heads: dict[tuple[str, str], str] = {}
        # Advice is immutable (tuples inside a frozen model): identical advice is shared
        self._advice: dict[tuple[str, tuple[str, ...], str | None], Advice] = {}
        self._summaries: dict[tuple[str, ...], str] = {}
        self._field_texts: dict[tuple[Any, ...], str] = {}
        self._readings: dict[str, Reading] = {}
        self._plans: dict[tuple[Any, ...], Plan] = {}
        self._symptom_texts: dict[tuple[Any, ...], str] = {}

    # Small memos for the words of ``because`` and ``summary``; each is bounded (cleared
    # when full) because names and values come from callers.

    def _describe(self, fact: SymptomFact) -> str:
        # everything but the position: the same words, read the same way, say the same
        memo_key = fact[1:]
        text = self._symptom_texts.get(memo_key)
        if text is not None:
            return text
        if len(self._symptom_texts) >= 4096:
            self._symptom_texts.clear()  # a backstop on a bounded memo
        text = self._symptom_texts[memo_key] = self._describe_new(fact)
        return text

    def _describe_new(self, fact: SymptomFact) -> str:
        key = (fact.name, fact.code)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= 4096:
                self._heads.clear()
            head = self._heads[key] = symptom_head(fact.name, fact.code, self._pack.vocabulary)
        return describe_symptom(fact, head)

    def _summary(self, rule_ids: tuple[str, ...]) -> str:
        text = self._summaries.get(rule_ids)
        if text is None:
            if len(self._summaries) >= 4096:
                self._summaries.clear()
            titles = [self._texts[r].title for r in rule_ids]
            level = self._texts[rule_ids[0]].escalation if rule_ids else Escalation.SELF_CARE
            text = self._summaries[rule_ids] = summarise(level, titles)
        return text

    def _field_text(self, name: str, context: dict[str, Any]) -> str:
        value = context.get(name)
        key: tuple[Any, ...] = (name, value)
        if name == "weight_change_pct":
            key += (context.get("weight_kg"), context.get("baseline_weight_kg"))
        text = self._field_texts.get(key)
        if text is None:
            if len(self._field_texts) >= 8192:
                self._field_texts.clear()  # a backstop; a clinic's values repeat
            text = self._field_texts[key] = describe_field(name, context)
        return text

    def reading(self, read: TextReading) -> Reading:
        model = self._readings.get(read.text)
        if model is None:
            if len(self._readings) >= 8192:
                self._readings.clear()  # a backstop on a bounded memo
            model = self._readings[read.text] = reading_model(read, self._pack.vocabulary)
        return model

    @property
    def info(self) -> RulePackInfo:
        return self._info

    def result(self, report: Report, facts: Facts, hits: list[Hit]) -> Result:
        """The Result for ``report``, given what fired on its facts.

        The plan depends only on the decision (which rule fired on which symptom
        positions, and which positions hold unrecognised words), so it is memoised on
        that; ``fill`` then writes what depends on the report's own values.
        """
        key = (
            tuple([(name, tuple([s.position for s in matched])) for name, matched in hits]),
            tuple([s.code == UNRECOGNIZED_CODE for s in facts.symptoms]),
        )
        plans = self._plans
        plan = plans.get(key)
        if plan is None:
            if len(plans) >= 2048:
                plans.clear()  # a backstop on a bounded memo
            plan = plans[key] = self.plan(facts, hits)
        return self.fill(report, facts, plan)

    def plan(self, facts: Facts, hits: list[Hit]) -> Plan:
        """Everything a Result says that depends only on what fired: the level, the
        ranked advice and, for each piece, which symptoms and fields it cites. The
        report's values are read only by ``fill``.
        """
        texts = self._texts
        # rule id -> symptom positions and context fields it explains itself with
        reasons: dict[str, tuple[set[int], dict[str, int]]] = {}
        matched: set[int] = set()
        for name, symptoms in hits:
            rule_id, fields = self._hit_info[name]
            why = reasons.get(rule_id)
            if why is None:
                why = reasons[rule_id] = (set(), {})
            for s in symptoms:
                matched.add(s.position)
                why[0].add(s.position)
            for name_of_field, order in fields:
                why[1][name_of_field] = order
        unmatched = {
            s.position
            for s in facts.symptoms
            if s.position not in matched and s.code != UNRECOGNIZED_CODE
        }
        if unmatched:
            reasons[UNMATCHED_RULE] = (unmatched, {})
        ranked = sorted(reasons, key=lambda rule_id: texts[rule_id].rank)
        superseded = self._superseded(ranked, reasons) if self._supersedes else {}
        items = []
        for rule_id in ranked:
            positions, cited = reasons[rule_id]
            # symptoms in report order, then fields in the catalogue's order
            spec: tuple[int | str, ...] = (
                *sorted(positions),
                *sorted(cited, key=cited.__getitem__),
            )
            items.append((rule_id, spec, superseded.get(rule_id)))
        if ranked:
            top = texts[ranked[0]]
            level, label = top.escalation, top.label
            if self._labelled:
                label = self._label(ranked, label)
        else:
            level, label = Escalation.SELF_CARE, LEVEL_LABELS[Escalation.SELF_CARE]
        shown = tuple(r for r in ranked if r not in superseded) if superseded else tuple(ranked)
        return Plan(
            escalation=level,
            label=label,
            summary=self._summary(shown),
            red_flags=tuple(rule_id for rule_id in ranked if texts[rule_id].red_flag),
            advice=tuple(items),
        )

    def _superseded(
        self, ranked: list[str], reasons: dict[str, tuple[set[int], dict[str, int]]]
    ) -> dict[str, str]:
        """Fired rule id -> the highest fired rule that supersedes it. A rule that cites
        symptoms supersedes another that cites symptoms only when they share one, so
        reassurance about one symptom is not hidden by a rule about another; a red flag
        hides every rule it names, because reassurance printed beside an emergency ("it
        usually passes" beside chest pain) is read as permission to wait."""
        out: dict[str, str] = {}
        for rule_id in ranked:
            targets = self._supersedes.get(rule_id)
            if targets is None or rule_id in out:
                continue
            mine = reasons[rule_id][0]
            red_flag = self._texts[rule_id].red_flag
            for target in targets:
                if target in out or target not in reasons:
                    continue
                theirs = reasons[target][0]
                if red_flag or not mine or not theirs or not mine.isdisjoint(theirs):
                    out[target] = rule_id
        return out

    def _label(self, ranked: list[str], label: str) -> str:
        """A rule's own label wins when it fired at the top level (988 for suicidal
        thoughts), whichever rule of that level the pack lists first."""
        texts = self._texts
        top = texts[ranked[0]].escalation
        for rule_id in ranked:
            words = texts[rule_id]
            if words.escalation is not top:
                break
            if rule_id in self._labelled:
                return words.label
        return label

    def fill(self, report: Report, facts: Facts, plan: Plan) -> Result:
        """The Result: ``plan`` with ``because`` written from the report's own values."""
        describe = self._describe
        field_text = self._field_text
        symptoms = facts.symptoms
        context = facts.context
        texts = self._texts
        advice_memo = self._advice
        notes = facts.notes
        items = []
        for rule_id, spec, superseded_by in plan.advice:
            words_of = [
                describe(symptoms[what])
                if isinstance(what, int)
                else (
                    notes[what]
                    if notes is not None and what in notes
                    else field_text(what, context)
                )
                for what in spec
            ]
            # two identical symptoms read the same: the text is listed once, at the first
            because = tuple(words_of) if len(words_of) == 1 else tuple(dict.fromkeys(words_of))
            key = (rule_id, because, superseded_by)
            advice = advice_memo.get(key)
            if advice is None:
                if len(advice_memo) >= 8192:
                    advice_memo.clear()  # a backstop on a bounded memo
                words = texts[rule_id]
                advice = advice_memo[key] = _construct(
                    Advice,
                    rule=rule_id,
                    title=words.title,
                    escalation=words.escalation,
                    guidance=words.guidance,
                    action=words.action,
                    because=because,
                    sources=words.sources,
                    superseded_by=superseded_by,
                )
            items.append(advice)
        return _construct(
            Result,
            patient_id=report.patient_id,
            escalation=plan.escalation,
            label=plan.label,
            summary=plan.summary,
            red_flags=list(plan.red_flags),
            advice=items,
            unrecognized=list(facts.unrecognized),
            readings=[self.reading(r) for r in facts.readings],
            derived=dict(facts.derived),
            rule_pack=self._info,
            skipped=facts.skipped,
        )


# Every field is always set, so instances can share one (never mutated) fields-set.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {
    Advice: set(Advice.model_fields),
    Result: set(Result.model_fields),
}


def _construct(cls: type[M], **values: Any) -> M:
    """Build a model from values this module made itself, skipping validation.

    Does what ``model_construct`` does for models with no defaults left unset, extras or
    private attributes, at a fraction of its cost (it was a third of a cached evaluation).
    ``tests/test_models.py`` checks that a result equals its validated round trip.
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", _ALL_FIELDS[cls])
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


# a sugar typed in a text is not known to be fasting (facts.with_text_values)
_VALUE_LABELS = {"fasting_glucose_mg_dl": "blood sugar"}


def reading_model(read: TextReading, vocabulary: Vocabulary) -> Reading:
    """The public model of a reading (built once per distinct text)."""
    label = vocabulary.label
    return Reading(
        text=read.text,
        symptoms=tuple(
            ReadSymptom(
                code=f.code,
                label=label(f.code),
                matched=f.matched,
                severe=f.severe,
                corrections=f.corrections,
                context=f.context,
            )
            for f in read.found
        ),
        absent=tuple(
            AbsentSymptom(code=a.code, label=label(a.code), matched=a.matched, cue=a.cue)
            for a in read.absent
        ),
        unrecognized=read.leftover,
        possible_red_flag=read.possible_red_flag,
        values=tuple(
            ReadValue(
                field=v.field,
                label=_VALUE_LABELS.get(v.field) or MEASUREMENT_FIELDS[v.field].label,
                value=v.value,
                unit=MEASUREMENT_FIELDS[v.field].unit,
                matched=v.matched,
                note=v.note,
            )
            for v in read.values
        ),
    )


def summarise(level: Escalation, titles: list[str]) -> str:
    """One line for a list view: the level and what drove it, at most 140 characters."""
    if not titles:
        return "Self-care: nothing reported needs a clinician's attention"
    head = f"{_SHORT[level]}: "
    for shown in range(len(titles), 0, -1):
        rest = len(titles) - shown
        text = head + "; ".join(titles[:shown]) + (f" (+{rest} more)" if rest else "")
        if len(text) <= SUMMARY_MAX:
            return text
    text = head + titles[0]
    tail = f" (+{len(titles) - 1} more)" if len(titles) > 1 else ""
    return text[: SUMMARY_MAX - len(tail) - 1].rstrip() + "…" + tail
