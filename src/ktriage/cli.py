"""The ``ktriage`` command: parse, call the library, render. No triage logic lives here."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from . import Engine, InvalidReport, KtriageError, Result, RulePackError
from .engine.models import LEVEL_LABELS

EXIT_OK, EXIT_BATCH_ERRORS, EXIT_USAGE, EXIT_FAIL_ON = 0, 1, 2, 3


class _UsageError(click.UsageError):
    exit_code = EXIT_USAGE


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _engine(rules: str | None) -> Engine:
    try:
        return Engine.load(rules)
    except RulePackError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ktriage")
@click.option(
    "--rules",
    envvar="KTRIAGE_RULES",
    type=click.Path(file_okay=False),
    help="Rule pack folder to use instead of the shipped one (env: KTRIAGE_RULES).",
)
@click.pass_context
def main(ctx: click.Context, rules: str | None) -> None:
    """Triage side effects reported during ketamine or esketamine treatment.

    Example: ktriage check --symptom tired:moderate:3
    """
    ctx.obj = {"rules": rules}


def _parse_symptom(text: str) -> dict[str, Any]:
    name, _, rest = text.partition(":")
    severity, _, days = rest.partition(":")
    if not name.strip():
        raise click.BadParameter(f"{text!r}: a symptom needs a name, e.g. tired:mild:3")
    out: dict[str, Any] = {"name": name.strip()}
    if severity.strip():
        out["severity"] = severity.strip()
    if days.strip():
        try:
            out["days"] = float(days)
        except ValueError:
            raise click.BadParameter(f"{text!r}: days must be a number, got {days!r}") from None
    return out


@main.command()
@click.option(
    "--input",
    "input_file",
    type=click.File("r", encoding="utf-8"),
    help="A Report as JSON ('-' reads standard input).",
)
@click.option(
    "--symptom",
    "symptoms",
    multiple=True,
    metavar="NAME[:SEVERITY[:DAYS]]",
    help="A reported symptom; lay words work (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.pass_context
def check(ctx: click.Context, input_file: Any, symptoms: tuple[str, ...], fmt: str) -> None:
    """Triage one report, from flags or JSON.

    Example: ktriage check --symptom "no energy:moderate:3" --symptom "ups and downs"
    """
    if input_file is not None and symptoms:
        raise _UsageError("give either --input or --symptom, not both")
    if input_file is None and not symptoms:
        raise _UsageError("nothing to triage: give --input FILE or at least one --symptom")
    engine = _engine(ctx.obj["rules"])
    try:
        if input_file is not None:
            report: Any = input_file.read()
        else:
            report = {"symptoms": [_parse_symptom(s) for s in symptoms]}
        result = engine.evaluate(report)
    except click.BadParameter as exc:
        _fail(exc.format_message())
    except InvalidReport as exc:
        _fail("; ".join(str(e) for e in exc.errors))
    except KtriageError as exc:
        _fail(str(exc))
    if fmt == "json":
        click.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(result))


def render_text(result: Result) -> str:
    lines = [f"{result.escalation.value.upper()}: {LEVEL_LABELS[result.escalation]}"]
    if result.unrecognized:
        names = ", ".join(repr(n) for n in result.unrecognized)
        lines.append(f"NOT RECOGNISED (a clinician must read these): {names}")
    for item in result.advice:
        lines.append("")
        lines.append(f"[{item.escalation.value}] {item.title} ({item.rule})")
        lines.append(f"  For the patient: {item.guidance}")
        lines.append(f"  For staff: {item.action}")
        for why in item.because:
            lines.append(f"  Because: {why}")
        lines.append("  Sources: " + "; ".join(s.title for s in item.sources))
    if not result.advice:
        lines.append(result.summary)
    return "\n".join(lines)


@main.group()
def rules() -> None:
    """Browse, validate and test a rule pack.

    Example: ktriage rules test
    """


@rules.command("test")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.pass_context
def rules_test(ctx: click.Context, path: str | None) -> None:
    """Run every rule's worked examples; exit 1 if any fails.

    Example: ktriage rules test src/ktriage/rules
    """
    engine = _engine(path or ctx.obj["rules"])
    outcomes = engine.run_examples()
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        click.echo(f"FAIL {outcome.describe()}")
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)
