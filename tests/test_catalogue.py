"""The rule catalogue: generated from the pack, deterministic, and committed up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ktriage import load_pack
from ktriage.engine.catalogue import render_catalogue
from ktriage.engine.pack import RulePack

from .conftest import DATA

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs" / "rule-catalogue.md"
TINY = DATA / "catalogue_pack"

TINY_CATALOGUE = (
    "# Rule catalogue: catalogue-test 0.0.1\n"
    "\n"
    "A tiny pack whose catalogue is checked word for word.\n"
    "\n"
    "Generated from the rule pack by `ktriage rules docs`; do not edit by hand.\n"
    "\n"
    "2 rules (1 red flag), 3 worked examples, 2 symptoms, 2 sources.\n"
    "\n"
    "| level | meaning | rules |\n"
    "|---|---|---|\n"
    "| `self_care` | Self-care at home with the guidance given | 0 |\n"
    "| `next_visit` | Raise it at the next scheduled visit | 1 |\n"
    "| `within_24h` | Contact the treating provider within 24 hours | 0 |\n"
    "| `urgent` | Get care now: call the clinic, urgent care or the emergency department | 0 |\n"
    "| `emergency` | Call 911 now | 1 |\n"
    "\n"
    "## Rules\n"
    "\n"
    "### rules/tiny.yaml\n"
    "\n"
    "#### `fatigue.lasting`: Fatigue that lasts\n"
    "\n"
    "- **Level:** `next_visit`\n"
    "- **When:** symptom `fatigue` (Fatigue) with severity at least moderate"
    " and duration above 2 days\n"
    "- **Patient guidance:** Mention it at your next visit.\n"
    "- **Staff action:** Review at the next visit.\n"
    "- **Sources:** `ctcae-5`\n"
    "- **Examples:** 2 (1 firing, 1 not firing)\n"
    "\n"
    "#### `red_flag.crisis`: Crisis with chest pain\n"
    "\n"
    "- **Level:** `emergency` (red flag)\n"
    "- **When:**\n"
    "  - all of:\n"
    "    - any of:\n"
    "      - systolic blood pressure at least 180 mmHg\n"
    "      - route is one of `iv`, `nasal_spray`\n"
    "    - weight change from baseline at least 5 % and below 10 %\n"
    "    - symptom one of `chest_pain` (Chest pain), `fatigue` (Fatigue)"
    " with relieved by rest: no\n"
    "    - none of:\n"
    "      - heart rate is recorded\n"
    "- **Patient guidance:** Call 911 now.\n"
    "- **Staff action:** Emergency.\n"
    "- **Note:** A made-up rule that uses every kind of condition.\n"
    "- **Sources:** `aha`; `ctcae-5`\n"
    "- **Examples:** 1 (1 firing, 0 not firing)\n"
    "\n"
    "## Vocabulary\n"
    "\n"
    "Words are matched ignoring case, spaces, hyphens and punctuation.\n"
    "\n"
    "| code | label | red flag | synonyms |\n"
    "|---|---|---|---|\n"
    "| `chest_pain` | Chest pain | yes | tight chest |\n"
    "| `fatigue` | Fatigue |  | tired, wiped out |\n"
    "\n"
    "## Sources\n"
    "\n"
    "- `aha`: AHA hypertensive crisis (cited by 1 rule)\n"
    "- `ctcae-5`: [CTCAE v5.0](https://example.org/ctcae) (cited by 2 rules)\n"
    "  Grading of fatigue and weight change.\n"
)


@pytest.fixture(scope="session")
def shipped_pack() -> RulePack:
    return load_pack()


def test_committed_catalogue_matches_the_shipped_pack(shipped_pack: RulePack) -> None:
    assert DOCS.read_text(encoding="utf-8") == render_catalogue(shipped_pack), (
        "docs/rule-catalogue.md is stale; regenerate it with `ktriage rules docs`"
    )


def test_tiny_pack_catalogue_word_for_word() -> None:
    assert render_catalogue(load_pack(TINY)) == TINY_CATALOGUE


def test_catalogue_does_not_depend_on_where_the_pack_lives(tmp_path: Path) -> None:
    copy = tmp_path / "somewhere" / "else"
    shutil.copytree(TINY, copy)
    assert render_catalogue(load_pack(copy)) == TINY_CATALOGUE


def test_catalogue_lists_every_rule_symptom_and_source(shipped_pack: RulePack) -> None:
    text = render_catalogue(shipped_pack)
    for rule in shipped_pack.rules:
        assert f"#### `{rule.id}`: {rule.title}" in text
    for code in shipped_pack.vocabulary.terms:
        assert f"| `{code}` |" in text
    for source_id in shipped_pack.sources:
        assert f"- `{source_id}`: " in text


@pytest.mark.parametrize(
    ("rule_id", "when"),
    [
        ("bp.crisis", "  - any of:\n    - systolic blood pressure at least 180 mmHg\n"),
        ("weight.change_grade1", "weight change from baseline at least 5 % and below 10 %"),
        ("drowsiness.sedation_after_dose", "hours since the last dose at most 4 h"),
        (
            "mood.swings",
            "symptom `mood_swings` (Mood swings) with severity mild or moderate",
        ),
        ("fatigue.limits_self_care", "symptom `fatigue` (Fatigue) with limits self-care: yes"),
        ("route.nasal_spray_driving", "route is `nasal_spray`"),
        ("weight.baseline_missing", "  - none of:\n      - baseline weight is recorded"),
    ],
)
def test_conditions_read_as_words(shipped_pack: RulePack, rule_id: str, when: str) -> None:
    text = render_catalogue(shipped_pack)
    start = text.index(f"#### `{rule_id}`")
    section = text[start : text.index("- **Patient guidance:**", start)]
    assert when in section
