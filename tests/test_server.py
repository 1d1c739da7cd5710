"""The HTTP service in process: every endpoint and every error path."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

with warnings.catch_warnings():
    # starlette 1.x warns at import that TestClient wants httpx2; httpx works the same.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from ktriage import Engine, InvalidReport, Report, Result, RulePackError  # noqa: E402
from ktriage.cli import main  # noqa: E402
from ktriage.server import create_app  # noqa: E402

JSON = {"content-type": "application/json"}
STARTER = Path(__file__).parent / "data" / "starter"

REPORT = {
    "patient_id": "pt-secret-4711",
    "symptoms": [{"name": "no energy", "severity": "severe", "limits_self_care": True}],
    "measurements": {"weight_kg": 92, "baseline_weight_kg": 80},
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(STARTER)


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def library_errors(engine: Engine, data: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidReport) as info:
        engine.evaluate(data)
    return [{"field": e.field, "message": e.message} for e in info.value.errors]


# -- /v1/triage --------------------------------------------------------------------------


def test_triage_returns_the_library_result(client: TestClient, engine: Engine) -> None:
    r = client.post("/v1/triage", json=REPORT)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == engine.evaluate(REPORT).model_dump(mode="json")
    Result.model_validate(r.json())
    assert r.json()["escalation"] == "within_24h"


@pytest.mark.parametrize(
    "body",
    [
        {"symptoms": [{"nme": "tired"}]},
        {"symptoms": [{"name": "tired", "severity": "awful"}]},
        {"measurements": {"systolic_bp": 80, "diastolic_bp": 120}},
        {"measurements": {"weight_kg": True}},
        ["not", "an", "object"],
    ],
)
def test_bad_reports_get_the_library_messages(
    client: TestClient, engine: Engine, body: Any
) -> None:
    r = client.post("/v1/triage", json=body)
    assert r.status_code == 422
    assert r.json() == {"errors": library_errors(engine, body)}


@pytest.mark.parametrize("raw", [b"{nope", b"", b"\xff\xfe", b"[1,"])
def test_malformed_json_is_a_422_with_the_library_message(
    client: TestClient, engine: Engine, raw: bytes
) -> None:
    r = client.post("/v1/triage", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json() == {"errors": library_errors(engine, raw)}


def test_body_over_the_limit_by_content_length(engine: Engine) -> None:
    small = TestClient(create_app(engine, max_body_bytes=100))
    r = small.post("/v1/triage", content=b" " * 101, headers=JSON)
    assert r.status_code == 413
    assert r.json()["errors"][0]["message"] == "the body is larger than 100 bytes"


def test_body_over_the_limit_when_streamed(engine: Engine) -> None:
    small = TestClient(create_app(engine, max_body_bytes=100))

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 20

    r = small.post("/v1/triage", content=chunks(), headers=JSON)  # chunked: no content-length
    assert r.status_code == 413
    assert (
        small.post("/v1/triage", content=json.dumps({}).encode(), headers=JSON).status_code == 200
    )


# -- /v1/triage/batch --------------------------------------------------------------------


def test_batch_keeps_order_and_reports_each_item(client: TestClient, engine: Engine) -> None:
    items = [REPORT, {"symptoms": [{"nme": "x"}]}, 7, '{"symptoms": []}', {}]
    r = client.post("/v1/triage/batch", json=items)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3, 4]
    assert results[0]["result"] == engine.evaluate(REPORT).model_dump(mode="json")
    assert results[1]["errors"] == library_errors(engine, items[1])
    assert results[2]["errors"][0]["message"] == "a report must be a JSON object, got a number"
    assert results[3]["errors"][0]["message"] == "a report must be a JSON object, got text"
    assert results[4]["result"]["escalation"] == "self_care"
    assert all(("result" in x) != ("errors" in x) for x in results)


def test_empty_batch(client: TestClient) -> None:
    assert client.post("/v1/triage/batch", json=[]).json() == {"results": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"symptoms": []}', "a batch must be a JSON list of reports, got an object"),
        (b"[{", "malformed JSON at column 3"),
        (b"[" + b",".join([b"{}"] * 4) + b"]", "a batch holds at most 3 reports, got 4"),
    ],
)
def test_batch_errors(engine: Engine, body: bytes, message: str) -> None:
    client = TestClient(create_app(engine, max_batch=3))
    r = client.post("/v1/triage/batch", content=body, headers=JSON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].startswith(message)


# -- rules, schemas, health, OpenAPI -----------------------------------------------------


def test_rules_list(client: TestClient, engine: Engine) -> None:
    body = client.get("/v1/rules").json()
    assert body["rule_pack"] == engine.info.model_dump(mode="json")
    assert [r["id"] for r in body["rules"]] == [r.id for r in engine.pack.rules]
    first = body["rules"][0]
    assert set(first) == {"id", "title", "escalation", "red_flag", "guidance", "action", "sources"}


def test_rule_detail_with_examples(client: TestClient, engine: Engine) -> None:
    r = client.get("/v1/rules/weight.change_grade1")
    assert r.status_code == 200
    body = r.json()
    rule = engine.pack.rule("weight.change_grade1")
    assert body["title"] == rule.title
    assert len(body["examples"]) == len(rule.examples)
    # Each example's report is a valid Report that gives the expected level.
    for ex in body["examples"]:
        assert engine.evaluate(ex["report"]).escalation.value == ex["expect"]


def test_unknown_rule_is_a_404_with_a_suggestion(client: TestClient) -> None:
    r = client.get("/v1/rules/weight.change_grade")
    assert r.status_code == 404
    assert r.json() == {
        "errors": [
            {
                "field": "rule_id",
                "message": "no rule 'weight.change_grade'; did you mean 'weight.change_grade3'?",
            }
        ]
    }


def test_schemas(client: TestClient) -> None:
    assert client.get("/v1/schema/report").json() == Report.model_json_schema()
    assert client.get("/v1/schema/result").json() == Result.model_json_schema(mode="serialization")


def test_healthz(client: TestClient, engine: Engine) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["rule_pack"]["name"] == "ktriage-starter"
    assert body["rule_pack"]["sha256"] == engine.info.sha256


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert set(doc["paths"]) >= {
        "/v1/triage",
        "/v1/triage/batch",
        "/v1/rules",
        "/v1/rules/{rule_id}",
        "/v1/schema/report",
        "/v1/schema/result",
        "/healthz",
        "/cds-services",
        "/cds-services/{service_id}",
        "/cds-services/{service_id}/feedback",
    }
    body = doc["paths"]["/v1/triage"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/Report"}
    assert "Symptom" in doc["components"]["schemas"]


def test_docs_page_is_off_unless_asked_for(engine: Engine) -> None:
    assert TestClient(create_app(engine)).get("/docs").status_code == 404
    r = TestClient(create_app(engine, docs=True)).get("/docs")
    assert r.status_code == 200
    assert (
        "script-src 'unsafe-inline' https://cdn.jsdelivr.net"
        in r.headers["content-security-policy"]
    )


def test_unknown_path_and_method_are_json(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json() == {"errors": [{"field": "", "message": "Not Found"}]}
    r = client.get("/v1/triage")
    assert r.status_code == 405
    assert r.json()["errors"][0]["message"] == "Method Not Allowed"


# -- failures never leak -----------------------------------------------------------------


class _Proxy:
    def __init__(self, real: Engine) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Exploding(_Proxy):
    def evaluate(self, report: Any) -> Any:
        raise RuntimeError("boom for patient pt-secret-4711 at /srv/ktriage/engine.py")


def test_unexpected_error_is_a_generic_500(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_app(_Exploding(engine)))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="ktriage"):
        r = client.post("/v1/triage", json=REPORT)
    assert r.status_code == 500
    assert r.json() == {"errors": [{"field": "", "message": "internal error"}]}
    assert "boom" not in r.text and "Traceback" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "unhandled RuntimeError in POST /v1/triage" in logged
    assert "pt-secret-4711" not in logged and "boom" not in logged


def test_access_log_has_no_patient_data(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ktriage.server.access"):
        client.post("/v1/triage", json=REPORT)
        client.get("/v1/rules/weight.change_grade1?patient=pt-secret-4711")
        client.get("/pt-secret-4711")
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "ktriage.server.access"]
    assert len(lines) == 3
    assert lines[0].startswith("POST /v1/triage 200 ")
    assert lines[1].startswith("GET /v1/rules/{rule_id} 200 ")
    assert lines[2].startswith("GET <unmatched> 404 ")
    text = "\n".join(rec.getMessage() for rec in caplog.records)
    for secret in ("pt-secret-4711", "no energy", "weight_kg", "patient="):
        assert secret not in text


class _Slow(_Proxy):
    def __init__(self, real: Engine) -> None:
        super().__init__(real)
        self.started = threading.Event()
        self.gate = threading.Event()

    def evaluate(self, report: Any) -> Any:
        self.started.set()
        assert self.gate.wait(10)
        return self._real.evaluate(report)


def test_evaluation_does_not_block_other_requests(engine: Engine) -> None:
    slow = _Slow(engine)
    app = create_app(slow)  # type: ignore[arg-type]

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            pending = asyncio.create_task(ac.post("/v1/triage", json=REPORT))
            for _ in range(500):
                if slow.started.is_set():
                    break
                await asyncio.sleep(0.01)
            assert slow.started.is_set()
            health = await asyncio.wait_for(ac.get("/healthz"), timeout=5)
            assert health.status_code == 200
            assert not pending.done()  # still waiting in the threadpool
            slow.gate.set()
            assert (await pending).status_code == 200

    try:
        asyncio.run(scenario())
    finally:
        slow.gate.set()


# -- start-up ----------------------------------------------------------------------------


def test_create_app_loads_the_pack_from_a_path() -> None:
    client = TestClient(create_app(rules=str(STARTER)))
    assert client.get("/healthz").json()["rule_pack"]["name"] == "ktriage-starter"


def test_broken_pack_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(RulePackError, match=r"no pack\.yaml"):
        create_app(rules=str(tmp_path))


# the real command group: --rules and KTRIAGE_RULES must reach these commands
_cli = main


def test_serve_command_with_a_broken_pack_exits_2(tmp_path: Path) -> None:
    out = CliRunner().invoke(_cli, ["--rules", str(tmp_path), "serve", "--port", "0"])
    assert out.exit_code == 2
    assert "error: cannot start:" in out.output
    assert "no pack.yaml" in out.output


def test_serve_without_the_server_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in [
        m for m in sys.modules if m == "ktriage.server" or m.startswith("ktriage.server.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("fastapi", "uvicorn"):
        monkeypatch.setitem(sys.modules, name, None)
    out = CliRunner().invoke(_cli, ["serve"])
    assert out.exit_code == 2
    assert out.output.strip() == (
        "error: the HTTP service needs the server extra: pip install 'ktriage[server]'"
    )


HUGE_INT = '{"age_years": 1' + "0" * 5000 + "}"


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/triage", HUGE_INT, "unreadable JSON: Exceeds the limit (4300 digits)"),
        ("/v1/triage/batch", "[" * 100_000, "JSON nested too deeply"),
        ("/v1/triage/batch", f"[{HUGE_INT}]", "unreadable JSON: Exceeds the limit (4300 digits)"),
        ("/cds-services/ktriage-symptom-report", '{"a":' * 3000, "JSON nested too deeply"),
        ("/cds-services/ktriage-patient-view", HUGE_INT, "unreadable JSON: Exceeds the limit"),
        ("/cds-services/ktriage-symptom-report/feedback", "[" * 100_000, "JSON nested too deeply"),
    ],
    ids=["triage-huge-int", "batch-deep", "batch-huge-int", "cds-deep", "cds-huge-int", "fb-deep"],
)
def test_unreadable_json_is_a_422_never_a_500(
    client: TestClient, path: str, body: str, message: str
) -> None:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert errors[0]["field"] == ""
    assert errors[0]["message"].startswith(message)
