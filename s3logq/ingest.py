"""Ingest: select -> read and parse (in parallel) -> write parts -> commit, each a function of its own."""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from s3logq.formats import ACCESS, CLOUDTRAIL, UnreadableFile, decompress, detect_type, name_date
from s3logq.formats.access_log import Reject, parse_access_logs
from s3logq.formats.cloudtrail import NotCloudTrail, parse_cloudtrail
from s3logq.lake import IngestedSource, Lake
from s3logq.sources import SourceFile
from s3logq.sources.s3 import DEFAULT_WORKERS
from s3logq.writer import PartWriter

# mimalloc (Arrow's default here) hands memory back to the OS so eagerly that ingest spent a third of its
# time in the kernel; jemalloc keeps it for the next file.
if "jemalloc" in pa.supported_memory_backends():
    pa.set_memory_pool(pa.jemalloc_memory_pool())

# Logs are delivered after the requests they hold, at best effort: a file named for a later day can
# still hold requests of the range, so files up to this long after `until` are read.
LATE_DELIVERY_MARGIN = timedelta(days=1)
# Files read and tokenized together: small log files cost one parse, not one each.
CHUNK_BYTES = 2_000_000
CHUNK_FILES = 64


@dataclass(frozen=True)
class IngestOptions:
    """What to ingest: log type ('auto', 'access', 'cloudtrail'), time range [since, until), buckets."""

    log_type: str = "auto"
    since: datetime | None = None
    until: datetime | None = None
    buckets: tuple[str, ...] = ()
    workers: int = 4


@dataclass
class ParsedFile:
    """What reading one source file gave: its type, or why it holds no rows, or a failure."""

    source: SourceFile
    log_type: str | None = None
    skipped_reason: str | None = None
    error: str | None = None
    bytes_read: int = 0


@dataclass
class ParsedChunk:
    """A few files read together: each file's outcome, and their rows as (log type, table, rejects)."""

    files: list[ParsedFile] = field(default_factory=list)
    tables: list[tuple[str, pa.Table, list[Reject]]] = field(default_factory=list)


@dataclass
class IngestReport:
    """The outcome of one ingest, for the summary lines and the exit status."""

    ingest_id: str = ""
    files_read: int = 0
    files_already_ingested: int = 0
    files_out_of_range: int = 0
    files_changed: list[str] = field(default_factory=list)
    files_skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (digests, no Records)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (uri, one-line reason)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows stored
    rows_outside_range: int = 0
    duplicates_dropped: int = 0
    rejected_lines: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def select_sources(sources: Iterable[SourceFile], lake: Lake, options: IngestOptions,
                   report: IngestReport) -> Iterator[SourceFile]:
    """Sources not yet ingested whose name does not put them outside the time range."""
    known = lake.known_sources()
    first_day = options.since.astimezone(UTC).date() if options.since else None
    last_day = (options.until.astimezone(UTC) + LATE_DELIVERY_MARGIN).date() if options.until else None
    for source in sources:
        if not _may_hold_range(name_date(source.uri), first_day, last_day):
            report.files_out_of_range += 1
        elif source.uri not in known:
            yield source
        elif known[source.uri] == (source.size, source.version):
            report.files_already_ingested += 1
        else:
            report.files_changed.append(source.uri)  # stored rows came from the old content: keep them


def _may_hold_range(day: date | None, first_day: date | None, last_day: date | None) -> bool:
    if day is None:
        return True
    return not ((first_day and day < first_day) or (last_day and day > last_day))


def read_source(source: SourceFile, log_type: str = "auto") -> tuple[ParsedFile, bytes]:
    """Read, decompress and detect one file; a failure becomes the file's one-line `error`."""
    parsed = ParsedFile(source)
    data = b""
    try:
        data = source.read()
        parsed.bytes_read = len(data)
        data = decompress(data, source.uri)
        parsed.log_type = detect_type(data, source.uri)
        if log_type != "auto" and parsed.log_type != log_type:
            raise UnreadableFile(f"is a {parsed.log_type} log, not {log_type} (--type {log_type})")
    except UnreadableFile as error:
        parsed.error = str(error)
    except OSError as error:
        parsed.error = f"cannot read: {error.strerror or error}"
    except Exception as error:  # noqa: BLE001 - one bad file must never stop the others
        parsed.error = f"{type(error).__name__}: {error}"
    return parsed, data


def parse_chunk(sources: list[SourceFile], log_type: str = "auto") -> ParsedChunk:
    """Read and parse a few files; their access-log lines are tokenized together, in one pass."""
    chunk = ParsedChunk()
    access: list[tuple[bytes, str]] = []
    for source in sources:
        parsed, data = read_source(source, log_type)
        chunk.files.append(parsed)
        if parsed.error is None and parsed.log_type == ACCESS:
            access.append((data, source.uri))
        elif parsed.error is None:
            _parse_cloudtrail_file(parsed, data, chunk)
    if access:
        try:
            chunk.tables.append((ACCESS, *parse_access_logs(access)))
        except Exception as error:  # noqa: BLE001 - a parser bug must be reported, not lose the other files
            for parsed in chunk.files:
                if parsed.log_type == ACCESS and parsed.error is None:
                    parsed.error = f"{type(error).__name__}: {error}"
    return chunk


def _parse_cloudtrail_file(parsed: ParsedFile, data: bytes, chunk: ParsedChunk) -> None:
    try:
        result = parse_cloudtrail(data, parsed.source.uri)
    except NotCloudTrail as error:
        parsed.error = str(error)
    except Exception as error:  # noqa: BLE001
        parsed.error = f"{type(error).__name__}: {error}"
    else:
        parsed.skipped_reason = result.skipped_reason
        chunk.tables.append((CLOUDTRAIL, result.table, result.rejects))


def ingest(lake: Lake, sources: Iterable[SourceFile], options: IngestOptions = IngestOptions(),
           on_file: Callable[[ParsedFile], None] | None = None) -> IngestReport:
    """Ingest new source files into the lake in one atomic commit, and say what happened."""
    started, clock = datetime.now(UTC), time.perf_counter()
    report = IngestReport(ingest_id=lake.new_ingest_id())
    with _exclusive(lake):
        lake.remove_orphans()
        writer = PartWriter(lake, report.ingest_id, options.since, options.until, options.buckets)
        read: list[ParsedFile] = []
        rejected: Counter[str] = Counter()
        for chunk in _parse_all(select_sources(sources, lake, options, report), options):
            for log_type, table, rejects in chunk.tables:
                writer.add(log_type, table, rejects)
                rejected.update(r.log_file for r in rejects)
            for parsed in chunk.files:
                _take(parsed, read, report)
                if on_file:
                    on_file(parsed)
        parts = writer.finish()
        ingested = [IngestedSource(p.source.uri, p.source.size, p.source.version, p.log_type or ACCESS,
                                   writer.rows_by_file[p.source.uri], rejected[p.source.uri], p.skipped_reason)
                    for p in read]
        lake.commit(report.ingest_id, started, parts, ingested, len(report.failures))
    report.rejected_lines = sum(rejected.values())
    report.rows = dict(writer.rows_by_table)
    report.rows_outside_range = writer.rows_outside_range
    report.duplicates_dropped = writer.duplicates_dropped
    report.seconds = time.perf_counter() - clock
    return report


def _take(parsed: ParsedFile, read: list[ParsedFile], report: IngestReport) -> None:
    """Count one file's outcome; files that were read are recorded in the manifest at commit."""
    report.bytes_read += parsed.bytes_read
    if parsed.error is not None:
        report.failures.append((parsed.source.uri, parsed.error))
        return
    report.files_read += 1
    if parsed.skipped_reason:
        report.files_skipped[parsed.skipped_reason] = report.files_skipped.get(parsed.skipped_reason, 0) + 1
    read.append(parsed)


def _parse_all(sources: Iterable[SourceFile], options: IngestOptions) -> Iterator[ParsedChunk]:
    """parse_chunk over the sources on a thread pool, in order, with a bounded number in flight."""
    window = max(2, options.workers * 3)
    with ThreadPoolExecutor(max_workers=options.workers) as pool:
        pending: list[Future[ParsedChunk]] = []
        for chunk in _chunks(sources):
            pending.append(pool.submit(parse_chunk, chunk, options.log_type))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _chunks(sources: Iterable[SourceFile]) -> Iterator[list[SourceFile]]:
    """Consecutive sources grouped up to CHUNK_BYTES (stored size) or CHUNK_FILES files."""
    chunk: list[SourceFile] = []
    size = 0
    for source in sources:
        chunk.append(source)
        size += source.size
        if size >= CHUNK_BYTES or len(chunk) >= CHUNK_FILES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


@contextmanager
def _exclusive(lake: Lake) -> Iterator[None]:
    """Hold the lake's lock for the whole ingest, so two ingests never write at once."""
    lake.create()
    with open(lake.root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def default_workers() -> int:
    return max(2, (os.cpu_count() or 2))


def workers_for(sources: tuple[str, ...] | list[str]) -> int:
    """Objects fetched at once: S3 reads wait on the network, so many; local reads need CPUs, so as many."""
    if any(source.startswith("s3://") for source in sources):
        return DEFAULT_WORKERS
    return default_workers()

