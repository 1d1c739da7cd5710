"""The ``ktriage`` command: parse, call the library, render. No triage logic lives here.

Conventions: JSON and results to stdout, diagnostics and prompts to stderr. Exit codes:
0 ok, 1 some batch lines (or rule examples) failed, 2 bad input or usage, 3 ``--fail-on``
reached, 4 ``check --fhir`` found no usable data in the record, 130 intake interrupted.
Every error is one line, ``error: <field>: <problem>``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import IO, Any, NoReturn, TextIO

import click

from . import Engine, InvalidReport, KtriageError, Report, Result, RulePackError
from .cli_history import history as history_group
from .cli_history import history_option, open_history
from .cli_pack import (
    EXIT_USAGE,
    Problem,
    fhir_module,
    fhir_reading_options,
    load_rule_pack,
    pack_problem,
    rules_path,
    since_utc,
    skipped_line,
)
from .engine.models import Escalation
from .engine.pack import load_pack

EXIT_OK, EXIT_BATCH_ERRORS, EXIT_FAIL_ON, EXIT_NO_DATA = 0, 1, 3, 4
EXIT_INTERRUPTED = 130
MAX_ERRORS_SHOWN = 10
LEVELS = [level.value for level in Escalation]


# -- errors: always one line on stderr -----------------------------------------------------


class _UsageProblem(click.UsageError):
    exit_code = EXIT_USAGE

    def show(self, file: IO[Any] | None = None) -> None:
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"error: {self.format_message()}{hint}", err=True)


def _one_line(exc: click.ClickException) -> click.ClickException:
    # click's own usage errors print usage, a hint and the error on three lines; ours are one.
    # A file that cannot be opened is bad input too (click would exit 1).
    if isinstance(exc, Problem | _UsageProblem | click.exceptions.NoArgsIsHelpError):
        return exc
    if isinstance(exc, click.UsageError | click.FileError):
        # click lists choices one per line ("Choose from:\n\treport,\n\tresult"): one line
        message = " ".join(exc.format_message().split())
        return _UsageProblem(message, ctx=getattr(exc, "ctx", None))
    return exc


class _Group(click.Group):
    """Turns every usage error below it into one line, for commands registered from
    other modules too (they parse their arguments inside ``invoke``)."""

    group_class = type  # subgroups are _Group too

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            raise _one_line(exc) from None


def _invalid(exc: InvalidReport, source: str | None = None) -> NoReturn:
    # A problem with the whole input (no field) is named after the option that gave it.
    parts = [str(e) if e.field or not source else f"{source}: {e.message}" for e in exc.errors]
    more = exc.error_count - len(exc.errors)  # problems the library counted, not kept
    if len(parts) > MAX_ERRORS_SHOWN:  # a whole EHR record refused with --strict
        more += len(parts) - MAX_ERRORS_SHOWN
        parts = parts[:MAX_ERRORS_SHOWN]
    if more > 0:
        parts.append(f"… (+{more} more)")
    raise Problem("; ".join(parts) or str(exc))


# -- loading the pack ----------------------------------------------------------------------


def _engine(ctx: click.Context, path: str | None = None) -> Engine:
    try:
        return Engine.load(path or rules_path(ctx))
    except KtriageError as exc:  # RulePackError, or EngineFailure from durable_rules
        raise Problem(pack_problem(ctx, str(exc), path)) from None


def _complete_rule_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    try:
        pack = load_pack(rules_path(ctx))
    except KtriageError:
        return []
    return [r.id for r in pack.rules if r.id.startswith(incomplete)]


# -- the group -----------------------------------------------------------------------------


@click.group(
    cls=_Group,
    invoke_without_command=True,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--rules",
    envvar="KTRIAGE_RULES",
    type=click.Path(file_okay=False),
    help="Rule pack folder to use instead of the shipped one (env: KTRIAGE_RULES).",
)
@click.option("--version", is_flag=True, help="Show the package and rule-pack versions.")
@click.pass_context
def main(ctx: click.Context, rules: str | None, version: bool) -> None:
    """Triage side effects reported during ketamine or esketamine treatment.

    \b
    Examples:
      ktriage check --symptom tired:moderate:3
      ktriage intake
      ktriage batch reports.jsonl -o results.jsonl
      ktriage --rules ./my-pack rules test --coverage

    Shell completion (bash): eval "$(_KTRIAGE_COMPLETE=bash_source ktriage)"
    """
    if version:
        from . import __version__  # importlib.metadata is slow to import: only on demand

        click.echo(f"ktriage {__version__}")
        pack = load_rule_pack(ctx)
        click.echo(f"rule pack {pack.name} {pack.version} (sha256 {pack.sha256[:12]})")
        ctx.exit(EXIT_OK)
    if ctx.invoked_subcommand is None:
        raise _UsageProblem("missing command", ctx=ctx)


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format: text for people, json for programs.",
    )(fn)


def result_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """How much of a result to show: --format, --full, --quiet, --explain."""
    fn = click.option(
        "--explain", is_flag=True, help="Also show the facts read and every rule matched."
    )(fn)
    fn = click.option("-q", "--quiet", is_flag=True, help="Print only the level (for scripts).")(fn)
    fn = click.option(
        "--full",
        is_flag=True,
        help="Text: every item's guidance, why each rule fired and its sources.",
    )(fn)
    return format_option(fn)


class Shown:
    """The choice of --format, --full, --quiet and --explain, checked once."""

    def __init__(self, fmt: str, full: bool, quiet: bool, explain: bool) -> None:
        if quiet and (fmt == "json" or full or explain):
            other = "--format json" if fmt == "json" else "--full" if full else "--explain"
            raise _UsageProblem(f"--quiet prints only the level: give it without {other}")
        self.fmt, self.full, self.quiet, self.explain = fmt, full, quiet, explain


def _show_result(result: Result, report: Report | None, engine: Engine, shown: Shown) -> None:
    from . import render

    if shown.quiet:
        click.echo(result.escalation.value)
        return
    explanation = (
        render.explain(engine.pack, report, result, engine.reader)
        if shown.explain and report
        else None
    )
    if shown.fmt == "json":
        click.echo(render.result_json(result, explanation))
    else:
        render.print_result(
            result,
            explanation,
            file=sys.stdout,
            suggest=engine.pack.vocabulary.suggest,
            full=shown.full,
        )


# -- check ---------------------------------------------------------------------------------


@main.command()
@click.option(
    "--input",
    "input_file",
    type=click.File("rb"),
    help="A Report as JSON ('-' reads standard input).",
)
@click.option(
    "--fhir",
    "fhir_file",
    type=click.File("rb"),
    help="A FHIR Bundle, Observation or QuestionnaireResponse as JSON (needs ktriage[fhir]).",
)
@click.option(
    "--symptom",
    "symptoms",
    multiple=True,
    metavar="NAME[:SEVERITY[:DAYS]]",
    help="A reported symptom; lay words work (repeatable).",
)
@click.option("--weight", metavar="KG", help="Weight now: kg, or with a unit (176lb, 12st 4lb).")
@click.option("--baseline-weight", metavar="KG", help="Weight before treatment (kg, lb, st).")
@click.option("--bp", metavar="SYS/DIA", help="Blood pressure, e.g. 150/95.")
@click.option("--heart-rate", type=float, metavar="BPM", help="Heart rate, beats per minute.")
@click.option("--respiratory-rate", type=float, metavar="PER_MIN", help="Breaths per minute.")
@click.option("--spo2", type=float, metavar="PCT", help="Oxygen saturation, %.")
@click.option("--temperature", type=float, metavar="C", help="Body temperature, °C.")
@click.option(
    "--glucose", metavar="MG_DL", help="Fasting glucose: mg/dL, or with a unit (5.5mmol/L)."
)
@click.option(
    "--route", metavar="ROUTE", help="iv, nasal_spray, intramuscular, oral, ... or spray, IV drip"
)
@click.option("--hours-since-dose", type=float, metavar="H", help="Hours since the last dose.")
@click.option("--age", type=float, metavar="YEARS", help="The patient's age in years.")
@click.option("--patient-id", help="The patient's identifier, copied to the result.")
@fhir_reading_options
@result_options
@click.option(
    "--fail-on",
    type=click.Choice(LEVELS, case_sensitive=False),
    help="Exit 3 when the level is at or above this one (for scripts).",
)
@history_option
@click.pass_context
def check(
    ctx: click.Context,
    input_file: IO[bytes] | None,
    fhir_file: IO[bytes] | None,
    since: Any,
    strict: bool,
    fmt: str,
    full: bool,
    quiet: bool,
    explain: bool,
    fail_on: str | None,
    history: str | None,
    **flags: Any,
) -> None:
    """Triage one report, from flags or JSON.

    \b
    Examples:
      ktriage check --symptom "no energy:moderate:3" --symptom "ups and downs"
      ktriage check --weight 92 --baseline-weight 80 --bp 150/95 --explain
      echo '{"symptoms": [{"name": "tired"}]}' | ktriage check --input - --format json
      ktriage check --input report.json --fail-on urgent || page-the-clinic
      ktriage check --fhir patient-bundle.json --since 2026-11-01
    """
    shown = Shown(fmt, full, quiet, explain)
    given = {k: v for k, v in flags.items() if v not in (None, ())}
    sources = [name for name, f in (("--input", input_file), ("--fhir", fhir_file)) if f]
    if len(sources) + bool(given) > 1:
        named = sources + (["flags"] if given else [])
        raise _UsageProblem(f"give one of --input, --fhir or flags, not {' and '.join(named)}")
    if not sources and not given.keys() - {"patient_id"}:
        raise _UsageProblem(
            "nothing to triage: give --input FILE, --fhir FILE, or --symptom and measurements",
            ctx=ctx,
        )
    if fhir_file is None and (since is not None or strict):
        raise _UsageProblem("--since and --strict read a FHIR record: give --fhir FILE")
    engine = _engine(ctx)
    usable = True
    try:
        if input_file is not None:
            from .engine.intake import parse_report

            report = parse_report(input_file.read())
            result = _evaluate(ctx, engine, report, history)
        elif fhir_file is not None:
            fhir = fhir_module(
                "--fhir: reading FHIR needs the fhir extra: pip install 'ktriage[fhir]'"
            )
            done = fhir.triage_fhir(engine, fhir_file.read(), strict=strict, since=since_utc(since))
            report, result, usable = done.reading.report, done.result, done.usable
        else:
            from .interview import report_from_options

            notes: list[str] = []
            report = report_from_options(**given, notes=notes)
            for note in notes:
                click.echo(f"note: --symptom {note}", err=True)
            result = _evaluate(ctx, engine, report, history)
    except InvalidReport as exc:
        _invalid(exc, "--input" if input_file else "--fhir" if fhir_file else None)
    except KtriageError as exc:
        raise Problem(str(exc)) from None
    if result.skipped:
        click.echo(skipped_line(result.skipped), err=True)
    if not usable:  # never an all clear: nothing in the record was graded
        if fmt == "json":
            _show_result(result, report, engine, shown)
        elif not quiet:
            click.echo(f"NO USABLE DATA: {result.summary.removeprefix('No usable data: ')}")
            click.echo("This is not an all clear: check the skipped items in the record.")
        ctx.exit(EXIT_NO_DATA)
    _show_result(result, report, engine, shown)
    if fail_on is not None and result.escalation.rank >= Escalation(fail_on.lower()).rank:
        ctx.exit(EXIT_FAIL_ON)


def _evaluate(ctx: click.Context, engine: Engine, report: Report, history: str | None) -> Result:
    """Triage ``report``; with a store and a patient_id, with the patient's earlier
    check-ins, recording this one."""
    if not history:
        return engine.evaluate(report)
    if report.patient_id is None:
        if ctx.get_parameter_source("history") is click.core.ParameterSource.COMMANDLINE:
            click.echo(
                "--history: the report has no patient_id; nothing read or recorded", err=True
            )
        return engine.evaluate(report)
    with open_history(history) as store:
        return store.check_in(engine, report)


# -- intake --------------------------------------------------------------------------------


@main.command()
@click.option("--patient-id", help="The patient's identifier, copied to the report.")
@click.option(
    "--save",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the report as JSON to this file, for the record.",
)
@result_options
@click.pass_context
def intake(
    ctx: click.Context,
    patient_id: str | None,
    save: str | None,
    fmt: str,
    full: bool,
    quiet: bool,
    explain: bool,
) -> None:
    """Guided interview for staff on the phone; red-flag questions come first.

    A yes to a red-flag question ends the interview with the emergency advice at once.
    Then symptoms in the caller's words, how bad, for how long, and optional measurements
    and treatment. Questions go to stderr, the result to stdout. Ctrl-C stops without
    saving anything (exit 130).

    \b
    Examples:
      ktriage intake --patient-id P-0042 --save call-0042.json
      printf 'n\\nn\\nn\\nn\\nn\\nn\\ntired\\nmild\\n2\\n\\nn\\nn\\n' | ktriage intake --format json
    """
    from .engine.intake import parse_report
    from .interview import Interview

    shown = Shown(fmt, full, quiet, explain)
    engine = _engine(ctx)
    if patient_id is not None:
        # check it now: a red-flag answer must never end in an error about the id
        try:
            parse_report({"patient_id": patient_id})
        except InvalidReport as exc:
            raise Problem(f"--patient-id: {exc.errors[0].message}") from None
    conversation = Interview(engine.reader, patient_id=patient_id).run()
    try:
        question = next(conversation)
        while True:
            if question.note:
                click.echo(f"  ({question.note})", err=True)
            if question.problem:
                click.echo(f"  {question.problem}", err=True)
            answer = click.prompt(
                question.text, default="", show_default=False, prompt_suffix=" ", err=True
            )
            question = conversation.send(answer)
    except StopIteration as done:
        outcome = done.value
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("\nIntake stopped; nothing was saved.", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    except InvalidReport as exc:  # answers are checked as they come; this is a backstop
        _invalid(exc, None)
    if outcome.ended_early:
        click.echo("Red flag reported: ending the interview now.", err=True)
    result = engine.evaluate(outcome.report)
    _show_result(result, outcome.report, engine, shown)
    if save is not None:
        from .render import report_dict

        text = json.dumps(report_dict(outcome.report), indent=2, ensure_ascii=False)
        try:
            with open(save, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            raise Problem(f"--save: cannot write {save}: {exc.strerror}") from None
        click.echo(f"Report saved to {save}", err=True)


# -- batch ---------------------------------------------------------------------------------


@main.command()
@click.argument("source", metavar="IN.jsonl|-", type=click.File("rb"))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Where to write the results, one JSON line each (default: stdout).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes for large inputs (default: one per CPU; 1 = this process only).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Go on from the last whole line of an interrupted run's --output file.",
)
@click.option(
    "--fail-on",
    type=click.Choice(LEVELS, case_sensitive=False),
    help="Exit 3 when some line's level is at or above this one (for scripts).",
)
@history_option
@click.option(
    "--dask",
    "dask_address",
    metavar="local|tcp://HOST:8786",
    help="Triage on a Dask cluster: 'local' starts one on this machine (ktriage[dask]).",
)
@click.pass_context
def batch(
    ctx: click.Context,
    source: IO[bytes],
    output: str,
    workers: int | None,
    resume: bool,
    fail_on: str | None,
    history: str | None,
    dask_address: str | None,
) -> None:
    """Triage a JSON Lines file: one Result per input line, in order.

    Every output record carries "line": N, the input line it answers. A line that cannot
    be triaged becomes {"line": N, "error": {...}} in its place and the batch goes on.
    A summary on stderr counts the results by level, emergencies first, then the errors.
    Exit 0 when every line was triaged, 1 when some were errors, 3 when --fail-on is
    reached (it wins over 1).

    \b
    Examples:
      ktriage batch reports.jsonl -o results.jsonl
      ktriage batch reports.jsonl -o results.jsonl --resume
      cat reports.jsonl | ktriage batch - | jq -c 'select(.error)'
      ktriage batch reports.jsonl -o results.jsonl --dask tcp://scheduler:8786
    """
    from .batch import ResumeError, read_lines, resume_point, run_batch, summary_line

    if resume and output == "-":
        raise click.UsageError("--resume needs --output FILE (the file to go on with)")
    engine = _engine(ctx)
    # each line with a patient_id is triaged with, and recorded in, the store; its output
    # line is written once its transaction has committed
    if history and dask_address:
        raise click.UsageError(
            "--dask and --history do not go together: a check-in store records each line"
            " in order, in this process"
        )
    store = open_history(history) if history else None
    done_before = errors_before = 0
    levels_before: tuple[int, ...] = (0,) * len(LEVELS)
    fd: int | None = None
    if output == "-":
        sys.stdout.flush()
        # the process's own standard output; otherwise (captured output) click's stream
        fd = sys.__stdout__.fileno() if sys.stdout is sys.__stdout__ else None
    else:
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | (0 if resume else os.O_TRUNC), 0o666)
            if resume:
                with open(output, "rb") as existing:
                    point = resume_point(existing, output)
                os.ftruncate(fd, point.keep_bytes)  # drops a torn last line
                os.lseek(fd, point.keep_bytes, os.SEEK_SET)
                done_before, errors_before = point.lines, point.errors
                levels_before = point.levels
        except OSError as exc:
            raise Problem(f"--output: cannot write {output}: {exc.strerror}") from None
        except ResumeError as exc:
            raise Problem(str(exc)) from None
    lines = read_lines(source)
    for _ in zip(range(done_before), lines, strict=False):
        pass  # answered by the earlier run

    seen = [done_before]  # lines written
    # Ctrl-C and SIGTERM ask the batch to stop; it stops after the chunk being written, so
    # every line is whole and "stopped after line N" names the last line really written.
    # The handler only takes note: raised from the handler, the interrupt would land
    # wherever the main thread happens to be (between a write and its count, or inside
    # pydantic, which turns it into a serialisation error). A second one stops at once
    # (a batch waiting for input on a terminal has no chunk to finish).
    stopping = [False]

    def write(text: str) -> None:
        if fd is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            data = memoryview(text.encode("utf-8"))
            while data:  # whole chunks of whole lines, straight to the file
                data = data[os.write(fd, data) :]
        seen[0] += text.count("\n")
        if stopping[0]:
            raise KeyboardInterrupt

    def stop(signum: int, frame: Any) -> None:
        if stopping[0]:
            raise KeyboardInterrupt
        stopping[0] = True

    stderr = sys.stderr
    progress, done = _progress(source, stderr)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def count(chunk: Any) -> None:
        if progress is not None:
            progress(chunk)

    client = _dask(dask_address) if dask_address else None
    try:
        stats = run_batch(
            lines,
            engine,
            write,
            workers=workers,
            progress=count,
            first_line=done_before + 1,
            store=store,
            dask=client,
        )
    except KeyboardInterrupt:
        done()
        click.echo(
            f"\nBatch stopped after line {seen[0]}; every line written is whole."
            + (" Run it again with --resume to go on." if output != "-" else ""),
            err=True,
        )
        ctx.exit(EXIT_INTERRUPTED)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if output != "-" and fd is not None:
            os.close(fd)
        if store is not None:
            store.close()
        if client is not None:
            from .parallel import close_dask

            close_dask(client)
    done()
    total, errors = done_before + stats.lines, errors_before + stats.errors
    levels = [a + b for a, b in zip(levels_before, stats.levels, strict=True)]
    line = summary_line(total, levels, errors, stats.first_error_lines)
    if resume:
        head, _, rest = line.partition(":")
        line = f"{head} (resumed after line {done_before}):{rest}"
    click.echo(line, err=True)
    if fail_on is not None and any(levels[Escalation(fail_on.lower()).rank :]):
        ctx.exit(EXIT_FAIL_ON)
    ctx.exit(EXIT_BATCH_ERRORS if errors else EXIT_OK)


def _dask(address: str) -> Any:
    from .parallel import DaskUnavailable, dask_client

    try:
        return dask_client(address)
    except DaskUnavailable as exc:
        raise Problem(str(exc)) from None


def _progress(source: IO[bytes], stderr: TextIO) -> tuple[Any, Callable[[], None]]:
    from . import render

    if not render.is_terminal(stderr):
        return None, lambda: None
    try:
        size = os.fstat(source.fileno()).st_size if source.seekable() else 0
    except (OSError, ValueError):
        size = 0
    if size:
        bar = click.progressbar(length=size, label="triage", file=stderr)
        bar.__enter__()
        return (lambda chunk: bar.update(chunk.size)), (lambda: bar.__exit__(None, None, None))
    seen = [0]

    def count(chunk: Any) -> None:
        seen[0] += chunk.lines
        stderr.write(f"\rtriaged {seen[0]} lines")
        stderr.flush()

    def finish() -> None:
        stderr.write("\n" if seen[0] else "")

    return count, finish


# -- rules ---------------------------------------------------------------------------------


@main.group(cls=_Group)
def rules() -> None:
    """Browse, validate and test a rule pack.

    \b
    Examples:
      ktriage rules list
      ktriage rules validate ./my-pack
      ktriage rules test --coverage
    """


@rules.command("list")
@format_option
@click.pass_context
def rules_list(ctx: click.Context, fmt: str) -> None:
    """List the pack's rules: id, level and title.

    \b
    Example:
      ktriage rules list --format json
    """
    from . import render

    pack = load_rule_pack(ctx)
    if fmt == "json":
        data = [
            {"id": r.id, "escalation": r.escalation.value, "red_flag": r.red_flag, "title": r.title}
            for r in pack.rules
        ]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(render.rules_table(pack))


@rules.command("show")
@click.argument("rule_id", metavar="ID", shell_complete=_complete_rule_id)
@format_option
@click.pass_context
def rules_show(ctx: click.Context, rule_id: str, fmt: str) -> None:
    """Show one rule: when it fires, its advice, sources and examples.

    \b
    Example:
      ktriage rules show fatigue.persistent
    """
    from . import render
    from .engine.intake import suggest

    pack = load_rule_pack(ctx)
    try:
        rule = pack.rule(rule_id)
    except KeyError:
        hint = suggest(rule_id, [r.id for r in pack.rules])
        raise Problem(
            f"no rule {rule_id!r} in {pack.name}" + (f" (did you mean {hint!r}?)" if hint else "")
        ) from None
    if fmt == "json":
        click.echo(json.dumps(render.rule_dict(rule, pack), indent=2, ensure_ascii=False))
    else:
        click.echo(render.rule_text(rule, pack))


@rules.command("validate")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.pass_context
def rules_validate(ctx: click.Context, path: str | None) -> None:
    """Load and check a rule-pack folder, and run its worked examples.

    Reports every problem in the rule files (one line each, with file:line), or every
    failing example. Exit 0 when the pack is valid and every example passes, 2 otherwise.

    \b
    Example:
      ktriage rules validate ./my-pack
    """
    try:
        engine = Engine.load(path or rules_path(ctx))
    except RulePackError as exc:  # every problem in the rule files, one line each
        for problem in exc.problems[:-1]:
            click.echo(f"error: {pack_problem(ctx, str(problem), path)}", err=True)
        raise Problem(pack_problem(ctx, str(exc.problems[-1]), path)) from None
    except KtriageError as exc:
        raise Problem(pack_problem(ctx, str(exc), path)) from None
    pack = engine.pack
    examples = sum(len(r.examples) for r in pack.rules)
    failed = [o for o in engine.run_examples() if not o.passed]
    failed_readings = [o for o in engine.run_reading_examples() if not o.passed]
    if failed or failed_readings:
        for line in [o.describe() for o in failed] + [o.describe() for o in failed_readings]:
            click.echo(f"FAIL {line}")
        raise Problem(
            f"{pack.name} {pack.version} loads, but {len(failed) + len(failed_readings)}"
            " worked example(s) fail; see above (`ktriage rules test` runs them alone)"
        )
    click.echo(
        f"ok: {pack.name} {pack.version}: {len(pack.rules)} rules, "
        f"{len(pack.vocabulary.terms)} symptoms, {len(pack.sources)} sources, "
        f"{examples} examples (all run and pass)"
    )
    from .engine.compiler import nearest_limits

    nearest = nearest_limits(engine.limits_used)
    click.echo(
        "nearest durable_rules limits: "
        + "; ".join(f"{used} of {allowed} {words}" for words, used, allowed in nearest)
    )


@rules.command("diff")
@click.argument("old_pack", metavar="OLD", type=click.Path(file_okay=False))
@click.argument("new_pack", metavar="NEW", type=click.Path(file_okay=False))
@click.option(
    "--input",
    "input_path",
    required=True,
    metavar="FILE.jsonl|FILE.parquet",
    help="The reports to triage with both packs: JSON Lines, or Parquet (one row each).",
)
@format_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes beside this one (default: one per CPU; 1 = this process only).",
)
@click.option(
    "--dask",
    "dask_address",
    metavar="local|tcp://HOST:8786",
    help="Compare on a Dask cluster: 'local' starts one on this machine (ktriage[dask]).",
)
@click.pass_context
def rules_diff(
    ctx: click.Context,
    old_pack: str,
    new_pack: str,
    input_path: str,
    fmt: str,
    workers: int | None,
    dask_address: str | None,
) -> None:
    """What changing pack OLD into NEW does to real reports: triage every input line with
    both and count level changes, lowered lines and how often each rule fires.

    Exit 0 when every line was triaged, 1 when some lines were errors (listed), 2 when
    a pack does not load or the input cannot be read.

    \b
    Examples:
      ktriage rules diff ./pack-v1 ./pack-v2 --input checkins.jsonl
      ktriage rules diff ./pack-v1 ./pack-v2 --input checkins.parquet --format json
      ktriage rules diff ./pack-v1 ./pack-v2 --input checkins.jsonl --dask tcp://sched:8786
    """
    from . import diff as diff_module
    from .batch import CHUNK_LINES
    from .parallel import Job, adopt, run_dask, run_local

    old = _engine(ctx, old_pack)
    new = _engine(ctx, new_pack)
    if not os.path.exists(input_path):
        raise Problem(f"--input: no such file: {input_path}")
    chunks = diff_module.read_input(input_path, CHUNK_LINES)
    job = Job("diff", (old.pack.root, new.pack.root))
    adopt(old.pack.root, old)
    adopt(new.pack.root, new)
    stderr = sys.stderr
    progress, done = _diff_progress(stderr)
    client = _dask(dask_address) if dask_address else None
    try:
        parts = (
            run_dask(job, chunks, client) if client is not None else run_local(job, chunks, workers)
        )
        result = diff_module.merge(parts, progress)
    except diff_module.InputError as exc:
        done()
        raise Problem(str(exc)) from None
    finally:
        if client is not None:
            from .parallel import close_dask

            close_dask(client)
    done()
    if fmt == "json":
        click.echo(json.dumps(result.report(), ensure_ascii=False))
    else:
        click.echo(diff_module.render_text(result, old, new))
    ctx.exit(EXIT_BATCH_ERRORS if result.error_count else EXIT_OK)


def _diff_progress(stderr: TextIO) -> tuple[Any, Callable[[], None]]:
    from . import render

    if not render.is_terminal(stderr):
        return None, lambda: None
    seen = [0]

    def count(part: Any) -> None:
        seen[0] += part.lines
        stderr.write(f"\rcompared {seen[0]:,} lines")
        stderr.flush()

    def finish() -> None:
        stderr.write("\n" if seen[0] else "")

    return count, finish


@rules.command("test")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--coverage", is_flag=True, help="Also list rules no example fires.")
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    help="Fail when fewer than this % of rules fire in some example (implies --coverage;"
    " default 100).",
)
@click.pass_context
def rules_test(
    ctx: click.Context, path: str | None, coverage: bool, min_coverage: float | None
) -> None:
    """Run every rule's worked examples; exit 1 if any fails.

    \b
    Examples:
      ktriage rules test src/ktriage/rules
      ktriage rules test --coverage --min-coverage 90
    """
    engine = _engine(ctx, path)
    outcomes = engine.run_examples()
    readings = engine.run_reading_examples()
    failed = [o for o in outcomes if not o.passed]
    failed_readings = [o for o in readings if not o.passed]
    for outcome in failed:
        click.echo(f"FAIL {outcome.describe()}")
    for reading in failed_readings:
        click.echo(f"FAIL {reading.describe()}")
    if readings:
        click.echo(
            f"reader: {len(readings) - len(failed_readings)} passed, {len(failed_readings)} failed"
        )
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    code = 1 if failed or failed_readings else 0
    if coverage or min_coverage is not None:
        from .coverage import example_coverage

        floor = 100.0 if min_coverage is None else min_coverage
        cov = example_coverage(engine.pack, outcomes)
        for rule in cov.never_fired:
            click.echo(f"never fired: {rule.id} ({rule.file}:{rule.line})")
        click.echo(
            f"coverage: {cov.fired} of {cov.rules} rules fired by an example ({cov.percent:.1f} %)"
        )
        if cov.percent < floor:
            click.echo(f"coverage {cov.percent:.1f} % is below the minimum {floor:g} %")
            code = 1
    ctx.exit(code)


@rules.command("docs")
@click.pass_context
def rules_docs(ctx: click.Context) -> None:
    """Print the pack's catalogue as Markdown: every rule, its level, advice and sources.

    \b
    Example:
      ktriage rules docs > docs/catalogue.md
    """
    try:
        from .engine.catalogue import render_catalogue
    except ImportError:
        raise Problem("the rule catalogue is not available in this version of ktriage") from None
    click.echo(render_catalogue(load_rule_pack(ctx)), nl=False)


# -- read ----------------------------------------------------------------------------------


@main.command("read")
@click.argument("text", nargs=-1, required=True)
@format_option
@click.pass_context
def read_text(ctx: click.Context, text: tuple[str, ...], fmt: str) -> None:
    """Show how a line of free text is read into symptoms.

    \b
    Examples:
      ktriage read "tierd and dizzy, no chest pain"
      ktriage read --format json "pt c/o SOB"
    """
    from . import render

    engine = _engine(ctx)
    try:
        reading = engine.read(" ".join(text))
    except InvalidReport as exc:
        _invalid(exc)
    if fmt == "json":
        click.echo(json.dumps(reading.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    line = render.reading_text(reading, engine.pack.vocabulary.suggest)
    if line is None and reading.symptoms:  # one plain symptom
        line = f"Read {reading.text!r}: {reading.symptoms[0].label.lower()}"
    elif line is None:  # nothing read: the whole text is unrecognised
        hint = engine.pack.vocabulary.suggest(reading.text)
        line = f"Read {reading.text!r}: not read" + (f" (did you mean {hint!r}?)" if hint else "")
    click.echo(line)


# -- schema --------------------------------------------------------------------------------


@main.command()
@click.argument("which", type=click.Choice(["report", "result"]))
def schema(which: str) -> None:
    """Print the JSON Schema of a Report (input) or a Result (output).

    \b
    Example:
      ktriage schema report > report.schema.json
    """
    model = Report if which == "report" else Result
    click.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


# Server and FHIR-export commands, when that module is installed; it imports its heavy
# dependencies (fastapi) inside the commands, so registering them costs nothing.
main.add_command(history_group)

try:
    from .cli_service import fhir, serve

    main.add_command(serve)
    main.add_command(fhir)
except ImportError:  # pragma: no cover - depends on the other module being present
    pass

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
