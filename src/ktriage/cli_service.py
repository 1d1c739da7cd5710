"""CLI commands for the optional extras: ``serve`` (HTTP service) and ``fhir``.

Registered on the ``ktriage`` group by cli.py (``main.add_command``). fastapi, uvicorn and
fhir.resources are imported inside the commands, so ``ktriage`` works without them.
"""

from __future__ import annotations

import json
from typing import Any

import click

from . import InvalidReport, RulePackError
from .cli_pack import (
    Problem,
    fhir_module,
    fhir_reading_options,
    load_rule_pack,
    missing,
    rules_path,
    since_utc,
    skipped_line,
)
from .history.base import StoreError

_SERVER_MODULES = {"fastapi", "uvicorn", "starlette", "anyio", "h11"}
_NO_FHIR = "FHIR support needs the fhir extra: pip install 'ktriage[fhir]'"


def _serve(
    rules: str | None,
    host: str,
    port: int,
    access_log: bool,
    *,
    cds_origins: tuple[str, ...],
    cds_jwks: str | None,
    cds_issuers: tuple[str, ...],
    **limits: Any,
) -> None:
    try:
        from .server import run
        from .server.cds_access import JwtUnavailable
    except ImportError as exc:
        if missing(exc, _SERVER_MODULES):
            raise Problem(
                "the HTTP service needs the server extra: pip install 'ktriage[server]'"
            ) from None
        raise
    try:
        run(
            host=host,
            port=port,
            rules=rules,
            access_log=access_log,
            cds_origins=cds_origins or ("*",),
            cds_jwks=cds_jwks,
            cds_issuers=cds_issuers,
            **limits,
        )
    except RulePackError as exc:
        raise Problem(f"cannot start: {exc}") from None
    except StoreError as exc:
        raise Problem(f"--history: {exc}") from None
    except JwtUnavailable as exc:
        raise Problem(str(exc)) from None
    except (OSError, ValueError) as exc:  # the JWKS file cannot be read or is not JSON
        raise Problem(f"--cds-jwks: cannot read {cds_jwks}: {exc}") from None


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


def _cds_options(fn: Any) -> Any:
    fn = click.option(
        "--cds-issuer",
        "cds_issuers",
        multiple=True,
        metavar="ISS",
        help="With --cds-jwks: a CDS client (JWT iss) allowed to call (repeatable;"
        " default: any client whose key is in the JWKS).",
    )(fn)
    fn = click.option(
        "--cds-jwks",
        metavar="URL|FILE",
        help="Verify the JWT CDS clients sign each call with, against this JWKS"
        " (needs ktriage[cds-jwt]). Default: off.",
    )(fn)
    return click.option(
        "--cds-cors-origin",
        "cds_origins",
        multiple=True,
        metavar="ORIGIN",
        help="An origin browser CDS clients may call from (repeatable; default: any).",
    )(fn)


def _limits(func: Any) -> Any:
    options = [
        click.option(
            "--docs/--no-docs",
            default=False,
            show_default=True,
            help="Serve the Swagger UI at /docs (it loads its script from a CDN).",
        ),
        click.option(
            "--header-timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            help="Seconds a client has to send its whole request head.",
        ),
        click.option(
            "--body-timeout",
            type=click.FloatRange(min=0.1),
            default=30.0,
            show_default=True,
            help="Seconds a client has to send its whole request body (else 408).",
        ),
        click.option(
            "--history",
            metavar="PATH|URL",
            envvar="KTRIAGE_HISTORY",
            help="The check-in store behind /v1/patients/{id}/check-ins: an SQLite file or a"
            " postgresql:// URL (default: $KTRIAGE_HISTORY; without one those routes say 404).",
        ),
        click.option(
            "--max-connections",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="Open connections at most (lowered to fit the open-file limit).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command()
@_host
@_port
@_access
@_cds_options
@_limits
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, access_log: bool, **options: Any) -> None:
    """Serve the triage API over HTTP (needs ktriage[server]).

    Example: ktriage serve --host 127.0.0.1 --port 8000
    """
    _serve(rules_path(ctx), host, port, access_log, **options)


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
@_cds_options
@_limits
def serve_main(rules: str | None, host: str, port: int, access_log: bool, **options: Any) -> None:
    """Serve the triage API over HTTP (python -m ktriage.server)."""
    _serve(rules, host, port, access_log, **options)


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
@fhir_reading_options
@click.pass_context
def report(ctx: click.Context, file: Any, since: Any, strict: bool) -> None:
    """Print the Report read from a FHIR Bundle, Observation or QuestionnaireResponse.

    Example: ktriage fhir report bundle.json
    """
    module = fhir_module(_NO_FHIR)
    try:
        reading = module.read_fhir(
            file.read(), load_rule_pack(ctx), strict=strict, since=since_utc(since)
        )
    except InvalidReport as exc:
        raise Problem("; ".join(str(e) for e in exc.errors)) from None
    if reading.skipped:
        click.echo(skipped_line(reading.skipped), err=True)
    out = reading.report.model_dump(mode="json", exclude_defaults=True)
    click.echo(json.dumps(out, indent=2, ensure_ascii=False))
