"""The s3logq command line: parse options, call the library, print. Nothing else lives here."""

from __future__ import annotations

import difflib
import errno
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from s3logq import __version__
from s3logq.athena.client import AthenaCancelled, AthenaError
from s3logq.catalog import PARAMETERS, CatalogError, find_analysis, load_catalog
from s3logq.config import ConfigError
from s3logq.engines import ENGINES, Engine, QueryError, get_engine
from s3logq.formats import LOG_TYPES
from s3logq.lake import Lake, LakeError
from s3logq.output import (
    FORMATS,
    TABLE_PREVIEW_ROWS,
    WRITERS,
    OutputError,
    footer,
    format_for,
    write_table,
)
from s3logq.sources import DateRange, SourceError, SourceFile, SourceUnavailable, list_sources
from s3logq.times import check_range, parse_when

if TYPE_CHECKING:  # pyarrow, numpy, duckdb, rich and boto3 are imported by the commands that use them (tests/test_startup.py)
    import pyarrow as pa

    from s3logq.ingest import IngestOptions, IngestReport
    from s3logq.rows import Rows
    from s3logq.sources.s3 import S3Stats

EXIT_FILE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
_EXPECTED_ERRORS = (SourceError, QueryError, CatalogError, OutputError, LakeError, ValueError, OSError, AthenaError,
                    ConfigError)


_USAGE_ERRORS = (SourceError, QueryError, CatalogError, ValueError)


# Runtime failures whose classes derive from a usage error's: a listing that failed (network, credentials,
# access), data that Arrow cannot hold or write (ArrowInvalid is a ValueError).
def _runtime_errors() -> tuple[type[BaseException], ...]:
    """SourceUnavailable, and Arrow's errors once pyarrow is loaded (none can be raised before)."""
    arrow = sys.modules.get("pyarrow")
    return (SourceUnavailable, arrow.ArrowException) if arrow else (SourceUnavailable,)


def _fail_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's expected errors into one line on stderr: exit 2 for usage, 1 otherwise."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AthenaCancelled as error:
            raise _Cancelled(str(error)) from None
        except _EXPECTED_ERRORS as error:
            message = _os_message(error) if isinstance(error, OSError) else str(error)
            usage = isinstance(error, _USAGE_ERRORS) and not isinstance(error, _runtime_errors())
            raise (_UsageFailure if usage else _Failure)(message) from None

    return wrapper


def _os_message(error: OSError) -> str:
    """'PATH: reason': the reason alone ('No such file or directory') does not say which path."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC or "[errno 28]" in reason.lower():  # Arrow's own IO errors carry no errno
        return f"disk full{f' writing {error.filename}' if error.filename else ''}: no space left on the device"
    return f"{error.filename}: {reason}" if error.filename else reason


class _Failure(click.ClickException):
    """An error printed as one line, `error: ...`; exit status 1."""

    exit_code = EXIT_FILE_FAILED

    def format_message(self) -> str:
        return self.message

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Cancelled(_Failure):
    """Ctrl-C stopped an Athena query: `cancelled: query ID`, exit 130."""

    exit_code = EXIT_INTERRUPTED

    def show(self, file: Any = None) -> None:
        erase = "\r\033[K" if sys.stderr.isatty() else ""  # the progress line, if one is showing
        click.echo(erase + self.format_message(), err=True)


class _OneLineUsageGroup(click.Group):
    """click's own usage errors (a bad option value, an unknown command) as one line like every other error,
    `error: ... (see: s3logq CMD --help)`, exit 2, instead of click's usage block."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _lake_first(args))

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


def _lake_first(args: list[str]) -> list[str]:
    """--lake DIR wherever it is on the line, moved before the command, where the group reads it."""
    moved: list[str] = []
    rest: list[str] = []
    at = 0
    while at < len(args):
        arg = args[at]
        if arg == "--":
            rest += args[at:]
            break
        # `--lake s3://...` is not the lake's folder but `athena setup --lake`, a pushed lake: left in place
        if arg == "--lake" and at + 1 < len(args) and not args[at + 1].startswith("s3://"):
            moved += args[at:at + 2]
            at += 2
            continue
        (moved if arg.startswith("--lake=") and not arg.startswith("--lake=s3://") else rest).append(arg)
        at += 1
    return moved + rest


@contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise  # no command at all: the help is the answer
    except click.UsageError as error:
        hint = f" (see: {error.ctx.command_path} --help)" if error.ctx else ""
        raise _UsageFailure(error.format_message() + hint) from None


class When(click.ParamType):
    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_when(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


def output_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--format, --output and the terminal view's --columns/--wide/--vertical, shared by every command that
    prints rows (the view's flags are kept aside for `_emit`, not passed on)."""
    command = click.option("--vertical", "-x", is_flag=True, expose_value=False, callback=_keep_view_flag,
                           help="on the terminal, one block per row with every column whole (as psql's \\x)")(command)
    command = click.option("--wide", is_flag=True, expose_value=False, callback=_keep_view_flag,
                           help="on the terminal, every column and every value whole, however wide")(command)
    command = click.option("--columns", metavar="A,B,...", expose_value=False, callback=_keep_view_flag,
                           help="only these columns, in this order (every format)")(command)
    command = click.option("--output", "-o", "output", metavar="PATH",
                           help="write to a file or s3:// URI instead of the terminal (- for standard output)")(command)
    return click.option("--format", "-f", "fmt", type=click.Choice(FORMATS),
                        help="table (default on a terminal), csv, json or parquet; "
                             "from --output's extension when not given")(command)


def _keep_view_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault("view", {})[param.name] = value


def notify_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--notify", "notify_targets", multiple=True, metavar="TARGET",
                        help="mailto:ADDRESS, sns:TOPIC-ARN or https:// webhook to tell (repeatable)")(command)


def aws_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--profile, --region, --endpoint-url; unset, boto3's own chain decides (AWS_PROFILE, AWS_ENDPOINT_URL...)."""
    command = click.option("--endpoint-url", metavar="URL", help="S3-compatible endpoint (env AWS_ENDPOINT_URL)")(command)
    command = click.option("--region", help="AWS region (env AWS_REGION)")(command)
    return click.option("--profile", help="AWS profile (env AWS_PROFILE)")(command)


@click.group(cls=_OneLineUsageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s3logq")
@click.option("--lake", envvar="S3LOGQ_LAKE", default="./s3logq-lake", show_default=True,
              type=click.Path(file_okay=False), help="lake directory (env S3LOGQ_LAKE)")
@click.pass_context
def cli(ctx: click.Context, lake: str) -> None:
    """Answer who read, deleted or changed what in S3, and why it failed, from S3 server access logs
    and CloudTrail: ingest the logs into a local Parquet lake, then ask."""
    ctx.obj = Lake(lake)


@cli.command("ingest")
@click.argument("sources", nargs=-1, required=True)
@click.option("--type", "log_type", type=click.Choice(["auto", *LOG_TYPES]), default="auto", show_default=True,
              help="log type; detected per file when auto")
@click.option("--since", type=When(), help="keep events at or after WHEN (YYYY-MM-DD or ISO-8601, UTC)")
@click.option("--until", type=When(), help="keep events before WHEN (exclusive)")
@click.option("--bucket", "buckets", multiple=True, help="keep only this bucket's events (repeatable)")
@click.option("--workers", type=click.IntRange(1, 64), show_default="16 with s3:// sources, else CPU count",
              help="files read and parsed at once")
@aws_options
@click.pass_obj
@_fail_cleanly
def ingest_command(lake: Lake, sources: tuple[str, ...], log_type: str, since: datetime | None,
                   until: datetime | None, buckets: tuple[str, ...], workers: int | None, profile: str | None,
                   region: str | None, endpoint_url: str | None) -> None:
    """Ingest log files (folders, files, globs; plain or .gz; s3://bucket/prefix/) into the lake. Files
    already ingested are not read again; files whose name dates fall outside --since/--until are not opened,
    and in S3 not even listed."""
    # the parsers and writer are imported by the commands that ingest, not on every command's start
    from s3logq.ingest import IngestOptions, workers_for
    from s3logq.sources.s3 import S3Stats

    check_range(since, until)
    options = IngestOptions(log_type, since, until, tuple(buckets), workers or workers_for(sources))
    stats = S3Stats()
    files = _listed(list_sources(list(sources), days=DateRange.of(since, until), buckets=tuple(buckets),
                                 max_workers=options.workers, stats=stats, profile=profile, region=region,
                                 endpoint_url=endpoint_url), stats)
    report = _ingest_with_progress(lake, files, options)
    _print_report(report, lake)
    if stats.retries:
        click.echo(f"  {stats.retries:,} S3 requests retried (throttling, dropped connections)")
    sys.exit(EXIT_FILE_FAILED if report.failures else 0)


def _listed(sources: Iterator[SourceFile], stats: S3Stats) -> list[SourceFile]:
    """Every source file; on a terminal, a long listing (a large S3 prefix) shows on stderr how far it got."""
    if not sys.stderr.isatty():
        return list(sources)
    from rich.console import Console

    files: list[SourceFile] = []
    with Console(stderr=True).status("listing the logs") as status:
        for source in sources:
            files.append(source)
            if len(files) % 500 == 0:
                status.update(f"listing the logs: {len(files):,} files found ({stats.listings:,} S3 listings)")
    return files


def _ingest_with_progress(lake: Lake, files: list[SourceFile], options: IngestOptions) -> IngestReport:
    from s3logq.ingest import ParsedFile, ingest

    def waiting(message: str) -> None:
        click.echo(message, err=True)

    if not sys.stderr.isatty():
        return ingest(lake, files, options, on_wait=waiting)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    columns = ("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("ingesting", total=sum(f.size for f in files))

        def advance(parsed: ParsedFile) -> None:
            progress.advance(task, parsed.source.size)

        return ingest(lake, files, options, on_file=advance, on_wait=waiting)


def _print_report(report: IngestReport, lake: Lake) -> None:
    rows = ", ".join(f"{n:,} {table} rows" for table, n in report.rows.items()) or "no new rows"
    mb = report.bytes_read / 1e6
    click.echo(f"ingested {report.files_read:,} files ({mb:,.1f} MB read) in {report.seconds:.2f} s: {rows}")
    notes = [
        (report.files_already_ingested, "files already ingested (not read again)"),
        (report.files_out_of_range, "files outside --since/--until by their name (not opened)"),
        (report.files_same_content, "files with the same content as one already ingested (not stored twice)"),
        (report.rows_outside_range, "rows outside --since/--until/--bucket, stored too (files are stored whole)"),
        (report.duplicates_dropped, "duplicate CloudTrail event" + ("s" if report.duplicates_dropped != 1 else "")
         + " (same eventID, kept once)"),
        (report.rejected_lines, f"lines rejected (see: s3logq{_lake_flag(lake)} sql \"select * from rejects\")"),
        (len(report.files_changed), "files changed since they were ingested (kept as first ingested)"),
    ]
    notes += [(count, f"files skipped: {reason}") for reason, count in report.files_skipped.items()]
    for count, what in notes:
        if count:
            click.echo(f"  {count:,} {what}")
    for uri, reason in report.failures:
        click.echo(f"error: {uri}: {reason}", err=True)
    if report.files_partly_read:
        click.echo(f"{report.files_partly_read} file(s) read in part: their rows up to the error are stored", err=True)
    if report.failures:
        click.echo(f"{len(report.failures)} file(s) could not be read; the rest was committed", err=True)


@cli.command("status")
@output_options
@click.pass_obj
@_fail_cleanly
def status_command(lake: Lake, fmt: str | None, output: str | None) -> None:
    """Per log type: files, rows, first and last event, rejected lines, size on disk."""
    from s3logq.repair import damage_summary
    from s3logq.status import KEY_COLUMNS, lake_status

    format_for(output, fmt)  # a bad --format/--output is said before the lake is looked at
    _emit(lake_status(_existing(lake)), fmt, output, title=f"lake {lake.root}", key_columns=KEY_COLUMNS)
    damage = damage_summary(lake)
    if damage:
        click.echo(damage, err=True)


@cli.group("lake")
def lake_group() -> None:
    """Check the lake's parts against its manifest, and repair it."""


@lake_group.command("check")
@click.pass_obj
@_fail_cleanly
def lake_check_command(lake: Lake) -> None:
    """Every part the manifest lists: present, of its size, readable, with its row count. Exit 1 on a problem."""
    from s3logq.repair import check_lake

    report = check_lake(_existing(lake))
    for problem in report.problems:
        click.echo(f"problem: {problem.path}: {problem.what}")
    for path in report.unlisted:
        click.echo(f"note: {path} is not listed in the manifest (left alone; not read by queries)")
    click.echo(f"{report.parts_checked:,} parts checked, {len(report.problems)} problem(s)")
    if report.problems:
        click.echo(f"mend with: s3logq{_lake_flag(lake)} lake repair", err=True)
        sys.exit(EXIT_FILE_FAILED)


@lake_group.command("repair")
@aws_options
@click.pass_obj
@_fail_cleanly
def lake_repair_command(lake: Lake, profile: str | None, region: str | None, endpoint_url: str | None) -> None:
    """Set damaged parts aside (under damaged/) and read their source files again; say what could not be restored."""
    from s3logq.repair import reopen_source, repair_lake

    report = repair_lake(_existing(lake), lambda uri: reopen_source(
        uri, profile=profile, region=region, endpoint_url=endpoint_url))
    for path in report.parts_set_aside:
        click.echo(f"set aside: {path} (moved to {lake.root}/damaged/)")
    for path in report.parts_restored:
        click.echo(f"restored: {path}")
    click.echo(f"{len(report.parts_restored)} part(s) restored, {report.rows_restored:,} rows read again")
    for path, why in report.not_restored:
        click.echo(f"error: not restored: {path}: {why}", err=True)
    sys.exit(EXIT_FILE_FAILED if report.not_restored else 0)


def _s3_target(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """An s3://bucket/prefix/ argument: anything else is the user's to fix (usage, exit 2)."""
    if not value.startswith("s3://") or not value[5:].split("/", 1)[0]:
        raise click.BadParameter(f"{value!r} is not s3://bucket/prefix/", ctx, param)
    return value


@lake_group.command("push")
@click.argument("target", metavar="S3URI", callback=_s3_target)
@aws_options
@click.pass_obj
@_fail_cleanly
def lake_push_command(lake: Lake, target: str, profile: str | None, region: str | None,
                      endpoint_url: str | None) -> None:
    """Publish the lake's parts to s3://bucket/prefix/ for `athena setup --lake`: only parts not there yet go up,
    parts the lake dropped are removed (only ever what this lake pushed)."""
    from s3logq.push import push_lake

    click.echo(push_lake(_existing(lake), target, profile, region, endpoint_url).summary())


def engine_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, shared by `run` and `sql`, and where Athena runs (kept aside for `_engine`, not passed on)."""
    for flag, help_text in reversed(_ATHENA_FLAGS):
        command = click.option(flag, expose_value=False, callback=_keep_athena_flag, help=help_text)(command)
    command = click.option("--max-scan-gb", type=click.FloatRange(min=0), expose_value=False,
                           callback=_keep_scan_flag, help="athena: refuse to submit when the data the query may "
                           "scan (listed in S3 first) is over this many GB")(command)
    command = click.option("--dry-run", is_flag=True, expose_value=False, callback=_keep_scan_flag,
                           help="athena: print the scan estimate, its price and the SQL; submit nothing")(command)
    return click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="duckdb", show_default=True,
                        help="query engine (spark needs pyspark and Java 17+; athena the tables of "
                             "`s3logq athena setup`)")(command)


_ATHENA_FLAGS = (
    ("--workgroup", "Athena workgroup (env S3LOGQ_ATHENA_WORKGROUP, default primary)"),
    ("--database", "Athena database (env S3LOGQ_ATHENA_DATABASE, default s3logq)"),
    ("--results", "s3:// location for Athena's results (env S3LOGQ_ATHENA_RESULTS; default: the workgroup's)"),
    ("--profile", "AWS profile for Athena (env AWS_PROFILE)"),
    ("--region", "AWS region for Athena (env AWS_REGION)"),
    ("--endpoint-url", "Athena endpoint (env AWS_ENDPOINT_URL)"),
)


def _keep_athena_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault("athena", {})[param.name] = value


def report_engine_option(aws_flags: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--engine and Athena's flags for `report` and `investigate` (which has its own AWS flags: aws_flags=False)."""
    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for flag, help_text in reversed(_ATHENA_FLAGS[:3] + (_ATHENA_FLAGS[3:] if aws_flags else ())):
            command = click.option(flag, expose_value=False, callback=_keep_athena_flag, help=help_text)(command)
        command = click.option("--show-sql", is_flag=True, expose_value=False, callback=_keep_scan_flag,
                               help="athena, with --dry-run: each query's SQL and execution parameters too")(command)
        command = click.option("--max-scan-gb", type=click.FloatRange(min=0), expose_value=False,
                               callback=_keep_scan_flag, help="athena: refuse to submit any query when all of them "
                               "together may scan (listed in S3 first) over this many GB")(command)
        command = click.option("--dry-run", is_flag=True, expose_value=False, callback=_keep_scan_flag,
                               help="athena: print the queries, their scan estimate and its price; submit "
                               "nothing")(command)
        return click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="duckdb",
                            show_default=True, help="query engine (spark needs pyspark and Java 17+; athena runs "
                            "over the tables of `s3logq athena setup`, not the lake)")(command)
    return decorate


def _athena_total(engine: Engine) -> None:
    """One line after a command of many Athena queries: how many, what they scanned, what that cost."""
    history = getattr(engine, "history", [])
    if history:
        scanned = sum(stats.scanned_bytes for stats in history)
        cost = sum(stats.cost_usd for stats in history)
        click.echo(f"athena: {len(history)} queries, {scanned / 1e6:,.1f} MB scanned, about ${cost:.6f}", err=True)


def _keep_scan_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    ctx.meta.setdefault("athena_scan", {})[param.name] = value


def _athena_dry_run(engine_name: str) -> bool:
    """Whether --dry-run was given (a usage error with --max-scan-gb or --dry-run on another engine)."""
    scan = click.get_current_context().meta.get("athena_scan", {})
    if engine_name != "athena" and (scan.get("dry_run") or scan.get("max_scan_gb") is not None):
        raise click.UsageError("--max-scan-gb and --dry-run work with --engine athena only")
    return bool(scan.get("dry_run"))


def _print_dry_run(sql: str, params: dict[str, object], since: datetime | None, until: datetime | None) -> None:
    """The scan estimate, its price, and the Athena SQL with its execution parameters; no Athena call."""
    from s3logq.athena.client import AthenaOptions, literal
    from s3logq.athena.estimate import dry_run_text, estimate_for
    from s3logq.engines.athena import athena_sql

    text, values = athena_sql(sql, params, since, until)
    options = AthenaOptions.from_env(**click.get_current_context().meta.get("athena", {}))
    click.echo(dry_run_text(text, [literal(v) for v in values], estimate_for(sql, since, until, options)))


def _athena_plan_checked(engine_name: str, plan: Callable[[], list], command: str) -> bool:
    """For a command of many Athena queries: with --dry-run, print them with their estimate (True: stop there);
    with --max-scan-gb, refuse their sum over it before the first is submitted."""
    scan = click.get_current_context().meta.setdefault("athena_scan", {})
    dry_run = _athena_dry_run(engine_name)
    if scan.get("show_sql") and not dry_run:
        raise click.UsageError("--show-sql goes with --dry-run (it prints the SQL of each query, runs nothing)")
    if not dry_run and scan.get("max_scan_gb") is None:
        return False
    from s3logq.athena.client import AthenaOptions
    from s3logq.athena.plan import check_plan_limit, estimate_plan_for, plan_text

    options = AthenaOptions.from_env(**click.get_current_context().meta.get("athena", {}))
    estimate = estimate_plan_for(plan(), options)
    if dry_run:
        click.echo(plan_text(estimate, bool(scan.get("show_sql"))))
        return True
    check_plan_limit(estimate, scan["max_scan_gb"], command)
    scan["max_scan_gb"] = None  # held to as a sum: each query is not listed and checked again
    return False


def _engine(engine_name: str, lake: Lake) -> Engine:
    """The engine to run on: Athena with the command's flags and a progress line, the others over the lake."""
    if engine_name != "athena":
        return get_engine(engine_name, _existing(lake))
    from s3logq.athena.client import AthenaOptions
    from s3logq.engines.athena import AthenaEngine, progress_line

    def progress(state: str, seconds: float, scanned: int) -> None:
        if sys.stderr.isatty():  # one line, rewritten while the query runs, erased when it ends
            line = "" if state in ("SUCCEEDED", "FAILED", "CANCELLED") else progress_line(state, seconds, scanned)
            click.echo("\r\033[K" + line, nl=False, err=True)

    context = click.get_current_context()
    return AthenaEngine(AthenaOptions.from_env(**context.meta.get("athena", {})), on_progress=progress,
                        max_scan_gb=context.meta.get("athena_scan", {}).get("max_scan_gb"))


def _athena_cost(engine: Engine) -> None:
    """What each Athena query scanned and cost, on stderr after the rows, and anything else to know."""
    for line in getattr(engine, "notes", []):
        click.echo(line, err=True)
    for stats in getattr(engine, "history", []):
        click.echo(stats.summary(), err=True)


@cli.command("sql")
@click.argument("query")
@engine_option
@click.option("--allow-files", "readable", multiple=True, type=click.Path(exists=True), metavar="PATH",
              help="let the query read this file or folder of yours too (repeatable; duckdb engine)")
@output_options
@click.pass_obj
@_fail_cleanly
def sql_command(lake: Lake, query: str, engine_name: str, readable: tuple[str, ...], fmt: str | None,
                output: str | None) -> None:
    """Run a query (DuckDB dialect; translated for --engine spark) over the tables access_log, cloudtrail and
    rejects. Read-only: it reads no other file unless --allow-files names it, and writes none (use --output)."""
    format_for(output, fmt)  # a bad --format/--output is said before the lake is looked at
    if readable and engine_name != "duckdb":
        raise click.UsageError("--allow-files works with --engine duckdb only")
    if _athena_dry_run(engine_name):
        _print_dry_run(query, {}, None, None)
        return
    if readable:
        from s3logq.engines.duckdb import DuckDBEngine

        engine: Engine = DuckDBEngine(_existing(lake), readable=readable)
    else:
        engine = _engine(engine_name, lake)
    _emit(engine.query(query), fmt, output)
    _athena_cost(engine)


@cli.command("analyses")
@output_options
@_fail_cleanly
def analyses_command(fmt: str | None, output: str | None) -> None:
    """List the predefined analyses: name, log type, title, parameters, description."""
    import pyarrow as pa

    rows = [{"name": a.name, "logs": a.log_type, "aliases": ", ".join(a.aliases), "title": a.title,
             "parameters": ", ".join(a.parameters), "description": a.description,
             "columns": ", ".join(a.columns)} for a in load_catalog()]
    _emit(pa.Table.from_pylist(rows), fmt, output, key_columns=("name", "title", "logs", "parameters"))


def analysis_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """One option per analysis filter (PARAMETERS), shared by `run` and `investigate`."""
    for name, help_text in reversed(list(PARAMETERS.items())):
        flag = "--" + name.replace("_", "-")
        if name in ("since", "until"):
            command = click.option(flag, name, type=When(), help=help_text)(command)
        elif name == "status":
            command = click.option(flag, name, type=int, help=help_text)(command)
        elif name == "by":
            command = click.option(flag, name, type=click.Choice(["operation", "requester", "ip"]),
                                   help=help_text)(command)
        else:
            command = click.option(flag, name, help=help_text)(command)
    return command


# At most this many rows go to csv or json as Python values (no pyarrow import, ~0.15 s); more are fetched as
# Arrow, whose writers are faster on a big answer.
PYTHON_ROWS = 10_000

# Analyses whose question is about one thing: without it they would answer with every row of the lake.
_REQUIRED_FILTERS = {"object-history": "key", "request-lookup": "request_id"}


def _check_bucket(engine: Engine, analysis: Any, bucket: str | None) -> None:
    """A --bucket the lake has no row of is a typo more often than a quiet bucket: name the buckets there are."""
    if not bucket:
        return
    query = getattr(engine, "query_rows", engine.query)  # DuckDB's Python values: no Arrow to import
    names = [r["bucket_name"] for r in query(
        f"SELECT DISTINCT bucket_name FROM {analysis.table} WHERE bucket_name IS NOT NULL ORDER BY 1").to_pylist()]
    if bucket in names:
        return
    close = difflib.get_close_matches(bucket, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise LakeError(f"no {analysis.log_type} log rows of bucket {bucket!r} in the lake at all; {hint}"
                    f"buckets there: {', '.join(names) or 'none'}")


@cli.command("run")
@click.argument("name")
@click.option("--logs", "log_type", type=click.Choice(LOG_TYPES), help="log type, where NAME exists for both")
@analysis_filters
@click.option("--limit", type=click.IntRange(min=1), help="at most this many rows")
@click.option("--show-sql", is_flag=True, help="print the analysis SQL and its bound parameters, do not run")
@engine_option
@output_options
@notify_option
@click.pass_obj
@_fail_cleanly
def run_command(lake: Lake, name: str, log_type: str | None, limit: int | None, show_sql: bool, engine_name: str,
                fmt: str | None, output: str | None, notify_targets: tuple[str, ...], **filters: Any) -> None:
    """Run a predefined analysis by NAME (or the AWS guidance's AnalysisType name)."""
    check_range(filters.get("since"), filters.get("until"))
    try:
        analysis = find_analysis(name, log_type, available=_log_types_with_data(lake))
    except CatalogError as error:
        close = difflib.get_close_matches(name.lower(), sorted({a.name for a in load_catalog()}), n=1)
        raise CatalogError(f"{error}{f'; did you mean {close[0]!r}?' if close else ''}") from None
    required = _REQUIRED_FILTERS.get(analysis.name)
    if required and not filters.get(required) and not show_sql:
        flag = "--" + required.replace("_", "-")
        raise CatalogError(f"{analysis.name} answers about one {required.replace('_', ' ')}: give {flag}")
    if _athena_dry_run(engine_name):
        click.echo(f"-- {analysis.name} ({analysis.log_type}): {analysis.title}")
        sql = analysis.sql if limit is None else f"SELECT * FROM ({analysis.sql}) LIMIT {int(limit)}"
        _print_dry_run(sql, analysis.bind(filters), filters.get("since"), filters.get("until"))
        return
    if show_sql:
        from s3logq.engines import render

        params = analysis.bind(filters)  # another engine's SQL is the one it runs, with its placeholders
        sql, bound = (analysis.sql, params) if engine_name == "duckdb" else render(analysis.sql, params, engine_name)
        if engine_name == "athena":  # with the day filter, and the values as Athena's execution parameters
            from s3logq.athena.client import literal
            from s3logq.engines.athena import athena_sql

            sql, values = athena_sql(analysis.sql, params, filters.get("since"), filters.get("until"))
            bound = [literal(v) for v in values]
        click.echo(f"-- {analysis.name} ({analysis.log_type}): {analysis.title}\n{sql}")
        click.echo(f"-- parameters: {bound}")
        return
    chosen = format_for(output, fmt)  # a bad --format/--output is said before any work
    engine = _engine(engine_name, lake)
    if engine_name == "duckdb":
        _check_bucket(engine, analysis, filters.get("bucket"))
    if log_type is None and len([a for a in load_catalog() if a.name == analysis.name]) > 1:
        click.echo(f"({analysis.name} on {analysis.log_type} logs; --logs picks the other)", err=True)
    bucket = (filters["bucket"],) if filters.get("bucket") else ()
    notifier = None
    if notify_targets:  # mail and HTTP clients are imported when --notify needs them, not on every run
        from s3logq.investigate import Notifier, describe_filters

        notifier = Notifier(notify_targets, (analysis.name,), bucket, describe_filters(filters))  # finish, failure
    title = _titled(analysis)
    with notifier.on_failure() if notifier else nullcontext():
        if chosen == "table" and engine_name != "athena":  # the terminal shows 50 rows: fetch those and a count
            table, total = analysis.preview(engine, filters, TABLE_PREVIEW_ROWS, limit, as_rows=True)
            location = _emit(table, fmt, output, title=title, total=total, key_columns=analysis.key_columns)
        else:  # on Athena a second query for the count would be billed again
            small = analysis.run_small(engine, filters, PYTHON_ROWS, limit) if chosen in ("csv", "json") else None
            table = small if small is not None else analysis.run(engine, filters, limit)
            total, location = table.num_rows, _emit(table, fmt, output, title=title,
                                                    key_columns=analysis.key_columns)
    _athena_cost(engine)
    given = {k: v for k, v in filters.items() if v is not None}
    if total == 0 and given and engine_name == "duckdb":  # say whether the filters or the lake left nothing
        _, unfiltered = analysis.preview(engine, {}, 1, as_rows=True)
        flags = " ".join(f"--{k.replace('_', '-')}" for k in given)
        click.echo(f"no rows match {flags}; without filters {analysis.name} has {unfiltered:,} rows in the lake"
                   if unfiltered else f"{analysis.name} has no rows in the lake at all, whatever the filters",
                   err=True)
    if notifier:
        from s3logq.notify import PREVIEW_ROWS, AnalysisResult

        notifier.finish([AnalysisResult(analysis.name, total, location, table.slice(0, PREVIEW_ROWS))])



@cli.command("investigate")
@click.option("--logs", "logs", multiple=True, metavar="SOURCE",
              help="logs to ingest first: s3://bucket/prefix/ or local paths (repeatable; not with --engine athena)")
@click.option("--analysis", "analyses", multiple=True, required=True, metavar="NAME", help="analysis (repeatable)")
@analysis_filters
@click.option("--limit", type=click.IntRange(min=1), help="at most this many rows per analysis")
@output_options
@notify_option
@click.option("--report", "report_path", metavar="PATH", help="also write the HTML report (path or s3:// URI)")
@click.option("--workers", type=click.IntRange(1, 64), show_default="16 with s3:// logs, else CPU count",
              help="files read and parsed at once")
@aws_options
@report_engine_option(aws_flags=False)
@click.pass_obj
@_fail_cleanly
def investigate_command(lake: Lake, logs: tuple[str, ...], analyses: tuple[str, ...], limit: int | None,
                        fmt: str | None, output: str | None, notify_targets: tuple[str, ...],
                        report_path: str | None, workers: int | None, profile: str | None, region: str | None,
                        endpoint_url: str | None, engine_name: str, **filters: Any) -> None:
    """Ingest --since/--until from the logs (only the days and --bucket needed), run each --analysis, write
    the results (--output ending in / gets <analysis>.<ext> each), and notify at start, finish and failure.

    With --engine athena nothing is ingested: the analyses (and --report) run in Athena over the tables of
    `s3logq athena setup`, narrowed to --since/--until, and --logs is not taken."""
    from s3logq.ingest import workers_for
    from s3logq.investigate import AwsOptions, Investigation, investigate

    if engine_name == "athena" and logs:
        raise click.UsageError("--engine athena reads the logs where `s3logq athena setup` put them: drop --logs")
    if engine_name != "athena" and not logs:
        raise click.UsageError("Missing option '--logs' (the logs to ingest; --engine athena needs none)")
    since, until, bucket = filters.pop("since"), filters.pop("until"), filters.pop("bucket")
    output = None if output == "-" else output  # standard output: each result printed
    job = Investigation(logs, analyses, since, until, bucket, filters, output, fmt, notify_targets,
                        AwsOptions(profile, region, endpoint_url), workers or workers_for(logs), limit, report_path,
                        engine_name)
    engine = None
    _athena_dry_run(engine_name)  # the Athena-only flags are a usage error on the others
    if engine_name == "athena":  # Athena takes investigate's own AWS flags
        from s3logq.athena.plan import plan_investigation

        aws = {"profile": profile, "region": region, "endpoint_url": endpoint_url}
        click.get_current_context().meta.setdefault("athena", {}).update(aws)
        if _athena_plan_checked(engine_name, lambda: plan_investigation(lake, job), "the investigation"):
            return
        engine = _engine("athena", lake)
    undelivered: list[str] = []

    def warn(message: str) -> None:  # the Notifier's only warnings: a target that could not be told
        undelivered.append(message)
        click.echo(f"warning: {message}", err=True)

    outcome = investigate(lake, job, on_warning=warn, engine=engine)
    if outcome.ingest:
        _print_report(outcome.ingest, lake)
    for result in outcome.results:
        if result.location:
            click.echo(f"wrote {result.rows:,} rows to {result.location}")
        else:
            _emit(outcome.tables[result.analysis], fmt, None, title=result.analysis)
    if outcome.report_location:
        click.echo(f"report: {outcome.report_location}")
    if engine is not None:
        _athena_total(engine)
    sys.exit(EXIT_FILE_FAILED if (outcome.ingest and outcome.ingest.failures) or undelivered else 0)


def _titled(analysis: Any) -> str:
    """The analysis's title and which logs answered it, unless the title says so already."""
    logs = "CloudTrail" if analysis.log_type == "cloudtrail" else "access logs"
    return analysis.title if logs.lower() in analysis.title.lower() else f"{analysis.title} ({logs})"


def _lake_flag(lake: Lake) -> str:
    """` --lake DIR` for a printed command when the lake is not the default one, so that it works when pasted."""
    import shlex

    return "" if str(lake.root) in ("s3logq-lake", "./s3logq-lake") else f" --lake {shlex.quote(str(lake.root))}"


def _existing(lake: Lake) -> Lake:
    """The lake a reading command asks for; a folder that is not there is a typo more often than an empty lake."""
    if not lake.root.exists():
        raise LakeError(f"no lake at {lake.root}: make one with `s3logq --lake {lake.root} ingest LOGS`, or name "
                        "another with --lake or S3LOGQ_LAKE")
    return lake


def _log_types_with_data(lake: Lake) -> tuple[str, ...]:
    return tuple(t for t, table in (("access", "access_log"), ("cloudtrail", "cloudtrail")) if lake.parts(table))


@cli.command("demo")
@click.option("--dir", "directory", default="s3logq-demo-logs", show_default=True, type=click.Path(file_okay=False),
              help="where to write the sample logs")
@click.pass_obj
@_fail_cleanly
def demo_command(lake: Lake, directory: str) -> None:
    """Write realistic sample logs (access logs and CloudTrail), ingest them and print a summary."""
    from s3logq.demo import generate
    from s3logq.ingest import IngestOptions, default_workers, ingest
    from s3logq.status import lake_status

    step = (lambda text: click.echo(text, err=True)) if sys.stderr.isatty() else (lambda text: None)
    step(f"writing a week of sample logs to {directory} ...")  # progress on a terminal: a few seconds each step
    summary = generate(Path(directory))
    click.echo(f"wrote {summary.access_files} access-log files ({summary.access_lines:,} lines) and "
               f"{summary.cloudtrail_files} CloudTrail files ({summary.cloudtrail_events:,} events) to {directory}")
    step(f"ingesting them into {lake.root} ...")
    report = ingest(lake, list_sources([directory]), IngestOptions(workers=default_workers()))
    _print_report(report, lake)
    _emit(lake_status(lake), None, None, title=f"lake {lake.root}")
    for name, logs, columns in _DEMO_VIEWS:
        analysis = find_analysis(name, logs)
        table, total = analysis.preview(get_engine("duckdb", lake), {}, 8)
        _emit(table.select(columns), None, None, total=total, key_columns=tuple(columns), title=_titled(analysis),
              note_left_out=False)
        # a command that works when pasted, rather than options the demo command does not take
        click.echo(f"see more: s3logq{_lake_flag(lake)} run {name} --logs {logs} --vertical "
                   "(every column of 50 rows; --format csv --output FILE: every row)")
    from s3logq.report import DEFAULT_NAME, write_report

    click.echo(f"report: {write_report(lake, str(lake.root.resolve().parent / DEFAULT_NAME))}")


_DEMO_VIEWS = (
    ("top-troubleshooting", "access",
     ["request_time", "category", "operation", "httpstatus", "errorcode", "bucket_name", "key", "requester"]),
    ("bucket-config-changes", "cloudtrail", ["event_time", "eventname", "bucket_name", "change", "user_arn"]),
)


def _emit(table: pa.Table | Rows, fmt: str | None, output: str | None, title: str | None = None,
          total: int | None = None, key_columns: tuple[str, ...] = (), note_left_out: bool = True) -> str | None:
    """Print rows as a table, or write them in a format to a file or S3 (and return where)."""
    fmt = format_for(output, fmt)
    if output == "-":  # standard output, as Unix tools read it
        output = None
    if fmt == "parquet" and not output and sys.stdout.isatty():
        raise ValueError("--format parquet is binary and would garble the terminal; add --output FILE.parquet, "
                         "or pipe it: ... --format parquet > rows.parquet")
    view = click.get_current_context().meta.get("view", {})
    if view.get("columns"):
        from s3logq.terminal import choose_columns

        table = choose_columns(table, [c.strip() for c in view["columns"].split(",") if c.strip()])
    if fmt == "table":
        if output:
            raise ValueError("--format table prints to the terminal; pick csv, json or parquet for --output")
        _print_terminal_table(table, title, total, key_columns, bool(view.get("wide") or view.get("columns")),
                              bool(view.get("vertical")), note_left_out)
        return None
    if output:
        location = write_table(table, fmt, output)
        click.echo(f"wrote {table.num_rows:,} rows to {location}", err=True)
        return location
    WRITERS[fmt](table, sys.stdout.buffer)
    sys.stdout.flush()
    return None


def _terminal_width() -> int:
    """The terminal's width; piped output has none: COLUMNS, else room rather than rich's 80 columns."""
    import os
    import shutil

    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else 220


def _header_styles() -> bool | None:
    """Whether rich would style the table's header (bold, on a terminal), or None when its choice depends on
    more than this knows (forced colours, a dumb terminal, Windows): rich then prints the table itself."""
    import os

    if sys.platform == "win32" or any(os.environ.get(name) for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "JUPYTER_COLUMNS")):
        return None
    if not sys.stdout.isatty():
        return False
    return None if os.environ.get("TERM", "dumb") in ("dumb", "unknown") else True


def _print_terminal_table(table: pa.Table | Rows, title: str | None, total: int | None, key_columns: tuple[str, ...],
                          wide: bool, vertical: bool, note_left_out: bool = True) -> None:
    """The rows that fit the terminal, the count under them, and which columns were left out and how to see them."""
    from s3logq.terminal import left_out_note, terminal_view, vertical_lines

    width = _terminal_width()
    count = footer(table.num_rows if total is None else total, min(TABLE_PREVIEW_ROWS, table.num_rows))
    if vertical:
        from rich.console import Console

        console = Console(soft_wrap=True, highlight=False, width=width)
        if title:
            console.print(title, markup=False)
        for line in vertical_lines(table, key_columns, TABLE_PREVIEW_ROWS):
            console.print(line, markup=False, emoji=False)
        console.print(count)
        return
    view = terminal_view(table, width, title, key_columns, TABLE_PREVIEW_ROWS, wide=wide)
    styles = _header_styles()
    lines = view.plain_lines(bold_header=styles) if styles is not None else None
    if lines is not None:  # what rich would print, without its import and layout (~50 ms)
        click.echo("\n".join([*lines, count]))
    else:
        from rich.console import Console

        console = Console(soft_wrap=False, width=max(width, view.width))
        console.print(view.table)
        console.print(count, soft_wrap=True, highlight=False)
    if view.left_out and note_left_out:
        kept = [c for c in table.column_names if c not in view.left_out]
        # on stderr, as the other notes: what stdout carries stays the rows and their count
        click.echo(left_out_note(view.left_out, [c for c in key_columns if c in kept] or kept, width), err=True)


def threshold_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--threshold", "thresholds", multiple=True, metavar="DETECTION.NAME=VALUE",
                        help="change a detection's threshold, e.g. mass-deletion.min_objects=500 (repeatable)")(command)


def _severity_choice() -> click.Choice:
    from s3logq.catalog.detection import SEVERITIES

    return click.Choice(SEVERITIES)


@cli.command("detections")
@output_options
@_fail_cleanly
def detections_command(fmt: str | None, output: str | None) -> None:
    """List the detections: name, log type, severity, ATT&CK technique, title, thresholds, description."""
    import pyarrow as pa

    from s3logq.catalog.detection import TECHNIQUES, load_detections

    rows = [{"name": d.name, "logs": d.log_type, "severity": d.severity, "technique": d.technique,
             "technique_name": TECHNIQUES[d.technique][0], "title": d.title,
             "thresholds": ", ".join(f"{t.name}={t.default}" for t in d.thresholds),
             "identity": ", ".join(d.identity), "description": d.description} for d in load_detections()]
    _emit(pa.Table.from_pylist(rows), fmt, output)


@cli.command("detect")
@click.option("--since", type=When(), help="findings at or after WHEN (YYYY-MM-DD or ISO-8601, UTC)")
@click.option("--until", type=When(), help="findings before WHEN (exclusive)")
@click.option("--severity", "min_severity", type=_severity_choice(), default="info", show_default=True,
              help="this severity and above")
@click.option("--bucket", "buckets", multiple=True, help="only this bucket's findings (repeatable); "
                                                         "account-level findings are kept")
@threshold_option
@click.option("--output", "-o", "output", metavar="PATH",
              help="write to a file or s3:// URI instead of the terminal (- for standard output)")
@click.option("--format", "-f", "fmt", type=click.Choice([*FORMATS, "ocsf"]),
              help="table (default on a terminal), csv, json, parquet, or ocsf (OCSF Detection Finding JSON)")
@engine_option
@click.pass_obj
@_fail_cleanly
def detect_command(lake: Lake, since: datetime | None, until: datetime | None, min_severity: str,
                   buckets: tuple[str, ...], thresholds: tuple[str, ...], output: str | None, fmt: str | None,
                   engine_name: str) -> None:
    """Run every detection over the lake (or, with --engine athena, Athena's tables) and print every finding,
    newest first."""
    from s3logq.detect import detection_queries, find_all, findings_table, ocsf_json, parse_thresholds
    from s3logq.output import write_bytes

    check_range(since, until)
    if fmt != "ocsf":
        format_for(output, fmt)  # a bad --format/--output is said before the lake is looked at
    settings = parse_thresholds(thresholds)
    if _athena_dry_run(engine_name):  # each detection's query, with its own estimate: nothing is submitted
        for detection, params, read_since in detection_queries(since, until, settings, min_severity):
            click.echo(f"-- {detection.name} ({detection.log_type}): {detection.title}")
            _print_dry_run(detection.sql, params, read_since, until)
        return
    engine = _engine(engine_name, lake)
    on_lake = engine_name != "athena" and str(lake.root) != "s3logq-lake"  # evidence commands name the lake
    findings = find_all(engine, since, until, thresholds=settings, min_severity=min_severity,
                        lake_option=str(lake.root) if on_lake else None)
    findings = [f for f in findings if not buckets or f.bucket_name is None or f.bucket_name in buckets]
    if fmt == "ocsf":
        data = ocsf_json(list(reversed(findings)))
        if output and output != "-":
            click.echo(f"wrote {len(findings):,} findings to {write_bytes(data, output)}", err=True)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
    else:
        table = findings_table(findings, newest_first=True)
        if format_for(output, fmt) == "table":  # the terminal gets what fits: csv, json, parquet get every column
            table = table.select(["event_time", "severity", "detection", "bucket_name", "object_key", "principal",
                                  "source_ip", "detail"])
        _emit(table, fmt, output, title="Findings (newest first)")
    for line in getattr(engine, "notes", []):
        click.echo(line, err=True)
    _athena_total(engine)


@cli.command("watch")
@click.argument("sources", nargs=-1, required=True)
@click.option("--every", default="5m", show_default=True, help="time between cycles: 30s, 5m, 1h")
@notify_option
@click.option("--min-severity", type=_severity_choice(), default="low", show_default=True,
              help="notify findings of this severity and above (all are stored)")
@click.option("--once", is_flag=True, help="one cycle, then exit (for cron, a systemd timer, a container job)")
@threshold_option
@click.option("--workers", type=click.IntRange(1, 64), show_default="16 with s3:// sources, else CPU count",
              help="files read and parsed at once")
@aws_options
@click.pass_obj
@_fail_cleanly
def watch_command(lake: Lake, sources: tuple[str, ...], every: str, notify_targets: tuple[str, ...],
                  min_severity: str, once: bool, thresholds: tuple[str, ...], workers: int | None,
                  profile: str | None, region: str | None, endpoint_url: str | None) -> None:
    """Each cycle: ingest the new log files, run every detection over the new data, and deliver each new
    finding once to every --notify target (retried next cycle when a target is down). One line per cycle.

    Detections run on the local lake with DuckDB (no --engine: the logs are ingested here first)."""
    from s3logq.catalog.detection import find_detection
    from s3logq.detect import parse_thresholds
    from s3logq.ingest import workers_for
    from s3logq.notify import check_targets
    from s3logq.watch import WatchJob, parse_every, watch

    check_targets(list(notify_targets))
    settings = parse_thresholds(thresholds)
    for name, values in settings.items():  # an unknown detection or threshold fails now, not in a cycle
        find_detection(name).bind(None, None, values)
    job = WatchJob(sources, notify_targets, min_severity, parse_every(every), settings,
                   workers or workers_for(sources), profile, region, endpoint_url)
    last = watch(lake, job, once=once)
    if once and (last is None or not last.ok):
        sys.exit(EXIT_FILE_FAILED)


@cli.command("report")
@click.option("--since", type=When(), help=PARAMETERS["since"])
@click.option("--until", type=When(), help=PARAMETERS["until"])
@click.option("--bucket", "buckets", multiple=True, help="only this bucket (repeatable)")
@click.option("--output", "-o", "output", metavar="PATH", default="s3logq-report.html", show_default=True,
              help="HTML file, or s3:// URI (one ending in / gets s3logq-report.html)")
@report_engine_option(aws_flags=True)
@click.pass_obj
@_fail_cleanly
def report_command(lake: Lake, since: datetime | None, until: datetime | None, buckets: tuple[str, ...],
                   output: str, engine_name: str) -> None:
    """Write one self-contained HTML report (cards, charts, first rows of every analysis); print where.

    Every number comes from --engine; what that engine cannot compute exactly is left out and the page says so."""
    from s3logq.report import write_report

    check_range(since, until)
    if engine_name == "athena":
        from s3logq.athena.plan import plan_report

        if _athena_plan_checked(engine_name, lambda: plan_report(lake, since, until, buckets), "the report"):
            return
    _athena_dry_run(engine_name)  # the Athena-only flags are a usage error on the others
    if engine_name == "duckdb":
        click.echo(write_report(_existing(lake), output, since, until, buckets))
        return
    engine = _engine(engine_name, lake)
    click.echo(write_report(lake, output, since, until, buckets, engine))
    _athena_total(engine)


@cli.group("athena")
def athena_group() -> None:
    """Put the raw logs in Amazon Athena's catalog, so `--engine athena` runs every analysis where they lie."""


def _log_locations(command: Callable[..., Any]) -> Callable[..., Any]:
    """Where the raw logs are, and the values of their layout's partitions; shared by `ddl` and `setup`."""
    options = [
        click.option("--access", "access_uri", metavar="S3URI", help="access logs: s3://bucket/prefix/ "
                     "(PartitionedPrefix: down to ACCOUNT/REGION/SOURCE-BUCKET/, or give --account and --source-bucket)"),
        click.option("--cloudtrail", "trail_uri", metavar="S3URI", help="CloudTrail: s3://bucket/[prefix/]AWSLogs/..."),
        click.option("--lake", "lake_uri", metavar="S3URI", help="a lake published by `s3logq lake push` "
                     "(instead of --access/--cloudtrail)"),
        click.option("--database", default=None, help="database to create (env S3LOGQ_ATHENA_DATABASE, default s3logq)"),
        click.option("--account", "accounts", multiple=True, help="account ID to project (repeatable)"),
        click.option("--source-region", "source_regions", multiple=True,
                     help="region to project (repeatable; default: every region)"),
        click.option("--source-bucket", "source_buckets", multiple=True,
                     help="source bucket of PartitionedPrefix access logs (repeatable)"),
        click.option("--first-day", type=When(), help="first day the projection covers (default 2020-01-01)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _raw_log_statements(access_uri: str | None, trail_uri: str | None, lake_uri: str | None, database: str | None,
                        accounts: tuple[str, ...], source_regions: tuple[str, ...], source_buckets: tuple[str, ...],
                        first_day: datetime | None) -> tuple[str, list, bool]:
    """(database, the statements, whether access logs lie unpartitioned)."""
    import os

    from s3logq.athena import ddl

    if lake_uri:
        if access_uri or trail_uri:
            raise ddl.DDLError("--lake makes tables over a pushed lake: give it without --access/--cloudtrail")
        name = database or os.environ.get("S3LOGQ_ATHENA_DATABASE") or "s3logq"
        return name, ddl.lake_statements(name, lake_uri, first_day.date() if first_day else ddl.FIRST_DAY), False
    access = (ddl.access_location(access_uri, accounts, source_regions, source_buckets) if access_uri else None)
    trail = ddl.cloudtrail_location(trail_uri, accounts, source_regions) if trail_uri else None
    name = database or os.environ.get("S3LOGQ_ATHENA_DATABASE") or "s3logq"
    statements = ddl.raw_log_statements(name, access, trail, first_day.date() if first_day else ddl.FIRST_DAY)
    return name, statements, access is not None and not access.partitioned


@athena_group.command("ddl")
@_log_locations
@_fail_cleanly
def athena_ddl_command(**locations: Any) -> None:
    """Print the DDL that `setup` runs: tables over the raw logs, with partition projection, and the views
    access_log and cloudtrail with the lake's columns. No AWS call."""
    from s3logq.athena.ddl import script

    click.echo(script(_raw_log_statements(**locations)[1]), nl=False)


@athena_group.command("setup")
@_log_locations
@click.option("--workgroup", help="Athena workgroup (env S3LOGQ_ATHENA_WORKGROUP, default primary)")
@click.option("--results", help="s3:// location for Athena's results (env S3LOGQ_ATHENA_RESULTS)")
@aws_options
@_fail_cleanly
def athena_setup_command(workgroup: str | None, results: str | None, profile: str | None, region: str | None,
                         endpoint_url: str | None, **locations: Any) -> None:
    """Create the database, the tables over the raw logs and the views, in Athena."""
    from s3logq.athena.client import AthenaClient, AthenaOptions
    from s3logq.athena.ddl import access_location, cloudtrail_location
    from s3logq.athena.setup import run_statements, setup_record
    from s3logq.config import record_athena

    database, statements, unpartitioned = _raw_log_statements(**locations)
    options = AthenaOptions.from_env(workgroup, database, results, profile=profile, region=region,
                                     endpoint_url=endpoint_url)
    client = AthenaClient(options)
    run_statements(client, statements, lambda statement, stats: click.echo(f"done: {statement.purpose}"))
    access, trail, first_day = locations["access_uri"], locations["trail_uri"], locations["first_day"]
    accounts, regions = locations["accounts"], locations["source_regions"]
    record = setup_record(
        options, access_location(access, accounts, regions, locations["source_buckets"]) if access else None,
        cloudtrail_location(trail, accounts, regions) if trail else None, first_day.date() if first_day else None,
        lake=locations.get("lake_uri"))
    click.echo(f"recorded in {record_athena(record)}: `--engine athena` needs no flags now")
    if unpartitioned:
        click.echo("note: SimplePrefix access logs have no date folders: every query reads the whole prefix; "
                   "`s3logq lake push` publishes day partitions", err=True)
    scanned = sum(s.scanned_bytes for s in client.history)
    click.echo(f"{len(client.history)} statements in {options.database}, {scanned:,} bytes scanned")


class _UsageFailure(_Failure):
    exit_code = EXIT_USAGE


def main() -> None:
    cli(prog_name="s3logq")
