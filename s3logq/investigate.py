"""The guidance's whole workflow in one call: ingest a date range from S3 (or local files), run analyses,
write each result, and notify at start, finish and failure."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from s3logq.catalog import Analysis, find_analysis
from s3logq.engines import Engine, get_engine
from s3logq.lake import Lake
from s3logq.notify import PREVIEW_ROWS, AnalysisResult, NotifyEvent, check_targets, notify
from s3logq.output import WRITERS, OutputError, check_target, format_for, serialize, write_table
from s3logq.sources import DateRange, list_sources
from s3logq.sources.s3 import DEFAULT_WORKERS, S3Stats, upload_bytes
from s3logq.times import check_range, iso

if TYPE_CHECKING:
    import pyarrow as pa

    from s3logq.ingest import IngestReport

RANGE_FILTERS = ("since", "until", "bucket")  # used for ingest too; dropped for analyses that do not take them


@dataclass(frozen=True)
class AwsOptions:
    """How to reach AWS; None means boto3's own chain (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...)."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def as_kwargs(self) -> dict[str, str | None]:
        return {"profile": self.profile, "region": self.region, "endpoint_url": self.endpoint_url}


@dataclass(frozen=True)
class Investigation:
    """What to do: logs to ingest, analyses (names or Analysis) to run, where results go, whom to tell."""

    logs: tuple[str, ...]
    analyses: tuple[str | Analysis, ...]
    since: datetime | None = None
    until: datetime | None = None
    bucket: str | None = None
    filters: dict[str, object] = field(default_factory=dict)  # other analysis filters (key, requester, ...)
    output: str | None = None
    fmt: str | None = None
    notify: tuple[str, ...] = ()
    aws: AwsOptions = AwsOptions()
    workers: int = DEFAULT_WORKERS
    limit: int | None = None
    report: str | None = None
    engine: str = "duckdb"  # athena: no ingest, the analyses run where the logs lie (`s3logq athena setup`)


@dataclass
class Outcome:
    """What an investigation did: the ingest, each analysis's rows and location, S3 request counts, time."""

    ingest: IngestReport | None  # None on Athena, which reads the logs where they are
    tables: dict[str, pa.Table]
    results: list[AnalysisResult]
    s3: S3Stats
    seconds: float
    report_location: str | None = None


def investigate(lake: Lake, job: Investigation, on_warning: Callable[[str], None] | None = None,
                engine: Engine | None = None) -> Outcome:
    """Run the investigation on `engine` (default: job.engine over the lake once ingested); notifications never
    stop it, any other failure is notified and raised."""
    check_range(job.since, job.until)
    analyses = resolve(job.analyses)  # an unknown name fails before any work
    targets = result_targets(analyses, job.output, job.fmt)
    for target in [*targets, job.report]:  # a target that cannot be written fails before the ingest
        if target:
            check_target(target)
    notifier = Notifier(job.notify, tuple(a.name for a in analyses), (job.bucket,) if job.bucket else (),
                        _parameters(job), job.aws, on_warning)
    notifier.start()
    with notifier.on_failure():
        outcome = _run(lake, job, targets, notifier.clock, engine)
    notifier.finish(outcome.results, _notes(outcome))
    return outcome


def resolve(analyses: tuple[str | Analysis, ...], available: tuple[str, ...] = ()) -> list[Analysis]:
    """Analyses by name (a name for both log types picks one with data in `available`) or as given."""
    return [a if isinstance(a, Analysis) else find_analysis(a, available=available) for a in analyses]


def _run(lake: Lake, job: Investigation, targets: list[str | None], clock: float,
         engine: Engine | None = None) -> Outcome:
    # imported here: `s3logq run` uses this module's Notifier and should not load the parsers and writer
    from s3logq.ingest import IngestOptions, ingest

    stats = S3Stats()
    buckets = (job.bucket,) if job.bucket else ()
    report: IngestReport | None = None
    available: tuple[str, ...] = ()
    if job.engine != "athena":  # Athena's tables are over the logs where they lie: nothing to ingest
        files = list_sources(list(job.logs), days=DateRange.of(job.since, job.until), buckets=buckets,
                             max_workers=job.workers, stats=stats, **job.aws.as_kwargs())
        report = ingest(lake, files, IngestOptions("auto", job.since, job.until, buckets, job.workers))
        available = tuple(t for t, table in (("access", "access_log"), ("cloudtrail", "cloudtrail"))
                          if lake.parts(table))
    engine = engine or get_engine(job.engine, lake)
    tables, results = {}, []
    for analysis, target in zip(resolve(job.analyses, available), targets, strict=True):
        table = analysis.run(engine, analysis_values(analysis, job), job.limit)
        location = write_result(table, target, job.fmt, job.aws) if target else None
        tables[analysis.name] = table
        results.append(AnalysisResult(analysis.name, table.num_rows, location, table.slice(0, PREVIEW_ROWS)))
    report_location = None
    if job.report:
        from s3logq.report import write_report

        report_location = write_report(lake, job.report, job.since, job.until, buckets,
                                       None if job.engine == "duckdb" else engine)
    return Outcome(report, tables, results, stats, time.perf_counter() - clock, report_location)


def _notes(outcome: Outcome) -> tuple[str, ...]:
    notes = []
    if outcome.ingest and outcome.ingest.failures:
        uri, reason = outcome.ingest.failures[0]
        notes.append(f"{len(outcome.ingest.failures)} log file(s) could not be read (first: {uri}: {reason})")
    if outcome.report_location:
        notes.append(f"report: {outcome.report_location}")
    return tuple(notes)


def analysis_values(analysis: Analysis, job: Investigation) -> dict[str, object]:
    """The analysis's filters: the range and bucket where it takes them, and every other filter given."""
    values = {name: getattr(job, name) for name in RANGE_FILTERS if name in analysis.parameters}
    return {**values, **{k: v for k, v in job.filters.items() if v is not None}}


def result_targets(analyses: list[Analysis], output: str | None, fmt: str | None) -> list[str | None]:
    """Where each analysis's rows go: `output` itself, or `<folder>/<analysis>.<ext>` for a folder target."""
    if not output:
        return [None] * len(analyses)
    if not _is_folder(output):
        if len(analyses) > 1:
            raise OutputError(f"--output {output} is one file; give a folder (ending in /) for several analyses")
        format_for(output, fmt)  # an unknown extension fails now, not after the ingest
        return [output]
    extension = fmt or "csv"
    if extension not in WRITERS:
        raise OutputError(f"--format {extension} cannot be written to files; pick csv, json or parquet")
    names = [a.name for a in analyses]
    folder = output if output.endswith("/") else output + "/"
    return [f"{folder}{a.name}{'-' + a.log_type if names.count(a.name) > 1 else ''}.{extension}"
            for a in analyses]


def _is_folder(output: str) -> bool:
    return output.endswith("/") or (not output.startswith("s3://") and Path(output).is_dir())


def write_result(table: pa.Table, target: str, fmt: str | None, aws: AwsOptions = AwsOptions()) -> str:
    """Write the rows in the target's format; returns the final location."""
    fmt = format_for(target, fmt)
    if target.startswith("s3://"):
        return upload_bytes(serialize(table, fmt), target, **aws.as_kwargs())
    return write_table(table, fmt, target)


def _parameters(job: Investigation) -> dict[str, str]:
    parameters = {"logs": " ".join(job.logs), **describe_filters({"since": job.since, "until": job.until,
                                                                  "bucket": job.bucket, **job.filters})}
    if job.output:
        parameters["output"] = job.output
    return parameters


def describe_filters(filters: dict[str, object]) -> dict[str, str]:
    """Filters as text for messages: times in ISO-8601 UTC, unset ones left out."""
    return {name: iso(value) if isinstance(value, datetime) else str(value)
            for name, value in filters.items() if value is not None}


class Notifier:
    """Sends the start, finish and failure events of one job to its --notify targets (if any)."""

    def __init__(self, targets: tuple[str, ...] | list[str], analyses: tuple[str, ...], buckets: tuple[str, ...],
                 parameters: dict[str, str], aws: AwsOptions = AwsOptions(),
                 on_warning: Callable[[str], None] | None = None) -> None:
        check_targets(list(targets))
        self.targets, self.aws, self.on_warning = list(targets), aws, on_warning
        self.analyses, self.buckets, self.parameters = analyses, buckets, parameters
        self.clock = time.perf_counter()

    def start(self) -> None:
        self.clock = time.perf_counter()
        self.send(self.event("start"))

    def finish(self, results: list[AnalysisResult], notes: tuple[str, ...] = ()) -> None:
        self.send(self.event("finish", results=tuple(results), seconds=self.seconds(), notes=notes))

    @contextmanager
    def on_failure(self) -> Iterator[None]:
        """Notify any exception raised inside, then let it go on."""
        try:
            yield
        except Exception as error:
            self.send(self.event("failure", seconds=self.seconds(), error=_one_line(error)))
            raise

    def event(self, kind: str, results: tuple[AnalysisResult, ...] = (), seconds: float | None = None,
              error: str | None = None, notes: tuple[str, ...] = ()) -> NotifyEvent:
        return NotifyEvent(kind, self.analyses, self.buckets, self.parameters, results, seconds, error, notes)

    def seconds(self) -> float:
        return time.perf_counter() - self.clock

    def send(self, event: NotifyEvent) -> None:
        if self.targets:
            options = {"on_warning": self.on_warning} if self.on_warning else {}
            notify(self.targets, event, endpoint_url=self.aws.endpoint_url, profile=self.aws.profile, **options)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
