"""The symptom reader: free text as people type it becomes symptoms, never a missed red flag."""

from __future__ import annotations

import itertools
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ktriage import Engine, Escalation, InvalidReport, RulePackError, read, triage
from ktriage.cli import main
from ktriage.engine.pack import default_pack_path

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


def level(engine: Engine, text: str, **symptom: object) -> Escalation:
    return engine.evaluate({"symptoms": [{"name": text, **symptom}]}).escalation


# -- the table: each typed line, and the level it must reach -----------------------

EMERGENCY_LINES = [
    "I want to kill myself",
    "thinking about hurting myself",
    "I cut myself last night",
    "chest pains",
    "my chest hurts",
    "tightness in my chest",
    "I can't breathe",
    "one side of my face is drooping",
    "chest pian",
    "siezure",
    "pt c/o SOB",
    "SI",
    "my chest feels weird",  # the safety net: a red-flag word outside any phrase
    "I think I'm going to die",
    # described by what is happening rather than named
    "threw up something like coffee grounds",
    "her lips have gone blue",
    "a pressure behind my breastbone",
    "I've lost my sight in one eye",
    "counting how many tablets it would take",
]


@pytest.mark.parametrize("text", EMERGENCY_LINES)
def test_red_flags_in_words_are_emergencies(engine: Engine, text: str) -> None:
    assert level(engine, text) is Escalation.EMERGENCY


@pytest.mark.parametrize("text", ["severe headache", "bad headache", "headache, bad one"])
def test_intensity_words_read_as_severe(engine: Engine, text: str) -> None:
    assert level(engine, text) is level(engine, "headache", severity="severe")
    (found,) = engine.read(text).symptoms
    assert (found.code, found.severe) == ("headache", True)


def test_very_confused_is_at_least_confused(engine: Engine) -> None:
    assert level(engine, "very confused").rank >= level(engine, "confused").rank


@pytest.mark.parametrize(
    ("typed", "code", "correction"),
    [
        ("tierd", "fatigue", "read 'tierd' as 'tired'"),
        ("nausia", "nausea", "read 'nausia' as 'nausea'"),
        ("dizzey", "dizziness", "read 'dizzey' as 'dizzy'"),
        ("chest pian", "chest_pain", "read 'pian' as 'pain'"),
        ("siezure", "seizure", "read 'siezure' as 'seizure'"),
    ],
)
def test_typos_are_repaired_and_the_repair_is_shown(typed: str, code: str, correction: str) -> None:
    (found,) = read(typed).symptoms
    assert (found.code, found.corrections) == (code, (correction,))


@pytest.mark.parametrize("word", ["tried", "infusion", "session"])
def test_common_words_are_never_repaired_into_symptoms(word: str) -> None:
    reading = read(f"I {word} it")
    assert reading.symptoms == ()
    assert reading.unrecognized == (f"I {word} it",)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("tired and dizzy", ["fatigue", "dizziness"]),
        ("nausea, headache", ["nausea", "headache"]),
        ("tired/dizzy", ["fatigue", "dizziness"]),
        ("c/o HA, n/v", ["headache", "nausea", "vomiting"]),
    ],
)
def test_several_symptoms_in_one_line(text: str, codes: list[str]) -> None:
    assert [s.code for s in read(text).symptoms] == codes


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("no chest pain", "chest_pain"),
        ("denies suicidal thoughts", "suicidal_thoughts"),
        ("denies SI", "suicidal_thoughts"),
        ("not dizzy anymore", "dizziness"),
        ("chest pain is gone", "chest_pain"),
        ("never had a seizure", "seizure"),
        ("the dizziness has gone since Monday", "dizziness"),  # "since" ends the clause
        ("suicidal thoughts gone since the last session", "suicidal_thoughts"),
    ],
)
def test_negated_symptoms_are_read_absent_never_matched(
    engine: Engine, text: str, absent: str
) -> None:
    result = engine.evaluate({"symptoms": [{"name": text}]})
    (reading,) = result.readings
    assert [a.code for a in reading.absent] == [absent]
    assert reading.symptoms == ()
    assert result.unrecognized == []
    assert result.red_flags == []
    # a red flag said to be absent or past is heard by a clinician; another symptom is not
    red_flag = engine.pack.vocabulary.terms[absent].red_flag
    assert result.escalation is (Escalation.NEXT_VISIT if red_flag else Escalation.SELF_CARE)
    assert [a.rule for a in result.advice] == (["red_flag.mentioned_absent"] if red_flag else [])


def test_negation_stops_at_but(engine: Engine) -> None:
    reading = engine.read("no chest pain but a bad headache")
    assert [a.code for a in reading.absent] == ["chest_pain"]
    assert [(s.code, s.severe) for s in reading.symptoms] == [("headache", True)]


def test_pseudo_negation_keeps_the_symptom() -> None:
    assert [s.code for s in read("headache not going away").symptoms] == ["headache"]


def test_idioms_are_not_red_flags(engine: Engine) -> None:
    assert level(engine, "this headache is killing me") is level(engine, "headache")


def test_leftover_words_are_listed_and_keep_next_visit(engine: Engine) -> None:
    result = engine.evaluate({"symptoms": [{"name": "tired, and my toes are purple"}]})
    assert result.unrecognized == ["toes", "purple"]
    assert [s.code for s in result.readings[0].symptoms] == ["fatigue"]
    assert result.escalation.rank >= Escalation.NEXT_VISIT.rank


def test_a_text_read_as_nothing_is_unrecognised_exactly_as_given(engine: Engine) -> None:
    result = engine.evaluate({"symptoms": [{"name": "  Weird Buzzing!! "}]})
    assert result.unrecognized == ["  Weird Buzzing!! "]
    assert result.escalation is Escalation.NEXT_VISIT


def test_whole_only_words_count_only_alone() -> None:
    assert [s.code for s in read("down").symptoms] == ["low_mood"]
    assert [s.code for s in read("low back pain").symptoms] == ["back_pain"]


def test_hyphens_and_spaces_inside_a_word() -> None:
    for text in ("lightheaded", "light-headed", "light headed", "Light Headed"):
        assert [s.code for s in read(text).symptoms] == ["dizziness"], text


def test_possible_red_flag_reading_names_the_words(engine: Engine) -> None:
    result = engine.evaluate({"symptoms": [{"name": "my chest feels weird"}]})
    assert result.readings[0].possible_red_flag == "chest"
    assert "red_flag.possible_unconfirmed" in result.red_flags


def test_reader_is_deterministic_and_cached(engine: Engine) -> None:
    first = engine.reader.read("tierd and dizzy, no chest pain")
    again = engine.reader.read("tierd and dizzy, no chest pain")
    assert first is again
    fresh = Engine.load().reader.read("tierd and dizzy, no chest pain")
    assert fresh == first


def test_read_rejects_blank_and_long_text(engine: Engine) -> None:
    with pytest.raises(InvalidReport, match=r"^text: must be non-blank text$"):
        engine.read("   ")
    with pytest.raises(InvalidReport, match=r"^text: at most 200 characters \(got 201\)$"):
        engine.read("x" * 201)


# -- properties ------------------------------------------------------------------------------

KNOWN = ["tired", "headache", "dizzy", "nausea", "chest pain", "confused", "anxious", "vomiting"]
FILLER = ["I", "feel", "really", "so", "just", "today", "my", "since yesterday", "a bit"]
INTENSITY = ["severe", "really bad", "worst", "terrible", "very", "can't stop"]


@settings(max_examples=150, deadline=None)
@given(
    symptom=st.sampled_from(KNOWN),
    before=st.lists(st.sampled_from(FILLER + INTENSITY), max_size=3),
    after=st.lists(st.sampled_from(FILLER + INTENSITY), max_size=3),
)
def test_adding_filler_or_intensity_never_lowers_the_level(
    symptom: str, before: list[str], after: list[str]
) -> None:
    alone = triage({"symptoms": [{"name": symptom}]}).escalation
    text = " ".join([*before, symptom, *after])
    assert triage({"symptoms": [{"name": text}]}).escalation.rank >= alone.rank, text


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_reading_any_text_is_deterministic(text: str) -> None:
    if not text.strip():
        return
    engine = Engine.load(cache_size=0)
    assert engine.reader._read(text) == engine.reader._read(text)


# -- the reader's data in the pack ---------------------------------------------------------


def _copy_pack(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(default_pack_path(), pack)
    return pack


def test_shorthand_that_reads_as_nothing_fails_at_load(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    path = pack / "reader.yaml"
    path.write_text(
        path.read_text().replace("  sob: shortness of breath", "  sob: sausage of bread")
    )
    with pytest.raises(RulePackError) as err:
        Engine.load(pack)
    assert str(err.value).endswith(
        "reader.yaml:" + str(err.value.line) + ": shorthand 'sob': 'sausage of bread' does not"
        " read as any symptom of the vocabulary"
    )


def test_safety_net_must_be_a_red_flag_code(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    path = pack / "reader.yaml"
    path.write_text(
        path.read_text().replace("safety_net: possible_red_flag", "safety_net: fatigue")
    )
    with pytest.raises(RulePackError, match="safety_net: 'fatigue' must be a red-flag symptom"):
        Engine.load(pack)


def test_a_pack_without_reader_yaml_borrows_the_shipped_lists(starter_engine: Engine) -> None:
    reading = starter_engine.read("really tired and no energy")
    assert [s.code for s in reading.symptoms] == ["fatigue"]


def test_reader_examples_run_in_rules_test() -> None:
    out = CliRunner().invoke(main, ["rules", "test"], env={"KTRIAGE_RULES": None})
    assert out.exit_code == 0, out.output
    examples = len(Engine.load().pack.reader.examples)
    assert f"reader: {examples} passed, 0 failed\n" in out.output


def test_a_failing_reader_example_fails_rules_test(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path)
    path = pack / "reader.yaml"
    path.write_text(
        path.read_text().replace(
            "  - text: tightness in my chest\n    read: [chest_pain]",
            "  - text: tightness in my chest\n    read: [headache]",
        )
    )
    out = CliRunner().invoke(main, ["--rules", str(pack), "rules", "test"])
    assert out.exit_code == 1
    assert "reading 'tightness in my chest': read ['chest_pain'], expected ['headache']" in (
        out.output
    )


@pytest.mark.skipif(
    not Path("/usr/share/dict/american-english").exists(),
    reason="Debian's wamerican word list is not installed (.ci/run installs it)",
)
def test_never_repair_covers_every_english_word_near_a_symptom_word() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "near_words.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("never_repair covers all ")


# -- the command line -----------------------------------------------------------------------


def run(*args: str) -> tuple[int, str]:
    out = CliRunner().invoke(main, list(args), env={"KTRIAGE_RULES": None})
    return out.exit_code, out.output


def test_read_command_exact() -> None:
    assert run("read", "tierd and dizzy, no chest pain") == (
        0,
        "Read 'tierd and dizzy, no chest pain': fatigue (read 'tierd' as 'tired');"
        " dizziness ('dizzy'); no chest pain ('no')\n",
    )
    assert run("read", "tired") == (0, "Read 'tired': fatigue\n")


def test_read_command_when_nothing_is_read() -> None:
    assert run("read", "no one would miss me")[0] == 0
    assert run("read", "zzzq") == (0, "Read 'zzzq': not read\n")


def test_a_phrase_shortened_by_filler_is_read_only_word_for_word() -> None:
    # "out of it" (confusion) is not the word "out" inside "no way out"
    assert "confusion" not in [s.code for s in read("can't see a way out").symptoms]
    assert [s.code for s in read("totally out of it").symptoms] == ["confusion"]


def test_read_command_json() -> None:
    code, out = run("read", "--format", "json", "pt c/o SOB")
    assert code == 0
    data = json.loads(out)
    assert data["symptoms"] == [
        {
            "code": "trouble_breathing",
            "label": "Trouble breathing",
            "matched": "SOB",
            "severe": False,
            "corrections": [],
            "context": None,
        }
    ]


def test_read_command_blank_is_one_line_exit_2() -> None:
    out = CliRunner().invoke(main, ["read", " "], env={"KTRIAGE_RULES": None})
    assert (out.exit_code, out.stderr) == (2, "error: text: must be non-blank text\n")


def test_check_shows_how_text_was_read_and_fails_on_a_red_flag_in_words() -> None:
    code, out = run("check", "--symptom", "I want to kill myself", "--fail-on", "urgent")
    assert code == 3
    lines = out.splitlines()
    assert lines[0] == "EMERGENCY: Call 911 now, or call or text 988 for suicidal thoughts"
    assert lines[1] == "1 piece of advice: emergency; 1 red flag"
    assert lines[2] == "Read 'I want to kill myself': suicidal thoughts ('kill myself')"


def test_batch_and_service_read_words_the_same(engine: Engine, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"symptoms": [{"name": t}]}) for t in EMERGENCY_LINES) + "\n"
    )
    code, out = run("batch", str(src))
    assert code == 0
    levels = [json.loads(line)["escalation"] for line in out.splitlines()[: len(EMERGENCY_LINES)]]
    assert levels == ["emergency"] * len(EMERGENCY_LINES)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette 1.x: TestClient wants httpx2
        from fastapi.testclient import TestClient

    from ktriage.server import create_app

    client = TestClient(create_app(engine))
    for text in EMERGENCY_LINES:
        answer = client.post("/v1/triage", json={"symptoms": [{"name": text}]})
        assert (answer.status_code, answer.json()["escalation"]) == (200, "emergency"), text
    read_answer = client.post("/v1/read", json={"text": "tierd and dizzy"})
    assert read_answer.status_code == 200
    assert [s["code"] for s in read_answer.json()["symptoms"]] == ["fatigue", "dizziness"]
    bad = client.post("/v1/read", json={"text": ""})
    assert bad.status_code == 422
    assert bad.json() == {"errors": [{"field": "text", "message": "must be non-blank text"}]}


# -- the documented examples run ------------------------------------------------------------


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_documented_read_examples_print_what_they_show(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    shown = [
        (line, out)
        for block in text.split("```console\n")[1:]
        for line, out in itertools.pairwise(block.split("```")[0].splitlines())
        if line.startswith("$ ktriage read ")
    ]
    assert shown, f"{doc} has no ktriage read example"
    for command, output in shown:
        args = shlex.split(command[2:])[1:]
        code, out = run(*args)
        assert (code, out) == (0, output + "\n"), command


def test_every_vocabulary_word_reads_as_exactly_its_own_code(engine: Engine) -> None:
    wrong = []
    for term in engine.pack.vocabulary.terms.values():
        for word in (term.code, term.label, *term.synonyms):
            reading = engine.read(word)
            got = (
                [s.code for s in reading.symptoms],
                reading.unrecognized,
                reading.absent,
                reading.possible_red_flag,
            )
            if got != ([term.code], (), (), None):
                wrong.append((term.code, word, got))
    assert wrong == []
