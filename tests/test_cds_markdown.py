"""Issue 17, item 4: what a patient typed never becomes a link or markup in a CDS card.

Cards come from the real server (uvicorn on 127.0.0.1) and their detail is rendered with
cmark-gfm, GitHub's own renderer of the Markdown flavour CDS Hooks specifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("uvicorn")
cmarkgfm = pytest.importorskip("cmarkgfm")
httpx = pytest.importorskip("httpx")

from tests.test_server_smoke import STARTER, Server  # noqa: E402

HOSTILE = [
    "call https://evil.example/login now",
    "see www.evil.example today",
    "mail help@evil.example",
    "**bold** _it_ <b>html</b> [x](https://evil.example) ![i](https://evil.example/i.png)",
    "ticks ` `` inside",
]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    srv = Server("--port", "0", "--rules", str(STARTER))
    try:
        yield f"http://127.0.0.1:{srv.wait_for_port()}"
    finally:
        srv.stop()


@pytest.mark.parametrize("symptom", HOSTILE)
def test_patient_text_in_a_card_is_shown_as_typed_and_never_a_link(base: str, symptom: str) -> None:
    call = {
        "hook": "org.ktriage.symptom-report",
        "hookInstance": "h-1",
        "context": {"report": {"symptoms": [{"name": symptom, "severity": "mild"}]}},
    }
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/cds-services/ktriage-symptom-report", json=call)
    assert r.status_code == 200
    details = [c["detail"] for c in r.json()["cards"]]
    why = [d.split("**Why:**", 1)[1].split("**Sources:**", 1)[0] for d in details]
    quoted = [w for w in why if symptom.split()[0] in w]
    assert quoted, details
    for text in quoted:
        html = cmarkgfm.github_flavored_markdown_to_html(text)
        assert "<a " not in html
        assert "<img" not in html
        assert "<strong>" not in html and "<em>" not in html and "<b>" not in html
        code = html.split("<code>", 1)[1].split("</code>", 1)[0]
        assert json.dumps(symptom)[1:-1].replace('"', "'") in _unescape(code)


def _unescape(html: str) -> str:
    return (
        html.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )
