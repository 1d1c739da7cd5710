"""durable_rules' fixed tables: ``check_limits`` against the engine itself, at each limit
and past it, and the messages a pack that outgrows one gets at load.

The engine is driven in a fresh interpreter whenever it is taken to or past a limit: past
some of them it reads and writes outside its tables or never returns, which must fail a
test, not take pytest with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ktriage import RulePackError, load_pack
from ktriage.cli import main
from ktriage.engine.conditions import CONTEXT_FIELDS
from ktriage.engine.runtime import (
    LIMITS,
    Breach,
    RulesetRejected,
    Runtime,
    _create,
    _first_refused,
    check_limits,
)

from .conftest import STARTER

ROOT = Path(__file__).resolve().parent.parent
Ruleset = dict[str, dict[str, Any]]


def one_test(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"all": [{"m": {"$and": list(terms)}}]}


def ending(n: int) -> Ruleset:
    """n rules whose one pattern is the same test."""
    return {f"r{i}": {"all": [{"m": {"t": "s"}}]} for i in range(n)}


def joins(n: int) -> Ruleset:
    """n absence tests straight after the same test."""
    return {f"r{i}": one_test({"t": "c"}, {"$nex": {f"h{i}": 1}}) for i in range(n)}


def different(n: int) -> Ruleset:
    """n different tests straight after the same test."""
    return {f"r{i}": one_test({"t": "s"}, {"code": f"c{i}"}) for i in range(n)}


def markers(groups: int) -> Ruleset:
    """One pattern with an "$and" around ``groups`` "$or"s: 2 + 2 × groups markers."""
    either = {"$or": [{"code": "a"}, {"code": "b"}]}
    return {"r0": one_test({"t": "s"}, *[either] * groups)}


def facts(n: int) -> Ruleset:
    """One rule joining n facts."""
    patterns = [{f"m{i}": {"$and": [{"t": "s"}, {"code": f"c{i}"}]}} for i in range(n)]
    return {"r0": {"all": patterns}}


def stacked(n: int) -> Ruleset:
    """n thresholds on one value straight after the same test: a value over all of them
    passes n tests at once."""
    return {f"r{i}": one_test({"t": "c"}, {"$gte": {"a": i}}) for i in range(n)}


def rules(n: int) -> Ruleset:
    """n rules, spread so that no other table fills."""
    return {f"r{i}": one_test({"t": f"g{i // 400}"}, {"code": f"c{i}"}) for i in range(n)}


ENGINE = textwrap.dedent(
    """
    import json, sys
    from ktriage.engine.runtime import Runtime, _create
    ruleset, assert_facts = json.loads(sys.stdin.read())
    if assert_facts is None:
        made = _create(ruleset)
        print(made if isinstance(made, str) else "created")
    else:
        aliases = {n: tuple(next(iter(p)) for p in r["all"]) for n, r in ruleset.items()}
        import ktriage.engine.runtime as runtime
        runtime.check_limits = lambda ruleset: []  # to take the engine past a limit
        try:
            fired = Runtime(ruleset, aliases).run(assert_facts)
            print(f"fired {len(fired)}")
        except Exception as exc:
            print(exc)
    """
)


def engine(ruleset: Ruleset, assert_facts: list[dict[str, Any]] | None = None) -> str:
    """What the engine does with ``ruleset`` (and ``assert_facts``), in a fresh process:
    "created", "fired N", its refusal, or "no answer in 10 s". The process runs with
    faulthandler on: a crash says where, and its memory layout is the one under which
    retracting 5 joined facts crashes the engine (see LIMITS["facts"])."""
    try:
        proc = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", ENGINE],
            input=json.dumps([ruleset, assert_facts]),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no answer in 10 s"
    if proc.returncode < 0:  # what it printed says where (faulthandler)
        return f"crashed (signal {-proc.returncode}): {proc.stderr[-1500:]}"
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def only(breaches: list[Breach]) -> tuple[str, str, int]:
    assert len(breaches) == 1, breaches
    return breaches[0].limit, breaches[0].rule, breaches[0].count


# (limit, builder, the size at the limit, the size past it, facts to assert at the limit)
AT_LIMIT = [
    ("ending", ending, 255, 256, [{"t": "s"}], "fired 255"),
    # 127 absence tests: a fact with none of the fields would pass them all at once, past
    # the stack's limit (below), so only the engine's loading is tried here
    ("joins", joins, 127, 128, None, "created"),
    ("stack", stacked, 64, 65, [{"t": "c", "a": 1000}], "fired 64"),
    ("tests", different, 511, 512, [{"t": "s", "code": "c510"}], "fired 1"),
    ("rules", rules, 4096, 4097, [{"t": "g10", "code": "c4095"}], "fired 1"),
    ("facts", facts, 4, 5, [{"t": "s", "code": f"c{i}"} for i in range(4)], "fired 1"),
]


@pytest.mark.parametrize(("limit", "build", "size", "over", "given", "expected"), AT_LIMIT)
def test_a_table_full_to_its_limit_works_and_one_more_is_a_breach(
    limit: str, build: Any, size: int, over: int, given: Any, expected: str
) -> None:
    assert LIMITS[limit] == size
    assert [b for b in check_limits(build(size)) if b.limit == limit] == []
    name = f"r{over - 1}" if limit not in ("facts", "markers") else "r0"
    over_limit = [b for b in check_limits(build(over)) if b.limit == limit]
    assert only(over_limit) == (limit, name, over)
    assert engine(build(size), given) == expected


def test_markers_limit() -> None:
    assert check_limits(markers(14)) == []  # 30 markers
    assert only(check_limits(markers(15))) == ("markers", "r0", 32)
    assert engine(markers(14), [{"t": "s", "code": "a"}]) == "fired 1"
    assert engine(markers(15)) == "too many and/or groups in one fact's pattern (error code 113)"


# what the engine does past each limit: the limits are real
PAST_LIMIT = [
    (ending(300), None, "too many patterns end at the same chain of tests (error code 108)"),
    (joins(200), None, "too many absence tests or alternatives after one test (error code 107)"),
    (different(513), None, "no answer in 10 s"),
    (
        stacked(65),
        [{"t": "c", "a": 1000}],
        "durable_rules failed: Could not assert facts, error code: 303",
    ),
    (
        rules(4097),
        None,
        "too many rules, or too many different tests after one test (error code 106)",
    ),
    (
        facts(17),
        [{"t": "s", "code": f"c{i}"} for i in range(17)],
        "durable_rules failed: Could not assert facts, error code: 304",
    ),
]


@pytest.mark.parametrize(("ruleset", "given", "expected"), PAST_LIMIT)
def test_the_engine_past_a_limit(ruleset: Ruleset, given: Any, expected: str) -> None:
    assert engine(ruleset, given) == expected


def test_a_fact_holds_at_most_254_fields() -> None:
    fields = {f"f{i}": i for i in range(LIMITS["fields"] - 3)}  # with id, sid and t
    assert engine(ending(1), [{"t": "s", **fields}]) == "fired 1"
    assert engine(ending(1), [{"t": "s", "extra": 0, **fields}]) == (
        "refusing to pass a fact of 255 fields to durable_rules: more than 254 crash it"
    )


def test_past_254_fields_the_engine_crashes() -> None:
    fact = {"id": 1, "sid": "0", "t": "s", **{f"f{i}": i for i in range(252)}}
    script = (
        "import json, sys, durable_rules_engine as e\n"
        "h = e.create_ruleset('x', json.dumps({'r0': {'all': [{'m': {'t': 's'}}]}}))\n"
        "_, state = e.assert_facts(h, sys.stdin.read())\n"
        "e.start_action_for_state(h, state)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps([fact]), text=True, timeout=30, check=False
    )
    assert proc.returncode == -11


def test_the_shipped_pack_is_within_every_limit() -> None:
    from ktriage.engine.compiler import compile_pack

    compiled = compile_pack(load_pack())
    assert check_limits({n: {"all": r["all"]} for n, r in compiled.ruleset.items()}) == []


def test_a_refused_ruleset_is_traced_to_its_rule() -> None:
    ruleset = {**different(3), "bad": markers(15)["r0"], **ending(3)}
    assert _create(ruleset) == "too many and/or groups in one fact's pattern (error code 113)"
    assert _first_refused(ruleset) == "bad"


# -- a pack that outgrows a table, at load ------------------------------------------------

RULE = """\
  - id: zz.r{i}
    title: Rule {i}
    when: {when}
    escalation: next_visit
    guidance: Rest.
    action: None.
    sources: [seed-article]
    examples:
      - report: {{symptoms: [{{name: tired}}]}}
        expect: next_visit
"""


def pack_with(tmp_path: Path, whens: list[str], codes: int = 0) -> Path:
    root = tmp_path / "pack"
    shutil.copytree(STARTER, root)
    text = "rules:\n" + "".join(RULE.format(i=i, when=w) for i, w in enumerate(whens))
    (root / "rules" / "zz.yaml").write_text(text)
    if codes:
        extra = "".join(
            f"  - code: zc{i}\n    label: Zc {i}\n    synonyms: [zcword{i}]\n" for i in range(codes)
        )
        vocabulary = root / "vocabulary.yaml"
        vocabulary.write_text(vocabulary.read_text() + extra)
    return root


def test_too_many_rules_testing_the_same_thing(tmp_path: Path) -> None:
    root = pack_with(tmp_path, ["{symptom: fatigue}"] * 300)
    with pytest.raises(RulePackError) as info:
        load_pack(root)
    assert str(info.value) == (
        f"{root}/rules/zz.yaml:{2 + 10 * 255}: rule 'zz.r255': 256 conditions in the pack"
        " test exactly symptom 'fatigue' (the first is in rule 'zz.r0'),"
        " and durable_rules allows at most 255; merge rules that give the same advice, or"
        " give some of them a further test"
    )
    assert len(info.value.problems) == 1


def test_too_many_absence_tests(tmp_path: Path) -> None:
    whens = [f"{{all: [{{symptom: fatigue}}, {{none: [{{symptom: zc{i}}}]}}]}}" for i in range(130)]
    with pytest.raises(RulePackError) as info:
        load_pack(pack_with(tmp_path, whens, codes=130))
    assert info.value.rule_id == "zz.r126"
    assert info.value.message == (
        "128 absence tests or lists of alternatives follow the report's values, and"
        " durable_rules allows at most 127; absence tests ('none' of a symptom or a value not"
        " given) and lists of alternatives share this place; test a symptom or value first,"
        " or merge rules"
    )


def test_too_many_symptoms_in_one_place_no_longer_hangs(tmp_path: Path) -> None:
    whens = [f"{{symptom: zc{i}}}" for i in range(600)]
    root = pack_with(tmp_path, whens, codes=600)
    # `ktriage rules validate` in its own process: before the check, loading never ended
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ktriage"), "--rules", str(root), "rules", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KTRIAGE_CACHE_DIR": str(tmp_path)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"error: {root}/rules/zz.yaml:{2 + 10 * 506}: rule 'zz.r506': 512 different tests"
        " follow a symptom, and durable_rules allows at most 511 (past that it never"
        " finishes loading); use fewer distinct thresholds or codes here, or test something"
        " else first"
    ]


def test_a_rule_joining_too_many_symptoms(tmp_path: Path) -> None:
    symptoms = ", ".join(f"{{symptom: zc{i}}}" for i in range(16))
    with pytest.raises(RulePackError) as info:
        load_pack(
            pack_with(tmp_path, [f"{{all: [{symptoms}, {{age_years: {{at_least: 18}}}}]}}"], 16)
        )
    assert info.value.line == 2
    assert info.value.message == (
        "this rule joins 17 facts, and durable_rules joins at most 4; split the rule: a rule"
        " joins one fact per symptom it names, and one for the report's values"
    )


def test_rules_validate_lists_every_breach(tmp_path: Path) -> None:
    root = pack_with(tmp_path, ["{symptom: fatigue}"] * 260 + ["{symptom: mood_swings}"] * 260)
    result = CliRunner().invoke(main, ["--rules", str(root), "rules", "validate"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if "conditions in the pack" in line]
    assert [line.split(": ")[2] for line in lines] == ["rule 'zz.r255'", "rule 'zz.r515'"]


def test_too_many_thresholds_on_one_value(tmp_path: Path) -> None:
    whens = [f"{{systolic_bp: {{at_least: {60 + i}}}}}" for i in range(70)]
    with pytest.raises(RulePackError) as info:
        load_pack(pack_with(tmp_path, whens))
    # the starter pack already compares systolic_bp and other values after the same test
    passing = check_limits_of(pack_with(tmp_path / "fits", whens[: int(info.value.rule_id[4:])]))
    assert passing == []
    assert info.value.message == (
        "with this rule one report could pass up to 65 tests at once on its way through the"
        " rules, and durable_rules holds at most 64 (past that such a report fails when it is"
        " checked); use fewer distinct thresholds on the same value, or fewer absence tests"
    )


def test_a_report_fact_with_too_many_fields(tmp_path: Path) -> None:
    whens = [
        f"{{all: [{{symptom: zc{i}}}, {{none: [{{symptom: zc{i + 1}}}]}}]}}"
        for i in range(0, 480, 2)
    ]
    with pytest.raises(RulePackError) as info:
        load_pack(pack_with(tmp_path, whens, codes=481))
    fields = [p for p in info.value.problems if "fields" in p.message]
    assert [str(p) for p in fields] == [
        f"{tmp_path / 'pack'}: the report's values would be a fact of up to"
        f" {len(CONTEXT_FIELDS) + 3 + 240} fields, and durable_rules takes at most 254: 240"
        " symptoms are tested with 'none', each adding one; test fewer symptoms' absence"
    ]


def check_limits_of(root: Path) -> list[Breach]:
    from ktriage.engine.compiler import compile_pack

    compiled = compile_pack(load_pack(root))
    return check_limits({n: {"all": r["all"]} for n, r in compiled.ruleset.items()})


def test_the_shipped_pack_reports_how_full_each_table_is() -> None:
    from ktriage import Engine

    used = Engine.load().limits_used
    assert set(used) == set(LIMITS)
    assert all(0 < used[limit] <= LIMITS[limit] for limit in LIMITS)
    # the fullest: a report can pass 52 of the 64 tests the engine can hold at once
    assert used["stack"] == 52


def test_a_runtime_refuses_a_ruleset_past_a_limit_before_the_engine_sees_it() -> None:
    with pytest.raises(RulesetRejected) as info:
        Runtime(ending(256), {})
    assert str(info.value) == (
        "durable_rules cannot take rule 'r255': it fills its 'ending' table to 256, at most 255"
    )
    assert info.value.rule == "r255"


def test_the_readme_table_of_limits_is_true() -> None:
    from ktriage import Engine
    from ktriage.engine.compiler import LIMIT_WORDS

    text = (ROOT / "README.md").read_text()
    table = text[text.index("| table | what fills it |") :].split("\n\n")[0].splitlines()[2:]
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[2:4] for line in table}
    used = Engine.load().limits_used
    expected = {}
    for limit, words in LIMIT_WORDS.items():
        half = 2 if limit == "markers" else 1
        expected[words] = [f"{LIMITS[limit] // half:,}", f"{used[limit] // half:,} |"]
    assert rows == expected
