"""The triage desk: one page at ``/`` for triage staff, over the JSON API.

The page is plain HTML, CSS and JavaScript shipped in the wheel (``web/``), with no build
step and nothing loaded from another host. Its files are read once, when the app is made,
and served from memory under a fixed list of names, so no request path ever reaches the
file system. ``GET /v1/desk`` gives the page what it asks about: the pack's red-flag
questions, severity wording, the plausible range of each measurement and the vocabulary's
words (for suggestions). The page sends patient data only in POST bodies, never in a URL.
"""

from __future__ import annotations

import html
import string
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from .. import Engine
from ..engine.models import MEASUREMENT_FIELDS, OTHER_NUMERIC_FIELDS, Route, Severity
from ..interview import SEVERITY_WORDS, SEVERITY_WORDS_ANY, Interview

# The page's own policy: its script, style and icon from this origin, calls to this
# origin, nothing inline, nothing framed, no form posted anywhere by the browser.
DESK_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    b" connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATIC_PREFIX = "/static/"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def desk_path(path: str) -> bool:
    """Whether ``path`` is one of the page's own (it gets ``DESK_CSP``)."""
    return path == "/" or path.startswith(STATIC_PREFIX)


def _static_files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("ktriage.server") / "web" / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rsplit(".", 1)[-1]
        if item.is_file() and suffix in _TYPES:
            files[item.name] = (item.read_bytes(), _TYPES[suffix])
    return files


def _page(engine: Engine) -> bytes:
    template = (resources.files("ktriage.server") / "web" / "templates" / "desk.html").read_text(
        encoding="utf-8"
    )
    return (
        string.Template(template)
        .substitute(
            pack_name=html.escape(engine.info.name),
            pack_version=html.escape(engine.info.version),
        )
        .encode()
    )


def desk_config(engine: Engine, keeps_history: bool) -> dict[str, Any]:
    """What the page needs to ask its questions (see the module docstring);
    ``keeps_history``: the service has a check-in store, so the page shows a patient's
    earlier check-ins."""
    interview = Interview(engine.reader)
    vocabulary = engine.reader.vocabulary
    safety_net = engine.reader.safety_net
    severities = [s.value for s in Severity]
    return {
        "rule_pack": engine.info.model_dump(mode="json"),
        "red_flags": [
            {
                "code": term.code,
                "label": term.label,
                "question": f"Is the caller reporting {term.label.lower()}?",
                "examples": list(term.synonyms[:3]),
            }
            for term in interview.red_flags()
        ],
        "red_flag_codes": [t.code for t in vocabulary.terms.values() if t.red_flag],
        "safety_net": safety_net,
        "severity": {
            "levels": severities,
            "any": {s.value: words for s, words in SEVERITY_WORDS_ANY.items()},
            "by_code": {
                code: {s.value: words for s, words in table.items()}
                for code, table in SEVERITY_WORDS.items()
            },
        },
        "symptoms": [
            {"code": t.code, "label": t.label, "words": [t.label.lower(), *t.synonyms]}
            for t in vocabulary.terms.values()
            if t.code != safety_net
        ],
        "measurements": {
            f.name: {"label": f.label, "unit": f.unit, "low": f.low, "high": f.high}
            for f in (*MEASUREMENT_FIELDS.values(), *OTHER_NUMERIC_FIELDS.values())
        },
        "routes": [r.value for r in Route],
        "history": keeps_history,
    }


def add_desk_routes(app: FastAPI, engine: Engine, *, keeps_history: bool = False) -> None:
    """``GET /`` (the page), ``GET /static/{name}`` and ``GET /v1/desk`` (its questions)."""
    page = _page(engine)
    static = _static_files()

    @app.get("/", include_in_schema=False)
    async def desk() -> Response:
        return HTMLResponse(page)

    @app.get(STATIC_PREFIX + "{name}", include_in_schema=False)
    async def static_file(name: str) -> Response:
        found = static.get(name)
        if found is None:
            return Response(
                b'{"errors":[{"field":"","message":"Not Found"}]}',
                404,
                media_type="application/json",
            )
        return Response(found[0], media_type=found[1])

    config: dict[str, Any] = {}

    @app.get("/v1/desk", summary="What the desk page asks: red flags, severity words, ranges")
    async def desk_questions() -> dict[str, Any]:
        if not config:  # built on first use
            config.update(desk_config(engine, keeps_history))
        return config
