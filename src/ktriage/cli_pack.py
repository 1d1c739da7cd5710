"""What every CLI command shares: the rule pack it runs on, the optional extras it may
need, and the one-line error with exit code 2.

Its own module so that cli.py and cli_service.py both use it: cli_service.py is also the
entry point of ``python -m ktriage.server`` and cannot import cli.py at its top.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import IO, Any

import click

from .engine.errors import RulePackError
from .engine.pack import RulePack, load_pack

EXIT_USAGE = 2
SKIPPED_SHOWN = 5  # skipped items named on the one stderr line; --format json lists all
_FHIR_MODULES = {"fhir", "fhir_core"}


class Problem(click.ClickException):
    """Bad input of any kind: printed as ``error: <message>``, exit 2."""

    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def rules_path(ctx: click.Context) -> str | None:
    """The pack folder given with ``--rules`` or ``KTRIAGE_RULES``; None: the shipped one."""
    return ctx.find_root().params.get("rules") or os.environ.get("KTRIAGE_RULES") or None


def pack_problem(ctx: click.Context, message: str, path: str | None = None) -> str:
    """A pack error's message, naming KTRIAGE_RULES when the folder came from it."""
    if path is not None:
        return message
    root = ctx.find_root()
    from_env = root.get_parameter_source("rules") is click.core.ParameterSource.ENVIRONMENT or (
        root.params.get("rules") is None and os.environ.get("KTRIAGE_RULES")
    )
    return f"KTRIAGE_RULES: {message}" if from_env else message


def load_rule_pack(ctx: click.Context) -> RulePack:
    try:
        return load_pack(rules_path(ctx))
    except RulePackError as exc:
        raise Problem(pack_problem(ctx, str(exc))) from None


def missing(exc: ImportError, modules: set[str]) -> bool:
    """Whether ``exc`` says that one of ``modules`` (top-level names) is not installed."""
    return (exc.name or "").split(".")[0] in modules


def fhir_module(message: str) -> Any:
    """``ktriage.fhir``, or a Problem saying ``message`` when the fhir extra is missing."""
    try:
        return importlib.import_module(f"{__package__}.fhir")
    except ImportError as exc:
        # fhir.resources is missing, or ktriage.fhir itself
        if missing(exc, _FHIR_MODULES) or exc.name == f"{__package__}.fhir":
            raise Problem(message) from None
        raise


def fhir_reading_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--since`` and ``--strict``: how a FHIR record is read (shared by the commands)."""
    fn = click.option(
        "--strict",
        is_flag=True,
        help="FHIR: refuse resources, codes and values ktriage cannot read instead of"
        " skipping and listing them.",
    )(fn)
    return click.option(
        "--since",
        type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
        metavar="DATE",
        help="FHIR: grade values measured on or after DATE (UTC), instead of each"
        " measurement's default window (docs/service.md).",
    )(fn)


def since_utc(since: datetime | None) -> datetime | None:
    return since.replace(tzinfo=UTC) if since is not None else None


def skipped_line(skipped: Sequence[Any]) -> str:
    """What was skipped, on one line: ``skipped 2: entry.8 Observation ...: why; ...``."""
    shown = "; ".join(f"{s.where} {s.what}: {s.why}" for s in skipped[:SKIPPED_SHOWN])
    more = len(skipped) - SKIPPED_SHOWN
    tail = f"; … (+{more} more: --format json lists all)" if more > 0 else ""
    return f"skipped {len(skipped)}: {shown}{tail}"
