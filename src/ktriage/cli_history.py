"""``ktriage history show|export|forget`` and the ``--history`` option of check and batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from .cli_pack import Problem
from .engine.errors import KtriageError
from .history.base import ENV, HistoryStore

HISTORY_HELP = (
    "A check-in store: an SQLite file (created 0600 when missing) or a postgresql:// URL."
    f" With a patient_id, the report is triaged with that patient's earlier check-ins and"
    f" recorded with its result. Default: ${ENV}."
)


def history_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--history", "history", metavar="PATH|URL", envvar=ENV, help=HISTORY_HELP)(
        fn
    )


def open_history(target: str, *, create: bool = True) -> HistoryStore:
    """The store at ``target``, or a one-line error (exit 2)."""
    from .history import open_store

    if not target:
        raise Problem(f"--history: give a store (a file or a postgresql:// URL) or set ${ENV}")
    try:
        return open_store(target, create=create)
    except KtriageError as exc:
        raise Problem(f"--history: {exc}") from None


def _store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--history",
        "history",
        metavar="PATH|URL",
        envvar=ENV,
        required=True,
        help=f"The check-in store (default: ${ENV}).",
    )(fn)


@click.group()
def history() -> None:
    """Read, export or erase the check-ins kept in a --history store.

    \b
    Examples:
      ktriage history show p-17 --history checkins.db
      ktriage history export --history checkins.db > checkins.jsonl
      ktriage history forget p-17 --history checkins.db
    """


@history.command("show")
@click.argument("patient_id")
@_store_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format: text for people, json (a list) for programs.",
)
def history_show(patient_id: str, history: str, fmt: str) -> None:
    """A patient's check-ins, oldest first, each with the level it got.

    Example: ktriage history show p-17 --history checkins.db --format json
    """
    with open_history(history, create=False) as store:
        try:
            records = list(store.records(patient_id))
        except KtriageError as exc:
            raise Problem(f"--history: {exc}") from None
    if fmt == "json":
        click.echo(json.dumps([r.as_json() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo(f"No check-ins for {patient_id}.")
        return
    click.echo(
        f"{len(records)} check-in{'s' * (len(records) != 1)} for {patient_id}, oldest first:"
    )
    for r in records:
        when = r.check_in.reported_at.isoformat().replace("+00:00", "Z")
        click.echo(f"  {when}  {r.escalation.value:<10}  {r.result.get('summary', '')}")


@history.command("export")
@_store_option
def history_export(history: str) -> None:
    """Every stored check-in as JSON Lines, by patient, oldest first.

    Example: ktriage history export --history checkins.db > checkins.jsonl
    """
    with open_history(history, create=False) as store:
        try:
            for r in store.records():
                click.echo(json.dumps(r.as_json(), ensure_ascii=False))
        except KtriageError as exc:
            raise Problem(f"--history: {exc}") from None


@history.command("forget")
@click.argument("patient_id")
@_store_option
def history_forget(patient_id: str, history: str) -> None:
    """Erase every check-in of a patient.

    Example: ktriage history forget p-17 --history checkins.db
    """
    with open_history(history, create=False) as store:
        try:
            count = store.forget(patient_id)
        except KtriageError as exc:
            raise Problem(f"--history: {exc}") from None
    click.echo(f"Erased {count} check-in{'s' * (count != 1)} of {patient_id}.")
