"""Clinical coverage of the shipped pack: every rule, word and severity is accounted for."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ktriage import Engine, Escalation, Severity, load_pack
from ktriage.engine.conditions import AllOf, AnyOf, Condition, FieldCond, NoneOf, SymptomCond
from ktriage.engine.pack import Rule

PACK = load_pack()
RULES = {rule.id: rule for rule in PACK.rules}
TERMS = PACK.vocabulary.terms
SYSTEM_RULES = {"ktriage.unmatched", "ktriage.unrecognized"}
LEVELS = {level.value: level for level in Escalation}


@pytest.fixture(scope="session")
def shipped_engine() -> Engine:
    return Engine.load()


def _levels(engine: Engine, report: dict[str, Any]) -> tuple[str, list[str]]:
    result = engine.evaluate(report)
    return result.escalation.value, [a.rule for a in result.advice]


# -- the pack as a whole -------------------------------------------------------------------


def test_pack_identity_and_honesty_statement() -> None:
    assert (PACK.name, PACK.version) == ("ktriage-default", "1.0.0")
    description = " ".join(PACK.description.split())
    assert "not evidence that ketamine causes metabolic change" in description


def test_starter_rule_ids_are_kept() -> None:
    starter = {
        "red_flag.suicidal_thoughts",
        "fatigue.after_session",
        "fatigue.persistent",
        "fatigue.limits_self_care",
        "mood.swings",
        "mood.swings_persistent",
        "weight.change_reported",
        "weight.baseline_missing",
        "weight.change_grade1",
        "weight.change_grade2",
        "weight.change_grade3",
    }
    assert starter <= set(RULES)


def test_sources_are_the_suggested_ids_and_all_are_cited() -> None:
    suggested = {
        "seed-article",
        "ctcae-5",
        "spravato-pi",
        "ketamine-ae-review",
        "aha-hypertensive-crisis",
        "ada-standards",
        "ketamine-uropathy",
        "988-lifeline",
        "metabolic-evidence",
    }
    assert suggested <= set(PACK.sources)
    cited = {s.id for rule in PACK.rules for s in rule.sources}
    assert set(PACK.sources) - cited == set()


def test_every_rule_is_fired_by_one_of_its_examples(shipped_engine: Engine) -> None:
    fired = {o.rule for o in shipped_engine.run_examples() if o.fires and o.fired and o.passed}
    assert set(RULES) - fired == set()


# -- every rule ------------------------------------------------------------------------------


def _numeric_tests(cond: Condition) -> bool:
    if isinstance(cond, FieldCond):
        return isinstance(cond.test.value, int | float) and cond.test.op != "eq"
    if isinstance(cond, SymptomCond):
        return any(t.field == "days" for t in cond.tests)
    assert isinstance(cond, AllOf | AnyOf | NoneOf)
    return any(_numeric_tests(item) for item in cond.items)


@pytest.mark.parametrize("rule", PACK.rules, ids=lambda r: r.id)
def test_rule_meets_the_quality_bar(rule: Rule) -> None:
    assert rule.sources, "a rule needs a source"
    assert len(rule.guidance.split()) >= 8, "patient guidance is missing or too thin"
    assert len(rule.action.split()) >= 4, "staff action is missing or too thin"
    # Plain language: short sentences (a rough reading-age check).
    for sentence in re.split(r"(?<=[.!?])\s+", " ".join(rule.guidance.split())):
        assert len(sentence.split()) <= 30, f"sentence too long for patients: {sentence!r}"
    assert any(ex.fires for ex in rule.examples)
    if _numeric_tests(rule.when):
        assert any(not ex.fires for ex in rule.examples), (
            "a threshold needs an example on the other side of its boundary"
        )


@pytest.mark.parametrize("rule", [r for r in PACK.rules if r.red_flag], ids=lambda r: r.id)
def test_red_flag_rules_give_emergency(rule: Rule) -> None:
    assert rule.escalation == Escalation.EMERGENCY
    assert "911" in rule.guidance or "988" in rule.guidance


def test_every_emergency_rule_is_a_red_flag() -> None:
    assert [r.id for r in PACK.rules if r.escalation == "emergency" and not r.red_flag] == []


@pytest.mark.parametrize(
    "rule",
    [r for r in PACK.rules if r.id.split(".")[0] in ("weight", "glucose", "lipids")],
    ids=lambda r: r.id,
)
def test_metabolic_rules_say_they_are_general_safety_grading(rule: Rule) -> None:
    assert "metabolic-evidence" in rule.note
    assert "not a claim that ketamine" in " ".join(rule.note.split())


@pytest.mark.parametrize(
    "rule", [r for r in PACK.rules if "judgement call" in r.note.lower()], ids=lambda r: r.id
)
def test_judgement_calls_do_not_err_low(rule: Rule) -> None:
    # A judgement-call rule is never the lowest level unless it fires on an absence.
    assert rule.escalation != Escalation.SELF_CARE


# -- vocabulary ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(TERMS))
def test_every_symptom_has_at_least_five_synonyms(code: str) -> None:
    assert len(TERMS[code].synonyms) >= 5


@pytest.mark.parametrize(
    ("words", "code"),
    [
        ("wiped out", "fatigue"),
        ("ups and downs", "mood_swings"),
        ("put on weight", "weight_gain"),
        ("lost weight", "weight_loss"),
        ("can't sleep", "poor_sleep"),
        ("spacey", "dissociation"),
        ("peeing a lot", "urinary_frequency"),
        ("Light-headed", "dizziness"),
        ("feel sick", "nausea"),
        ("throwing up", "vomiting"),
        ("stressed out", "stress"),
        ("can't stay awake", "drowsiness"),
        ("blood in pee", "blood_in_urine"),
        ("short of breath", "trouble_breathing"),
        ("passed out", "fainting"),
        ("better off dead", "suicidal_thoughts"),
        ("heart racing", "palpitations"),
    ],
)
def test_lay_words_people_use(words: str, code: str) -> None:
    assert PACK.vocabulary.lookup(words) == code


CASES = [
    pytest.param(code, severity, id=f"{code}-{severity.value}")
    for code in sorted(TERMS)
    for severity in Severity
]


@pytest.mark.parametrize(("code", "severity"), CASES)
def test_every_symptom_at_every_severity_reaches_a_rule(
    shipped_engine: Engine, code: str, severity: Severity
) -> None:
    result = shipped_engine.evaluate({"symptoms": [{"name": code, "severity": severity.value}]})
    rules = [a.rule for a in result.advice]
    assert "ktriage.unmatched" not in rules, f"{code} at {severity.value} falls through"
    assert set(rules) - SYSTEM_RULES


@pytest.mark.parametrize("code", sorted(TERMS))
def test_every_synonym_triages_like_its_code(shipped_engine: Engine, code: str) -> None:
    expected = _levels(shipped_engine, {"symptoms": [{"name": code}]})
    # a phrase the reader's data marks as the severe form triages as the severe code
    severe_form = {w.casefold() for w in shipped_engine.pack.reader.severe_phrases}
    severe = _levels(shipped_engine, {"symptoms": [{"name": code, "severity": "severe"}]})
    for word in TERMS[code].synonyms:
        want = severe if word.casefold() in severe_form else expected
        assert _levels(shipped_engine, {"symptoms": [{"name": word}]}) == want, word


@pytest.mark.parametrize("code", sorted(c for c, t in TERMS.items() if t.red_flag))
def test_red_flag_words_give_emergency_at_any_severity(shipped_engine: Engine, code: str) -> None:
    for severity in Severity:
        result = shipped_engine.evaluate({"symptoms": [{"name": code, "severity": severity}]})
        assert result.escalation == Escalation.EMERGENCY
        assert result.red_flags


# -- exact results ---------------------------------------------------------------------------

EXACT = [
    pytest.param(
        {"symptoms": [{"name": "tired", "severity": "mild"}]},
        "self_care",
        ["fatigue.after_session"],
        id="mild tiredness",
    ),
    pytest.param(
        {
            "symptoms": [{"name": "dizzy", "severity": "mild"}],
            "treatment": {"route": "nasal_spray", "hours_since_dose": 2},
        },
        "self_care",
        ["after_dose.expected_effects", "dizziness.reported", "route.nasal_spray_driving"],
        id="mild dizziness after a nasal dose",
    ),
    pytest.param(
        {
            "symptoms": [{"name": "headache", "severity": "severe"}],
            "measurements": {"systolic_bp": 186, "diastolic_bp": 104},
        },
        "emergency",
        [
            "red_flag.hypertensive_crisis_symptoms",
            "headache.severe",
            "bp.crisis",
            "bp.above_dose_limit",
            "bp.raised",
        ],
        id="crisis with severe headache",
    ),
    pytest.param(
        {
            "symptoms": [{"name": "ups and downs", "severity": "mild"}, {"name": "kill myself"}],
            "measurements": {"oxygen_saturation_pct": 98},
        },
        "emergency",
        ["red_flag.suicidal_thoughts", "mood.swings"],
        id="suicidal thoughts with mood swings",
    ),
    pytest.param(
        {"symptoms": [{"name": "peeing a lot", "severity": "mild"}]},
        "within_24h",
        ["urinary.symptoms"],
        id="urinary frequency is flagged, not alarmed",
    ),
    pytest.param(
        {"measurements": {"weight_kg": 60, "baseline_weight_kg": 80}},
        "within_24h",
        ["weight.change_grade3"],
        id="25 percent weight loss",
    ),
    pytest.param(
        {"measurements": {"fasting_glucose_mg_dl": 50}},
        "urgent",
        ["glucose.hypo_level2"],
        id="glucose 50",
    ),
    pytest.param(
        {"symptoms": [{"name": "purple toes"}]},
        "next_visit",
        ["ktriage.unrecognized"],
        id="unknown words reach a clinician",
    ),
]


@pytest.mark.parametrize(("report", "level", "rules"), EXACT)
def test_exact_results(
    shipped_engine: Engine, report: dict[str, Any], level: str, rules: list[str]
) -> None:
    assert _levels(shipped_engine, report) == (level, rules)


def test_crisis_result_explains_itself(shipped_engine: Engine) -> None:
    result = shipped_engine.evaluate(
        {
            "symptoms": [{"name": "splitting headache", "severity": "severe"}],
            "measurements": {"systolic_bp": 186, "diastolic_bp": 104},
        }
    )
    assert result.red_flags == ["red_flag.hypertensive_crisis_symptoms"]
    top = result.advice[0]
    assert list(top.because) == [
        "headache (reported as 'splitting headache'): severe",
        "systolic blood pressure 186 mmHg",
    ]
    assert "911" in top.guidance


def test_suicidal_thoughts_advice_names_988_and_911(shipped_engine: Engine) -> None:
    result = shipped_engine.evaluate({"symptoms": [{"name": "want to die", "severity": "mild"}]})
    assert result.escalation == Escalation.EMERGENCY
    guidance = result.advice[0].guidance
    assert "988" in guidance and "911" in guidance


# -- NEWS2 points from the vital signs (issue 11 review) -------------------------------------


@pytest.mark.parametrize(
    ("measurements", "points"),
    [
        ({"respiratory_rate": 8}, 3),
        ({"respiratory_rate": 9}, 1),
        ({"respiratory_rate": 21}, 2),
        ({"respiratory_rate": 25}, 3),
        ({"oxygen_saturation_pct": 91}, 3),
        ({"oxygen_saturation_pct": 93}, 2),
        ({"oxygen_saturation_pct": 95}, 1),
        ({"oxygen_saturation_pct": 96}, 0),
        ({"systolic_bp": 90, "diastolic_bp": 60}, 3),
        ({"systolic_bp": 101, "diastolic_bp": 60}, 1),
        ({"systolic_bp": 220, "diastolic_bp": 100}, 3),
        ({"heart_rate": 40}, 3),
        ({"heart_rate": 50}, 1),
        ({"heart_rate": 91}, 1),
        ({"heart_rate": 111}, 2),
        ({"heart_rate": 131}, 3),
        ({"temperature_c": 35.0}, 3),
        ({"temperature_c": 36.0}, 1),
        ({"temperature_c": 38.1}, 1),
        ({"temperature_c": 39.1}, 2),
        (
            {
                "heart_rate": 125,
                "respiratory_rate": 22,
                "temperature_c": 39.5,
                "systolic_bp": 95,
                "diastolic_bp": 60,
            },
            8,
        ),
    ],
)
def test_news2_points_from_the_vital_signs(
    shipped_engine: Engine, measurements: dict[str, float], points: int
) -> None:
    result = shipped_engine.evaluate({"measurements": measurements})
    assert result.derived["news2_vitals"] == points
