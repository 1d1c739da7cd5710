"""CDS Hooks 2.0 services: discovery, two services, and a feedback endpoint.

* ``ktriage-patient-view`` (hook ``patient-view``): triages the patient's Observations,
  each within its measurement's window (prefetch ``observations``), with the optional
  ``patient`` (age) and ``symptoms`` (the latest answers to the ktriage symptom
  questionnaire). What the client did not prefetch is fetched from ``fhirServer`` with
  ``fhirAuthorization``'s token; 412 when neither is there. Values that cannot be read are
  skipped and listed on a card; the rest is triaged. Needs the ``fhir`` extra; without it
  the service is not listed.
* ``ktriage-symptom-report`` (hook ``org.ktriage.symptom-report``): an app submits one
  symptom report as ``context.report`` (a ktriage Report) or
  ``context.questionnaireResponse`` (FHIR, needs the ``fhir`` extra).

Each advice item becomes one card; a report with nothing to say gets ``{"cards": []}``.
CORS and the optional check of the CDS client's JWT: see ``cds_access``.
Feedback is counted per service and outcome; nothing else of it is kept.
"""

from __future__ import annotations

import functools
import re
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool  # for I/O (JWKS, FHIR), not CPU

from .. import Engine, FieldError, InvalidReport, Result
from ..engine.intake import field_errors, load_json, parse_report
from ..engine.models import Advice, Escalation, Skipped
from .app import error_response, run_cpu
from .cds_access import CdsJwt

PATIENT_VIEW = "ktriage-patient-view"
SYMPTOM_REPORT = "ktriage-symptom-report"
SYMPTOM_REPORT_HOOK = "org.ktriage.symptom-report"
RULE_TOPIC_SYSTEM = "https://ktriage.org/fhir/CodeSystem/rule"
SUMMARY_MAX = 139  # the specification: a "<140-character" summary
MAX_FEEDBACK = 1_000  # feedback items in one call (a client sends one per card)

INDICATOR = {
    Escalation.SELF_CARE: "info",
    Escalation.NEXT_VISIT: "info",
    Escalation.WITHIN_24H: "warning",
    Escalation.URGENT: "critical",
    Escalation.EMERGENCY: "critical",
}
_SHORT = {
    Escalation.SELF_CARE: "Self-care",
    Escalation.NEXT_VISIT: "Next visit",
    Escalation.WITHIN_24H: "Within 24 h",
    Escalation.URGENT: "Urgent",
    Escalation.EMERGENCY: "EMERGENCY",
}


class CDSRequest(BaseModel):
    """The body of a CDS Hooks service call (only the fields ktriage reads are typed)."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class Source(BaseModel):
    label: str
    url: str | None = None
    topic: dict[str, str] | None = None


class Card(BaseModel):
    uuid: str
    summary: str = Field(max_length=SUMMARY_MAX)
    detail: str | None = None
    indicator: str = Field(pattern="^(info|warning|critical)$")
    source: Source


class CardsBody(BaseModel):
    cards: list[Card]


class Service(BaseModel):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(BaseModel):
    services: list[Service]


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    card: str = Field(min_length=1)
    outcome: str = Field(pattern="^(accepted|overridden)$")
    outcomeTimestamp: str = Field(min_length=1)
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=MAX_FEEDBACK)


class FeedbackReceived(BaseModel):
    received: int


@functools.cache
def _fhir_available() -> bool:
    try:
        from .. import fhir  # noqa: F401
    except ImportError:
        return False
    return True


def services() -> list[dict[str, Any]]:
    """The discovery entries (patient-view only when the fhir extra is installed)."""
    out: list[dict[str, Any]] = []
    if _fhir_available():
        from ..fhir.codes import BP_PANEL_CODES, KINDS, LOINC, QUESTIONNAIRE_URL

        codes = [c for k in KINDS for c in k.codes] + list(BP_PANEL_CODES)
        code_param = ",".join(f"{LOINC}|{c}" for c in codes)
        out.append(
            {
                "hook": "patient-view",
                "id": PATIENT_VIEW,
                "title": "ktriage: side effects of ketamine or esketamine treatment",
                "description": (
                    "Triages the patient's recent vital signs and labs (weight, blood"
                    " pressure, heart rate, oxygen saturation, temperature, respiratory"
                    " rate, fasting glucose, LDL, triglycerides) and their latest answers to"
                    " the ktriage symptom questionnaire; one card per piece of advice."
                ),
                "prefetch": {
                    "patient": "Patient/{{context.patientId}}",
                    "observations": (
                        "Observation?patient={{context.patientId}}"
                        f"&code={code_param}&_sort=-date&_count=100"
                    ),
                    "symptoms": (
                        "QuestionnaireResponse?patient={{context.patientId}}"
                        f"&questionnaire={QUESTIONNAIRE_URL}&_sort=-authored&_count=1"
                    ),
                },
                "usageRequirements": (
                    "Give the observations prefetch, or fhirServer and fhirAuthorization"
                    " to fetch it. The baseline weight is the Observation flagged with the"
                    " ktriage baseline-weight extension, else the earliest weight of the"
                    " history returned (docs/service.md)."
                ),
            }
        )
    out.append(
        {
            "hook": SYMPTOM_REPORT_HOOK,
            "id": SYMPTOM_REPORT,
            "title": "ktriage: triage a symptom report",
            "description": (
                "Triages one symptom report submitted by an app: context.report is a"
                " ktriage Report (JSON), or context.questionnaireResponse is a FHIR"
                " QuestionnaireResponse to the ktriage symptom questionnaire."
                " context.patientId is optional."
            ),
        }
    )
    return out


_CDS_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "The CDS client's JWT is missing or not valid (with --cds-jwks)."},
    404: {"description": "No such service."},
    408: {"description": "The body did not arrive in time."},
    412: {"description": "Required prefetch data is missing."},
    413: {"description": "The body is larger than the limit."},
    415: {"description": "The body is not JSON (application/json)."},
    422: {"description": "Invalid request: one message per bad field."},
}


def add_cds_routes(app: FastAPI, engine: Engine, jwt: CdsJwt | None = None) -> None:
    lock = threading.Lock()
    feedback_counts: Counter[tuple[str, str]] = Counter()
    app.state.cds_feedback = feedback_counts
    request_schema = CDSRequest.model_json_schema()
    listed = services()  # what is installed does not change while the server runs
    known = {s["id"]: s for s in listed}

    async def untrusted(request: Request) -> JSONResponse | None:
        if jwt is None:
            return None
        audience = str(request.url.replace(query=None, fragment=None))
        why = await run_in_threadpool(jwt.check, request.headers.get("authorization"), audience)
        if why is None:
            return None
        response = error_response(401, [FieldError("Authorization", why)])
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.get(
        "/cds-services",
        response_model=Discovery,
        response_model_exclude_none=True,
        summary="CDS Hooks discovery",
    )
    async def discovery(request: Request) -> Any:
        return await untrusted(request) or {"services": listed}

    @app.post(
        "/cds-services/{service_id}",
        response_model=CardsBody,
        response_model_exclude_none=True,
        responses=_CDS_ERRORS,
        summary="Call a CDS service",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema}},
            }
        },
    )
    async def call_service(service_id: str, request: Request) -> Any:
        if denied := await untrusted(request):
            return denied
        service = known.get(service_id)
        if service is None:
            return error_response(404, [FieldError("service_id", f"no CDS service {service_id!r}")])
        parsed = await run_cpu(_parse, await request.body(), CDSRequest)
        if isinstance(parsed, JSONResponse):
            return parsed
        if parsed.hook != service["hook"]:
            return error_response(
                422,
                [
                    FieldError(
                        "hook",
                        f"service {service_id!r} answers hook {service['hook']!r},"
                        f" got {parsed.hook!r}",
                    )
                ],
            )
        if service_id == PATIENT_VIEW:
            return await _patient_view(engine, parsed, service["prefetch"])
        return await _symptom_report(engine, parsed)

    @app.post(
        "/cds-services/{service_id}/feedback",
        response_model=FeedbackReceived,
        responses={k: v for k, v in _CDS_ERRORS.items() if k != 412},
        summary="Feedback on cards (counted per outcome, nothing identifying kept)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FeedbackRequest.model_json_schema()}},
            }
        },
    )
    async def feedback(service_id: str, request: Request) -> Any:
        if denied := await untrusted(request):
            return denied
        if service_id not in known:
            return error_response(404, [FieldError("service_id", f"no CDS service {service_id!r}")])
        parsed = await run_cpu(_parse, await request.body(), FeedbackRequest)
        if isinstance(parsed, JSONResponse):
            return parsed
        with lock:
            for item in parsed.feedback:
                feedback_counts[(service_id, item.outcome)] += 1
        return {"received": len(parsed.feedback)}


def _parse(body: bytes, model: type[BaseModel]) -> Any:
    try:
        data = load_json(body)
    except InvalidReport as exc:
        return error_response(422, exc.errors, exc.error_count)
    if not isinstance(data, dict):
        return error_response(422, [FieldError("", "the body must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return error_response(422, field_errors(exc, model), exc.error_count())


# -- patient-view ------------------------------------------------------------------------


async def _patient_view(engine: Engine, req: CDSRequest, templates: dict[str, str]) -> Any:
    patient_id = req.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        return error_response(422, [FieldError("context.patientId", "is required (a Patient id)")])
    prefetch = dict(req.prefetch or {})
    # Fetched only when the required prefetch is missing: a client that prefetched chose
    # what to send. Then everything missing is fetched; an optional key may fail.
    missing = {k: t for k, t in templates.items() if k not in prefetch}
    if "observations" in missing and req.fhirServer:
        from .fhir_fetch import FetchFailed, fetch_prefetch

        try:
            fetched = await run_in_threadpool(
                fetch_prefetch,
                req.fhirServer,
                req.fhirAuthorization,
                missing,
                {"patientId": patient_id},
                {"observations"},
            )
        except FetchFailed as exc:
            return error_response(412, [FieldError("fhirServer", str(exc))])
        prefetch.update(fetched)
    if "observations" not in prefetch:
        return error_response(
            412,
            [
                FieldError(
                    "prefetch.observations",
                    "required prefetch is missing and no fhirServer was given to fetch it from",
                )
            ],
        )
    failed = _prefetch_failed(prefetch["observations"])
    if failed:
        return error_response(412, [FieldError("prefetch.observations", failed)])
    return await run_cpu(_triage_prefetch, engine, prefetch, patient_id)


def _prefetch_failed(value: Any) -> str | None:
    """Why the CDS client could not prefetch (an OperationOutcome with an error), or None."""
    outcomes = []
    if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
        outcomes.append(value)
    elif isinstance(value, dict) and value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or []:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(res, dict) and res.get("resourceType") == "OperationOutcome":
                outcomes.append(res)
    for outcome in outcomes:
        for issue in outcome.get("issue") or []:
            if isinstance(issue, dict) and issue.get("severity") in ("error", "fatal"):
                return "the CDS client reported an error fetching this data (OperationOutcome)"
    return None


def _triage_prefetch(engine: Engine, prefetch: dict[str, Any], patient_id: str) -> Any:
    from ..fhir import triage_fhir

    entries: list[dict[str, Any]] = []
    origins: list[str] = []
    problems: list[FieldError] = []
    for key in ("observations", "patient", "symptoms"):
        value = prefetch.get(key)
        if value is None or _prefetch_failed(value):
            continue  # null: the client has no such data; optional keys may fail
        if not isinstance(value, dict):
            problems.append(FieldError(f"prefetch.{key}", "must be a FHIR resource or Bundle"))
            continue
        if value.get("resourceType") == "Bundle":
            raw = value.get("entry") or []
            if not isinstance(raw, list):
                problems.append(FieldError(f"prefetch.{key}.entry", "must be a list"))
                continue
            for i, entry in enumerate(raw):
                if isinstance(entry, dict) and entry.get("resource") is not None:
                    entries.append({"resource": entry["resource"]})
                    origins.append(f"prefetch.{key}.entry.{i}.resource")
        else:
            entries.append({"resource": value})
            origins.append(f"prefetch.{key}")
    if problems:
        return error_response(422, problems)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    try:
        done = triage_fhir(engine, bundle, patient_id=patient_id)
    except InvalidReport as exc:
        errors = [FieldError(_origin(e.field, origins), e.message) for e in exc.errors]
        return {"cards": [_unreadable_card(errors)]}
    skipped = [
        s.model_copy(update={"where": _origin_where(s.where, origins)}) for s in done.result.skipped
    ]
    if not done.usable:
        return {"cards": [_skipped_card(skipped, usable=False)]}
    return {"cards": cards(done.result) + ([_skipped_card(skipped)] if skipped else [])}


def _origin(path: str, origins: list[str]) -> str:
    m = re.match(r"entry\.(\d+)\.resource(\.|$)(.*)", path)
    if not m or int(m[1]) >= len(origins):
        return path
    return origins[int(m[1])] + (f".{m[3]}" if m[3] else "")


def _origin_where(where: str, origins: list[str]) -> str:
    """``entry.3.component.0`` of the merged bundle -> ``prefetch.observations.entry.7...``."""
    m = re.match(r"entry\.(\d+)(.*)", where)
    if not m or int(m[1]) >= len(origins):
        return where
    return origins[int(m[1])].removesuffix(".resource") + m[2]


def _skipped_card(skipped: list[Skipped], usable: bool = True) -> dict[str, Any]:
    """What was left out: a warning when it was everything, else a note under the advice."""
    lines = "\n".join(f"- `{_code(s.where)}` {_md(s.what)}: {_md(s.why)}" for s in skipped)
    n = len(skipped)
    if usable:
        summary = f"{n} recorded value{'' if n == 1 else 's'} not triaged (old, unreadable)"
        lead = "The advice above does not take these recorded values into account:"
    else:
        summary = "Side-effect triage not done: no usable data in the record"
        lead = (
            "Nothing in the data given could be triaged, so this is not an all clear."
            " Check these values in the record:"
        )
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary,
        "indicator": "info" if usable or not skipped else "warning",
        "detail": lead + "\n\n" + (lines or "- (no data was given)"),
        "source": {"label": "ktriage", "topic": _topic("ktriage.skipped", "Values not triaged")},
    }


def _unreadable_card(errors: list[FieldError]) -> dict[str, Any]:
    lines = "\n".join(
        f"- `{_code(e.field or '(whole input)')}`: {_literal(e.message)}" for e in errors
    )
    return {
        "uuid": str(uuid.uuid4()),
        "summary": "Side-effect triage not done: some recorded values could not be read",
        "indicator": "warning",
        "detail": (
            "ktriage did not triage this patient because some of the data it was given"
            " cannot be read without guessing. Check these values in the record:\n\n" + lines
        ),
        "source": {"label": "ktriage", "topic": _topic("ktriage.unreadable", "Unreadable data")},
    }


# -- the app's symptom report ------------------------------------------------------------


async def _symptom_report(engine: Engine, req: CDSRequest) -> Any:
    ctx = req.context
    has_report = "report" in ctx
    has_qr = "questionnaireResponse" in ctx
    if has_report == has_qr:
        return error_response(
            422,
            [
                FieldError(
                    "context",
                    "give exactly one of context.report (a ktriage Report) or"
                    " context.questionnaireResponse (FHIR)",
                )
            ],
        )
    if has_qr and not _fhir_available():
        return error_response(
            422,
            [FieldError("context.questionnaireResponse", "install ktriage[fhir] to read FHIR")],
        )
    return await run_cpu(_triage_context, engine, ctx, has_qr)


def _triage_context(engine: Engine, ctx: dict[str, Any], fhir: bool) -> Any:
    key = "questionnaireResponse" if fhir else "report"
    value = ctx[key]
    try:
        if fhir:
            from ..fhir import report_from_fhir

            if not isinstance(value, dict) or value.get("resourceType") != (
                "QuestionnaireResponse"
            ):
                raise InvalidReport(
                    [FieldError("resourceType", "expected a QuestionnaireResponse")], value
                )
            # The app submits what the patient answers now: no window, as before
            report = report_from_fhir(value, engine.pack, strict=True, since=_EPOCH)
        else:
            report = parse_report(value if isinstance(value, dict) else _not_object(value))
        result = engine.evaluate(report)
    except InvalidReport as exc:
        errors = [
            FieldError(f"context.{key}" + (f".{e.field}" if e.field else ""), e.message)
            for e in exc.errors
        ]
        return error_response(422, errors, exc.error_count)
    return {"cards": cards(result)}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _not_object(value: Any) -> Any:
    raise InvalidReport([FieldError("", "must be a JSON object (a ktriage Report)")], value)


# -- cards -------------------------------------------------------------------------------


def cards(result: Result) -> list[dict[str, Any]]:
    """One CDS Hooks card per advice item, most urgent first."""
    return [_card(item) for item in result.advice]


def _card(advice: Advice) -> dict[str, Any]:
    first = advice.sources[0] if advice.sources else None
    source: dict[str, Any] = {"label": first.title if first else "ktriage"}
    if first is not None and first.url:
        source["url"] = first.url
    source["topic"] = _topic(advice.rule, advice.title)
    return {
        "uuid": str(uuid.uuid4()),
        "summary": summary(advice),
        "indicator": INDICATOR[advice.escalation],
        "detail": detail(advice),
        "source": source,
    }


def _topic(code: str, display: str) -> dict[str, str]:
    return {"system": RULE_TOPIC_SYSTEM, "code": code, "display": display}


def summary(advice: Advice) -> str:
    text = f"{_SHORT[advice.escalation]}: {advice.title}"
    if len(text) <= SUMMARY_MAX:
        return text
    return text[: SUMMARY_MAX - 1].rstrip() + "…"


def detail(advice: Advice) -> str:
    """GitHub-flavoured Markdown: level, guidance, action, why, sources."""
    parts = [
        f"**{_md(advice.escalation.label)}** (`{advice.escalation.value}`, rule"
        f" `{_code(advice.rule)}`)",
        f"**For the patient:** {_md(advice.guidance)}",
        f"**For staff:** {_md(advice.action)}",
    ]
    if advice.because:
        parts.append("**Why:**\n\n" + "\n".join(f"- {_literal(b)}" for b in advice.because))
    if advice.sources:
        refs = []
        for s in advice.sources:
            title = _md(s.title)
            url = s.url if s.url and re.match(r"https?://[^\s()<>]+$", s.url) else None
            refs.append(f"- [{title}]({url})" if url else f"- {title}")
        parts.append("**Sources:**\n\n" + "\n".join(refs))
    return "\n\n".join(parts)


# Text is one line after a prefix, so only inline constructs need escaping: emphasis,
# code, links and images, raw HTML, strikethrough, table pipes.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>!~|])")


def _md(text: str) -> str:
    """Escape text for Markdown: what a patient typed must not become a link or image."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _literal(text: str) -> str:
    """Text that quotes what a patient typed, as a code span: shown as typed, never a link.

    Escaping is not enough: GitHub-flavoured Markdown turns a bare ``https://…`` or
    ``www.…`` into a link, and renderers differ on escaped autolinks. Nothing inside a
    code span is markup or a link in any CommonMark renderer.
    """
    text = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else ""


def _code(text: str) -> str:
    return text.replace("`", "'")
