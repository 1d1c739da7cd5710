"""CLI commands for the optional extras: ``serve`` (HTTP service) and ``fhir``.

Registered on the ``ktriage`` group by cli.py (``main.add_command``). fastapi, uvicorn and
fhir.resources are imported inside the commands, so ``ktriage`` works without them.
"""

from __future__ import annotations

import json
from typing import Any

import click

from . import InvalidReport, RulePackError
from .cli_pack import Problem, fhir_module, load_rule_pack, missing, rules_path

_SERVER_MODULES = {"fastapi", "uvicorn", "starlette", "anyio", "h11"}
_NO_FHIR = "FHIR support needs the fhir extra: pip install 'ktriage[fhir]'"


def _serve(rules: str | None, host: str, port: int, access_log: bool) -> None:
    try:
        from .server import run
    except ImportError as exc:
        if missing(exc, _SERVER_MODULES):
            raise Problem(
                "the HTTP service needs the server extra: pip install 'ktriage[server]'"
            ) from None
        raise
    try:
        run(host=host, port=port, rules=rules, access_log=access_log)
    except RulePackError as exc:
        raise Problem(f"cannot start: {exc}") from None


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
    _serve(rules_path(ctx), host, port, access_log)


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
    module = fhir_module(_NO_FHIR)
    click.echo(json.dumps(module.questionnaire(load_rule_pack(ctx)), indent=2, ensure_ascii=False))


@fhir.command()
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_context
def report(ctx: click.Context, file: Any) -> None:
    """Print the Report read from a FHIR Bundle, Observation or QuestionnaireResponse.

    Example: ktriage fhir report bundle.json
    """
    module = fhir_module(_NO_FHIR)
    try:
        reading = module.read_fhir(file.read(), load_rule_pack(ctx))
    except InvalidReport as exc:
        raise Problem("; ".join(str(e) for e in exc.errors)) from None
    for note in reading.skipped:
        click.echo(f"skipped: {note}", err=True)
    out = reading.report.model_dump(mode="json", exclude_defaults=True)
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
