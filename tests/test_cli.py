"""The ``ktriage`` command: check, schema, the group's options, help and error conventions.

Every test runs on the frozen starter pack (tests/data/starter), never the shipped one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from ktriage import Report
from ktriage import Result as TriageResult
from ktriage.cli import main

from .conftest import DATA, STARTER

CLI_DATA = DATA / "cli"
REPORT = CLI_DATA / "report.json"


def run(*args: str, input: str | bytes | None = None, rules: Path | None = STARTER) -> Result:
    prefix = ["--rules", str(rules)] if rules is not None else []
    return CliRunner().invoke(main, [*prefix, *args], input=input, env={"KTRIAGE_RULES": None})


def ktriage_executable() -> str:
    found = shutil.which("ktriage") or str(Path(sys.executable).parent / "ktriage")
    assert Path(found).exists(), "the ktriage entry point is not installed"
    return found


# -- check: text -----------------------------------------------------------------------------

CHECK_TIRED_TEXT = """\
NEXT_VISIT: Raise it at the next scheduled visit
NOT RECOGNISED (a clinician must read these): 'headache'

[next_visit] Fatigue that rest does not relieve or that lasts (fatigue.persistent)
  For the patient: Keep resting well and stay gently active. Because the tiredness is not \
going away with rest, mention it to your provider at your next visit.
  For staff: Fatigue not relieved by rest or lasting several days (CTCAE grade 2). Review \
sleep, mood, other medicines and dosing schedule at the next visit.
  Because: fatigue (reported as 'no energy'): moderate, 3 days
  Sources: The Surprising Impact of Ketamine on Your Metabolism (SubstanceAbuseAction Team); \
NCI Common Terminology Criteria for Adverse Events (CTCAE) v5.0, 27 Nov 2017 \
<https://ctep.cancer.gov/protocoldevelopment/electronic_applications/ctc.htm>

[next_visit] Symptom not recognised (ktriage.unrecognized)
  For the patient: Tell your care team about this symptom at your next visit, or sooner if \
it gets worse or worries you.
  For staff: Read the symptom as the patient described it: no rule in the pack recognises \
it. Decide whether it needs sooner follow-up.
  Because: 'headache' is not a symptom the rule pack knows
  Sources: ktriage escalation policy: a symptom no rule recognises is read by a clinician
"""


CHECK_TIRED_SHORT = """\
NEXT_VISIT: Raise it at the next scheduled visit
2 pieces of advice: 2 next_visit; 1 not recognised
NOT RECOGNISED (a clinician must read these): 'headache'

[next_visit] Fatigue that rest does not relieve or that lasts
  For staff: Fatigue not relieved by rest or lasting several days (CTCAE grade 2). Review \
sleep, mood, other medicines and dosing schedule at the next visit.
  For the patient: Keep resting well and stay gently active. Because the tiredness is not \
going away with rest, mention it to your provider at your next visit.

[next_visit] Symptom not recognised
  For staff: Read the symptom as the patient described it: no rule in the pack recognises \
it. Decide whether it needs sooner follow-up.
  For the patient: Tell your care team about this symptom at your next visit, or sooner if \
it gets worse or worries you.
(--full adds why each rule fired, its sources and every item's guidance)
"""


def test_check_text_is_short_by_default() -> None:
    result = run("check", "--symptom", "no energy:moderate:3", "--symptom", "headache:mild")
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECK_TIRED_SHORT
    assert result.stderr == ""


def test_check_full_text_from_flags_exact() -> None:
    args = ["check", "--symptom", "no energy:moderate:3", "--symptom", "headache:mild", "--full"]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout == CHECK_TIRED_TEXT
    assert result.stderr == ""


def test_check_short_text_lists_lower_items_one_line_each() -> None:
    result = run("check", "--symptom", "tired:mild", "--symptom", "want to die")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "EMERGENCY: Call 911 now\n"
        "2 pieces of advice: 1 emergency, 1 self_care; 1 red flag\n"
        "\n"
        "[emergency] RED FLAG Suicidal thoughts or self-harm\n"
        "  For staff: Emergency: stay with the caller, connect them to 988 or 911 now, and"
        " inform the treating clinician immediately. Do not end the call until help is"
        " engaged.\n"
        "  For the patient: You deserve help right now. Call or text 988 (Suicide & Crisis"
        " Lifeline) now. If you might act on these thoughts or are in danger, call 911. Stay"
        " with someone you trust.\n"
        "[self_care] Mild tiredness after sessions\n"
        "(--full adds why each rule fired, its sources and every item's guidance)\n"
    )


@pytest.mark.parametrize("args", [["-q"], ["--quiet"]])
def test_check_quiet_prints_only_the_level(args: list[str]) -> None:
    result = run("check", *args, "--symptom", "no energy:moderate:3")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "next_visit\n", "")


@pytest.mark.parametrize(
    ("other", "named"),
    [(["--format", "json"], "--format json"), (["--full"], "--full"), (["--explain"], "--explain")],
)
def test_check_quiet_with_more_output_is_a_usage_error(other: list[str], named: str) -> None:
    result = run("check", "-q", *other, "--symptom", "tired")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: --quiet prints only the level: give it without {named} (see 'main check --help')\n"
    )


def test_check_text_has_no_colour_codes_when_piped() -> None:
    result = run("check", "--symptom", "want to die")
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout
    # the starter pack's rule has no label of its own: the level's label, 911 only
    assert result.stdout.startswith("EMERGENCY: Call 911 now\n")
    assert "[emergency] RED FLAG Suicidal thoughts or self-harm" in result.stdout


def test_check_no_advice_prints_summary() -> None:
    result = run("check", "--weight", "80", "--baseline-weight", "79")
    assert result.exit_code == 0
    assert result.stdout == (
        "SELF_CARE: Self-care at home with the guidance given\n"
        "Self-care: nothing reported needs a clinician's attention\n"
    )


def test_check_explain_lists_facts_and_matched_rules() -> None:
    result = run("check", "--input", str(REPORT), "--explain")
    assert result.exit_code == 0
    tail = result.stdout.split("Facts read from the report:\n", 1)[1]
    assert tail == (
        "  fatigue (reported as 'no energy'): moderate, 3 days\n"
        "  'headache' is not a symptom the rule pack knows\n"
        "  weight 84 kg\n"
        "  baseline weight 80 kg\n"
        "  weight change from baseline +5 % (84 kg now, 80 kg at baseline)\n"
        "Rules that matched:\n"
        "  fatigue.persistent [next_visit] Fatigue that rest does not relieve or that lasts\n"
        "    because fatigue (reported as 'no energy'): moderate, 3 days\n"
        "  weight.change_grade1 [next_visit] Weight changed by 5 to under 10 % from baseline\n"
        "    because weight change from baseline +5 % (84 kg now, 80 kg at baseline)\n"
        "  ktriage.unrecognized [next_visit] Symptom not recognised\n"
        "    because 'headache' is not a symptom the rule pack knows\n"
    )
    assert result.stdout.startswith(
        "NEXT_VISIT: Raise it at the next scheduled visit\nPatient: P-0042\n"
    )


# -- check: json and the sources of a report -------------------------------------------------


def test_check_json_is_a_result() -> None:
    result = run("check", "--symptom", "tired:mild", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    TriageResult.model_validate(data)
    assert data["escalation"] == "self_care"
    assert [a["rule"] for a in data["advice"]] == ["fatigue.after_session"]
    assert data["rule_pack"]["name"] == "ktriage-starter"


def test_check_json_explain_adds_explanation() -> None:
    result = run("check", "--input", str(REPORT), "--format", "json", "--explain")
    data = json.loads(result.stdout)
    assert data["explanation"]["facts"][0] == "fatigue (reported as 'no energy'): moderate, 3 days"
    assert [r["rule"] for r in data["explanation"]["rules"]] == [
        "fatigue.persistent",
        "weight.change_grade1",
        "ktriage.unrecognized",
    ]


def test_check_input_file_and_stdin_agree() -> None:
    from_file = run("check", "--input", str(REPORT), "--format", "json")
    from_stdin = run("check", "--input", "-", "--format", "json", input=REPORT.read_bytes())
    assert from_file.exit_code == from_stdin.exit_code == 0
    assert from_file.stdout == from_stdin.stdout
    assert json.loads(from_file.stdout)["patient_id"] == "P-0042"


def test_check_every_flag_reaches_the_report() -> None:
    args = [
        "check",
        "--symptom", "tired:mild:2",
        "--weight", "92",
        "--baseline-weight", "80",
        "--bp", "150/95",
        "--heart-rate", "88",
        "--spo2", "97",
        "--glucose", "101",
        "--route", "nasal spray",
        "--hours-since-dose", "4",
        "--patient-id", "P-7",
        "--format", "json",
        "--explain",
    ]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["patient_id"] == "P-7"
    assert data["escalation"] == "within_24h"
    # the vital signs given score no NEWS2 points (derived once, like the weight change)
    assert data["derived"] == {"weight_change_pct": 15.0, "news2_vitals": 0.0}
    assert data["explanation"]["facts"] == [
        "fatigue (reported as 'tired'): mild, 2 days",
        "weight 92 kg",
        "baseline weight 80 kg",
        "systolic blood pressure 150 mmHg",
        "diastolic blood pressure 95 mmHg",
        "heart rate 88 beats/min",
        "oxygen saturation 97%",
        "fasting glucose 101 mg/dL",
        "weight change from baseline +15 % (92 kg now, 80 kg at baseline)",
        "NEWS2 points from the vital signs given 0 points",
        "hours since the last dose 4 h",
        "route: nasal spray",
    ]


@pytest.mark.parametrize(
    ("level", "exit_code"),
    [("self_care", 3), ("next_visit", 3), ("within_24h", 0), ("EMERGENCY", 0)],
)
def test_check_fail_on(level: str, exit_code: int) -> None:
    result = run("check", "--symptom", "exhausted:moderate", "--fail-on", level)
    assert result.exit_code == exit_code
    assert result.stdout.startswith("NEXT_VISIT:")  # the result is printed either way


def test_check_fail_on_emergency_reached() -> None:
    result = run("check", "--symptom", "suicidal", "--fail-on", "emergency", "--format", "json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["escalation"] == "emergency"


def test_check_fhir_reads_an_observation() -> None:
    pytest.importorskip("fhir.resources", reason="needs the fhir extra")
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-11-20",
        "valueQuantity": {
            "value": 92,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        },
    }
    args = ("check", "--fhir", "-", "--since", "2026-11-01", "--format", "json")
    result = run(*args, input=json.dumps(observation))
    if result.exit_code == 2 and "is not available" in result.stderr:  # pragma: no cover
        pytest.skip("ktriage.fhir is not in this tree yet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert any(a["rule"] == "weight.baseline_missing" for a in data["advice"])


def test_check_fhir_bad_json_names_the_option() -> None:
    pytest.importorskip("fhir.resources", reason="needs the fhir extra")
    result = run("check", "--fhir", "-", input="{nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --fhir: malformed JSON")
    assert result.stderr.count("\n") == 1


def test_check_fhir_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ktriage.fhir", None)  # import fails as if not installed
    result = run("check", "--fhir", "-", input="{}")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --fhir: reading FHIR needs the fhir extra: pip install 'ktriage[fhir]'\n"
    )


# -- check: bad input is one line, exit 2 ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (
            ["--symptom", "tired:huge"],
            None,
            "error: --symptom: 'tired:huge': severity must be mild, moderate or severe"
            " (or 1, 2, 3), got 'huge'",
        ),
        (
            ["--symptom", "tired:mild:soon"],
            None,
            "error: --symptom: 'tired:mild:soon': expected a number of days such as 3,"
            " '2 weeks', 'a few days', 'yesterday' or 'since Monday', got 'soon'",
        ),
        (
            ["--symptom", ":mild"],
            None,
            "error: --symptom: ':mild': a symptom needs a name, e.g. tired:mild:3",
        ),
        (
            ["--bp", "150"],
            None,
            "error: --bp: expected SYSTOLIC/DIASTOLIC such as 150/95, got '150'",
        ),
        (
            ["--bp", "95/150"],
            None,
            "error: --bp: the second number (diastolic, 150) must be lower than the first"
            " (systolic, 95); were they swapped?",
        ),
        (
            ["--route", "rectal"],
            None,
            "error: --route: route must be one of iv, nasal spray, intramuscular, oral,"
            " sublingual, other (or spray, IV drip, infusion, injection); got 'rectal'",
        ),
        (
            ["--weight", "5"],
            None,
            "error: measurements.weight_kg: must be between 20 and 400 kg (got 5.0)",
        ),
        (
            ["--input", str(CLI_DATA / "invalid_report.json")],
            None,
            "error: symptoms.0.severity: must be one of mild, moderate, severe (got 'very');"
            " measurements.weight_kg: must be between 20 and 400 kg (got 5)",
        ),
        (
            ["--input", "-"],
            "{not json",
            "error: --input: malformed JSON at column 2: Expecting property name"
            " enclosed in double quotes",
        ),
        (
            ["--input", "-"],
            b"\xff\xfe",
            "error: --input: input is not UTF-8 text: invalid start byte",
        ),
        (
            ["--input", "-"],
            "[]",
            "error: --input: a report must be a JSON object, got a list",
        ),
        (
            ["--input", "-"],
            '{"symptom": []}',
            "error: symptom: unknown field; did you mean 'symptoms'?",
        ),
    ],
)
def test_check_bad_input(args: list[str], stdin: str | bytes | None, message: str) -> None:
    result = run("check", *args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


def test_check_pathological_nesting_is_one_line() -> None:
    result = run("check", "--input", "-", input="[" * 100_000)
    assert result.exit_code == 2
    assert result.stderr == "error: --input: JSON nested too deeply\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "error: nothing to triage: give --input FILE, --fhir FILE, or --symptom and"
            " measurements (see 'main check --help')",
        ),
        (
            ["--patient-id", "P-1"],
            "error: nothing to triage: give --input FILE, --fhir FILE, or --symptom and"
            " measurements (see 'main check --help')",
        ),
        (
            ["--input", str(REPORT), "--symptom", "tired"],
            "error: give one of --input, --fhir or flags, not --input and flags"
            " (see 'main check --help')",
        ),
        (
            ["--input", str(REPORT), "--fhir", str(REPORT)],
            "error: give one of --input, --fhir or flags, not --input and --fhir"
            " (see 'main check --help')",
        ),
        (
            ["--wieght", "80"],
            "error: No such option '--wieght'. (Did you mean one of: '--quiet', '--weight'?)"
            " (see 'main check --help')",
        ),
        (
            ["--weight", "heavy"],
            "error: --weight: cannot read 'heavy' as a weight (give a number and kg, lb or st)",
        ),
        (
            ["--format", "xml", "--symptom", "tired"],
            "error: Invalid value for '--format': 'xml' is not one of 'text', 'json'."
            " (see 'main check --help')",
        ),
        (
            ["--input", "/no/such/report.json"],
            "error: Invalid value for '--input': '/no/such/report.json': No such file or"
            " directory (see 'main check --help')",
        ),
    ],
)
def test_check_usage_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = run("check", *args)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


def test_unknown_command_is_one_line_exit_2() -> None:
    result = run("chekc")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: No such command 'chekc'. Did you mean 'check'? (see 'main --help')\n"
    )


def test_no_arguments_shows_help_exit_2() -> None:
    result = run(rules=None)
    assert result.exit_code == 2
    assert "Triage side effects reported during ketamine" in result.stderr


def test_options_without_a_command_exit_2() -> None:
    result = run()
    assert result.exit_code == 2
    assert result.stderr == "error: missing command (see 'main --help')\n"


# -- the pack: --rules, KTRIAGE_RULES, --version ---------------------------------------------


def test_rules_from_environment() -> None:
    result = CliRunner().invoke(
        main, ["check", "--symptom", "tired:mild", "--format", "json"],
        env={"KTRIAGE_RULES": str(STARTER)},
    )  # fmt: skip
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rule_pack"]["name"] == "ktriage-starter"


def test_bad_rules_path_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run("check", "--symptom", "tired", rules=missing)
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: no such rule pack folder\n"


def test_version_shows_package_and_pack() -> None:
    from ktriage import __version__, load_pack

    pack = load_pack(STARTER)
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == (
        f"ktriage {__version__}\nrule pack ktriage-starter 0.1.0 (sha256 {pack.sha256[:12]})\n"
    )


# -- schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(("which", "model"), [("report", Report), ("result", TriageResult)])
def test_schema(which: str, model: type) -> None:
    result = run("schema", which)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == model.model_json_schema()


def test_schema_unknown_exit_2() -> None:
    result = run("schema", "advice")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Invalid value for '{report|result}': 'advice'")


# -- help: every command has help text with an example ---------------------------------------


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _commands(command, (*path, name))
        else:
            out.append((*path, name))
    return out


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "ktriage")
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help and command.help.strip(), f"{path} has no help text"
    assert "Example" in command.help, f"{path} has no example in its help"
    result = run(*path, "--help", rules=None)
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_every_option_has_help() -> None:
    for path in _commands(main):
        command: click.Command = main
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"


# -- shell completion ------------------------------------------------------------------------


def test_bash_completion_script() -> None:
    result = CliRunner().invoke(
        main, [], prog_name="ktriage", env={"_KTRIAGE_COMPLETE": "bash_source"}
    )
    assert result.exit_code == 0
    assert "_ktriage_completion()" in result.stdout
    assert "complete -o nosort -F _ktriage_completion ktriage" in result.stdout


def test_completion_of_rule_ids() -> None:
    env = {
        "_KTRIAGE_COMPLETE": "bash_complete",
        "COMP_WORDS": f"ktriage --rules {STARTER} rules show fatigue.",
        "COMP_CWORD": "5",
    }
    result = CliRunner().invoke(main, [], prog_name="ktriage", env=env)
    assert result.exit_code == 0
    assert result.stdout.split() == [
        "plain,fatigue.after_session",
        "plain,fatigue.persistent",
        "plain,fatigue.limits_self_care",
    ]


# -- the installed entry point, in a real process ---------------------------------------------


def test_installed_entry_point_json() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KTRIAGE_RULES"}
    proc = subprocess.run(
        [ktriage_executable(), "--rules", str(STARTER), "check", "--symptom", "fatigue:mild",
         "--format", "json"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["escalation"] == "self_care"
    assert proc.stderr == ""


def test_installed_entry_point_text_piped_and_errors() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KTRIAGE_RULES"}
    exe = ktriage_executable()
    text = subprocess.run(
        [exe, "--rules", str(STARTER), "check", "--symptom", "fatigue:mild"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert text.returncode == 0
    assert text.stdout.startswith("SELF_CARE: Self-care at home with the guidance given\n")
    assert "\x1b" not in text.stdout
    bad = subprocess.run(
        [exe, "--rules", str(STARTER), "check", "--bp", "high"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr == "error: --bp: expected SYSTOLIC/DIASTOLIC such as 150/95, got 'high'\n"
    assert "Traceback" not in bad.stderr


def test_commands_registered_from_elsewhere_get_one_line_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = click.Command(
        "plain", params=[click.Option(["--n"], type=int)], help="Example: ktriage plain"
    )
    monkeypatch.setitem(main.commands, "plain", plain)
    result = run("plain", "--n", "many")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: Invalid value for '--n': 'many' is not a valid integer. (see 'main plain --help')\n"
    )


def test_check_huge_integer_is_one_line() -> None:
    result = run("check", "--input", "-", input='{"age_years": 1' + "0" * 5000 + "}")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --input: unreadable JSON: Exceeds the limit (4300 digits) for integer string"
    )


def test_schema_without_an_argument_is_one_line() -> None:
    result = run("schema")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: Missing argument '{report|result}'. Choose from: report, result"
        " (see 'main schema --help')\n"
    )


def test_a_bad_pack_from_ktriage_rules_names_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "no-pack"
    from_env = CliRunner().invoke(
        main, ["check", "--symptom", "tired"], env={"KTRIAGE_RULES": str(missing)}
    )
    assert (from_env.exit_code, from_env.stdout) == (2, "")
    assert from_env.stderr == f"error: KTRIAGE_RULES: {missing}: no such rule pack folder\n"
    from_flag = run("check", "--symptom", "tired", rules=missing)
    assert from_flag.stderr == f"error: {missing}: no such rule pack folder\n"
