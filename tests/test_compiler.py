"""What each kind of condition compiles to in durable_rules' own terms."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktriage import Engine

from .test_pack_errors import make_pack, rule

CASES = [
    (
        "symptom: fatigue",
        [{"all": [{"s0": {"$and": [{"t": "s"}, {"code": "fatigue"}]}}]}],
    ),
    (
        "symptom: [fatigue, mood_swings]\nseverity: {at_least: moderate}\ndays: {below: 3}",
        [
            {
                "all": [
                    {
                        "s0": {
                            "$and": [
                                {"t": "s"},
                                {"$or": [{"code": "fatigue"}, {"code": "mood_swings"}]},
                                {"$gte": {"sev": 2}},
                                {"$lt": {"days": 3}},
                            ]
                        }
                    }
                ]
            }
        ],
    ),
    (
        "symptom: fatigue\nseverity: [mild, severe]\nlimits_self_care: true",
        [
            {
                "all": [
                    {
                        "s0": {
                            "$and": [
                                {"t": "s"},
                                {"code": "fatigue"},
                                {"$or": [{"sev": 1}, {"sev": 3}]},
                                {"limits_self_care": 1},
                            ]
                        }
                    }
                ]
            }
        ],
    ),
    (
        "systolic_bp: {at_least: 180}",
        [{"all": [{"c": {"$and": [{"t": "c"}, {"$gte": {"systolic_bp": 180}}]}}]}],
    ),
    (
        "weight_change_pct: {above: 5, at_most: 10}",
        [
            {
                "all": [
                    {
                        "c": {
                            "$and": [
                                {"t": "c"},
                                {"$gt": {"weight_change_pct": 5}},
                                {"$lte": {"weight_change_pct": 10}},
                            ]
                        }
                    }
                ]
            }
        ],
    ),
    (
        "route: nasal_spray",
        [{"all": [{"c": {"$and": [{"t": "c"}, {"route": "nasal_spray"}]}}]}],
    ),
    (
        "any:\n  - symptom: fatigue\n  - diastolic_bp: {at_least: 120}",
        [
            {"all": [{"s0": {"$and": [{"t": "s"}, {"code": "fatigue"}]}}]},
            {"all": [{"c": {"$and": [{"t": "c"}, {"$gte": {"diastolic_bp": 120}}]}}]},
        ],
    ),
    (
        "all:\n  - symptom: fatigue\n  - symptom: mood_swings\n  - hours_since_dose: {below: 24}",
        [
            {
                "all": [
                    {"s0": {"$and": [{"t": "s"}, {"code": "fatigue"}]}},
                    {"s1": {"$and": [{"t": "s"}, {"code": "mood_swings"}]}},
                    {"c": {"$and": [{"t": "c"}, {"$lt": {"hours_since_dose": 24}}]}},
                ]
            }
        ],
    ),
    (
        # none: pushed down to the context fact: absent, or present with the opposite test
        "all:\n  - symptom: fatigue\n  - none:\n    - hours_since_dose: {below: 24}\n"
        "    - symptom: mood_swings\n    - route: [iv, oral]\n    - weight_kg: {present: true}",
        [
            {
                "all": [
                    {"s0": {"$and": [{"t": "s"}, {"code": "fatigue"}]}},
                    {
                        "c": {
                            "$and": [
                                {"t": "c"},
                                {
                                    "$or": [
                                        {"$gte": {"hours_since_dose": 24}},
                                        {"$nex": {"hours_since_dose": 1}},
                                    ]
                                },
                                {"$nex": {"has__mood_swings": 1}},
                                {
                                    "$or": [
                                        {
                                            "$and": [
                                                {"$neq": {"route": "iv"}},
                                                {"$neq": {"route": "oral"}},
                                            ]
                                        },
                                        {"$nex": {"route": 1}},
                                    ]
                                },
                                {"$nex": {"weight_kg": 1}},
                            ]
                        }
                    },
                ]
            }
        ],
    ),
]


@pytest.mark.parametrize(("when", "expected"), CASES, ids=[c[0].split("\n")[0] for c in CASES])
def test_condition_compiles_to(tmp_path: Path, when: str, expected: list[dict]) -> None:
    engine = Engine.load(make_pack(tmp_path, rule(when)))
    got = [
        {k: v for k, v in definition.items() if k != "run"}
        for name, definition in engine.ruleset.items()
        if name.startswith("test.rule#")
    ]
    assert got == expected


def test_not_all_expands_to_alternatives(tmp_path: Path) -> None:
    when = (
        "all:\n  - symptom: fatigue\n  - none:\n    - all:\n"
        "      - systolic_bp: {at_least: 140}\n      - diastolic_bp: {at_least: 90}"
    )
    engine = Engine.load(make_pack(tmp_path, rule(when)))
    names = sorted(n for n in engine.ruleset if n.startswith("test.rule#"))
    assert names == ["test.rule#0", "test.rule#1"]


def test_system_rules_are_always_present(starter_engine: Engine) -> None:
    assert {
        "ktriage.unrecognized#0",
        "ktriage.catch_symptom",
        "ktriage.catch_context",
    } <= set(starter_engine.ruleset)
    assert starter_engine.ruleset["ktriage.catch_symptom"] == {
        "all": [{"m": {"t": "s"}}, {"never": {"t": "__never__"}}],
        "run": "ktriage.catch_symptom",
    }
