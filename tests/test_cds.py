"""CDS Hooks 2.0: discovery, the two services, feedback; every response checked against
the specification's required fields."""

from __future__ import annotations

import copy
import json
import re
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fhir.resources")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.x: TestClient prefers httpx2
    from fastapi.testclient import TestClient

from ktriage import Engine
from ktriage.engine.models import Advice, Escalation, SourceRef
from ktriage.fhir import QUESTIONNAIRE_URL
from ktriage.server import create_app
from ktriage.server.cds import INDICATOR, PATIENT_VIEW, SYMPTOM_REPORT, cards
from ktriage.server.cds import _card as card_of

DATA = Path(__file__).parent / "data"
JSON = {"content-type": "application/json"}
STARTER = DATA / "starter"
FHIR = DATA / "fhir"

CARD_FIELDS = {
    "uuid",
    "summary",
    "detail",
    "indicator",
    "source",
    "suggestions",
    "selectionBehavior",
    "overrideReasons",
    "links",
}


def assert_no_nulls(value: Any, path: str = "") -> None:
    """The specification: JSON values are never null, "", [] or {} unless stated."""
    assert value is not None, f"null at {path}"
    if isinstance(value, str):
        assert value != "", f"empty string at {path}"
    elif isinstance(value, dict):
        assert value, f"empty object at {path}"
        for k, v in value.items():
            assert_no_nulls(v, f"{path}.{k}")
    elif isinstance(value, list):
        assert value, f"empty array at {path}"
        for i, v in enumerate(value):
            assert_no_nulls(v, f"{path}.{i}")


def assert_valid_card(card: dict[str, Any]) -> None:
    assert set(card) <= CARD_FIELDS
    assert_no_nulls(card)
    assert str(uuid.UUID(card["uuid"])) == card["uuid"]
    assert isinstance(card["summary"], str) and len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    source = card["source"]
    assert set(source) <= {"label", "url", "icon", "topic"}
    assert isinstance(source["label"], str)
    if "url" in source:
        assert source["url"].startswith(("https://", "http://"))
    if "topic" in source:
        assert {"system", "code"} <= set(source["topic"])
    if "detail" in card:
        assert isinstance(card["detail"], str)
    assert "suggestions" not in card or "selectionBehavior" in card


def assert_valid_response(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert set(body) <= {"cards", "systemActions"}
    assert isinstance(body["cards"], list)
    for card in body["cards"]:
        assert_valid_card(card)
    return body["cards"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(STARTER)


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def recent(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def prefetch_from_checkin() -> dict[str, Any]:
    """The check-in fixture split the way an EHR would prefetch it, dated recently."""
    bundle = json.loads((FHIR / "bundle-checkin.json").read_text(encoding="utf-8"))
    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    observations = [copy.deepcopy(r) for r in resources if r["resourceType"] == "Observation"]
    for i, o in enumerate(observations):
        if o["id"] != "wt-0":  # the flagged baseline may be old
            o["effectiveDateTime"] = recent(2 - i / 10)  # later entries are newer
    qr = copy.deepcopy(next(r for r in resources if r["resourceType"] == "QuestionnaireResponse"))
    qr["authored"] = recent(0.5)
    return {
        "patient": patient,
        "observations": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": o, "search": {"mode": "match"}} for o in observations],
        },
        "symptoms": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": qr}]},
    }


def patient_view(prefetch: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/abc", "patientId": "pat-001", **context},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def symptom_report(**context: Any) -> dict[str, Any]:
    return {
        "hook": "org.ktriage.symptom-report",
        "hookInstance": str(uuid.uuid4()),
        "context": context,
    }


# -- discovery ---------------------------------------------------------------------------


def test_discovery(client: TestClient) -> None:
    r = client.get("/cds-services")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"services"}
    assert_no_nulls(body)
    by_id = {s["id"]: s for s in body["services"]}
    assert set(by_id) == {PATIENT_VIEW, SYMPTOM_REPORT}
    for service in body["services"]:
        assert {"hook", "id", "description", "title"} <= set(service)
    pv = by_id[PATIENT_VIEW]
    assert pv["hook"] == "patient-view"
    assert set(pv["prefetch"]) == {"patient", "observations", "symptoms"}
    assert "{{context.patientId}}" in pv["prefetch"]["observations"]
    code_param = re.search(r"&code=([^&]+)&", pv["prefetch"]["observations"])
    assert code_param is not None
    asked = {c.removeprefix("http://loinc.org|") for c in code_param[1].split(",")}
    # every code read: vital signs, temperature, respiratory rate, SI-unit labs, panels
    assert asked == {
        "29463-7", "3141-9", "8480-6", "8462-4", "8867-4", "2708-6", "59408-5",
        "8310-5", "9279-1", "1558-6", "14771-0", "18262-6", "13457-7", "2089-1",
        "22748-8", "2571-8", "14927-8", "35217-9", "85354-9", "55284-4",
    }  # fmt: skip
    assert QUESTIONNAIRE_URL in pv["prefetch"]["symptoms"]
    custom = by_id[SYMPTOM_REPORT]
    assert custom["hook"] == "org.ktriage.symptom-report"  # reverse-domain custom hook
    assert "prefetch" not in custom


# -- patient-view ------------------------------------------------------------------------


def test_patient_view_triages_the_prefetched_record(client: TestClient) -> None:
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch_from_checkin()))
    assert r.status_code == 200, r.text
    found = assert_valid_response(r.json())
    topics = [c["source"]["topic"]["code"] for c in found]
    assert topics[0] == "weight.change_grade2"
    assert "ktriage.unrecognized" in topics  # "ringing in my ears" from the questionnaire
    first = found[0]
    assert first["indicator"] == "warning"  # within_24h
    assert first["summary"] == "Within 24 h: Weight changed by 10 to under 20 % from baseline"
    assert first["source"]["label"].startswith("The Surprising Impact of Ketamine")
    assert "**For the patient:**" in first["detail"]
    assert "**For staff:**" in first["detail"]
    assert "**Why:**" in first["detail"] and "12\\.49" not in first["detail"]
    assert "weight change" in first["detail"].lower()
    assert len({c["uuid"] for c in found}) == len(found)


def test_patient_view_ignores_old_values(client: TestClient) -> None:
    prefetch = prefetch_from_checkin()
    for entry in prefetch["observations"]["entry"]:
        entry["resource"]["effectiveDateTime"] = recent(400)
    del prefetch["symptoms"]
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch))
    assert r.status_code == 200
    # Only the baseline (exempt from the window) is left: not an all clear, and said so.
    (card,) = assert_valid_response(r.json())
    assert card["indicator"] == "warning"
    assert card["summary"] == "Side-effect triage not done: no usable data in the record"
    day = recent(400)[:10]
    assert (
        "- `prefetch.observations.entry.2` Observation 3141-9 body weight:"
        f" measured {day}, older than 90 days" in card["detail"]
    )


def test_patient_view_null_prefetch_means_no_data(client: TestClient) -> None:
    r = client.post(
        f"/cds-services/{PATIENT_VIEW}",
        json=patient_view({"observations": None, "patient": None}),
    )
    assert r.status_code == 200
    (card,) = assert_valid_response(r.json())
    assert (card["indicator"], card["summary"]) == (
        "info",
        "Side-effect triage not done: no usable data in the record",
    )
    assert card["detail"].endswith("- (no data was given)")


@pytest.mark.parametrize("prefetch", [None, {}, {"patient": {"resourceType": "Patient"}}])
def test_patient_view_without_the_required_prefetch_is_412(
    client: TestClient, prefetch: dict[str, Any] | None
) -> None:
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch))
    assert r.status_code == 412
    assert r.json()["errors"][0]["field"] == "prefetch.observations"


def test_patient_view_prefetch_error_outcome_is_412(client: TestClient) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view({"observations": outcome}))
    assert r.status_code == 412


def test_patient_view_unreadable_value_is_listed_and_the_rest_triaged(
    client: TestClient,
) -> None:
    prefetch = prefetch_from_checkin()
    obs = prefetch["observations"]["entry"][2]["resource"]  # the latest weight
    obs["valueQuantity"]["code"] = "[stone_av]"
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch))
    assert r.status_code == 200
    *advice, card = assert_valid_response(r.json())
    assert [c["summary"] for c in advice] == [
        "Next visit: Fatigue that rest does not relieve or that lasts",
        "Next visit: Symptom not recognised",
    ]
    assert (card["indicator"], card["summary"]) == (
        "info",
        "2 recorded values not triaged (old, unreadable)",
    )
    assert (
        "- `prefetch.observations.entry.2` Observation 3141-9 body weight: unknown unit"
        " '\\[stone\\_av\\]' for body weight" in card["detail"]
    )


def test_patient_view_comparator_and_registered_lab_do_not_hide_the_rest(
    client: TestClient,
) -> None:
    prefetch = prefetch_from_checkin()
    entries = prefetch["observations"]["entry"]
    ldl = next(e["resource"] for e in entries if e["resource"]["id"] == "ldl-1")
    ldl["valueQuantity"]["comparator"] = "<"
    tg = next(e["resource"] for e in entries if e["resource"]["id"] == "tg-1")
    tg["status"] = "registered"
    del tg["valueQuantity"]
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch))
    *advice, card = assert_valid_response(r.json())
    assert [c["summary"] for c in advice][:1] == [
        "Within 24 h: Weight changed by 10 to under 20 % from baseline"
    ]
    assert "cannot be graded" in card["detail"] and "no result yet" in card["detail"]


def test_patient_view_data_about_another_patient(client: TestClient) -> None:
    prefetch = prefetch_from_checkin()
    r = client.post(
        f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch, patientId="someone-else")
    )
    (card,) = assert_valid_response(r.json())
    assert "another patient" in card["detail"]


def test_patient_view_unrelated_resources_are_ignored(client: TestClient) -> None:
    temperature = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "effectiveDateTime": recent(1),
        "valueQuantity": {"value": 37, "system": "http://unitsofmeasure.org", "code": "Cel"},
    }
    prefetch = {"observations": {"resourceType": "Bundle", "entry": [{"resource": temperature}]}}
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch))
    assert r.json() == {"cards": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hook": "order-sign", "hookInstance": "x", "context": {}}, "hook"),
        ({"hook": "patient-view", "context": {}}, "hookInstance"),
        ({"hook": "patient-view", "hookInstance": "x"}, "context"),
        ({"hook": "patient-view", "hookInstance": "x", "context": {}}, "context.patientId"),
        (
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {"patientId": "p"},
                "prefetch": 3,
            },
            "prefetch",
        ),
    ],
)
def test_bad_requests_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    r = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_malformed_json_and_unknown_service(client: TestClient) -> None:
    r = client.post(f"/cds-services/{PATIENT_VIEW}", content=b"{", headers=JSON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].startswith("malformed JSON")
    r = client.post("/cds-services/nope", json=patient_view({}))
    assert r.status_code == 404


# -- the app's symptom report ------------------------------------------------------------


def test_symptom_report_with_a_report(client: TestClient) -> None:
    body = symptom_report(patientId="p1", report={"symptoms": [{"name": "suicidal"}]})
    r = client.post(f"/cds-services/{SYMPTOM_REPORT}", json=body)
    assert r.status_code == 200
    (card,) = assert_valid_response(r.json())
    assert card["indicator"] == "critical"
    assert card["summary"] == "EMERGENCY: Suicidal thoughts or self-harm"
    assert card["source"]["url"] == "https://988lifeline.org"


def test_symptom_report_with_a_questionnaire_response(client: TestClient) -> None:
    qr = json.loads((FHIR / "questionnaire-response.json").read_text(encoding="utf-8"))
    r = client.post(
        f"/cds-services/{SYMPTOM_REPORT}", json=symptom_report(questionnaireResponse=qr)
    )
    assert r.status_code == 200
    found = assert_valid_response(r.json())
    assert [c["indicator"] for c in found] == ["info", "info"]  # next_visit


def test_symptom_report_questionnaire_response_of_any_date(client: TestClient) -> None:
    # what the app submits is triaged whatever its date (no window), undated too
    qr = json.loads((FHIR / "questionnaire-response.json").read_text(encoding="utf-8"))
    for authored in ("2020-01-01T10:00:00Z", None):
        qr["authored"] = authored
        body = symptom_report(questionnaireResponse={k: v for k, v in qr.items() if v})
        r = client.post(f"/cds-services/{SYMPTOM_REPORT}", json=body)
        assert [c["indicator"] for c in assert_valid_response(r.json())] == ["info", "info"]


def test_symptom_report_with_nothing_to_say(client: TestClient) -> None:
    r = client.post(f"/cds-services/{SYMPTOM_REPORT}", json=symptom_report(report={}))
    assert r.json() == {"cards": []}


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({}, "context"),
        ({"report": {}, "questionnaireResponse": {}}, "context"),
        ({"report": {"symptoms": [{"nme": "x"}]}}, "context.report.symptoms.0.nme"),
        ({"report": [1]}, "context.report"),
        (
            {"questionnaireResponse": {"resourceType": "Bundle"}},
            "context.questionnaireResponse.resourceType",
        ),
        (
            {
                "questionnaireResponse": {
                    "resourceType": "QuestionnaireResponse",
                    "status": "completed",
                }
            },
            "context.questionnaireResponse.questionnaire",
        ),
    ],
)
def test_symptom_report_bad_context(
    client: TestClient, context: dict[str, Any], field: str
) -> None:
    r = client.post(f"/cds-services/{SYMPTOM_REPORT}", json=symptom_report(**context))
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_patient_text_cannot_inject_markdown(client: TestClient) -> None:
    name = "![x](https://evil.example/p.png) <img src=x> [click](https://evil.example)"
    body = symptom_report(report={"symptoms": [{"name": name}]})
    (card,) = assert_valid_response(
        client.post(f"/cds-services/{SYMPTOM_REPORT}", json=body).json()
    )
    # shown as typed, inside a code span (rendered by cmark-gfm in test_cds_markdown.py)
    assert f"- `'{name}' is not a symptom the rule pack knows`" in card["detail"]


# -- cards -------------------------------------------------------------------------------


def test_indicator_mapping() -> None:
    assert INDICATOR == {
        Escalation.SELF_CARE: "info",
        Escalation.NEXT_VISIT: "info",
        Escalation.WITHIN_24H: "warning",
        Escalation.URGENT: "critical",
        Escalation.EMERGENCY: "critical",
    }


def _advice(level: Escalation, title: str = "T", sources: list[SourceRef] | None = None) -> Advice:
    return Advice(
        rule="x.y",
        title=title,
        escalation=level,
        guidance="g",
        action="a",
        because=[],
        sources=sources if sources is not None else [SourceRef(id="s", title="S")],
    )


@pytest.mark.parametrize("level", list(Escalation))
def test_every_level_gives_a_valid_card(level: Escalation) -> None:
    card = card_of(_advice(level))
    assert_valid_card(card)
    assert card["indicator"] == INDICATOR[level]
    assert "url" not in card["source"]  # no url: omitted, never null


def test_long_titles_are_cut_below_140_characters() -> None:
    card = card_of(_advice(Escalation.URGENT, title="word " * 60))
    assert 130 < len(card["summary"]) <= 139
    assert card["summary"].endswith("…")


def test_card_without_sources_still_names_one() -> None:
    assert card_of(_advice(Escalation.URGENT, sources=[]))["source"]["label"] == "ktriage"


def test_cards_follow_the_advice_order(engine: Engine) -> None:
    result = engine.evaluate(
        {"symptoms": [{"name": "moody"}, {"name": "tired", "limits_self_care": True}]}
    )
    assert [c["source"]["topic"]["code"] for c in cards(result)] == [a.rule for a in result.advice]


# -- feedback ----------------------------------------------------------------------------


def test_feedback_is_counted_and_nothing_else_kept(engine: Engine) -> None:
    app = create_app(engine)
    client = TestClient(app)
    body = {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "overrideReason": {"userComment": "patient Jane Doe says she is fine"},
                "outcomeTimestamp": "2026-11-25T10:00:00Z",
            },
            {
                "card": str(uuid.uuid4()),
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                "outcomeTimestamp": "2026-11-25T10:01:00Z",
            },
        ]
    }
    r = client.post(f"/cds-services/{SYMPTOM_REPORT}/feedback", json=body)
    assert r.status_code == 200
    assert r.json() == {"received": 2}
    assert dict(app.state.cds_feedback) == {
        (SYMPTOM_REPORT, "overridden"): 1,
        (SYMPTOM_REPORT, "accepted"): 1,
    }


@pytest.mark.parametrize(
    "body",
    [
        {"feedback": []},
        {"feedback": [{"card": "c", "outcome": "liked", "outcomeTimestamp": "t"}]},
        {"feedback": [{"outcome": "accepted", "outcomeTimestamp": "t"}]},
        {"nothing": 1},
        [],
    ],
)
def test_bad_feedback_is_422(client: TestClient, body: Any) -> None:
    r = client.post(f"/cds-services/{PATIENT_VIEW}/feedback", json=body)
    assert r.status_code == 422
    assert r.json()["errors"]


def test_feedback_for_an_unknown_service(client: TestClient) -> None:
    r = client.post("/cds-services/nope/feedback", json={"feedback": []})
    assert r.status_code == 404
