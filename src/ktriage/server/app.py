"""The HTTP service: FastAPI app over one Engine, loaded once at start-up.

Bodies are read and parsed here, not by FastAPI, so that bad input gets the library's own
field messages (``{"errors": [{"field", "message"}]}``, 422) and the body size is capped
before it is parsed (413). Evaluation runs in the threadpool so that a slow report never
holds up the event loop. Nothing a request carries is logged: the access log line is
method, route template, status and duration.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import Engine, FieldError, InvalidReport, Report, Result, __version__
from ..engine.catalogue import rule_summary
from ..engine.intake import json_type, load_json, suggest
from ..engine.models import Reading, RulePackInfo
from .cds_access import CdsCors, CdsJwt

access_log = logging.getLogger("ktriage.server.access")
error_log = logging.getLogger("ktriage.server.error")

MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 1_000
JSON_ERRORS = "application/json"


# -- response models (for the OpenAPI document) -----------------------------------------


class ErrorItem(BaseModel):
    field: str = Field(description="Dotted path to the bad field; empty for the whole body.")
    message: str


class ErrorBody(BaseModel):
    errors: list[ErrorItem]


class BatchItem(BaseModel):
    index: int = Field(description="Position of the report in the request.")
    result: Result | None = Field(default=None, description="Present when the report was valid.")
    errors: list[ErrorItem] | None = Field(
        default=None, description="Present when the report was invalid."
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
    """Field errors as the JSON the service answers with."""
    return [{"field": e.field, "message": e.message} for e in errors]


def error_response(status: int, errors: Sequence[FieldError]) -> JSONResponse:
    return JSONResponse({"errors": error_items(errors)}, status_code=status)


_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "The body is larger than the limit."},
    422: {"model": ErrorBody, "description": "Invalid input: one message per bad field."},
}


def _report_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


# -- middleware: size limit, catch-all, access log ---------------------------------------


class BodyTooLarge(Exception):
    pass


class Guard:
    """Pure ASGI middleware around the whole app.

    * caps request bodies at ``max_body`` bytes (413), by Content-Length and as streamed;
    * turns any exception that escapes a handler into a generic 500 JSON body (the
      exception's type is logged, never its message, which may quote patient data);
    * writes the access log line: method, route template, status, duration.
    """

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                await _send_json(send_wrapper, 413, _too_large(self.max_body))
                return
            seen = 0

            async def limited() -> Message:
                nonlocal seen
                message = await receive()
                if message["type"] == "http.request":
                    seen += len(message.get("body", b""))
                    if seen > self.max_body:
                        raise BodyTooLarge
                return message

            await self.app(scope, limited, send_wrapper)
        except BodyTooLarge:
            if not status["started"]:
                await _send_json(send_wrapper, 413, _too_large(self.max_body))
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


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
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
) -> FastAPI:
    """The ktriage HTTP app over ``engine`` (or one loaded from ``rules``, default pack).

    Loading happens here, once: a broken pack raises ``RulePackError`` and no app is made.
    ``cds_origins``: the origins browser CDS clients may call from (CORS, CDS routes only;
    default any). ``cds_jwt``: verify the CDS client's JWT on the CDS routes (default off).
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
    )
    app.add_middleware(Guard, max_body=max_body_bytes)
    if cds_origins:
        app.add_middleware(CdsCors, origins=cds_origins)  # outermost: answers preflights

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(".".join(str(p) for p in e.get("loc", ())), str(e.get("msg", "invalid")))
            for e in exc.errors()
        ]
        return error_response(422, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, [FieldError("", str(exc.detail))])
        if exc.headers:
            response.headers.update(exc.headers)
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
            result = await run_in_threadpool(engine.evaluate, body)
        except InvalidReport as exc:
            return error_response(422, exc.errors)
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
            reading = await run_in_threadpool(engine.read, text)
        except InvalidReport as exc:
            return error_response(422, exc.errors)
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
            items = load_json(body)
        except InvalidReport as exc:
            return error_response(422, exc.errors)
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
        results = await run_in_threadpool(_evaluate_all, engine, items)
        return JSONResponse({"results": results})

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


def _evaluate_all(engine: Engine, items: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            result = engine.evaluate(item if isinstance(item, dict) else _not_object(item))
        except InvalidReport as exc:
            out.append(
                {
                    "index": i,
                    "errors": error_items(exc.errors),
                }
            )
            continue
        out.append({"index": i, "result": result.model_dump(mode="json")})
    return out


def _not_object(item: Any) -> Any:
    raise InvalidReport(
        [FieldError("", f"a report must be a JSON object, got {json_type(item)}")], item
    )
