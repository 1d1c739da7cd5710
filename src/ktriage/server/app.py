"""The HTTP service: FastAPI app over one Engine, loaded once at start-up.

Bodies are read and parsed here, not by FastAPI, so that bad input gets the library's own
field messages (``{"errors": [{"field", "message"}]}``, 422, the first ``MAX_ERRORS`` and
``error_count`` when there were more), the body size is capped before it is parsed (413),
a body must be JSON (415) and must arrive within ``body_timeout`` seconds (408). Parsing
and evaluation run in worker threads behind a limiter of ``CPU_THREADS`` (``run_cpu``), so
that however much work clients send, the event loop (and ``/healthz``) stays responsive.
Nothing a request carries is logged: the access log line is method, route template,
status and duration.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import Engine, FieldError, InvalidReport, Report, Result, __version__
from ..engine.catalogue import rule_summary
from ..engine.errors import MAX_ERRORS
from ..engine.intake import json_type, load_json, suggest
from ..engine.models import Reading, RulePackInfo
from ..history.base import HistoryStore, StoreError
from .cds_access import CdsCors, CdsJwt
from .web import DESK_CSP, add_desk_routes, desk_path

access_log = logging.getLogger("ktriage.server.access")
error_log = logging.getLogger("ktriage.server.error")

MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 1_000
BODY_TIMEOUT = 30.0
# Threads that parse and evaluate at once. CPU-bound Python gains nothing from more
# threads than cores, and every extra one takes the GIL from the event loop.
CPU_THREADS = max(1, min(4, os.cpu_count() or 1))
# Reports of a batch evaluated per trip to a worker thread: a big batch takes turns with
# other requests instead of holding a thread for its whole length.
BATCH_SLICE = 50
JSON_ERRORS = "application/json"
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_\-.]{0,99}$")

T = TypeVar("T")
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def run_cpu(func: Callable[..., T], *args: Any) -> T:
    """Run ``func(*args)`` in a worker thread, at most ``CPU_THREADS`` at once per loop."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(CPU_THREADS)
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter)


# -- response models (for the OpenAPI document) -----------------------------------------


class ErrorItem(BaseModel):
    field: str = Field(description="Dotted path to the bad field; empty for the whole body.")
    message: str


class ErrorBody(BaseModel):
    errors: list[ErrorItem] = Field(description=f"At most {MAX_ERRORS} problems.")
    error_count: int | None = Field(
        default=None, description="How many problems there were, when more than shown."
    )


class BatchItem(BaseModel):
    index: int = Field(description="Position of the report in the request.")
    result: Result | None = Field(default=None, description="Present when the report was valid.")
    errors: list[ErrorItem] | None = Field(
        default=None, description="Present when the report was invalid."
    )
    error_count: int | None = Field(
        default=None, description="How many problems there were, when more than shown."
    )


class BatchBody(BaseModel):
    results: list[BatchItem]


class SourceOut(BaseModel):
    id: str
    title: str
    url: str | None = None


class ExampleOut(BaseModel):
    name: str
    report: dict[str, Any]
    expect: str
    fires: bool


class RuleOut(BaseModel):
    id: str
    title: str
    escalation: str
    red_flag: bool
    guidance: str
    action: str
    sources: list[SourceOut]


class RuleDetail(RuleOut):
    note: str
    examples: list[ExampleOut]


class RuleList(BaseModel):
    rule_pack: RulePackInfo
    rules: list[RuleOut]


class Health(BaseModel):
    status: str
    version: str
    rule_pack: RulePackInfo


def error_items(errors: Sequence[FieldError]) -> list[dict[str, str]]:
    """Field errors as the JSON the service answers with (the first ``MAX_ERRORS``)."""
    return [{"field": e.field, "message": e.message} for e in errors[:MAX_ERRORS]]


def error_body(errors: Sequence[FieldError], total: int | None = None) -> dict[str, Any]:
    """``{"errors": [...]}``, plus ``error_count`` when there were more than shown."""
    body: dict[str, Any] = {"errors": error_items(errors)}
    count = max(total or 0, len(errors))
    if count > len(body["errors"]):
        body["error_count"] = count
    return body


def error_response(
    status: int, errors: Sequence[FieldError], total: int | None = None
) -> JSONResponse:
    return JSONResponse(error_body(errors, total), status_code=status)


def invalid_response(exc: InvalidReport) -> JSONResponse:
    return error_response(422, exc.errors, exc.error_count)


_ERRORS: dict[int | str, dict[str, Any]] = {
    408: {"model": ErrorBody, "description": "The body did not arrive in time."},
    413: {"model": ErrorBody, "description": "The body is larger than the limit."},
    415: {"model": ErrorBody, "description": "The body is not JSON (application/json)."},
    422: {"model": ErrorBody, "description": "Invalid input: one message per bad field."},
}
_STORE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    404: {"model": ErrorBody, "description": "The service keeps no check-ins (no --history)."},
    503: {"model": ErrorBody, "description": "The check-in store failed (e.g. locked)."},
}


def _report_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


# -- middleware: content type, size and time limits, headers, catch-all, access log -------


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class NotJson(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


# Sent with every answer: bodies hold patient data (never cached, never sniffed as HTML),
# and nothing here is meant to be framed or to load anything.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# The Swagger UI page (only with docs=True) loads its script and style from a CDN.
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net;"
    b" style-src https://cdn.jsdelivr.net; img-src data: https://fastapi.tiangolo.com;"
    b" connect-src 'self'; frame-ancestors 'none'"
)
_JSON_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")


class Guard:
    """Pure ASGI middleware around the whole app.

    * refuses a body that is not declared JSON (415): an HTML form or a ``text/plain``
      fetch from any web page would otherwise reach the service without a CORS check;
    * caps request bodies at ``max_body`` bytes (413), by Content-Length and as streamed,
      and the time to receive them at ``body_timeout`` seconds (408);
    * adds ``SECURITY_HEADERS`` to every answer (the desk page's own paths get
      ``DESK_CSP``, which lets the page load its script and style from this origin);
    * turns any exception that escapes a handler into a generic 500 JSON body (the
      exception's type is logged, never its message, which may quote patient data); a
      client that hangs up is no error: the access line shows 499;
    * writes the access log line: method, route template, status, duration.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        body_timeout: float = BODY_TIMEOUT,
        docs_path: str | None = None,
        desk: bool = False,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.docs_path = docs_path
        self.desk = desk

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}
        path = scope["path"]
        csp = (
            DOCS_CSP
            if path == self.docs_path
            else DESK_CSP
            if self.desk and desk_path(path)
            else None
        )

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name not in have:
                        if name == b"content-security-policy" and csp is not None:
                            value = csp
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                await _send_json(send_wrapper, 413, _too_large(self.max_body))
                return
            seen = 0
            deadline: float | None = None

            async def limited() -> Message:
                nonlocal seen, deadline
                loop = asyncio.get_running_loop()
                if deadline is None:
                    # checked when a route reads the body, so 404 and 405 stay as they are
                    problem = _not_json(scope)
                    if problem is not None:
                        raise NotJson(problem)
                    deadline = loop.time() + self.body_timeout
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise BodyTimeout from None
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body:
                        raise BodyTooLarge
                    if not message.get("more_body", False):
                        deadline = float("inf")  # the body is in; later waits are not reads
                return message

            await self.app(scope, limited, send_wrapper)
        except BodyTooLarge:
            if not status["started"]:
                await _send_json(send_wrapper, 413, _too_large(self.max_body))
        except NotJson as exc:
            if not status["started"]:
                await _send_json(send_wrapper, 415, exc.body)
        except BodyTimeout:
            if not status["started"]:
                message = f"the body was not received within {self.body_timeout:g} s"
                await _send_json(
                    send_wrapper, 408, {"errors": [{"field": "", "message": message}]}, close=True
                )
        except ClientDisconnect:
            status["code"] = 499  # nginx's word for it: the client went away
        except Exception as exc:  # the catch-all: never a stack trace to the caller
            error_log.error(
                "unhandled %s in %s %s", type(exc).__name__, scope["method"], _template(scope)
            )
            if not status["started"]:
                await _send_json(
                    send_wrapper,
                    500,
                    {"errors": [{"field": "", "message": "internal error"}]},
                )
        finally:
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                _template(scope),
                status["code"],
                (time.perf_counter() - start) * 1000,
            )


def _not_json(scope: Scope) -> dict[str, Any] | None:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            if _JSON_TYPE.match(media):
                return None
            shown = media if len(media) <= 60 and media.isprintable() else media[:57] + "..."
            message = f"the body must be JSON (content-type application/json), got {shown!r}"
            return {"errors": [{"field": "", "message": message}]}
    message = "the body must be JSON: send content-type application/json"
    return {"errors": [{"field": "", "message": message}]}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> dict[str, Any]:
    return {"errors": [{"field": "", "message": f"the body is larger than {limit} bytes"}]}


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


async def _send_json(send: Send, status: int, body: dict[str, Any], close: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


# -- the app -----------------------------------------------------------------------------


def create_app(
    engine: Engine | None = None,
    rules: str | None = None,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_batch: int = MAX_BATCH,
    cds_origins: Sequence[str] = ("*",),
    cds_jwt: CdsJwt | None = None,
    body_timeout: float = BODY_TIMEOUT,
    docs: bool = False,
    history: HistoryStore | None = None,
    desk: bool = True,
) -> FastAPI:
    """The ktriage HTTP app over ``engine`` (or one loaded from ``rules``, default pack).

    Loading happens here, once: a broken pack raises ``RulePackError`` and no app is made.
    ``cds_origins``: the origins browser CDS clients may call from (CORS, CDS routes only;
    default any). ``cds_jwt``: verify the CDS client's JWT on the CDS routes (default off).
    ``history``: the check-in store behind ``/v1/patients/{id}/check-ins`` (404 without).
    ``docs=True`` serves the Swagger UI at ``/docs`` (it loads its script from a CDN, so
    it is off unless asked for); ``/openapi.json`` is always served. ``desk=True`` (the
    default) serves the triage desk page at ``/`` (see ``ktriage.server.web``).
    """
    if engine is None:
        engine = Engine.load(rules)
    app = FastAPI(
        title="ktriage",
        version=__version__,
        description=(
            "Triage of side effects reported during ketamine or esketamine treatment:"
            " a Report in, an escalation level and advice out. Rule pack"
            f" {engine.info.name} {engine.info.version}."
        ),
        docs_url="/docs" if docs else None,
        redoc_url=None,
    )
    app.add_middleware(
        Guard,
        max_body=max_body_bytes,
        body_timeout=body_timeout,
        docs_path="/docs" if docs else None,
        desk=desk,
    )
    if cds_origins:
        app.add_middleware(CdsCors, origins=cds_origins)  # outermost: answers preflights

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        errors = [
            FieldError(".".join(str(p) for p in e.get("loc", ())), str(e.get("msg", "invalid")))
            for e in raw[:MAX_ERRORS]
        ]
        return error_response(422, errors, len(raw))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, [FieldError("", str(exc.detail))])
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            # Starlette names only the first route's methods; a path served by two routes
            # (GET and POST of the check-ins) supports both
            path = request.url.path
            methods: set[str] = set()
            for route in app.routes:
                regex = getattr(route, "path_regex", None)
                if regex is not None and regex.match(path):
                    methods |= getattr(route, "methods", None) or set()
            if methods:
                response.headers["allow"] = ", ".join(sorted(methods))
        return response

    report_schema = Report.model_json_schema(ref_template="#/components/schemas/{model}")
    _register_schemas(app, report_schema)

    @app.post(
        "/v1/triage",
        response_model=Result,
        responses=_ERRORS,
        summary="Triage one report",
        openapi_extra=_report_body({"$ref": "#/components/schemas/Report"}),
    )
    async def triage_one(request: Request) -> Any:
        body = await request.body()
        try:
            result = await run_cpu(engine.evaluate, body)
        except InvalidReport as exc:
            return invalid_response(exc)
        return JSONResponse(result.model_dump(mode="json"))

    @app.post(
        "/v1/read",
        response_model=Reading,
        responses=_ERRORS,
        summary="How one line of symptom text is read (the symptom reader), without triage",
        openapi_extra=_report_body(
            {
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 200}},
                "required": ["text"],
                "additionalProperties": False,
            }
        ),
    )
    async def read_text(request: Request) -> Any:
        body = await request.body()
        try:
            data = load_json(body)
            if not isinstance(data, dict) or set(data) != {"text"}:
                raise InvalidReport(
                    [FieldError("", 'the body must be a JSON object {"text": "..."}')], data
                )
            text = data["text"]
            if not isinstance(text, str):
                raise InvalidReport(
                    [FieldError("text", f"must be text, got {json_type(text)}")], data
                )
            reading = await run_cpu(engine.read, text)
        except InvalidReport as exc:
            return invalid_response(exc)
        return JSONResponse(reading.model_dump(mode="json"))

    @app.post(
        "/v1/triage/batch",
        response_model=BatchBody,
        responses=_ERRORS,
        summary="Triage a list of reports; one result or error record per item, in order",
        openapi_extra=_report_body(
            {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Report"},
                "maxItems": max_batch,
            }
        ),
    )
    async def triage_batch(request: Request) -> Any:
        body = await request.body()
        try:
            items = await run_cpu(load_json, body)
        except InvalidReport as exc:
            return invalid_response(exc)
        if not isinstance(items, list):
            return error_response(
                422,
                [FieldError("", f"a batch must be a JSON list of reports, got {json_type(items)}")],
            )
        if len(items) > max_batch:
            return error_response(
                422,
                [FieldError("", f"a batch holds at most {max_batch} reports, got {len(items)}")],
            )
        results: list[dict[str, Any]] = []
        for start in range(0, len(items), BATCH_SLICE):
            part = items[start : start + BATCH_SLICE]
            results += await run_cpu(_evaluate_all, engine, part, start)
        return JSONResponse({"results": results})

    def _no_store() -> JSONResponse:
        return error_response(
            404, [FieldError("", "this service keeps no check-ins (start it with --history)")]
        )

    def _bad_patient(patient_id: str) -> JSONResponse | None:
        if not patient_id.strip() or len(patient_id) > 128:
            return error_response(
                422, [FieldError("patient_id", "must be 1 to 128 characters in the path")]
            )
        return None

    @app.post(
        "/v1/patients/{patient_id}/check-ins",
        response_model=Result,
        responses=_STORE_ERRORS,
        summary="Triage a check-in with the patient's earlier ones, and record it",
        openapi_extra=_report_body({"$ref": "#/components/schemas/Report"}),
    )
    async def check_in(patient_id: str, request: Request) -> Any:
        if history is None:
            return _no_store()
        bad = _bad_patient(patient_id)
        if bad is not None:
            return bad
        body = await request.body()
        try:
            data = await run_cpu(load_json, body)
            if not isinstance(data, dict):
                raise InvalidReport(
                    [FieldError("", f"a report must be a JSON object, got {json_type(data)}")],
                    data,
                )
            given = data.get("patient_id", patient_id)
            if given != patient_id:
                raise InvalidReport(
                    [FieldError("patient_id", "differs from the patient in the path")], data
                )
            result = await run_cpu(history.check_in, engine, {**data, "patient_id": patient_id})
        except InvalidReport as exc:
            return invalid_response(exc)
        except StoreError as exc:
            return error_response(503, [FieldError("", str(exc))])
        return JSONResponse(result.model_dump(mode="json"))

    @app.get(
        "/v1/patients/{patient_id}/check-ins",
        summary="A patient's check-ins, oldest first, each with the level it got",
        responses={k: v for k, v in _STORE_ERRORS.items() if k in (404, 422, 503)},
    )
    async def list_check_ins(patient_id: str) -> Any:
        if history is None:
            return _no_store()
        bad = _bad_patient(patient_id)
        if bad is not None:
            return bad
        try:
            records = await run_cpu(lambda: [r.as_json() for r in history.records(patient_id)])
        except StoreError as exc:
            return error_response(503, [FieldError("", str(exc))])
        return JSONResponse({"check_ins": records})

    @app.get("/v1/rules", response_model=RuleList, summary="The rules of the loaded pack")
    async def list_rules() -> Any:
        return {
            "rule_pack": engine.info.model_dump(mode="json"),
            "rules": [rule_summary(r) for r in engine.pack.rules],
        }

    @app.get(
        "/v1/rules/{rule_id}",
        response_model=RuleDetail,
        responses={404: {"model": ErrorBody, "description": "No rule with this id."}},
        summary="One rule, with its worked examples",
    )
    async def get_rule(rule_id: str) -> Any:
        try:
            rule = engine.pack.rule(rule_id)
        except KeyError:
            if not _RULE_ID.match(rule_id):  # never echo what cannot be a rule id
                message = "no rule with this id (ids are lower-case letters, digits, _ - .)"
                return error_response(404, [FieldError("rule_id", message)])
            hint = suggest(rule_id, [r.id for r in engine.pack.rules])
            message = f"no rule {rule_id!r}" + (f"; did you mean {hint!r}?" if hint else "")
            return error_response(404, [FieldError("rule_id", message)])
        return {
            **rule_summary(rule),
            "note": rule.note,
            "examples": [
                {
                    "name": ex.name,
                    "report": ex.report.model_dump(mode="json", exclude_defaults=True),
                    "expect": ex.expect.value,
                    "fires": ex.fires,
                }
                for ex in rule.examples
            ],
        }

    # built once: pydantic builds a model's JSON Schema anew on every call
    report_json_schema = Report.model_json_schema()
    result_json_schema = Result.model_json_schema(mode="serialization")

    @app.get("/v1/schema/report", summary="JSON Schema of a Report (the request)")
    async def schema_report() -> dict[str, Any]:
        return report_json_schema

    @app.get("/v1/schema/result", summary="JSON Schema of a Result (the response)")
    async def schema_result() -> dict[str, Any]:
        return result_json_schema

    @app.get("/healthz", response_model=Health, summary="Liveness, and the loaded pack")
    async def healthz() -> Any:
        return {
            "status": "ok",
            "version": __version__,
            "rule_pack": engine.info.model_dump(mode="json"),
        }

    from .cds import add_cds_routes

    add_cds_routes(app, engine, cds_jwt)
    if desk:
        add_desk_routes(app, engine, keeps_history=history is not None)
    return app


def _register_schemas(app: FastAPI, report_schema: dict[str, Any]) -> None:
    """Put Report (and the models it refers to) into the OpenAPI components."""
    defs = dict(report_schema.pop("$defs", {}))
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in defs.items():
            components.setdefault(name, sub)
        components["Report"] = report_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _evaluate_all(engine: Engine, items: list[Any], first: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items, first):
        try:
            result = engine.evaluate(item if isinstance(item, dict) else _not_object(item))
        except InvalidReport as exc:
            out.append({"index": i, **error_body(exc.errors, exc.error_count)})
            continue
        out.append({"index": i, "result": result.model_dump(mode="json")})
    return out


def _not_object(item: Any) -> Any:
    raise InvalidReport(
        [FieldError("", f"a report must be a JSON object, got {json_type(item)}")], item
    )
