"""CLI commands for the optional extras: ``serve`` (HTTP service) and ``fhir``.

Registered on the ``ktriage`` group by cli.py (``main.add_command``). fastapi, uvicorn and
fhir.resources are imported inside the commands, so ``ktriage`` works without them.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from . import InvalidReport, RulePackError

EXIT_USAGE = 2
_SERVER_MODULES = {"fastapi", "uvicorn", "starlette", "anyio", "h11"}
_FHIR_MODULES = {"fhir", "fhir.resources", "fhir_core"}


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _missing(exc: ImportError, modules: set[str]) -> bool:
    name = (exc.name or "").split(".")[0]
    return name in modules or (exc.name or "") in modules


def _rules(ctx: click.Context) -> str | None:
    obj = ctx.find_root().obj
    return obj.get("rules") if isinstance(obj, dict) else None


def _serve(rules: str | None, host: str, port: int, access_log: bool) -> None:
    try:
        from .server import run
    except ImportError as exc:
        if _missing(exc, _SERVER_MODULES):
            _fail("the HTTP service needs the server extra: pip install 'ktriage[server]'")
        raise
    try:
        run(host=host, port=port, rules=rules, access_log=access_log)
    except RulePackError as exc:
        _fail(f"cannot start: {exc}")


_host = click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
_port = click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
)
_access = click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log method, route, status and duration of each request (never bodies).",
)


@click.command()
@_host
@_port
@_access
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, access_log: bool) -> None:
    """Serve the triage API over HTTP (needs ktriage[server]).

    Example: ktriage serve --host 127.0.0.1 --port 8000
    """
    _serve(_rules(ctx), host, port, access_log)


@click.command()
@click.option(
    "--rules",
    envvar="KTRIAGE_RULES",
    type=click.Path(file_okay=False),
    help="Rule pack folder to use instead of the shipped one (env: KTRIAGE_RULES).",
)
@_host
@_port
@_access
def serve_main(rules: str | None, host: str, port: int, access_log: bool) -> None:
    """Serve the triage API over HTTP (python -m ktriage.server)."""
    _serve(rules, host, port, access_log)


def _fhir_module() -> Any:
    try:
        from . import fhir
    except ImportError as exc:
        if _missing(exc, _FHIR_MODULES):
            _fail("FHIR support needs the fhir extra: pip install 'ktriage[fhir]'")
        raise
    return fhir


def _pack(ctx: click.Context) -> Any:
    from . import load_pack

    try:
        return load_pack(_rules(ctx))
    except RulePackError as exc:
        _fail(str(exc))


@click.group()
def fhir() -> None:
    """FHIR input: the symptom questionnaire, and reading FHIR into a Report.

    Example: ktriage fhir questionnaire > questionnaire.json
    """


@fhir.command()
@click.pass_context
def questionnaire(ctx: click.Context) -> None:
    """Print the FHIR Questionnaire for symptom reports (JSON), built from the pack.

    Example: ktriage fhir questionnaire
    """
    module = _fhir_module()
    click.echo(json.dumps(module.questionnaire(_pack(ctx)), indent=2, ensure_ascii=False))


@fhir.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_context
def report(ctx: click.Context, file: Any) -> None:
    """Print the Report read from a FHIR Bundle, Observation or QuestionnaireResponse.

    Example: ktriage fhir report bundle.json
    """
    module = _fhir_module()
    try:
        reading = module.read_fhir(file.read(), _pack(ctx))
    except InvalidReport as exc:
        _fail("; ".join(str(e) for e in exc.errors))
    for note in reading.skipped:
        click.echo(f"skipped: {note}", err=True)
    out = reading.report.model_dump(mode="json", exclude_defaults=True)
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
