"""Who may call the CDS routes: CORS for browser clients, the CDS client's JWT, and the
fetch from ``fhirServer``; the last tests run a real uvicorn and a local FHIR server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("fhir.resources")
jwt = pytest.importorskip("jwt")
httpx = pytest.importorskip("httpx")

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.x: TestClient prefers httpx2
    from fastapi.testclient import TestClient

from ktriage import Engine  # noqa: E402
from ktriage.server import create_app  # noqa: E402
from ktriage.server.cds import PATIENT_VIEW  # noqa: E402
from ktriage.server.cds_access import CdsJwt  # noqa: E402

from .test_server_smoke import Server  # noqa: E402

DATA = Path(__file__).parent / "data"
STARTER = DATA / "starter"
# fetched public data is not committed (see tests/test_fhir_real.py and REAL_DATA.md)
REAL = Path(
    os.environ.get("KTRIAGE_REAL_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "fhir-real"
)
needs_real = pytest.mark.skipif(
    not (REAL / "cds-hooks-patient-view-request.json").is_file(),
    reason=f"the real FHIR files are not in {REAL} (see tests/data/REAL_DATA.md)",
)
SANDBOX = "https://sandbox.cds-hooks.org"
TOKEN = "some-opaque-fhir-access-token"  # the CDS Hooks specification's example
# Served by the local FHIR server: the HL7 R4 examples about Patient/example
SERVED = [
    "hl7-observation-body-temperature.json",
    "hl7-observation-respiratory-rate.json",
    "hl7-observation-heart-rate.json",
    "hl7-observation-satO2.json",
    "hl7-observation-bloodpressure-cancel.json",
    "hl7-observation-example-weight.json",
]
PAGE = 4  # observations per page: the search takes two pages


# -- keys and tokens -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> Any:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="module")
def jwks_file(tmp_path_factory: pytest.TempPathFactory, key: Any) -> Path:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "sandbox-1", "alg": "ES384", "use": "sig"})
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps({"keys": [public]}), encoding="utf-8")
    return path


def token(key: Any, audience: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": SANDBOX, "aud": audience, "iat": now, "exp": now + 300}
    body["jti"] = str(uuid.uuid4())
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return str(jwt.encode(body, key, algorithm="ES384", headers={"kid": "sandbox-1"}))


def spec_request(**changes: Any) -> dict[str, Any]:
    """The CDS Hooks specification's example call (a call of the same shape, written here,
    where the real file is absent), with ``changes`` to its fields."""
    real = REAL / "cds-hooks-patient-view-request.json"
    if real.is_file():
        body = json.loads(real.read_text("utf-8"))
    else:
        body = {
            "hookInstance": "0b6f3a52-6c1e-4f0e-9d55-2f4c8d1a7e10",
            "fhirServer": "http://127.0.0.1:9/fhir",
            "hook": "patient-view",
            "fhirAuthorization": {
                "access_token": TOKEN,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "user/Patient.read user/Observation.read",
                "subject": "cds-service-test",
            },
            "context": {"userId": "Practitioner/p1", "patientId": "p-42"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "p-42"}},
        }
    body.update(changes)
    return body


# -- JWT (in process) ----------------------------------------------------------------------

URL = f"http://testserver/cds-services/{PATIENT_VIEW}"


@pytest.fixture(scope="module")
def client(jwks_file: Path) -> TestClient:
    verifier = CdsJwt(str(jwks_file), [SANDBOX])
    return TestClient(create_app(Engine.load(STARTER), cds_jwt=verifier))


def call(client: TestClient, auth: str | None) -> Any:
    headers = {"Authorization": auth} if auth is not None else {}
    body = spec_request(prefetch={"observations": None})
    body.pop("fhirServer")
    return client.post(f"/cds-services/{PATIENT_VIEW}", json=body, headers=headers)


def test_a_signed_call_is_answered(client: TestClient, key: Any) -> None:
    r = call(client, f"Bearer {token(key, URL)}")
    assert r.status_code == 200
    assert r.json()["cards"][0]["summary"].startswith("Side-effect triage not done")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({}, None),  # no Authorization header at all
        ({"aud": "https://other.example/cds-services/x"}, "Audience doesn't match"),
        ({"iss": "https://evil.example"}, "the CDS client 'https://evil.example' is not allowed"),
        ({"exp": int(time.time()) - 3600}, "Signature has expired"),
        ({"jti": None}, 'Token is missing the "jti" claim'),
    ],
)
def test_an_untrusted_call_is_401(
    client: TestClient, key: Any, claims: dict[str, Any], message: str | None
) -> None:
    claims = dict(claims)
    auth = None if not claims else f"Bearer {token(key, claims.pop('aud', URL), **claims)}"
    r = call(client, auth)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    (error,) = r.json()["errors"]
    assert error["field"] == "Authorization"
    if message is None:
        assert error["message"] == "a CDS client JWT is required (Authorization: Bearer <JWT>)"
    else:
        assert message in error["message"]


def test_a_token_signed_by_another_key_is_401(client: TestClient) -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    r = call(client, f"Bearer {token(other, URL)}")
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == (
        "the CDS client JWT is not valid: Signature verification failed"
    )


def test_discovery_and_feedback_are_guarded_too(client: TestClient, key: Any) -> None:
    assert client.get("/cds-services").status_code == 401
    auth = {"Authorization": f"Bearer {token(key, 'http://testserver/cds-services')}"}
    assert client.get("/cds-services", headers=auth).status_code == 200
    assert client.get("/healthz").status_code == 200  # not a CDS route


def test_without_jwks_no_token_is_needed() -> None:
    open_client = TestClient(create_app(Engine.load(STARTER)))
    assert open_client.get("/cds-services").status_code == 200


def test_fhir_server_that_cannot_be_reached_is_412() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    open_client = TestClient(create_app(Engine.load(STARTER)))
    body = spec_request(fhirServer=f"http://127.0.0.1:{port}/fhir")
    r = open_client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
    assert r.status_code == 412
    assert r.json()["errors"] == [
        {
            "field": "fhirServer",
            "message": "observations: cannot reach the FHIR server (ConnectError)",
        }
    ]


# -- a real uvicorn and a local FHIR test server --------------------------------------------


class FhirServer:
    """A small FHIR server on 127.0.0.1 serving the HL7 R4 examples, in pages."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []  # path+query, Authorization
        observations = [json.loads((REAL / n).read_text("utf-8")) for n in SERVED]
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self.answer(401, {"resourceType": "OperationOutcome"})
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == "/fhir/Observation" and query.get("patient") == ["example"]:
                    page = int(query.get("_page", ["1"])[0])
                    entries = observations[(page - 1) * PAGE : page * PAGE]
                    links = []
                    if page * PAGE < len(observations):
                        nxt = f"{outer.base}/Observation?patient=example&_page={page + 1}"
                        links.append({"relation": "next", "url": nxt})
                    bundle = {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "link": links,
                        "entry": [{"resource": r, "search": {"mode": "match"}} for r in entries],
                    }
                    return self.answer(200, bundle)
                if url.path == "/fhir/QuestionnaireResponse":
                    return self.answer(200, {"resourceType": "Bundle", "type": "searchset"})
                return self.answer(404, {"resourceType": "OperationOutcome"})

            def answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    server = FhirServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ktriage_server(jwks_file: Path) -> Iterator[str]:
    srv = Server(
        "--port",
        "0",
        "--rules",
        str(STARTER),
        "--cds-cors-origin",
        SANDBOX,
        "--cds-jwks",
        str(jwks_file),
        "--cds-issuer",
        SANDBOX,
    )
    try:
        yield f"http://127.0.0.1:{srv.wait_for_port()}"
    finally:
        srv.stop()


@needs_real
def test_real_server_cors_preflight_and_fhir_server_fetch(
    ktriage_server: str, fhir_server: FhirServer, key: Any
) -> None:
    base = ktriage_server
    url = f"{base}/cds-services/{PATIENT_VIEW}"
    with httpx.Client(timeout=10) as http:
        # the preflight a browser sends before the sandbox's POST
        preflight = {
            "Origin": SANDBOX,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        }
        r = http.options(url, headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == SANDBOX
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in r.headers
        r = http.options(url, headers={**preflight, "Origin": "https://evil.example"})
        assert r.status_code == 400
        assert "access-control-allow-origin" not in r.headers
        # CORS is for the CDS routes only
        r = http.get(f"{base}/healthz", headers={"Origin": SANDBOX})
        assert "access-control-allow-origin" not in r.headers

        # the specification's call, aimed at the local FHIR server, without prefetch
        body = spec_request(
            fhirServer=fhir_server.base,
            context={"userId": "Practitioner/example", "patientId": "example"},
        )
        r = http.post(url, json=body, headers={"Origin": SANDBOX})
        assert r.status_code == 401  # no JWT: nothing is fetched
        assert fhir_server.requests == []
        auth = {"Authorization": f"Bearer {token(key, url)}", "Origin": SANDBOX}
        r = http.post(url, json=body, headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == SANDBOX
    (card,) = r.json()["cards"]
    # The HL7 examples date from 1999 to 2016: read from both pages, all too old to grade.
    assert card["summary"] == "Side-effect triage not done: no usable data in the record"
    assert card["indicator"] == "warning"
    lines = [line for line in card["detail"].splitlines() if line.startswith("- ")]
    assert lines == [
        "- `prefetch.observations.entry.0` Observation 8310-5 body temperature:"
        " measured 1999-07-02, older than 3 days",
        "- `prefetch.observations.entry.1` Observation 9279-1 respiratory rate:"
        " measured 1999-07-02, older than 3 days",
        "- `prefetch.observations.entry.2` Observation 8867-4 heart rate:"
        " measured 1999-07-02, older than 3 days",
        "- `prefetch.observations.entry.3` Observation 2708-6 oxygen saturation:"
        " measured 2014-12-05, older than 3 days",
        "- `prefetch.observations.entry.4` Observation 85354-9 blood pressure:"
        " status cancelled: not a measurement",
        "- `prefetch.observations.entry.5` Observation 29463-7 body weight:"
        " measured 2016-03-28, older than 90 days",
    ]
    paths = [p for p, _ in fhir_server.requests]
    assert [urlsplit(p).path for p in paths] == [
        "/fhir/Patient/example",  # 404: optional, left out
        "/fhir/Observation",
        "/fhir/Observation",  # the next page
        "/fhir/QuestionnaireResponse",
    ]
    assert parse_qs(urlsplit(paths[2]).query)["_page"] == ["2"]
    assert {a for _, a in fhir_server.requests} == {f"Bearer {TOKEN}"}
