"""Rule packs: the YAML schema, and a loader that rejects every mistake before anything runs.

A pack is a folder::

    pack.yaml          name, version, description
    vocabulary.yaml    symptoms: the canonical codes with their label and lay synonyms
    sources.yaml       sources: the documents rules cite (id, title, url, note)
    rules/*.yaml       rules: each with id, title, when, escalation, guidance, action,
                       sources and at least one worked example
    reader.yaml        optional: how free text is read (filler, negation and intensity
                       cues, shorthand, red-flag words); the shipped lists otherwise

Every error names the file, the line and the rule id, and suggests the nearest valid name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .conditions import Condition, ParseContext, mentioned, parse_condition
from .errors import InvalidReport, RulePackError
from .intake import field_error, parse_report, suggest
from .models import Escalation, Report
from .reader import Reader, ReaderData, ReaderExample
from .vocabulary import Term, Vocabulary, normalise
from .yamlsource import LineDict, line_of, load_yaml

_ID = r"^[a-z0-9][a-z0-9_\-]*(\.[a-z0-9][a-z0-9_\-]*)*$"
_CODE = r"^[a-z][a-z0-9_]*$"
SYSTEM_PREFIX = "ktriage."
# The shipped pack's largest file is about 25 KB; a file past this is a mistake or an attack.
MAX_FILE_BYTES = 1_000_000

M = TypeVar("M", bound=BaseModel)

_FORBID = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)
Text = Annotated[str, Field(min_length=1)]


class Manifest(BaseModel):
    model_config = _FORBID
    name: Text
    version: Text
    description: str = ""


class TermSpec(BaseModel):
    model_config = _FORBID
    code: Annotated[str, Field(pattern=_CODE)]
    label: Text
    synonyms: list[Text] = []
    red_flag: bool = False


class VocabularyFile(BaseModel):
    model_config = _FORBID
    symptoms: list[TermSpec]


class SourceSpec(BaseModel):
    model_config = _FORBID
    id: Annotated[str, Field(pattern=_ID)]
    title: Text
    url: str | None = None
    note: str = ""


class SourcesFile(BaseModel):
    model_config = _FORBID
    sources: list[SourceSpec]


class ExampleSpec(BaseModel):
    model_config = _FORBID
    name: str = ""
    report: dict[str, Any]
    expect: Escalation
    fires: bool = True


class RuleSpec(BaseModel):
    model_config = _FORBID
    id: Annotated[str, Field(pattern=_ID)]
    title: Text
    when: dict[str, Any]
    escalation: Escalation
    red_flag: bool = False
    guidance: Text
    action: Text
    sources: Annotated[list[str], Field(min_length=1)]
    note: str = ""
    supersedes: list[str] = []
    label: str = ""
    examples: list[ExampleSpec] = []


_Words = list[Annotated[str, Field(min_length=1, max_length=80)]]


class ReaderExampleSpec(BaseModel):
    model_config = _FORBID
    text: Annotated[str, Field(min_length=1, max_length=200)]
    read: list[str] = []
    absent: list[str] = []
    severe: list[str] = []
    leftover: list[str] | None = None
    possible_red_flag: bool = False


class ReaderFile(BaseModel):
    model_config = _FORBID
    safety_net: str | None = None
    denied_red_flag: str | None = None
    filler: _Words = []
    quiet: _Words = []
    intensity: _Words = []
    negation_scope: Annotated[int, Field(ge=1, le=20)] = 6
    negation_forward: _Words = []
    negation_backward: _Words = []
    negation_pseudo: _Words = []
    terminators: _Words = []
    context: dict[Annotated[str, Field(pattern=_CODE)], _Words] = {}
    shorthand: dict[Annotated[str, Field(min_length=1, max_length=20)], str] = {}
    red_flag_words: _Words = []
    idioms: _Words = []
    whole_only: _Words = []
    severe_phrases: _Words = []
    never_repair: _Words = []
    examples: list[ReaderExampleSpec] = []


class RulesFile(BaseModel):
    model_config = _FORBID
    rules: list[dict[str, Any]]


@dataclass(frozen=True)
class Example:
    name: str
    report: Report
    expect: Escalation
    fires: bool
    line: int | None


@dataclass(frozen=True)
class Rule:
    """One validated rule: its condition parsed, its sources resolved, its examples typed."""

    id: str
    title: str
    when: Condition
    escalation: Escalation
    red_flag: bool
    guidance: str
    action: str
    sources: tuple[SourceSpec, ...]
    note: str
    examples: tuple[Example, ...]
    file: str
    line: int | None
    # rules whose advice this one makes redundant when both fire (on a shared symptom,
    # or either on no symptom); checked at load
    supersedes: tuple[str, ...] = ()
    supersedes_lines: tuple[int | None, ...] = ()
    # the result's label when this rule sets the level (default: the level's own label)
    label: str = ""

    @property
    def codes(self) -> set[str]:
        return mentioned(self.when)[0]

    @property
    def fields(self) -> set[str]:
        return mentioned(self.when)[1]


@dataclass(frozen=True)
class RulePack:
    name: str
    version: str
    description: str
    vocabulary: Vocabulary
    sources: dict[str, SourceSpec]
    rules: tuple[Rule, ...]
    sha256: str
    root: str
    reader: ReaderData = field(default_factory=ReaderData)
    # the Reader built (and checked) at load, reused by the Engine: building one costs ms
    text_reader: Reader | None = field(default=None, compare=False, repr=False)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def default_pack_path() -> Path:
    """The folder of the pack shipped inside the wheel."""
    return Path(str(resources.files("ktriage") / "rules"))


def load_pack(path: str | Path | None = None) -> RulePack:
    """Load and fully validate the pack in folder ``path`` (the shipped pack by default)."""
    root = Path(path) if path is not None else default_pack_path()
    if not root.exists():
        raise RulePackError("no such rule pack folder", file=str(root))
    if not root.is_dir():
        raise RulePackError("a rule pack is a folder holding pack.yaml", file=str(root))
    digest = hashlib.sha256()

    real_root = root.resolve()

    def read(rel: Path) -> tuple[str, Any]:
        full = root / rel
        shown = str(full)
        try:
            real = full.resolve(strict=True)
            if not real.is_relative_to(real_root):
                raise RulePackError(
                    "is a link to a file outside the rule pack folder; copy the file in",
                    file=shown,
                )
            info = os.stat(real)
            if not stat.S_ISREG(info.st_mode):
                raise RulePackError("not a regular file (a device, pipe or folder)", file=shown)
            if info.st_size > MAX_FILE_BYTES:
                raise RulePackError(
                    f"the file is larger than {MAX_FILE_BYTES} bytes; split it", file=shown
                )
            with open(real, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise RulePackError(f"cannot read: {exc.strerror}", file=shown) from None
        if len(data) > MAX_FILE_BYTES:  # it grew after the check
            raise RulePackError(
                f"the file is larger than {MAX_FILE_BYTES} bytes; split it", file=shown
            )
        digest.update(str(rel.as_posix()).encode() + b"\0" + data + b"\0")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RulePackError("not UTF-8 text", file=shown) from None
        return shown, load_yaml(text, shown)

    for required in ("pack.yaml", "vocabulary.yaml", "sources.yaml"):
        if not os.path.lexists(root / required):
            raise RulePackError(f"the pack has no {required}", file=str(root))
    rule_files = sorted((root / "rules").glob("*.yaml")) if (root / "rules").is_dir() else []
    if not rule_files:
        raise RulePackError("the pack has no rule files under rules/*.yaml", file=str(root))

    manifest = _model(Manifest, *read(Path("pack.yaml")))
    vocabulary = _vocabulary(*read(Path("vocabulary.yaml")))
    if (root / "reader.yaml").is_file():
        reader, text_reader = _reader(*read(Path("reader.yaml")), vocabulary, own=True)
    else:  # a pack without its own word lists reads text with the shipped ones
        shipped = default_pack_path() / "reader.yaml"
        reader, text_reader = _reader(
            str(shipped), load_yaml(shipped.read_text("utf-8"), str(shipped)), vocabulary, own=False
        )
    sources = _sources(*read(Path("sources.yaml")))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    problems: list[RulePackError] = []  # every rule file is read; each bad rule counted
    for rule_file in rule_files:
        try:
            shown, data = read(rule_file.relative_to(root))
            file_rules = _rules(shown, data, vocabulary, sources, problems)
        except RulePackError as exc:
            problems.append(exc)
            continue
        for rule in file_rules:
            if rule.id in seen:
                problems.append(
                    RulePackError(
                        f"duplicate rule id; first defined at {seen[rule.id]}",
                        file=shown,
                        line=rule.line,
                        rule_id=rule.id,
                    )
                )
                continue
            seen[rule.id] = f"{shown}:{rule.line}"
            rules.append(rule)
    if problems:
        first = problems[0]
        first.problems = problems
        raise first
    _check_supersedes(rules)
    pack = RulePack(
        name=manifest.name,
        version=manifest.version,
        description=manifest.description,
        vocabulary=vocabulary,
        sources=sources,
        rules=tuple(rules),
        sha256=digest.hexdigest(),
        root=str(root),
        reader=reader,
        text_reader=text_reader,
    )
    _check_safety_net(pack)
    # Some mistakes only show once conditions are normalised (a rule that could fire on an
    # empty report, one that expands too far): compile now so they too fail at load.
    from .compiler import compile_pack

    compile_pack(pack)
    return pack


def _check_supersedes(rules: list[Rule]) -> None:
    """Every ``supersedes:`` entry names another rule of the pack at the same or a lower
    level: hiding the advice of a higher rule would hide what matters most."""
    by_id = {rule.id: rule for rule in rules}
    for rule in rules:
        for target, line in zip(rule.supersedes, rule.supersedes_lines, strict=True):
            other = by_id.get(target)
            if other is None:
                raise RulePackError(
                    f"supersedes unknown rule {target!r}",
                    file=rule.file,
                    line=line,
                    rule_id=rule.id,
                    suggestion=suggest(target, list(by_id)),
                )
            if other is rule:
                raise RulePackError(
                    "a rule cannot supersede itself", file=rule.file, line=line, rule_id=rule.id
                )
            if other.escalation.rank > rule.escalation.rank:
                raise RulePackError(
                    f"supersedes {target!r}, which gives a higher level"
                    f" ({other.escalation.value} above {rule.escalation.value});"
                    " a rule may only supersede rules at its level or below",
                    file=rule.file,
                    line=line,
                    rule_id=rule.id,
                )


def _model(model: type[M], file: str, data: Any, rule_id: str | None = None, base: Any = None) -> M:
    if not isinstance(data, dict):
        raise RulePackError(
            f"expected a mapping at the top of the file, got {type(data).__name__}",
            file=file,
            line=getattr(data, "line", None),
            rule_id=rule_id,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        problem = field_error(err, model)
        hint = None
        message = f"{problem.field}: {problem.message}" if problem.field else problem.message
        if err["type"] == "extra_forbidden":
            parent = _submodel(model, loc[:-1])
            hint = suggest(str(loc[-1]), list(parent.model_fields)) if parent else None
            message = f"unknown key {'.'.join(str(p) for p in loc)!r}"
        elif err["type"] == "enum" and loc and loc[-1] in ("escalation", "expect"):
            levels = [lv.value for lv in Escalation]
            hint = suggest(str(err.get("input")), levels)
            message = (
                f"{'.'.join(str(p) for p in loc)}: unknown level {err.get('input')!r};"
                f" levels are {', '.join(levels)}"
            )
        elif err["type"] == "string_pattern_mismatch":
            message = (
                f"{'.'.join(str(p) for p in loc)}: {err.get('input')!r} is not a valid name"
                " (lower-case letters, digits, '_' and '-', dots between parts)"
            )
        raise RulePackError(
            message, file=file, line=line_of(data, *loc), rule_id=rule_id, suggestion=hint
        ) from None


def _submodel(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        annotation = current.model_fields[part].annotation if part in current.model_fields else None
        args = getattr(annotation, "__args__", ())
        candidates = [a for a in (annotation, *args) if isinstance(a, type)]
        current = next((c for c in candidates if issubclass(c, BaseModel)), None)
    return current


def _vocabulary(file: str, data: Any) -> Vocabulary:
    spec = _model(VocabularyFile, file, data)
    terms: dict[str, Term] = {}
    owner: dict[str, str] = {}
    for i, term in enumerate(spec.symptoms):
        line = line_of(data, "symptoms", i)
        if term.code in terms:
            raise RulePackError(
                f"symptom code {term.code!r} is defined twice", file=file, line=line
            )
        for word in (term.code, term.label, *term.synonyms):
            key = normalise(word)
            if not key:
                raise RulePackError(
                    f"symptom {term.code!r}: synonym {word!r} has no letters or digits",
                    file=file,
                    line=line,
                )
            if owner.get(key, term.code) != term.code:
                raise RulePackError(
                    f"symptom {term.code!r}: {word!r} already means {owner[key]!r}; "
                    "a word can stand for one symptom only",
                    file=file,
                    line=line,
                )
            owner[key] = term.code
        terms[term.code] = Term(term.code, term.label, tuple(term.synonyms), term.red_flag)
    return Vocabulary(terms)


def _reader(
    file: str, data: Any, vocabulary: Vocabulary, *, own: bool
) -> tuple[ReaderData, Reader]:
    """The pack's reading word lists, checked against its vocabulary.

    A pack without a reader.yaml borrows the shipped lists (``own=False``): then shorthand
    that its vocabulary cannot read, and the safety net when it has no such code, are left
    out instead of failing the load.
    """
    spec = _model(ReaderFile, file, data)
    shorthand = dict(spec.shorthand)
    safety = spec.safety_net
    if safety is not None:
        term = vocabulary.terms.get(safety)
        if term is None or not term.red_flag:
            if own:
                raise RulePackError(
                    f"safety_net: {safety!r} must be a red-flag symptom of the vocabulary",
                    file=file,
                    line=line_of(data, "safety_net"),
                    suggestion=suggest(safety, list(vocabulary.terms)),
                )
            safety = None
    denied = spec.denied_red_flag
    if denied is not None:
        term = vocabulary.terms.get(denied)
        if term is None or term.red_flag:
            if own:
                raise RulePackError(
                    f"denied_red_flag: {denied!r} must be a symptom of the vocabulary that is"
                    " not a red flag",
                    file=file,
                    line=line_of(data, "denied_red_flag"),
                    suggestion=suggest(denied, list(vocabulary.terms)),
                )
            denied = None
    draft = ReaderData(
        safety_net=safety,
        denied_red_flag=denied,
        filler=tuple(spec.filler),
        quiet=tuple(spec.quiet),
        intensity=tuple(spec.intensity),
        negation_scope=spec.negation_scope,
        negation_forward=tuple(spec.negation_forward),
        negation_backward=tuple(spec.negation_backward),
        negation_pseudo=tuple(spec.negation_pseudo),
        terminators=tuple(spec.terminators),
        context={k: tuple(v) for k, v in spec.context.items()},
        shorthand=dict(spec.shorthand),
        red_flag_words=tuple(spec.red_flag_words),
        idioms=tuple(spec.idioms),
        whole_only=tuple(spec.whole_only),
        severe_phrases=tuple(spec.severe_phrases),
        never_repair=tuple(spec.never_repair),
    )
    reader = Reader(vocabulary, draft)
    for key, codes in reader.phrase_owner().items():
        if len(codes) > 1:
            raise RulePackError(
                f"the words {' '.join(key)!r} (as the reader sees them, stemmed and without"
                f" filler words) stand for {', '.join(sorted(codes))}; a phrase can stand"
                " for one symptom only",
                file=file.replace("reader.yaml", "vocabulary.yaml") if own else file,
            )
    severe = list(spec.severe_phrases)
    for i, words in enumerate(spec.severe_phrases):
        if not reader.read(words).codes:
            if not own:
                severe.remove(words)
                continue
            raise RulePackError(
                f"severe_phrases: {words!r} is not a phrase of the vocabulary",
                file=file,
                line=line_of(data, "severe_phrases", i),
            )
    for short, words in spec.shorthand.items():
        if not reader.read(words).codes:
            if not own:
                del shorthand[short]
                continue
            raise RulePackError(
                f"shorthand {short!r}: {words!r} does not read as any symptom of the vocabulary",
                file=file,
                line=line_of(data, "shorthand", short),
            )
    examples = []
    codes = set(vocabulary.terms)
    for i, ex in enumerate(spec.examples if own else ()):
        for listed in (ex.read, ex.absent, ex.severe):
            for code in listed:
                if code not in codes:
                    raise RulePackError(
                        f"example {ex.text!r}: unknown symptom code {code!r}",
                        file=file,
                        line=line_of(data, "examples", i),
                        suggestion=suggest(code, list(codes)),
                    )
        examples.append(
            ReaderExample(
                text=ex.text,
                read=tuple(ex.read),
                absent=tuple(ex.absent),
                severe=tuple(ex.severe),
                leftover=None if ex.leftover is None else tuple(ex.leftover),
                possible_red_flag=ex.possible_red_flag,
                line=line_of(data, "examples", i),
            )
        )
    final = dataclasses.replace(
        draft, shorthand=shorthand, severe_phrases=tuple(severe), examples=tuple(examples)
    )
    if shorthand != draft.shorthand or tuple(severe) != draft.severe_phrases:
        reader = Reader(vocabulary, final)  # borrowed lists lost entries: read without them
    reader.data = final
    return final, reader


def _check_safety_net(pack: RulePack) -> None:
    code = pack.reader.safety_net
    if code is None:
        return
    if not any(
        code in rule.codes and rule.escalation is Escalation.EMERGENCY for rule in pack.rules
    ):
        raise RulePackError(
            f"safety_net: no rule gives {code!r} the level emergency; a possible red flag"
            " must never be triaged lower",
            file=str(Path(pack.root) / "reader.yaml"),
        )


def _sources(file: str, data: Any) -> dict[str, SourceSpec]:
    spec = _model(SourcesFile, file, data)
    out: dict[str, SourceSpec] = {}
    for i, source in enumerate(spec.sources):
        if source.id in out:
            raise RulePackError(
                f"source id {source.id!r} is defined twice",
                file=file,
                line=line_of(data, "sources", i),
            )
        out[source.id] = source
    return out


def _rules(
    file: str,
    data: Any,
    vocabulary: Vocabulary,
    sources: dict[str, SourceSpec],
    problems: list[RulePackError],
) -> list[Rule]:
    """The file's valid rules; each bad rule's problem goes to ``problems``."""
    spec = _model(RulesFile, file, data)
    raw_rules = data["rules"]
    out: list[Rule] = []
    for i, raw in enumerate(spec.rules):
        node = raw_rules[i]
        rule_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        try:
            out.append(_rule(file, node, rule_id, vocabulary, sources))
        except RulePackError as exc:
            problems.append(exc)
    return out


def _rule(
    file: str,
    node: LineDict,
    rule_id: str | None,
    vocabulary: Vocabulary,
    sources: dict[str, SourceSpec],
) -> Rule:
    spec = _model(RuleSpec, file, node, rule_id)
    if spec.id.startswith(SYSTEM_PREFIX):
        raise RulePackError(
            f"rule ids starting with {SYSTEM_PREFIX!r} are reserved for ktriage itself",
            file=file,
            line=line_of(node, "id"),
            rule_id=spec.id,
        )
    ctx = ParseContext(
        file=file,
        rule_id=spec.id,
        symptom_codes=set(vocabulary.terms),
        word_code=vocabulary.lookup,
    )
    when = parse_condition(node["when"], ctx)
    resolved = []
    for i, source_id in enumerate(spec.sources):
        if source_id not in sources:
            raise RulePackError(
                f"unknown source id {source_id!r}; sources are listed in sources.yaml",
                file=file,
                line=line_of(node, "sources", i),
                rule_id=spec.id,
                suggestion=suggest(source_id, list(sources)),
            )
        resolved.append(sources[source_id])
    if not spec.examples:
        raise RulePackError(
            "a rule needs at least one example (a report and the level it must give)",
            file=file,
            line=node.line,
            rule_id=spec.id,
        )
    examples = []
    for i, ex in enumerate(spec.examples):
        line = line_of(node, "examples", i)
        try:
            report = parse_report(ex.report)
        except InvalidReport as exc:
            raise RulePackError(
                f"example {i + 1} has an invalid report: {exc}",
                file=file,
                line=line_of(node, "examples", i, "report", *_path(exc)),
                rule_id=spec.id,
            ) from None
        examples.append(Example(ex.name or f"example {i + 1}", report, ex.expect, ex.fires, line))
    if not any(ex.fires for ex in examples):
        raise RulePackError(
            "no example fires this rule; add one with 'fires: true' (the default)",
            file=file,
            line=line_of(node, "examples"),
            rule_id=spec.id,
        )
    return Rule(
        id=spec.id,
        title=spec.title,
        when=when,
        escalation=spec.escalation,
        red_flag=spec.red_flag,
        guidance=spec.guidance,
        action=spec.action,
        sources=tuple(resolved),
        note=spec.note,
        examples=tuple(examples),
        file=file,
        line=node.line,
        supersedes=tuple(spec.supersedes),
        supersedes_lines=tuple(line_of(node, "supersedes", i) for i in range(len(spec.supersedes))),
        label=spec.label,
    )


def _path(exc: InvalidReport) -> tuple[str | int, ...]:
    if not exc.errors or not exc.errors[0].field:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in exc.errors[0].field.split("."))
