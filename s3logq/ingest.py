"""Ingest: select -> read and parse (in parallel) -> write parts -> commit, each a function of its own.

Every row of every file read is stored: --since/--until/--bucket only choose which files are opened, so a
filtered ingest never makes a file count as read while rows of it are missing from the lake.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pyarrow as pa

from s3logq.formats import ACCESS, CLOUDTRAIL, UnreadableFile, decompress, detect_type, name_date
from s3logq.formats.access_log import Reject, parse_access_logs
from s3logq.formats.cloudtrail import NotCloudTrail, parse_cloudtrail
from s3logq.lake import IngestedSource, Lake
from s3logq.reader import (
    ContentClaims,
    HashedRead,
    content_of,
    content_of_path,
    is_big,
    line_slices_of,
)
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
# CloudTrail files (known here by their name) are parsed one by one, so grouping them gains nothing, and each
# stored byte is ~10 plain ones of JSON: small groups keep every worker busy to the last file.
CLOUDTRAIL_CHUNK_BYTES = 250_000


@dataclass(frozen=True)
class IngestOptions:
    """Which files to open (log type 'auto', 'access', 'cloudtrail'; time range [since, until); buckets)."""

    log_type: str = "auto"
    since: datetime | None = None
    until: datetime | None = None
    buckets: tuple[str, ...] = ()
    workers: int = 4


SAME_CONTENT = "same content as "
PARTLY_READ = "read in part: "


@dataclass(frozen=True)
class Candidate:
    """A file to open; `previous_content` is set when its name is known but its size or version changed."""

    source: SourceFile
    previous_content: str | None = None


@dataclass
class ParsedFile:
    """What reading one source file gave: its type, or why it holds no rows, or a failure."""

    source: SourceFile
    log_type: str | None = None
    skipped_reason: str | None = None
    error: str | None = None
    bytes_read: int = 0
    content: str | None = None
    duplicate_of: str | None = None  # another file holds the same bytes: this one adds nothing
    unchanged: bool = False  # known by its name, touched since but the same bytes
    changed: bool = False  # known by its name, other bytes now: the rows first ingested are kept
    partly_stored: bool = False  # a big file whose slices up to a failure were stored


@dataclass
class ParsedChunk:
    """Files or slices read together: each file's outcome, their rows as (log type, table, rejects), failures."""

    files: list[ParsedFile] = field(default_factory=list)
    tables: list[tuple[str, pa.Table, list[Reject]]] = field(default_factory=list)
    failures: list[tuple[ParsedFile, str]] = field(default_factory=list)


@dataclass
class IngestReport:
    """The outcome of one ingest, for the summary lines and the exit status."""

    ingest_id: str = ""
    files_read: int = 0
    files_already_ingested: int = 0
    files_out_of_range: int = 0
    files_same_content: int = 0
    files_partly_read: int = 0
    files_changed: list[str] = field(default_factory=list)
    files_skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (digests, no Records)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (uri, one-line reason)
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows stored
    rows_outside_range: int = 0  # stored too: a file read is stored whole
    duplicates_dropped: int = 0
    rejected_lines: int = 0
    bytes_read: int = 0
    orphans_removed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def select_sources(sources: Iterable[SourceFile], lake: Lake, options: IngestOptions,
                   report: IngestReport) -> Iterator[Candidate]:
    """Files to open: not yet ingested under their name, and not outside the time range by their name."""
    known = lake.known_sources()
    first_day = options.since.astimezone(UTC).date() if options.since else None
    last_day = (options.until.astimezone(UTC) + LATE_DELIVERY_MARGIN).date() if options.until else None
    for source in sources:
        if not _may_hold_range(name_date(source.uri), first_day, last_day):
            report.files_out_of_range += 1
        elif source.uri not in known:
            yield Candidate(source)
        else:
            size, version, content = known[source.uri]
            if (size, version) == (source.size, source.version):
                report.files_already_ingested += 1
            elif content is None or source.uri.startswith("s3://"):  # a new ETag is new content
                report.files_changed.append(source.uri)  # stored rows came from the old content: keep them
            else:
                yield Candidate(source, previous_content=content)


def _may_hold_range(day: date | None, first_day: date | None, last_day: date | None) -> bool:
    if day is None:
        return True
    return not ((first_day and day < first_day) or (last_day and day > last_day))


def read_candidate(candidate: Candidate, claims: ContentClaims, log_type: str = "auto") -> tuple[ParsedFile, bytes]:
    """Read, identify, decompress and detect one file; a failure becomes the file's one-line `error`.

    A file whose content another file already holds is not decompressed: it adds nothing.
    """
    source = candidate.source
    parsed = ParsedFile(source)
    data = b""
    claimed = False
    try:
        if source.uri.startswith("s3://"):  # the ETag tells the content before the object is fetched
            parsed.content = content_of(source)
        else:
            data = source.read()
            parsed.bytes_read = len(data)
            parsed.content = content_of(source, data)
        if _adds_nothing(parsed, candidate, claims):
            return parsed, b""
        claimed = True
        if not data:
            data = source.read()
            parsed.bytes_read = len(data)
        data = decompress(data, source.uri)
        _detect(parsed, data, log_type)
    except Exception as error:  # noqa: BLE001 - one bad file must never stop the others
        parsed.error = _failure(error)
        if claimed and parsed.content:
            claims.release(parsed.content, source.uri)
        return parsed, b""
    return parsed, data


def _adds_nothing(parsed: ParsedFile, candidate: Candidate, claims: ContentClaims) -> bool:
    """Whether a file whose content is known adds nothing: the same bytes under its known name (touched), other
    bytes under its known name (changed: its first rows are kept), or bytes another file holds. Else it claims them."""
    if candidate.previous_content is not None:
        parsed.unchanged = parsed.content == candidate.previous_content
        parsed.changed = not parsed.unchanged
        return True
    assert parsed.content is not None
    parsed.duplicate_of = claims.claim(parsed.content, parsed.source.uri)
    return parsed.duplicate_of is not None


def _detect(parsed: ParsedFile, data: bytes, log_type: str) -> None:
    parsed.log_type = detect_type(data, parsed.source.uri)
    if log_type != "auto" and parsed.log_type != log_type:
        raise UnreadableFile(f"is a {parsed.log_type} log, not {log_type} (--type {log_type})")


def _failure(error: Exception) -> str:
    if isinstance(error, UnreadableFile | NotCloudTrail):
        return str(error)
    if isinstance(error, OSError):
        return f"cannot read: {error.strerror or error}"
    return f"{type(error).__name__}: {error}"


def parse_chunk(candidates: list[Candidate], claims: ContentClaims, log_type: str = "auto") -> ParsedChunk:
    """Read and parse a few files; their access-log lines are tokenized together, in one pass."""
    chunk = ParsedChunk()
    access: list[tuple[bytes, str]] = []
    for candidate in candidates:
        parsed, data = read_candidate(candidate, claims, log_type)
        chunk.files.append(parsed)
        if not data:
            continue
        if parsed.log_type == ACCESS:
            access.append((data, parsed.source.uri))
        else:
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
    except Exception as error:  # noqa: BLE001
        parsed.error = _failure(error)
    else:
        parsed.skipped_reason = result.skipped_reason
        chunk.tables.append((CLOUDTRAIL, result.table, result.rejects))


def parse_slice(parsed: ParsedFile, text: bytes, first_line: int) -> ParsedChunk:
    """Parse a slice of a big access-log file; rows and rejects keep the file's own line numbers."""
    try:
        table, rejects = parse_access_logs([(text, parsed.source.uri, first_line)])
    except Exception as error:  # noqa: BLE001 - the rest of the file is still read
        return ParsedChunk(failures=[(parsed, f"lines from {first_line}: {type(error).__name__}: {error}")])
    return ParsedChunk(tables=[(ACCESS, table, rejects)])


def ingest(lake: Lake, sources: Iterable[SourceFile], options: IngestOptions = IngestOptions(),
           on_file: Callable[[ParsedFile], None] | None = None,
           on_wait: Callable[[str], None] | None = None) -> IngestReport:
    """Ingest new source files into the lake in one atomic commit, and say what happened."""
    started, clock = datetime.now(UTC), time.perf_counter()
    report = IngestReport(ingest_id=lake.new_ingest_id())
    with exclusive_lock(lake, on_wait):
        lake.check_before_ingest()
        report.orphans_removed = lake.remove_orphans(report.ingest_id)
        lake.begin_ingest(report.ingest_id, started)
        claims = ContentClaims(lake.known_contents())
        writer = PartWriter(lake, report.ingest_id, options.since, options.until, options.buckets)
        read: list[ParsedFile] = []
        rejected: Counter[str] = Counter()
        for chunk in _parse_all(select_sources(sources, lake, options, report), options, claims):
            for parsed, error in chunk.failures:
                parsed.error = parsed.error or error
            for log_type, table, rejects in chunk.tables:
                writer.add(log_type, table, rejects)
                rejected.update(r.log_file for r in rejects)
            for parsed in chunk.files:
                _take(parsed, read, report)
                if on_file:
                    on_file(parsed)
        parts = writer.finish()
        log_types = _log_types(lake, read)
        ingested = [_ingested(p, log_types, writer.rows_by_file[p.source.uri], rejected[p.source.uri])
                    for p in read]
        lake.commit(report.ingest_id, started, parts, ingested, len(report.failures))
    report.rejected_lines = sum(rejected.values())
    report.rows = dict(writer.rows_by_table)
    report.rows_outside_range = writer.rows_outside_range
    report.duplicates_dropped = writer.duplicates_dropped
    report.seconds = time.perf_counter() - clock
    return report


def _take(parsed: ParsedFile, read: list[ParsedFile], report: IngestReport) -> None:
    """Count one file's outcome; files whose rows are stored (or that add nothing) are recorded at commit."""
    report.bytes_read += parsed.bytes_read
    if parsed.unchanged:
        report.files_already_ingested += 1
    elif parsed.changed:
        report.files_changed.append(parsed.source.uri)
    elif parsed.duplicate_of:
        report.files_same_content += 1
        read.append(parsed)
    elif parsed.error is not None:
        report.failures.append((parsed.source.uri, parsed.error))
        if parsed.partly_stored:  # its rows up to the failure are stored: reading it again would double them
            report.files_partly_read += 1
            read.append(parsed)
    else:
        report.files_read += 1
        if parsed.skipped_reason:
            report.files_skipped[parsed.skipped_reason] = report.files_skipped.get(parsed.skipped_reason, 0) + 1
        read.append(parsed)


def _log_types(lake: Lake, read: list[ParsedFile]) -> dict[str, str]:
    """The log type of every file read, and of the files that duplicates repeat (maybe ingested earlier)."""
    types = {p.source.uri: p.log_type for p in read if p.log_type}
    owners = sorted({p.duplicate_of for p in read if p.duplicate_of and p.duplicate_of not in types})
    types.update(lake.log_types(owners))
    return types


def _ingested(parsed: ParsedFile, log_types: dict[str, str], rows: int, rejected: int) -> IngestedSource:
    reason = parsed.skipped_reason
    if parsed.duplicate_of:
        reason = SAME_CONTENT + parsed.duplicate_of
    elif parsed.partly_stored and parsed.error is not None:
        reason = PARTLY_READ + (parsed.error or "")
    log_type = parsed.log_type or log_types.get(parsed.duplicate_of or "", ACCESS)
    source = parsed.source
    return IngestedSource(source.uri, source.size, source.version, log_type, rows, rejected, reason, parsed.content)


def _parse_all(candidates: Iterable[Candidate], options: IngestOptions,
               claims: ContentClaims) -> Iterator[ParsedChunk]:
    """The reading work over the candidates on a thread pool, in order, with a bounded number in flight."""
    window = max(2, options.workers * 3)
    # Slices of a big file hold SLICE_BYTES of text each and only need CPUs, where S3 sizes the pool for network
    # waits (16 threads): on that pool a big object's text piled up in slices waiting for a core, and each thread
    # kept its own allocator arena of parsed slices (peak memory grew with the object, up to 16 of them).
    slice_window = max(2, default_workers() + 1)
    with ThreadPoolExecutor(max_workers=options.workers) as pool, \
            ThreadPoolExecutor(max_workers=min(options.workers, default_workers())) as slice_pool:
        pending: deque[tuple[Future[ParsedChunk], bool]] = deque()
        slices = 0
        for work in _work(candidates, options, claims):
            is_slice = isinstance(work, partial) and work.func is parse_slice
            pending.append(((slice_pool if is_slice else pool).submit(work), is_slice))
            slices += is_slice
            while len(pending) >= window or slices >= slice_window:
                future, was_slice = pending.popleft()
                slices -= was_slice
                yield future.result()
        while pending:
            yield pending.popleft()[0].result()


def _work(candidates: Iterable[Candidate], options: IngestOptions,
          claims: ContentClaims) -> Iterator[Callable[[], ParsedChunk]]:
    """Small files grouped up to CHUNK_BYTES (stored size) or CHUNK_FILES; big files (local or S3) as slices."""
    chunk: list[Candidate] = []
    size = 0
    for candidate in candidates:
        if is_big(candidate.source):
            yield from _big_file_work(candidate, options, claims)
            continue
        chunk.append(candidate)
        size += candidate.source.size * (CHUNK_BYTES // CLOUDTRAIL_CHUNK_BYTES
                                         if "CloudTrail" in candidate.source.uri else 1)
        if size >= CHUNK_BYTES or len(chunk) >= CHUNK_FILES:
            yield partial(parse_chunk, chunk, claims, options.log_type)
            chunk, size = [], 0
    if chunk:
        yield partial(parse_chunk, chunk, claims, options.log_type)


def _big_file_work(candidate: Candidate, options: IngestOptions,
                   claims: ContentClaims) -> Iterator[Callable[[], ParsedChunk]]:
    """A big file (local, or an S3 object streamed), decompressed as it streams and cut at line ends into slices.

    The file's outcome comes after its last slice, so it is counted once, when all of its rows are in. A local
    file's content is hashed first only when it may add nothing (its name or its size is known); else as it
    streams, one pass. An S3 object's content (its ETag) is known before it is read.
    """
    source = candidate.source
    parsed = ParsedFile(source, bytes_read=source.size)
    done = partial(ParsedChunk, [parsed])
    hashed: HashedRead | None = None
    try:
        if source.path is not None and candidate.previous_content is None and not claims.may_hold(source.size):
            # Big files are read one after another here, and no smaller file has this size: nothing else can
            # claim this content before this file's end, so claiming it there is safe.
            hashed = HashedRead(source.path)
            slices = hashed.slices()
        else:
            parsed.content = content_of_path(source.path) if source.path is not None else content_of(source)
            if _adds_nothing(parsed, candidate, claims):
                yield done
                return
            slices = line_slices_of(source)
    except OSError as error:
        parsed.error = _failure(error)
        yield done
        return
    try:
        text, first_line = next(slices, (b"", 1))
        _detect(parsed, text, options.log_type)
    except Exception as error:  # noqa: BLE001
        parsed.error = _failure(error)
        if hashed is not None:
            hashed.close()
        else:
            claims.release(parsed.content or "", source.uri)
        yield done
        return
    if parsed.log_type != ACCESS:  # a CloudTrail file is one JSON document: read whole
        del text
        if hashed is not None:
            hashed.close()  # parse_chunk hashes and claims it
        yield partial(parse_chunk, [candidate], claims, options.log_type)  # its own claim: not a duplicate
        return
    yield partial(parse_slice, parsed, text, first_line)
    parsed.partly_stored = True
    while True:
        try:
            text, first_line = next(slices)
        except StopIteration:
            break
        except Exception as error:  # noqa: BLE001 - e.g. gzip data that breaks off: what came before is kept
            parsed.error = f"after line {first_line - 1}: {_failure(error)}"
            break
        yield partial(parse_slice, parsed, text, first_line)
    if hashed is not None:
        try:
            parsed.content = hashed.content()
        except OSError as error:
            parsed.error = parsed.error or _failure(error)
        else:
            claims.claim(parsed.content, source.uri)  # first of its size (see above): the claim is its own
    yield done


@contextmanager
def exclusive_lock(lake: Lake, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lake's lock for the whole ingest, so two ingests never write at once; say who holds it."""
    lake.create()
    with open(lake.root / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if on_wait:
                on_wait(f"waiting for the lake's lock, held by {holder}")
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        handle.seek(0)
        handle.truncate()
        handle.write(f"s3logq ingest, pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        yield


def default_workers() -> int:
    return max(2, (os.cpu_count() or 2))


def workers_for(sources: tuple[str, ...] | list[str]) -> int:
    """Objects fetched at once: S3 reads wait on the network, so many; local reads need CPUs, so as many."""
    if any(source.startswith("s3://") for source in sources):
        return DEFAULT_WORKERS
    return default_workers()

