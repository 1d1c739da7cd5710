"""The desk page's server side: the page, its files, its questions and its CSP (in process).

The page itself is driven in a real browser by test_desk_browser.py.
"""

from __future__ import annotations

import re
import warnings
from importlib import resources

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient warns that it wants httpx2
    from fastapi.testclient import TestClient

from ktriage import Engine
from ktriage.interview import Interview, severity_help
from ktriage.server import create_app

DESK_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load()


@pytest.fixture(scope="module")
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def test_the_page_and_its_files_get_the_desk_csp_and_nothing_else_does(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == DESK_CSP
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    for name, kind in [
        ("desk.js", "text/javascript; charset=utf-8"),
        ("desk.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ]:
        r = client.get("/static/" + name)
        assert r.status_code == 200, name
        assert r.headers["content-type"] == kind
        assert r.headers["content-security-policy"] == DESK_CSP
    for path in ("/healthz", "/v1/rules", "/v1/desk", "/nowhere"):
        assert client.get(path).headers["content-security-policy"] == API_CSP, path


def test_the_page_loads_nothing_from_another_host_and_runs_no_inline_script(
    client: TestClient,
) -> None:
    html = client.get("/").text
    assert "ktriage-default 1.0.0" in html  # the template was filled in
    assert "$" not in html
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(urls) == [
        "#answer-heading",
        "/static/desk.css",
        "/static/desk.js",
        "/static/icon.svg",
    ]
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/desk.js" defer>']
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert "<style" not in html and "style=" not in html


@pytest.mark.parametrize(
    "path", ["/static/", "/static/nope.js", "/static/..%2Fweb.py", "/static/desk.js.map"]
)
def test_only_the_shipped_files_are_served(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json() == {"errors": [{"field": "", "message": "Not Found"}]}


def test_the_files_ship_inside_the_package() -> None:
    web = resources.files("ktriage.server") / "web"
    assert (web / "templates" / "desk.html").is_file()
    assert sorted(p.name for p in (web / "static").iterdir()) == [
        "desk.css",
        "desk.js",
        "icon.svg",
    ]


def test_desk_questions_come_from_the_pack(client: TestClient, engine: Engine) -> None:
    data = client.get("/v1/desk").json()
    terms = Interview(engine.reader).red_flags()
    assert [f["code"] for f in data["red_flags"]] == [t.code for t in terms]
    assert data["red_flags"][1] == {
        "code": "chest_pain",
        "label": "Chest pain",
        "question": "Is the caller reporting chest pain?",
        "examples": ["chest tightness", "tight chest", "chest pressure"],
    }
    assert "possible_red_flag" not in [f["code"] for f in data["red_flags"]]
    assert data["safety_net"] == "possible_red_flag"
    assert "possible_red_flag" in data["red_flag_codes"]
    assert data["severity"]["by_code"]["fatigue"]["mild"] == "relieved by rest"
    assert data["severity"]["levels"] == ["mild", "moderate", "severe"]
    assert data["measurements"]["fasting_glucose_mg_dl"] == {
        "label": "fasting glucose",
        "unit": "mg/dL",
        "low": 10,
        "high": 1500,
    }
    assert data["measurements"]["days"]["high"] == 3650
    assert "nasal_spray" in data["routes"]
    assert data["history"] is False  # this service keeps no check-ins
    fatigue = next(s for s in data["symptoms"] if s["code"] == "fatigue")
    assert fatigue["words"][:2] == ["fatigue", "tired"]


def test_the_page_can_be_turned_off(engine: Engine) -> None:
    client = TestClient(create_app(engine, desk=False))
    assert client.get("/").status_code == 404
    assert client.get("/static/desk.js").status_code == 404
    assert client.get("/v1/desk").status_code == 404
    assert client.get("/").headers["content-security-policy"] == API_CSP


def test_severity_words_are_the_intakes() -> None:
    assert severity_help("fatigue") == (
        "mild (relieved by rest), moderate (limits daily activities) or severe"
        " (stops them looking after themselves)"
    )
    assert (
        severity_help("headache")
        == severity_help(None)
        == (
            "mild (noticeable, not in the way), moderate (gets in the way of what they do) or"
            " severe (the worst they have had, or they cannot carry on)"
        )
    )


def test_a_yes_on_the_checklist_triages_as_an_emergency(client: TestClient) -> None:
    # on a yes the page sends the red flag's label as the symptom, as `ktriage intake` does
    for flag in client.get("/v1/desk").json()["red_flags"]:
        r = client.post("/v1/triage", json={"symptoms": [{"name": flag["label"]}]})
        assert r.status_code == 200
        assert r.json()["escalation"] == "emergency", flag["code"]
        assert r.json()["red_flags"] == [f"red_flag.{flag['code']}"], flag["code"]
