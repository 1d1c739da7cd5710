"""The guided intake: the conversation as library logic; ``ktriage intake`` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ktriage import Engine, Escalation, InvalidReport
from ktriage.interview import (
    Interview,
    Question,
    answer_all,
    parse_blood_pressure,
    parse_days,
    parse_severity,
    parse_yes_no,
    report_from_options,
)

from .conftest import STARTER
from .test_cli import run

RED_FLAG_Q = (
    "RED FLAG: is the caller reporting suicidal thoughts"
    " (for example: suicidal, thoughts of suicide, wants to die)? [y/n]"
)


@pytest.fixture
def interview(starter_engine: Engine) -> Interview:
    return Interview(starter_engine.reader, patient_id="P-1")


def questions(interview: Interview, answers: list[str]) -> list[Question]:
    """Every question asked while giving ``answers`` in turn."""
    conversation = interview.run()
    asked = [next(conversation)]
    for answer in answers:
        try:
            asked.append(conversation.send(answer))
        except StopIteration:
            break
    return asked


# -- the conversation -----------------------------------------------------------------------


def test_red_flags_come_first_and_from_the_pack(interview: Interview) -> None:
    first = next(interview.run())
    assert first == Question("red_flag.suicidal_thoughts", RED_FLAG_Q)
    assert [t.code for t in interview.red_flags()] == ["suicidal_thoughts"]


def test_red_flag_questions_follow_the_vocabulary(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(STARTER, pack)
    vocab = pack / "vocabulary.yaml"
    vocab.write_text(
        vocab.read_text().replace(
            "  - code: mood_swings\n    label: Mood swings\n",
            "  - code: mood_swings\n    label: Mood swings\n    red_flag: true\n",
        )
    )
    engine = Engine.load(pack)
    asked = questions(Interview(engine.reader), ["no"])
    assert [q.key for q in asked] == ["red_flag.mood_swings", "red_flag.suicidal_thoughts"]


def test_yes_to_a_red_flag_ends_at_once(interview: Interview, starter_engine: Engine) -> None:
    outcome = answer_all(interview.run(), ["yes"])
    assert outcome.ended_early
    assert outcome.red_flag == "suicidal_thoughts"
    assert outcome.report.patient_id == "P-1"
    assert [s.name for s in outcome.report.symptoms] == ["Suicidal thoughts"]
    assert starter_engine.evaluate(outcome.report).escalation == "emergency"


def test_red_flag_needs_an_explicit_answer(interview: Interview) -> None:
    asked = questions(interview, ["", "maybe"])
    assert [q.problem for q in asked] == [
        None,
        "please answer yes or no",
        "please answer yes or no",
    ]
    assert {q.key for q in asked} == {"red_flag.suicidal_thoughts"}


def test_a_red_flag_named_as_a_symptom_ends_at_once(interview: Interview) -> None:
    outcome = answer_all(interview.run(), ["n", "tired", "mild", "", "better off dead"])
    assert outcome.red_flag == "suicidal_thoughts"
    assert [(s.name, s.severity.value) for s in outcome.report.symptoms] == [
        ("tired", "mild"),
        ("better off dead", "moderate"),
    ]
    # no severity is invented for what was not asked
    assert "severity" not in outcome.report.symptoms[1].model_fields_set


@pytest.mark.parametrize(
    ("words", "flag"),
    [
        ("I want to kill myself", "suicidal_thoughts"),
        ("tightness in my chest", "chest_pain"),
        ("my chest feels weird", "possible_red_flag"),
    ],
)
def test_a_red_flag_in_the_callers_words_ends_the_intake(words: str, flag: str) -> None:
    engine = Engine.load()
    no_to_each = ["n"] * len(Interview(engine.reader).red_flags())
    outcome = answer_all(Interview(engine.reader).run(), [*no_to_each, words])
    assert outcome.red_flag == flag
    assert engine.evaluate(outcome.report).escalation is Escalation.EMERGENCY


def test_the_safety_net_is_not_a_red_flag_question() -> None:
    codes = [t.code for t in Interview(Engine.load().reader).red_flags()]
    assert "possible_red_flag" not in codes
    assert "suicidal_thoughts" in codes


def test_severity_question_says_how_the_words_were_read() -> None:
    engine = Engine.load()
    no_to_each = ["n"] * len(Interview(engine.reader).red_flags())
    asked = questions(Interview(engine.reader), [*no_to_each, "tierd and a bad headache"])
    assert asked[-1].text == (
        "Read as: fatigue, headache. How bad is it: mild (relieved by rest), moderate"
        " (limits daily activities) or severe (stops them looking after themselves)? [severe]"
    )
    asked = questions(Interview(engine.reader), [*no_to_each, "dizzy"])
    assert asked[-1].text == (
        "Read as: dizziness. How bad is it: mild (noticeable, not in the way), moderate"
        " (gets in the way of what they do) or severe (the worst they have had, or they"
        " cannot carry on)? [moderate]"
    )


def test_a_denied_symptom_is_kept_without_questions() -> None:
    engine = Engine.load()
    no_to_each = ["n"] * len(Interview(engine.reader).red_flags())
    outcome = answer_all(
        Interview(engine.reader).run(), [*no_to_each, "no chest pain", "", "n", "n"]
    )
    assert outcome.red_flag is None
    result = engine.evaluate(outcome.report)
    assert [a.code for a in result.readings[0].absent] == ["chest_pain"]
    # a red flag said to be absent never alarms; a clinician hears of it at the next visit
    assert result.escalation is Escalation.NEXT_VISIT
    assert result.red_flags == []


def test_a_measurement_typed_as_a_symptom_is_kept_without_questions() -> None:
    engine = Engine.load()
    no_to_each = ["n"] * len(Interview(engine.reader).red_flags())
    asked = questions(Interview(engine.reader), [*no_to_each, "bp 200/120"])
    assert asked[-1].text.startswith("Symptom 2")  # not "'bp 200/120' is not a known symptom"
    outcome = answer_all(Interview(engine.reader).run(), [*no_to_each, "bp 200/120", "", "n", "n"])
    result = engine.evaluate(outcome.report)
    assert result.escalation is Escalation.URGENT
    assert result.unrecognized == []


def test_full_interview(interview: Interview) -> None:
    answers = [
        "n",  # red flag
        "no energy", "2", "3 days",  # a lay word, severity by number
        "moodd", "y", "", "2 weeks",  # misspelt: take the suggestion; default severity
        "",  # no more symptoms
        "y", "84", "80", "150/95", "", "", "", "37.2", "", "67",  # measurements
        "y", "nasal spray", "4",  # treatment
    ]  # fmt: skip
    outcome = answer_all(interview.run(), answers)
    assert not outcome.ended_early
    assert outcome.report.model_dump(mode="json", exclude_none=True) == {
        "patient_id": "P-1",
        "symptoms": [
            {"name": "no energy", "severity": "moderate", "days": 3.0},
            {"name": "moody", "severity": "moderate", "days": 14.0},
        ],
        "measurements": {
            "weight_kg": 84.0,
            "baseline_weight_kg": 80.0,
            "systolic_bp": 150.0,
            "diastolic_bp": 95.0,
            "temperature_c": 37.2,
        },
        "age_years": 67.0,
        "treatment": {"route": "nasal_spray", "hours_since_dose": 4.0},
        "history": [],
    }


def test_unknown_word_suggests_then_asks_before_keeping(interview: Interview) -> None:
    asked = questions(interview, ["n", "tird", "n", "y"])
    assert [q.text for q in asked[2:5]] == [
        "'tird' is not a known symptom. Did you mean 'tired'? [y/n]",
        "Keep 'tird' as a symptom the rule pack does not recognise"
        " (a clinician will read it)? [y/n]",
        # nothing was read, so no severity is asked: the next symptom
        "Symptom 2, in the caller's words (blank when there are no more)",
    ]


def test_declining_to_keep_asks_again(interview: Interview) -> None:
    asked = questions(interview, ["n", "headache", "n"])
    assert asked[-1] == Question(
        "symptom",
        "Symptom 1, in the caller's words (blank when there are no more)",
        None,
        "Then type the symptom again, in other words.",
    )


def test_bad_answers_are_asked_again(interview: Interview) -> None:
    answers = ["n", "tired", "awful", "1", "soon", "", "", "y", "5", ""]
    asked = questions(interview, answers)
    assert [(q.key, q.problem) for q in asked if q.problem] == [
        ("severity", "severity must be mild, moderate or severe (or 1, 2, 3), got 'awful'"),
        (
            "days",
            "expected a number of days such as 3, '2 weeks', 'a few days',"
            " 'yesterday' or 'since Monday', got 'soon'",
        ),
        ("weight_kg", "must be between 20 and 400 kg (got 5)"),
    ]


def test_nothing_reported(interview: Interview, starter_engine: Engine) -> None:
    outcome = answer_all(interview.run(), ["n", "", "", ""])
    assert outcome.report.symptoms == []
    assert starter_engine.evaluate(outcome.report).escalation == "self_care"


def test_answers_running_out(interview: Interview) -> None:
    with pytest.raises(ValueError, match="no answer left for question 'symptom'"):
        answer_all(interview.run(), ["n"])


# -- parsing typed values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"), [("3", 3.0), ("2 weeks", 14.0), ("1w", 7.0), ("12 hours", 0.5), ("4d", 4)]
)
def test_parse_days(text: str, days: float) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["MILD", " moderate ", "3"])
def test_parse_severity(text: str) -> None:
    assert parse_severity(text).value in ("mild", "moderate", "severe")


def test_parse_yes_no() -> None:
    assert parse_yes_no(" Yes ") is True
    assert parse_yes_no("N") is False
    with pytest.raises(ValueError, match="please answer yes or no"):
        parse_yes_no("perhaps")


def test_parse_blood_pressure() -> None:
    assert parse_blood_pressure("150/95") == (150.0, 95.0)
    with pytest.raises(ValueError, match="must be between 50 and 300 mmHg"):
        parse_blood_pressure("1500/95")


def test_report_from_options_collects_every_flag_error() -> None:
    with pytest.raises(InvalidReport) as info:
        report_from_options(symptoms=["tired:awful"], bp="high", route="rectal")
    assert [e.field for e in info.value.errors] == ["--symptom", "--bp", "--route"]


# -- the command, driven with scripted input ------------------------------------------------


def test_intake_command_end_to_end(tmp_path: Path) -> None:
    saved = tmp_path / "call.json"
    script = "n\ntird\ny\nmild\n2\n\ny\n84\n80\n150/95\n\n\n\n\n\n\nn\n"
    args = ["intake", "--patient-id", "P-0042", "--save", str(saved), "--full"]
    result = run(*args, input=script)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "NEXT_VISIT: Raise it at the next scheduled visit\nPatient: P-0042\n"
    )
    assert "(weight.change_grade1)" in result.stdout
    assert "(fatigue.after_session)" in result.stdout
    # CliRunner echoes each typed answer after its prompt, as a terminal would.
    assert result.stderr.startswith(RED_FLAG_Q + " n\nSymptom 1, in the caller's words")
    assert result.stderr.endswith(f"Report saved to {saved}\n")
    assert json.loads(saved.read_text()) == {
        "patient_id": "P-0042",
        "symptoms": [{"name": "tired", "severity": "mild", "days": 2.0}],
        "measurements": {
            "weight_kg": 84.0,
            "baseline_weight_kg": 80.0,
            "systolic_bp": 150.0,
            "diastolic_bp": 95.0,
        },
    }


def test_intake_red_flag_ends_with_emergency_json() -> None:
    result = run("intake", "--format", "json", input="y\n")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["escalation"] == "emergency"
    assert data["red_flags"] == ["red_flag.suicidal_thoughts"]
    assert result.stderr == RED_FLAG_Q + " y\nRed flag reported: ending the interview now.\n"


def test_intake_shows_problems_and_asks_again() -> None:
    result = run("intake", "--format", "json", input="maybe\nn\n\n\n\n")
    assert result.exit_code == 0
    assert result.stderr.count(RED_FLAG_Q) == 2
    assert "  please answer yes or no\n" in result.stderr
    assert json.loads(result.stdout)["escalation"] == "self_care"


def test_intake_stopped_saves_nothing(tmp_path: Path) -> None:
    saved = tmp_path / "call.json"
    result = run("intake", "--save", str(saved), input="n\ntired\n")  # input ends mid-way
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr.endswith("\nIntake stopped; nothing was saved.\n")
    assert "Traceback" not in result.output
    assert not saved.exists()


def test_intake_ctrl_c(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    def interrupt(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(click, "prompt", interrupt)
    result = run("intake")
    assert result.exit_code == 130
    assert result.stderr == "\nIntake stopped; nothing was saved.\n"


def test_intake_save_to_unwritable_place(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "call.json"
    result = run("intake", "--save", str(target), input="y\n")
    assert result.exit_code == 2
    assert result.stdout.startswith("EMERGENCY:")  # the advice is shown before the save fails
    assert result.stderr.endswith(
        f"error: --save: cannot write {target}: No such file or directory\n"
    )


def test_intake_refuses_a_bad_patient_id_before_any_question() -> None:
    # a red-flag "yes" must never end in a traceback about the id
    result = run("intake", "--patient-id", "p" * 129, input="y\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: --patient-id: is too long (at most 128 characters)\n"


def test_intake_asks_again_for_a_symptom_name_that_is_too_long() -> None:
    result = run(
        "intake", "--format", "json", input="n\n" + "q" * 250 + "\ntired\nmild\n\n\nn\nn\n"
    )
    assert result.exit_code == 0, result.output
    assert "  That is too long (at most 200 characters); say it in fewer words.\n" in result.stderr
    assert json.loads(result.stdout)["advice"][0]["rule"] == "fatigue.after_session"
