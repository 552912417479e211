"""Realistic sample S3 server access logs and CloudTrail logs, for the demo, the tests and the benchmarks.

Everything is drawn from a seeded ``random.Random`` so the same seed always gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from pathlib import Path

from s3logq.demo.access import (
    AccessRecord,
    _access_time,
    _host_id,
    _request_id,
    access_records,
    format_access_line,
)
from s3logq.demo.cloudtrail import _iso, cloudtrail_records
from s3logq.demo.common import (
    ACCESS_BUCKETS,
    ACCOUNT_ID,
    DEMO_REQUESTS_PER_HOUR,
    HOME_REGION,
    MALFORMED_ACCESS_LINES,
    TRAIL_BUCKET,
    TRAIL_NAME,
    TRAIL_REGIONS,
)

__all__ = [
    "ACCESS_BUCKETS", "ACCOUNT_ID", "MALFORMED_ACCESS_LINES", "AccessRecord", "DemoSummary", "access_records",
    "cloudtrail_records", "format_access_line", "generate", "write_access_logs", "write_cloudtrail_logs",
]

# --------------------------------------------------------------------------------------------------------------
# Writing the demo tree
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What generate() wrote; access_lines counts every line, the duplicate and the malformed ones included."""

    access_files: int
    access_lines: int
    cloudtrail_files: int
    cloudtrail_events: int
    digest_files: int
    root: Path


def generate(out_dir: Path, seed: int = 7, start: date = date(2024, 3, 1), days: int = 7) -> DemoSummary:
    """Write a week of access logs (``access/``) and CloudTrail logs with digests (``trail/``) under out_dir."""
    rng = random.Random(seed)
    root = Path(out_dir)
    start_time = datetime(start.year, start.month, start.day, tzinfo=UTC)
    access_files, access_lines = _write_demo_access(rng, root / "access", start_time, days)
    trail_files, trail_events, digest_files = _write_demo_trail(rng, root / "trail", start_time, days)
    return DemoSummary(access_files, access_lines, trail_files, trail_events, digest_files, root)


@dataclass
class _LogFile:
    """One delivered log object before it is written."""

    delivered: datetime
    lines: list[str]
    bucket: str = ""


def _write_demo_access(rng: random.Random, folder: Path, start: datetime, days: int) -> tuple[int, int]:
    records = list(access_records(rng, start, days * 24, list(ACCESS_BUCKETS), DEMO_REQUESTS_PER_HOUR))
    files = [log for bucket in ACCESS_BUCKETS
             for log in _delivery_batches(rng, [rec for rec in records if rec.bucket_name == bucket])]
    _log_one_request_twice(files)
    bad_file = files[len(files) // 3]
    _add_malformed_lines(bad_file)
    gzipped = {id(log) for log in files if log is not bad_file and rng.random() < 0.06}
    gzipped |= {id(log) for log in files[1:3]}
    folder.mkdir(parents=True, exist_ok=True)
    for log in files:
        name = f"{log.delivered:%Y-%m-%d-%H-%M-%S}-{rng.getrandbits(64):016X}"
        data = "".join(line + "\n" for line in log.lines).encode()
        if id(log) in gzipped:
            _write_once(folder / f"{name}.gz", gzip.compress(data, compresslevel=6, mtime=0))
        else:
            _write_once(folder / name, data)
    return len(files), sum(len(log.lines) for log in files)


def _delivery_batches(rng: random.Random, records: list[AccessRecord]) -> Iterator[_LogFile]:
    """Cut one bucket's records into log objects of minutes to an hour or two each, delivered a little later."""
    batch: list[AccessRecord] = []
    min_lines, max_lines, max_span = _batch_limits(rng)
    for rec in records:
        span = rec.request_time - batch[0].request_time if batch else timedelta(0)
        if len(batch) >= max_lines or (span > max_span and len(batch) >= min_lines) or span > timedelta(hours=2):
            yield _delivered(rng, batch)
            batch, (min_lines, max_lines, max_span) = [], _batch_limits(rng)
        batch.append(rec)
    if batch:
        yield _delivered(rng, batch)


def _batch_limits(rng: random.Random) -> tuple[int, int, timedelta]:
    """Fewest lines, most lines and usual time span of the next log object."""
    return rng.randint(20, 45), rng.randint(60, 200), timedelta(minutes=rng.randint(10, 40))


def _delivered(rng: random.Random, batch: list[AccessRecord]) -> _LogFile:
    delivered = batch[-1].request_time + timedelta(seconds=rng.randint(60, 900))
    return _LogFile(delivered, [format_access_line(rec) for rec in batch], batch[0].bucket_name)


def _log_one_request_twice(files: list[_LogFile]) -> None:
    """S3 logging is best effort: repeat one line at the top of the bucket's next log object."""
    first, second = files[5], files[6]
    assert first.bucket == second.bucket
    second.lines.insert(0, first.lines[-1])


def _add_malformed_lines(log: _LogFile) -> None:
    """The only bad lines of the demo: one cut off inside the request-URI, and one of garbage."""
    at, model = next((i, line) for i, line in enumerate(log.lines) if '"' in line)
    log.lines.insert(at + 1, model[: model.index('"') + 12])
    log.lines.insert(len(log.lines) // 2, "GARBAGE ### this is not an S3 server access log line ###")


def _write_demo_trail(rng: random.Random, root: Path, start: datetime, days: int) -> tuple[int, int, int]:
    files = events = digests = 0
    for region, buckets in TRAIL_REGIONS.items():
        records = list(cloudtrail_records(rng, start, days * 24, list(buckets), ACCOUNT_ID, region))
        deliveries = _trail_deliveries(rng, records, start)
        if region == HOME_REGION:
            deliveries[6].insert(0, deliveries[5][-1])
        else:
            deliveries.insert(3, [])
        written = [_write_trail_file(rng, root, region, _trail_delivery_time(rng, batch, deliveries, i), batch)
                   for i, batch in enumerate(deliveries)]
        files, events = files + len(written), events + sum(len(batch) for batch in deliveries)
        digests += _write_digests(rng, root, region, start, written)
    return files, events, digests


def _trail_deliveries(rng: random.Random, records: list[dict], start: datetime) -> list[list[dict]]:
    """Group events into 15–60 minute windows, one log file per non-empty window."""
    batches: list[list[dict]] = []
    batch: list[dict] = []
    window_end = start + timedelta(minutes=rng.randint(15, 60))
    for event in records:
        while event["eventTime"] >= _iso(window_end):
            if batch:
                batches.append(batch)
            window_end, batch = window_end + timedelta(minutes=rng.randint(15, 60)), []
        batch.append(event)
    if batch:
        batches.append(batch)
    return batches


def _trail_delivery_time(rng: random.Random, batch: list[dict], batches: list[list[dict]], index: int) -> datetime:
    """A few minutes after the newest event; an empty file borrows its neighbour's time."""
    newest = batch[-1] if batch else batches[index - 1][-1]
    return datetime.fromisoformat(newest["eventTime"]) + timedelta(seconds=rng.randint(120, 600))


@dataclass
class _WrittenTrailFile:
    """What a digest needs to know about a delivered log file."""

    key: str
    delivered: datetime
    sha256: str
    oldest: str | None
    newest: str | None


def _write_trail_file(rng: random.Random, root: Path, region: str, delivered: datetime,
                      batch: list[dict]) -> _WrittenTrailFile:
    unique = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
    key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
           f"{ACCOUNT_ID}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")
    body = _json_bytes({"Records": batch})
    _write_gzip(root / key, body)
    times = sorted(event["eventTime"] for event in batch)
    return _WrittenTrailFile(key, delivered, hashlib.sha256(body).hexdigest(), times[0] if times else None,
                             times[-1] if times else None)


def _write_digests(rng: random.Random, root: Path, region: str, start: datetime,
                   written: list[_WrittenTrailFile]) -> int:
    """Hourly digest files listing the log files delivered in each hour (some list none)."""
    previous: tuple[str, bytes] | None = None
    begin, count, last = start, 0, max(log.delivered for log in written)
    fingerprint = f"{rng.getrandbits(128):032x}"
    while begin <= last:
        end = start + timedelta(hours=count + 1, seconds=rng.randint(0, 240))
        listed = [log for log in written if begin <= log.delivered < end]
        key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{ACCOUNT_ID}_CloudTrail-Digest_"
               f"{region}_{TRAIL_NAME}_{HOME_REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz")
        body = _json_bytes(_digest(rng, key, begin, end, listed, previous, fingerprint))
        _write_gzip(root / key, body)
        previous, begin, count = (key, body), end, count + 1
    return count


def _digest(rng: random.Random, key: str, begin: datetime, end: datetime, listed: list[_WrittenTrailFile],
            previous: tuple[str, bytes] | None, fingerprint: str) -> dict:
    newest = max((log.newest for log in listed if log.newest), default=None)
    oldest = min((log.oldest for log in listed if log.oldest), default=None)
    return {
        "awsAccountId": ACCOUNT_ID, "digestStartTime": _iso(begin), "digestEndTime": _iso(end),
        "digestS3Bucket": TRAIL_BUCKET, "digestS3Object": key, "digestPublicKeyFingerprint": fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": newest, "oldestEventTime": oldest,
        "previousDigestS3Bucket": TRAIL_BUCKET if previous else None,
        "previousDigestS3Object": previous[0] if previous else None,
        "previousDigestHashValue": hashlib.sha256(previous[1]).hexdigest() if previous else None,
        "previousDigestHashAlgorithm": "SHA-256" if previous else None,
        "previousDigestSignature": f"{rng.getrandbits(2048):0512x}" if previous else None,
        "logFiles": [{"s3Bucket": TRAIL_BUCKET, "s3Object": log.key, "hashValue": log.sha256,
                      "hashAlgorithm": "SHA-256", "newestEventTime": log.newest, "oldestEventTime": log.oldest}
                     for log in listed],
    }


def _json_bytes(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _write_once(path: Path, data: bytes) -> None:
    """Write a file unless it holds these bytes already: a second `s3logq demo` leaves the logs as they were
    (same modification times), so the lake sees them as ingested, not as changed."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return
    path.write_bytes(data)


def _write_gzip(path: Path, body: bytes, level: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_once(path, gzip.compress(body, compresslevel=level, mtime=0))


# --------------------------------------------------------------------------------------------------------------
# Bulk writers for benchmarks
# --------------------------------------------------------------------------------------------------------------


def write_access_logs(out_dir: Path, total_bytes: int, files: int, gzip: bool, seed: int = 1) -> int:
    """Write about total_bytes (uncompressed) of access log lines into ``files`` SimplePrefix objects."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    pools = _access_line_pools(rng, start)
    per_file = max(1, total_bytes // max(files, 1))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines_written = 0
    for index in range(files):
        pool = pools[index % len(pools)]
        count = max(1, round(per_file / pool.mean_length))
        window_start = start + timedelta(minutes=5 * index)
        body = _restamped_lines(rng, pool, window_start, count)
        name = f"{window_start + timedelta(minutes=7):%Y-%m-%d-%H-%M-%S}-{rng.getrandbits(64):016X}"
        if gzip:
            _write_gzip(out_dir / f"{name}.gz", body)
        else:
            _write_once(out_dir / name, body)
        lines_written += count
    return lines_written


@dataclass
class _LinePool:
    """Formatted lines of one bucket, cut around the bracketed time, the request ID and the host ID, so that
    each line written gets its own time and IDs (as in real logs, where no two requests share them)."""

    heads: list[str]
    tails: list[list[str]]  # the text between the time and the IDs: one more piece than the line has IDs
    mean_length: float


_ID_SLOT = "\x00"


def _access_line_pools(rng: random.Random, start: datetime, size: int = 20_000) -> list[_LinePool]:
    records = list(islice(access_records(rng, start, 10_000, list(ACCESS_BUCKETS), per_hour=400), size))
    pools = []
    for bucket in ACCESS_BUCKETS:
        mine = [rec for rec in records if rec.bucket_name == bucket]
        slotted = [format_access_line(replace(rec, requestid=_ID_SLOT, hostid=rec.hostid and _ID_SLOT))
                   for rec in mine]
        heads = [line[: line.index("[")] for line in slotted]
        tails = [(line[line.index("]") + 1:] + "\n").split(_ID_SLOT) for line in slotted]
        mean_length = sum(len(format_access_line(rec).encode()) + 1 for rec in mine) / len(mine)
        pools.append(_LinePool(heads, tails, mean_length))
    return pools


def _restamped_lines(rng: random.Random, pool: _LinePool, window_start: datetime, count: int) -> bytes:
    """``count`` pool lines in time order across a five-minute window, each with new request and host IDs."""
    stamps = [_access_time(window_start + timedelta(seconds=second)) for second in range(300)]
    picks = rng.choices(range(len(pool.heads)), k=count)
    lines = []
    for i, pick in enumerate(picks):
        tail = pool.tails[pick]
        ids = [_request_id(rng), _host_id(rng)][: len(tail) - 1]
        lines.append(pool.heads[pick] + stamps[i * 300 // count] + "".join(
            piece + (ids[n] if n < len(ids) else "") for n, piece in enumerate(tail)))
    return "".join(lines).encode()


def write_cloudtrail_logs(out_dir: Path, total_bytes: int, files: int, seed: int = 1) -> int:
    """Write about total_bytes (uncompressed JSON) of CloudTrail events into ``files`` .json.gz log files."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    templates = _event_templates(rng, start)
    mean_length = sum(len(parts[0]) + len(parts[1]) + len(parts[2]) + 57 for parts in templates) / len(templates)
    per_file = max(1, round(total_bytes / max(files, 1) / mean_length))
    events = 0
    for index in range(files):
        window_start = start + timedelta(minutes=5 * index)
        body = _restamped_events(rng, templates, window_start, per_file)
        delivered = window_start + timedelta(minutes=7)
        unique = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
        key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{HOME_REGION}/{delivered:%Y/%m/%d}/"
               f"{ACCOUNT_ID}_CloudTrail_{HOME_REGION}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")
        _write_gzip(Path(out_dir) / key, body)
        events += per_file
    return events


def _event_templates(rng: random.Random, start: datetime) -> list[tuple[str, str, str]]:
    """Serialized events cut around eventTime and eventID, to be re-stamped cheaply."""
    templates = []
    for event in cloudtrail_records(rng, start, 24, list(ACCESS_BUCKETS), ACCOUNT_ID, HOME_REGION):
        marked = {**event, "eventTime": "@@TIME@@", "eventID": "@@EVENTID@@"}
        before_time, after_time = _json_bytes(marked).decode().split("@@TIME@@")
        middle, end = after_time.split("@@EVENTID@@")
        templates.append((before_time, middle, end))
    return templates


def _restamped_events(rng: random.Random, templates: list[tuple[str, str, str]], window_start: datetime,
                      count: int) -> bytes:
    stamps = [_iso(window_start + timedelta(seconds=second)) for second in range(300)]
    records = []
    for i, (before, middle, end) in enumerate(rng.choices(templates, k=count)):
        records.append(f"{before}{stamps[i * 300 // count]}{middle}{uuid.UUID(int=rng.getrandbits(128), version=4)}{end}")
    return ('{"Records":[' + ",".join(records) + "]}").encode()

