"""Every way a rule pack can be wrong is caught at load time, with file, line, rule and hint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ktriage import Engine, RulePackError, load_pack

from .conftest import STARTER

RULE = """\
rules:
  - id: test.rule
    title: A test rule
    when:
{when}
    escalation: {level}
    guidance: Rest.
    action: None.
    sources: [{sources}]
    examples:
      - report: {{symptoms: [{{name: tired}}]}}
        expect: next_visit
"""


def make_pack(tmp_path: Path, rule_text: str | None = None, **files: str) -> Path:
    """A copy of the starter pack with one extra rule file and any files replaced."""
    root = tmp_path / "pack"
    shutil.copytree(STARTER, root)
    if rule_text is not None:
        (root / "rules" / "zz_test.yaml").write_text(rule_text)
    for name, text in files.items():
        (root / name.replace("__", "/")).write_text(text)
    return root


def rule(when: str, level: str = "next_visit", sources: str = "seed-article") -> str:
    indented = "\n".join("      " + line for line in when.strip().splitlines())
    return RULE.format(when=indented, level=level, sources=sources)


def load_error(path: Path) -> RulePackError:
    with pytest.raises(RulePackError) as info:
        load_pack(path)
    return info.value


BAD_RULES = [
    # (when, level, sources, line, message, suggestion)
    (
        "symptom: fatige",
        "next_visit",
        "seed-article",
        5,
        "unknown symptom code 'fatige'; codes come from the vocabulary",
        "fatigue",
    ),
    (
        "symptom: fatigue\nseverity: awful",
        "next_visit",
        "seed-article",
        6,
        "severity: unknown value 'awful'; expected one of mild, moderate, severe",
        None,
    ),
    (
        "symptom: fatigue\nseverty: mild",
        "next_visit",
        "seed-article",
        6,
        "unknown symptom attribute 'severty'",
        "severity",
    ),
    (
        "symptom: fatigue\nsystolic_bp: {at_least: 180}",
        "next_visit",
        "seed-article",
        6,
        "unknown symptom attribute 'systolic_bp'; a measurement or treatment test goes in its"
        " own item under 'all'",
        None,
    ),
    (
        "systolic: {at_least: 180}",
        "next_visit",
        "seed-article",
        5,
        "unknown field 'systolic'",
        "systolic_bp",
    ),
    (
        "systolic_bp: {at_lest: 180}",
        "next_visit",
        "seed-article",
        5,
        "unknown comparison 'at_lest' for 'systolic_bp'; use one of at_least, above, at_most,"
        " below, equals, one_of, present",
        "at_least",
    ),
    (
        "systolic_bp: {at_least: 1800}",
        "next_visit",
        "seed-article",
        5,
        "systolic_bp: 1800 is outside the plausible range 50 to 300 mmHg",
        None,
    ),
    (
        "systolic_bp: {at_least: high}",
        "next_visit",
        "seed-article",
        5,
        "systolic_bp: expected a number, got 'high'",
        None,
    ),
    (
        "route: {at_least: iv}",
        "next_visit",
        "seed-article",
        5,
        "route: 'at_least' compares numbers or severities; use equals or one_of",
        None,
    ),
    (
        "route: nasal",
        "next_visit",
        "seed-article",
        5,
        "route: unknown value 'nasal'; expected one of iv, nasal_spray, intramuscular, oral,"
        " sublingual, other",
        "nasal_spray",
    ),
    (
        "all: []",
        "next_visit",
        "seed-article",
        5,
        "'all' takes a non-empty list of conditions",
        None,
    ),
    (
        "all:\n  - symptom: fatigue\nany:\n  - symptom: fatigue",
        "next_visit",
        "seed-article",
        7,
        "'all' must be the only key in its condition; put 'any' in its own item under 'all'",
        None,
    ),
    (
        "none:\n  - symptom: fatigue\n    severity: severe",
        "next_visit",
        "seed-article",
        6,
        "under 'none', a symptom condition can name codes only, not severity, days or other"
        " attributes; test the attribute positively in another rule instead",
        None,
    ),
    (
        "none:\n  - systolic_bp: {present: true}",
        "next_visit",
        "seed-article",
        2,
        "this rule could fire on a report where nothing was reported; give every alternative a"
        " positive condition (a symptom or a value that is present)",
        None,
    ),
    (
        "symptom: fatigue",
        "urgnet",
        "seed-article",
        6,
        "escalation: unknown level 'urgnet'; levels are self_care, next_visit, within_24h,"
        " urgent, emergency",
        "urgent",
    ),
    (
        "symptom: fatigue",
        "next_visit",
        "ctcae5",
        9,
        "unknown source id 'ctcae5'; sources are listed in sources.yaml",
        "ctcae-5",
    ),
]


@pytest.mark.parametrize(
    ("when", "level", "sources", "line", "message", "suggestion"),
    [pytest.param(*case, id=case[4][:40]) for case in BAD_RULES],
)
def test_bad_rule_is_caught_at_load(
    tmp_path: Path,
    when: str,
    level: str,
    sources: str,
    line: int,
    message: str,
    suggestion: str | None,
) -> None:
    root = make_pack(tmp_path, rule(when, level, sources))
    err = load_error(root)
    assert err.message == message
    assert err.file == str(root / "rules" / "zz_test.yaml")
    assert err.line == line
    assert err.rule_id == "test.rule"
    assert err.suggestion == suggestion
    expected = f"{root}/rules/zz_test.yaml:{line}: rule 'test.rule': {message}"
    if suggestion:
        expected += f" (did you mean {suggestion!r}?)"
    assert str(err) == expected


def test_rule_without_sources(tmp_path: Path) -> None:
    err = load_error(make_pack(tmp_path, rule("symptom: fatigue", sources="")))
    assert err.message == "sources: must not be empty"
    assert err.line == 9


def test_rule_without_example(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").split("    examples:")[0]
    err = load_error(make_pack(tmp_path, text))
    assert str(err).endswith(
        "zz_test.yaml:2: rule 'test.rule': a rule needs at least one example (a report and the"
        " level it must give)"
    )


def test_example_that_never_fires(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace(
        "expect: next_visit", "expect: next_visit\n        fires: false"
    )
    err = load_error(make_pack(tmp_path, text))
    assert err.message == "no example fires this rule; add one with 'fires: true' (the default)"
    assert err.line == 10


def test_example_with_an_invalid_report(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace("{name: tired}", "{name: tired, days: -2}")
    err = load_error(make_pack(tmp_path, text))
    assert err.message == (
        "example 1 has an invalid report: symptoms.0.days: must be between 0 and 3650 days (got -2)"
    )
    assert err.line == 11


def test_unknown_rule_key(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace("    guidance:", "    guidanse: x\n    guidance:")
    err = load_error(make_pack(tmp_path, text))
    assert err.message == "unknown key 'guidanse'"
    assert err.suggestion == "guidance"
    assert err.line == 7


def test_missing_rule_key(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace("    action: None.\n", "")
    err = load_error(make_pack(tmp_path, text))
    assert err.message == "action: is required"
    assert err.rule_id == "test.rule"


def test_duplicate_rule_id(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace("test.rule", "fatigue.after_session")
    root = make_pack(tmp_path, text)
    err = load_error(root)
    assert err.message == (f"duplicate rule id; first defined at {root}/rules/fatigue.yaml:5")
    assert err.line == 2


def test_reserved_rule_id(tmp_path: Path) -> None:
    err = load_error(
        make_pack(tmp_path, rule("symptom: fatigue").replace("test.rule", "ktriage.x"))
    )
    assert err.message == "rule ids starting with 'ktriage.' are reserved for ktriage itself"


def test_malformed_yaml(tmp_path: Path) -> None:
    err = load_error(make_pack(tmp_path, "rules:\n  - id: [unclosed\n"))
    assert err.message.startswith("malformed YAML: ")
    assert err.line == 2  # where the bracket opens, not where the parser gave up


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = rule("symptom: fatigue").replace("    action: None.\n", "    action: a\n    action: b\n")
    err = load_error(make_pack(tmp_path, text))
    assert err.message == "key 'action' appears twice in the same mapping"
    assert err.line == 9


@pytest.mark.parametrize(
    ("vocabulary", "message", "line"),
    [
        (
            "symptoms:\n  - code: a\n    label: A\n  - code: a\n    label: B\n",
            "symptom code 'a' is defined twice",
            4,
        ),
        (
            "symptoms:\n  - code: a\n    label: A\n    synonyms: [tired]\n"
            "  - code: b\n    label: B\n    synonyms: [Tired!]\n",
            "symptom 'b': 'Tired!' already means 'a'; a word can stand for one symptom only",
            5,
        ),
        (
            "symptoms:\n  - code: Bad Code\n    label: A\n",
            "symptoms.0.code: 'Bad Code' is not a valid name (lower-case letters, digits, '_' and"
            " '-', dots between parts)",
            2,
        ),
    ],
)
def test_bad_vocabulary(tmp_path: Path, vocabulary: str, message: str, line: int) -> None:
    root = make_pack(tmp_path, **{"vocabulary.yaml": vocabulary})
    err = load_error(root)
    assert err.message == message
    assert err.line == line
    assert err.file == str(root / "vocabulary.yaml")


def test_duplicate_source(tmp_path: Path) -> None:
    text = "sources:\n  - id: a\n    title: A\n  - id: a\n    title: B\n"
    err = load_error(make_pack(tmp_path, **{"sources.yaml": text}))
    assert (err.message, err.line) == ("source id 'a' is defined twice", 4)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("pack.yaml", "the pack has no pack.yaml"),
        ("rules", "the pack has no rule files under rules/*.yaml"),
    ],
)
def test_missing_files(tmp_path: Path, remove: str, message: str) -> None:
    root = make_pack(tmp_path)
    target = root / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    err = load_error(root)
    assert err.message == message
    assert err.file == str(root)


def test_missing_folder(tmp_path: Path) -> None:
    assert str(load_error(tmp_path / "nope")) == f"{tmp_path / 'nope'}: no such rule pack folder"


def test_engine_load_raises_the_same_error(tmp_path: Path) -> None:
    root = make_pack(tmp_path, rule("symptom: fatige"))
    with pytest.raises(RulePackError, match="unknown symptom code 'fatige'"):
        Engine.load(root)


def test_threshold_too_small_for_durable_rules(tmp_path: Path) -> None:
    # 1e-05 is written in exponent notation, which durable_rules cannot parse
    err = load_error(make_pack(tmp_path, rule("symptom: fatigue\ndays: {at_least: 0.00001}")))
    assert err.message == "days: 1e-05 is too small to compare; use 0 or at least 0.0001"
    assert err.line == 6


def test_yaml_integer_too_long_to_read(tmp_path: Path) -> None:
    text = rule("systolic_bp: {at_least: 1" + "0" * 5000 + "}")
    err = load_error(make_pack(tmp_path, text))
    assert err.message.startswith("unreadable YAML value: Exceeds the limit (4300 digits)")
    assert err.file == str(tmp_path / "pack" / "rules" / "zz_test.yaml")


def test_an_unclosed_bracket_is_reported_where_it_opens(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(STARTER, pack)
    rule_file = sorted((pack / "rules").glob("*.yaml"))[0]
    lines = rule_file.read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(lines) if "sources: [" in line)
    lines[n] = lines[n].replace("]", "")
    rule_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RulePackError) as err:
        load_pack(pack)
    assert err.value.line == n + 1
    assert err.value.message == (
        "malformed YAML: a [ ] or { } opened here is not closed (did not find expected ','"
        f" or ']', line {n + 2})"
    )
