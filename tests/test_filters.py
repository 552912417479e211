"""Every filter of every analysis (issue 17): a value that keeps a strict, non-empty part of the rows, and the
rows kept checked against the unfiltered rows narrowed in Python by what the filter means, never by the SQL.

A filter that is ignored, inverted, or off by one at a time bound fails here. Time bounds sit at the exact
instant of a row in the middle of a day, so the lake's day pruning (parts chosen by min/max time) cannot hide
the SQL's own comparison. The values are picked from the fixture rows by a fixed rule (printed on failure).
The fixtures: tests/fixtures/access and tests/fixtures/cloudtrail (the analysis tests' own), and
tests/fixtures/filters, which adds rows where those fixtures hold only one bucket, requester, IP or day for
an analysis, so that every filter has something to leave out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from s3logq.catalog import Analysis, find_analysis
from s3logq.engines import get_engine
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
Row = dict[str, object]

# Which output column each filter reads, per kind of analysis.
ACCESS_COLUMNS = {"time": "request_time", "bucket": "bucket_name", "key": "key", "prefix": "key",
                  "requester": "requester", "operation": "operation", "status": "httpstatus", "ip": "remoteip"}
TRAIL_COLUMNS = {"time": "event_time", "bucket": "bucket_name", "key": "object_key", "prefix": "object_key",
                 "requester": "user_arn", "operation": "eventname", "ip": "sourceipaddress"}
HISTORY_COLUMNS = {"time": "event_time", "bucket": "bucket_name", "key": "key", "prefix": "key",
                   "requester": "actor"}

# Analyses with one output row per log row: (log type, name) -> the filters tested, the columns they read.
ROW_ANALYSES: dict[tuple[str, str], tuple[tuple[str, ...], dict[str, str]]] = {
    ("access", "access-denied"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "ip"), ACCESS_COLUMNS),
    ("access", "anonymous-access"): (
        ("since", "until", "bucket", "key", "prefix", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("access", "client-errors"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("access", "deletions"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "ip"), ACCESS_COLUMNS),
    ("access", "latency"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("access", "lifecycle-expirations"): (("since", "until", "bucket", "key", "prefix"), ACCESS_COLUMNS),
    ("access", "lifecycle-transitions"): (("since", "until", "bucket", "key", "prefix"), ACCESS_COLUMNS),
    # object-access's --operation replaces its REST.GET.OBJECT default: test_object_access_operation
    ("access", "object-access"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "status", "ip"), ACCESS_COLUMNS),
    ("access", "object-history"): (("since", "until", "bucket", "key", "prefix", "requester"), HISTORY_COLUMNS),
    ("access", "requests"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("access", "server-errors"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("access", "top-troubleshooting"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip"), ACCESS_COLUMNS),
    ("cloudtrail", "access-denied"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "ip"), TRAIL_COLUMNS),
    ("cloudtrail", "anonymous-access"): (
        ("since", "until", "bucket", "key", "prefix", "operation", "ip"), TRAIL_COLUMNS),
    ("cloudtrail", "bucket-config-changes"): (("since", "until", "bucket", "requester", "operation"), TRAIL_COLUMNS),
    ("cloudtrail", "bucket-created"): (("since", "until", "bucket", "requester"), TRAIL_COLUMNS),
    ("cloudtrail", "bucket-deleted"): (("since", "until", "bucket", "requester"), TRAIL_COLUMNS),
    ("cloudtrail", "object-access"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "ip"), TRAIL_COLUMNS),
    ("cloudtrail", "object-deletions"): (
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "ip"), TRAIL_COLUMNS),
    ("cloudtrail", "public-exposure"): (("since", "until", "bucket", "requester", "operation"), TRAIL_COLUMNS),
    ("cloudtrail", "versioning-suspended"): (("since", "until", "bucket", "requester"), TRAIL_COLUMNS),
}
# --bucket keeps account-level events (no bucket) in these, as their headers say.
KEEPS_ACCOUNT_LEVEL = {("cloudtrail", "bucket-config-changes"), ("cloudtrail", "public-exposure")}


@dataclass(frozen=True)
class Aggregate:
    """An analysis that sums access-log rows per group, described in Python: which rows it counts, how it
    groups them, what it computes per group, and the output columns that hold the group and those values."""

    filters: tuple[str, ...]
    counts: Callable[[Row], bool]
    group: Callable[[Row, str | None], tuple]
    group_columns: tuple[str, ...]
    summary: Callable[[list[Row]], tuple]
    summary_columns: tuple[str, ...]


OLD_TLS = ("TLSv1", "TLSv1.0", "TLSv1.1")
LIFECYCLE = ("S3.EXPIRE.OBJECT", "S3.CREATE.DELETEMARKER", "S3.DELETE.UPLOAD")


def _key_prefix(key: object) -> object:
    """throttling's key_prefix: the key up to and including its first '/'."""
    return key[:key.index("/") + 1] if isinstance(key, str) and "/" in key else key


def _minute(moment: object) -> datetime:
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _total(rows: list[Row], column: str) -> int:
    return sum(int(r[column]) for r in rows if r[column] is not None)  # type: ignore[call-overload]


def _how_many(rows: list[Row], test: Callable[[Row], bool]) -> int:
    return sum(1 for r in rows if test(r))


def _largest(rows: list[Row], column: str) -> object:
    return max((r[column] for r in rows if r[column] is not None), default=None)  # type: ignore[type-var]


AGGREGATES: dict[str, Aggregate] = {
    "deprecated-clients": Aggregate(
        ("since", "until", "bucket", "prefix", "requester", "operation", "ip"),
        lambda r: r["sigv"] == "SigV2" or r["tlsversion"] in OLD_TLS or r["aclrequired"] == "Yes",
        lambda r, by: (r["requester"],), ("requester",),
        lambda rows: (len(rows), _how_many(rows, lambda r: r["sigv"] == "SigV2"),
                      _how_many(rows, lambda r: r["tlsversion"] in OLD_TLS),
                      _how_many(rows, lambda r: r["aclrequired"] == "Yes")),
        ("requests", "sigv2_requests", "old_tls_requests", "acl_required_requests")),
    "latency-summary": Aggregate(
        ("since", "until", "bucket", "key", "prefix", "requester", "operation", "status", "ip", "by"),
        lambda r: r["totaltime"] is not None,
        lambda r, by: ({"ip": r["remoteip"], "requester": r["requester"]}.get(by or "", r["operation"]),),
        ("group_key",),
        lambda rows: (len(rows), _largest(rows, "totaltime"), _largest(rows, "turnaroundtime")),
        ("requests", "total_max_ms", "turnaround_max_ms")),
    "lifecycle-stats": Aggregate(
        ("since", "until", "bucket", "prefix"),
        lambda r: r["operation"] in LIFECYCLE or str(r["operation"]).startswith("S3.TRANSITION"),
        lambda r, by: (r["operation"],), ("operation",),
        lambda rows: (len(rows), _total(rows, "objectsize")), ("object_count", "bytes")),
    "throttling": Aggregate(
        ("since", "until", "bucket", "prefix", "requester", "operation", "ip"),
        lambda r: r["httpstatus"] == 503 and r["errorcode"] == "SlowDown",
        lambda r, by: (_minute(r["request_time"]), r["bucket_name"], _key_prefix(r["key"])),
        ("minute", "bucket_name", "key_prefix"),
        lambda rows: (len(rows), len({r["requester"] for r in rows if r["requester"] is not None})),
        ("throttled_requests", "requesters")),
    "top-requesters": Aggregate(
        ("since", "until", "bucket", "key", "prefix", "operation", "status", "by"),
        lambda r: True,
        lambda r, by: ({"ip": r["remoteip"], "operation": r["operation"]}.get(by or "", r["requester"]),),
        ("group_key",),
        lambda rows: (len(rows), _total(rows, "bytessent"),
                      _how_many(rows, lambda r: r["httpstatus"] is not None and r["httpstatus"] >= 400),  # type: ignore[operator]
                      _how_many(rows, lambda r: r["httpstatus"] == 403)),
        ("requests", "bytes_sent", "errors", "denied")),
}
GROUPINGS = {"latency-summary": ("ip", "requester", "operation"), "top-requesters": ("ip", "operation", "requester")}

# Filters tested outside the generic tests below, each by the test named.
SPECIAL = {
    ("access", "object-access", "operation"): "test_object_access_operation",
    ("access", "request-lookup", "request_id"): "test_request_lookup_by_request_id_and_host_id",
    ("access", "request-lookup", "since"): "test_request_lookup_time_bounds",
    ("access", "request-lookup", "until"): "test_request_lookup_time_bounds",
}

ROW_CASES = [(log_type, name, f) for (log_type, name), (filters, _) in ROW_ANALYSES.items() for f in filters]
AGGREGATE_CASES = [(name, f) for name, agg in AGGREGATES.items() for f in agg.filters if f != "by"]
# Every (log type, analysis, filter) a test here covers; test_catalog fails on a header filter not in it.
COVERED: set[tuple[str, str, str]] = ({*ROW_CASES} | {("access", n, f) for n, a in AGGREGATES.items() for f in a.filters}
                                      | set(SPECIAL))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Both hand-written fixtures and the filter fixture, in one ingest (one part per table and day)."""
    lake = Lake(tmp_path_factory.mktemp("filters-lake"))
    folders = [FIXTURES / "access", FIXTURES / "cloudtrail", FIXTURES / "filters"]
    report = ingest(lake, list_sources([str(f) for f in folders]), IngestOptions(workers=2))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="module")
def engine(lake: Lake) -> DuckDBEngine:
    return get_engine("duckdb", lake)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def access_rows(engine: DuckDBEngine) -> list[Row]:
    """Every access-log row, read with plain SQL: what the aggregates are recomputed from."""
    return engine.query("SELECT * FROM access_log ORDER BY request_time, log_file, log_line").to_pylist()


def _run(engine: DuckDBEngine, analysis: Analysis, values: dict[str, object]) -> list[Row]:
    table = analysis.run(engine, values)
    assert tuple(table.column_names) == analysis.columns
    return table.to_pylist()


def _meaning(param: str, value: object, column: str, keeps_account_level: bool = False) -> Callable[[Row], bool]:
    """What a filter means, in Python, on one row."""
    if param == "since":
        return lambda r: r[column] >= value  # type: ignore[operator]
    if param == "until":
        return lambda r: r[column] < value  # type: ignore[operator]
    if param == "requester":  # a substring of the ARN or canonical ID
        return lambda r: isinstance(r[column], str) and str(value) in r[column]
    if param == "prefix":
        return lambda r: isinstance(r[column], str) and r[column].startswith(str(value))
    if param == "operation" and column == "operation":  # access-log operations match in any case
        return lambda r: r[column] == str(value).upper()
    if param == "bucket" and keeps_account_level:
        return lambda r: r[column] in (value, None)
    return lambda r: r[column] == value


def _candidates(param: str, rows: list[Row], column: str) -> list[object]:
    values = sorted({r[column] for r in rows if r[column] is not None}, key=str)
    if param == "requester":  # a part of the ARN, so that an exact comparison would fail
        return sorted({v.rsplit(":", 1)[-1] if ":" in v else v[1:-1] for v in values}, key=str)  # type: ignore[union-attr]
    if param == "prefix":
        return sorted({v[:v.index("/") + 1] for v in values if "/" in v}, key=str)  # type: ignore[union-attr, operator]
    if param == "operation" and column == "operation":
        return [v.lower() for v in values]  # type: ignore[union-attr]
    return values


def _pick(param: str, rows: list[Row], column: str, keeps_account_level: bool = False) -> object:
    """The value whose rows are a strict, non-empty part of `rows`, that leaves out rows where the column is
    set (so that 'the column is not NULL' would not pass for the filter), as evenly split as any."""
    best, best_score = None, 0
    for value in _candidates(param, rows, column):
        meaning = _meaning(param, value, column, keeps_account_level)
        kept = sum(1 for r in rows if meaning(r))
        left_out_set = sum(1 for r in rows if not meaning(r) and r[column] is not None)
        score = min(kept, left_out_set)
        if score > best_score:
            best, best_score = value, score
    assert best is not None, f"no value of {column} keeps a strict part of {len(rows)} rows: add fixture rows"
    return best


def _pick_instant(rows: list[Row], column: str, lake: Lake) -> datetime:
    """A row's exact time, not midnight, with a row earlier the same day, inside a part that starts before it:
    so that --since and --until at it reach the SQL's comparison instead of the day pruning (which reads a
    day's part whole, or not at all)."""
    times = sorted({r[column] for r in rows}, key=lambda t: t)  # type: ignore[arg-type, return-value]
    parts = lake.parts("access_log") + lake.parts("cloudtrail")

    def read_by_pruning(moment: datetime) -> bool:
        text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        covering = [p for p in parts if p.min_time[:19] <= text <= p.max_time[:19]]
        return bool(covering) and all(p.min_time[:19] < text for p in covering)

    def day(moment: datetime) -> object:
        return moment.astimezone(UTC).date()

    usable = [t for i, t in enumerate(times) if t.astimezone(UTC).time() != time(0)  # type: ignore[union-attr]
              and any(day(earlier) == day(t) for earlier in times[:i])  # type: ignore[arg-type]
              and read_by_pruning(t)]  # type: ignore[arg-type]
    assert usable, f"no mid-day instant among {len(times)} row times: add fixture rows"
    return usable[len(usable) // 2]  # type: ignore[return-value]


def _check(actual: list[Row], unfiltered: list[Row], meaning: Callable[[Row], bool], what: str) -> None:
    expected = [r for r in unfiltered if meaning(r)]
    assert 0 < len(expected) < len(unfiltered), f"{what} does not keep a strict part of the rows"
    assert actual == expected, what


@pytest.mark.parametrize(("log_type", "name", "param"), ROW_CASES, ids=[f"{t}/{n}/{p}" for t, n, p in ROW_CASES])
def test_a_filter_keeps_the_rows_it_means(log_type: str, name: str, param: str, engine: DuckDBEngine,
                                          lake: Lake) -> None:
    analysis = find_analysis(name, log_type)
    columns = ROW_ANALYSES[(log_type, name)][1]
    unfiltered = _run(engine, analysis, {})
    column = columns["time" if param in ("since", "until") else param]
    if param in ("since", "until"):
        value: object = _pick_instant(unfiltered, column, lake)
    else:
        value = _pick(param, unfiltered, column, (log_type, name) in KEEPS_ACCOUNT_LEVEL)
    meaning = _meaning(param, value, column, (log_type, name) in KEEPS_ACCOUNT_LEVEL)
    _check(_run(engine, analysis, {param: value}), unfiltered, meaning, f"{name} --{param} {value!r}")


def _summed(rows: Iterable[Row], agg: Aggregate, by: str | None = None) -> dict[tuple, tuple]:
    """What the aggregate should answer, worked out in Python from the access-log rows."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        if agg.counts(r):
            groups.setdefault(agg.group(r, by), []).append(r)
    return {group: agg.summary(members) for group, members in groups.items()}


def _answered(rows: list[Row], agg: Aggregate) -> dict[tuple, tuple]:
    answer: dict[tuple, tuple] = {}
    for r in rows:
        group = tuple(_minute(r[c]) if c == "minute" else r[c] for c in agg.group_columns)
        assert group not in answer, f"group {group} twice"
        answer[group] = tuple(r[c] for c in agg.summary_columns)
    return answer


@pytest.mark.parametrize(("name", "param"), AGGREGATE_CASES, ids=[f"access/{n}/{p}" for n, p in AGGREGATE_CASES])
def test_an_aggregate_counts_only_the_rows_a_filter_keeps(name: str, param: str, engine: DuckDBEngine, lake: Lake,
                                                          access_rows: list[Row]) -> None:
    agg = AGGREGATES[name]
    analysis = find_analysis(name, "access")
    counted = [r for r in access_rows if agg.counts(r)]
    column = ACCESS_COLUMNS["time" if param in ("since", "until") else param]
    value = _pick_instant(counted, column, lake) if param in ("since", "until") else _pick(param, counted, column)
    meaning = _meaning(param, value, column)
    kept = [r for r in counted if meaning(r)]
    assert 0 < len(kept) < len(counted)
    assert _answered(_run(engine, analysis, {}), agg) == _summed(counted, agg)  # the recount is right
    assert _answered(_run(engine, analysis, {param: value}), agg) == _summed(kept, agg), f"--{param} {value!r}"


@pytest.mark.parametrize(("name", "by"), [(n, b) for n, bys in GROUPINGS.items() for b in bys])
def test_by_groups_by_what_it_names(name: str, by: str, engine: DuckDBEngine, access_rows: list[Row]) -> None:
    agg = AGGREGATES[name]
    expected = _summed(access_rows, agg, by)
    assert _answered(_run(engine, find_analysis(name, "access"), {"by": by}), agg) == expected
    others = [_summed(access_rows, agg, other) for other in GROUPINGS[name] if other != by]
    assert all(expected != other for other in others)  # each grouping tells itself apart


def test_object_access_operation(engine: DuckDBEngine, access_rows: list[Row]) -> None:
    """--operation replaces REST.GET.OBJECT by another read operation, given in any case."""
    analysis = find_analysis("object-access", "access")
    for operation in ("website.get.object", "REST.COPY.OBJECT_GET"):
        expected = [(r["requestid"], r["key"]) for r in reversed(access_rows) if r["operation"] == operation.upper()]
        actual = [(r["requestid"], r["key"]) for r in _run(engine, analysis, {"operation": operation})]
        assert actual == expected and expected


def test_request_lookup_by_request_id_and_host_id(engine: DuckDBEngine, access_rows: list[Row]) -> None:
    """A request ID finds its rows (every key of a multi-object delete), a host ID the rows of its request."""
    analysis = find_analysis("request-lookup", "access")
    for wanted in ("R08", "hostR06="):
        expected = [(r["requestid"], r["key"], r["log_line"]) for r in access_rows
                    if wanted in (r["requestid"], r["hostid"])]
        actual = [(r["requestid"], r["key"], r["log_line"]) for r in _run(engine, analysis, {"request_id": wanted})]
        assert actual == expected and 0 < len(expected) < len(access_rows), wanted


def test_request_lookup_time_bounds(engine: DuckDBEngine, lake: Lake) -> None:
    """S3 gives every request its own ID; the filter fixture logs F05 at 15:00 and 16:00 on 2 March so that
    --since (inclusive) and --until (exclusive) at 16:00 have something to cut."""
    analysis = find_analysis("request-lookup", "access")
    at_four = datetime(2024, 3, 2, 16, tzinfo=UTC)
    assert _pick_instant(_run(engine, analysis, {"request_id": "F05"}), "request_time", lake) == at_four
    hosts = {"since": ["hostF06="], "until": ["hostF05="]}
    for bound, expected in hosts.items():
        found = _run(engine, analysis, {"request_id": "F05", bound: at_four})
        assert [r["hostid"] for r in found] == expected, bound


@pytest.mark.parametrize("source", ["access_log", "cloudtrail"])
def test_object_history_time_bounds_on_each_log(source: str, engine: DuckDBEngine, lake: Lake) -> None:
    """object-history bounds each log's rows with its own comparisons: an instant of a row of each log."""
    analysis = find_analysis("object-history", "access")
    unfiltered = _run(engine, analysis, {})
    instant = _pick_instant([r for r in unfiltered if r["source"] == source], "event_time", lake)
    for param in ("since", "until"):
        found = _run(engine, analysis, {param: instant})
        _check(found, unfiltered, _meaning(param, instant, "event_time"), f"--{param} {instant} ({source})")


# The CloudTrail analyses that are about S3 buckets and objects (anonymous-access covers every service).
S3_ONLY = sorted(name for (log_type, name) in ROW_ANALYSES if log_type == "cloudtrail" and name != "anonymous-access")


@pytest.mark.parametrize("name", S3_ONLY)
def test_s3_on_outposts_events_are_left_out(name: str, engine: DuckDBEngine) -> None:
    """S3 on Outposts logs CreateBucket, GetObject, DeleteObject, PutBucket* under its own eventsource; the
    filter fixture has one of each (request IDs OUT..), and no S3 analysis may show them."""
    outposts = engine.query("SELECT eventname FROM cloudtrail WHERE eventsource = 's3-outposts.amazonaws.com'")
    assert len(outposts) == 6
    found = _run(engine, find_analysis(name, "cloudtrail"), {})
    assert found and [r["requestid"] for r in found if r["requestid"].startswith("OUT")] == []


def test_public_exposure_sees_a_multipart_upload_with_a_public_acl(engine: DuckDBEngine) -> None:
    """`aws s3 cp --acl public-read` of a big file is a CreateMultipartUpload carrying the canned ACL."""
    found = _run(engine, find_analysis("public-exposure", "cloudtrail"), {"bucket": "acme-web"})
    assert [(r["eventname"], r["object_key"], r["finding"]) for r in found if r["requestid"] == "FT06"] == [
        ("CreateMultipartUpload", "public/video.mp4", "ACL public-read")]
