"""Every access-log analysis on a small hand-written fixture (tests/fixtures/access), against rows worked
out by hand from the fixture's 47 lines. Request IDs (R01...) name the lines; the fixture's files say
which is which.

The fixture: acme-data on 2024-03-01 (reads, 403s, 404, 500, a multi-object delete, a copy) and around
midnight (23:59:59 and 00:00:00), acme-data's lifecycle run on 2024-03-02, acme-web (website, 503 SlowDown,
an anonymous multi-object delete) and acme-archive's old 18/22/24-field lines on 2024-02-29.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from s3logq.catalog import CatalogError, find_analysis
from s3logq.cli import cli
from s3logq.engines import get_engine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

FIXTURES = Path(__file__).parent / "fixtures"
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/etl-role/bob"
LEGACY = "arn:aws:iam::123456789012:user/legacy-backup"
PARTNER = "arn:aws:iam::210987654321:user/partner-feed"
CANON_OLD = "3ea1bb9bd5f0f2a8e7e7b1d93c4c1c3a0fa3ba1bd6f4c0dd1a58c8f8e1f2a3b4"
UA_CLI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.2 exe/x86_64.ubuntu.22"
UA_BOTO = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.2 md/arch#x86_64 lang/python#3.11.6"
UA_LEGACY = "aws-sdk-java/1.11.0 Linux/3.10 Java_HotSpot(TM)_64-Bit_Server_VM/25.0"
UA_SCANNER = 'Mozilla/5.0 (compatible; "Scanner" 1.0)'  # logged with escaped quotes
UA_BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")
Q1 = "reports/Q1 results.pdf"
R10_HOST_ID = "nQ7pX2m+Lw/3kT9vR4sY8zB1cD5eF6gH7iJ8kL9mN0oP1qR2sT3uV4wX5yZ6aB7c="


def _ingest(root: Path, *folders: Path) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(f) for f in folders]), IngestOptions(workers=2))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="session")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The access-log fixture alone: the cloudtrail table is empty."""
    return _ingest(tmp_path_factory.mktemp("access-lake"), FIXTURES / "access")


@pytest.fixture(scope="session")
def lake_with_trail(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The access-log fixture plus four CloudTrail data events (three on reports/Q1 results.pdf)."""
    return _ingest(tmp_path_factory.mktemp("both-lake"), FIXTURES / "access", FIXTURES / "access-trail")


def run(lake: Lake, name: str, **values: object) -> pa.Table:
    values = {k: parse_when(v) if k in ("since", "until") else v for k, v in values.items()}  # type: ignore[arg-type]
    analysis = find_analysis(name, "access")
    table = analysis.run(get_engine("duckdb", lake), values)
    assert tuple(table.column_names) == analysis.columns  # the header documents the real columns
    return table


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    """The given columns of every row, times as 'YYYY-MM-DD HH:MM:SS' UTC."""
    return [tuple(_plain(row[c]) for c in columns) for row in table.select(list(columns)).to_pylist()]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return value


def ids(table: pa.Table) -> list[str]:
    return table.column("requestid").to_pylist()


# --- object-access --------------------------------------------------------------------------------------
def test_object_access_every_get_newest_first(lake: Lake) -> None:
    table = run(lake, "object-access")
    assert rows(table, "requestid", "bucket_name", "key", "httpstatus") == [
        ("R21", "acme-data", Q1, 200),
        ("R20", "acme-data", Q1, 200),
        ("R67", "acme-web", "img/hero.png", 503),
        ("R66", "acme-web", "index.html", 200),
        ("R11", "acme-data", Q1, 200),
        ("R10", "acme-data", Q1, 500),
        ("R06", "acme-data", "backups/db.tar.gz", 403),
        ("R05", "acme-data", Q1, 403),
        ("R04", "acme-data", "reports/missing.pdf", 404),
        ("R03", "acme-data", "data/café/menü 1.csv", 200),
        ("R02", "acme-data", Q1, 200),
        ("R53", "acme-archive", "old/gone.pdf", 404),
        ("R50", "acme-archive", "old/report 2019.pdf", 200),
    ]


def test_object_access_full_rows(lake: Lake) -> None:
    table = run(lake, "object-access", status=403)
    assert rows(table, *table.column_names) == [
        ("2024-03-01 10:09:00", LEGACY, "203.0.113.50", "REST.GET.OBJECT", 403, "acme-data", "backups/db.tar.gz",
         None, UA_LEGACY, "QueryString", None, "R06", "hostR06="),
        ("2024-03-01 10:08:00", None, "198.51.100.7", "REST.GET.OBJECT", 403, "acme-data", Q1, None, UA_SCANNER,
         None, None, "R05", "hostR05="),
    ]


def test_object_access_key_and_bucket(lake: Lake) -> None:
    table = run(lake, "object-access", bucket="acme-data", key=Q1)
    assert ids(table) == ["R21", "R20", "R11", "R10", "R05", "R02"]
    assert ids(run(lake, "object-access", key="data/café/menü 1.csv")) == ["R03"]
    assert ids(run(lake, "object-access", bucket="acme-web", key=Q1)) == []


def test_since_is_inclusive_and_until_exclusive_at_midnight(lake: Lake) -> None:
    assert ids(run(lake, "object-access", since="2024-03-02")) == ["R21"]
    before = ids(run(lake, "object-access", until="2024-03-02"))
    assert before[0] == "R20" and "R21" not in before and len(before) == 12
    assert ids(run(lake, "object-access", since="2024-03-01T23:59:59Z", until="2024-03-02")) == ["R20"]
    assert ids(run(lake, "object-access", since="2024-02-29", until="2024-03-01")) == ["R53", "R50"]


def test_object_access_filters(lake: Lake) -> None:
    assert ids(run(lake, "object-access", requester="user/alice")) == [
        "R21", "R20", "R67", "R66", "R11", "R10", "R04", "R02"]
    assert ids(run(lake, "object-access", requester=LEGACY)) == ["R06"]
    assert ids(run(lake, "object-access", ip="2001:db8::17")) == ["R03"]
    assert ids(run(lake, "object-access", prefix="reports/")) == ["R21", "R20", "R11", "R10", "R05", "R04", "R02"]
    # --operation picks another read operation, in any case
    assert ids(run(lake, "object-access", operation="website.get.object")) == ["R60"]
    assert ids(run(lake, "object-access", operation="REST.COPY.OBJECT_GET")) == ["R09"]


# --- errors ---------------------------------------------------------------------------------------------
def test_client_errors_in_every_bucket(lake: Lake) -> None:
    table = run(lake, "client-errors")
    assert rows(table, "requestid", "httpstatus", "errorcode", "bucket_name", "key") == [
        ("R24", 409, "BucketNotEmpty", "acme-data", None),
        ("R22", 403, "AccessDenied", "acme-data", None),
        ("R13", 403, "AccessDenied", "acme-data", "backups/db.tar.gz"),
        ("R06", 403, "AccessDenied", "acme-data", "backups/db.tar.gz"),
        ("R05", 403, "AccessDenied", "acme-data", Q1),
        ("R04", 404, "NoSuchKey", "acme-data", "reports/missing.pdf"),
        ("R53", 404, "NoSuchKey", "acme-archive", "old/gone.pdf"),
    ]
    assert ids(run(lake, "client-errors", bucket="acme-archive")) == ["R53"]
    assert ids(run(lake, "client-errors", status=404)) == ["R04", "R53"]


def test_server_errors(lake: Lake) -> None:
    assert rows(run(lake, "server-errors"), "requestid", "httpstatus", "errorcode", "bucket_name", "totaltime") == [
        ("R67", 503, "SlowDown", "acme-web", 1),
        ("R63", 503, "SlowDown", "acme-web", 2),
        ("R62", 503, "SlowDown", "acme-web", 2),
        ("R61", 503, "SlowDown", "acme-web", 3),
        ("R10", 500, "InternalError", "acme-data", 1500),
    ]
    assert ids(run(lake, "server-errors", status=500)) == ["R10"]


def test_access_denied_shows_how_the_client_signed(lake: Lake) -> None:
    table = run(lake, "access-denied")
    assert rows(table, "requestid", "requester", "operation", "authtype", "sigv", "tlsversion", "useragent") == [
        ("R22", None, "REST.GET.BUCKET", None, None, "TLSv1.3", UA_BROWSER),
        ("R13", LEGACY, "REST.DELETE.OBJECT", "AuthHeader", "SigV2", "TLSv1.1", UA_LEGACY),
        ("R06", LEGACY, "REST.GET.OBJECT", "QueryString", "SigV2", "TLSv1.1", UA_LEGACY),
        ("R05", None, "REST.GET.OBJECT", None, None, "TLSv1.2", UA_SCANNER),
    ]
    assert ids(run(lake, "access-denied", operation="REST.DELETE.OBJECT")) == ["R13"]
    with pytest.raises(CatalogError, match="does not take --status"):
        run(lake, "access-denied", status=403)


# --- deletions and lifecycle ----------------------------------------------------------------------------
def test_deletions_one_row_per_key_with_cause(lake: Lake) -> None:
    # Not deletions: the multi-object POST itself, R13 (refused), R24 (bucket), R25 and R40 (uploads),
    # R26 (tags).
    table = run(lake, "deletions")
    assert rows(table, "requestid", "cause", "operation", "bucket_name", "key", "versionid", "requester") == [
        ("R32", "lifecycle", "S3.CREATE.DELETEMARKER", "acme-data", "logs/2024/current.log", "DMcur1", "AmazonS3"),
        ("R31", "lifecycle", "S3.EXPIRE.OBJECT", "acme-data", "logs/2023/db dump.log", "L2v1", "AmazonS3"),
        ("R30", "lifecycle", "S3.EXPIRE.OBJECT", "acme-data", "logs/2023/app.log", "L1v1", "AmazonS3"),
        ("R23", "api", "REST.DELETE.OBJECT", "acme-data", Q1, "Q1v1", ALICE),
        ("R65", "api", "BATCH.DELETE.OBJECT", "acme-web", "tmp/x.html", None, None),
        ("R08", "api", "BATCH.DELETE.OBJECT", "acme-data", "tmp/a.txt", None, BOB),
        ("R08", "api", "BATCH.DELETE.OBJECT", "acme-data", "tmp/b c.txt", None, BOB),
        ("R07", "api", "REST.DELETE.OBJECT", "acme-data", "reports/old.pdf", "DMold1", ALICE),
    ]
    assert rows(run(lake, "deletions", prefix="tmp/"), "requestid", "key") == [
        ("R65", "tmp/x.html"), ("R08", "tmp/a.txt"), ("R08", "tmp/b c.txt")]
    assert ids(run(lake, "deletions", bucket="acme-data", since="2024-03-02", until="2024-03-02T01:00:01Z")) == [
        "R30", "R23"]


def test_lifecycle_expirations(lake: Lake) -> None:
    assert rows(run(lake, "lifecycle-expirations"), *find_analysis("lifecycle-expirations", "access").columns) == [
        ("2024-03-02 01:00:01", "acme-data", "logs/2023/db dump.log", "L2v1", 8192, "AmazonS3", "R31"),
        ("2024-03-02 01:00:00", "acme-data", "logs/2023/app.log", "L1v1", 4096, "AmazonS3", "R30"),
    ]
    assert ids(run(lake, "lifecycle-expirations", bucket="acme-web")) == []


def test_lifecycle_transitions_name_the_storage_class(lake: Lake) -> None:
    assert rows(run(lake, "lifecycle-transitions"), "requestid", "key", "objectsize", "storage_class") == [
        ("R39", "images/old logo.png", 12000, "ONEZONE_IA"),
        ("R38", "images/logo.png", 30000, "GLACIER_IR"),
        ("R37", "data/big.parquet", 700000, "INTELLIGENT_TIERING"),
        ("R36", "backups/2023.tar", 3000000, "GLACIER"),
        ("R35", "backups/2022.tar", 5000000, "DEEP_ARCHIVE"),
        ("R34", "reports/2023/summary.pdf", 20000, "STANDARD_IA"),
        ("R33", "reports/2023/annual.pdf", 100000, "STANDARD_IA"),
    ]
    assert ids(run(lake, "lifecycle-transitions", prefix="backups/")) == ["R36", "R35"]


def test_lifecycle_stats(lake: Lake) -> None:
    assert rows(run(lake, "lifecycle-stats"), "action", "operation", "object_count", "bytes") == [
        ("aborted upload", "S3.DELETE.UPLOAD", 1, 0),
        ("delete marker", "S3.CREATE.DELETEMARKER", 1, 0),
        ("expiration", "S3.EXPIRE.OBJECT", 2, 12288),
        ("transition to DEEP_ARCHIVE", "S3.TRANSITION_GDA.OBJECT", 1, 5000000),
        ("transition to GLACIER", "S3.TRANSITION.OBJECT", 1, 3000000),
        ("transition to GLACIER_IR", "S3.TRANSITION_GIR.OBJECT", 1, 30000),
        ("transition to INTELLIGENT_TIERING", "S3.TRANSITION_INT.OBJECT", 1, 700000),
        ("transition to ONEZONE_IA", "S3.TRANSITION_ZIA.OBJECT", 1, 12000),
        ("transition to STANDARD_IA", "S3.TRANSITION_SIA.OBJECT", 2, 120000),
    ]
    assert rows(run(lake, "lifecycle-stats", prefix="reports/"), "action", "object_count", "bytes") == [
        ("transition to STANDARD_IA", 2, 120000)]
    assert run(lake, "lifecycle-stats", until="2024-03-02").num_rows == 0


# --- latency --------------------------------------------------------------------------------------------
def test_latency_slowest_turnaround_first(lake: Lake) -> None:
    table = run(lake, "latency")
    # 24 lines log a turn-around time; ties (20 ms, 15 ms, 5 ms) go to the larger total time
    assert rows(table, "requestid", "turnaroundtime", "totaltime") == [
        ("R11", 80, 95), ("R09", 50, 60), ("R08", 40, 55), ("R65", 30, 35), ("R23", 29, 30), ("R07", 24, 25),
        ("R64", 20, 150), ("R12", 20, 70), ("R25", 20, 21), ("R26", 17, 18), ("R01", 15, 120), ("R24", 15, 16),
        ("R20", 14, 45), ("R21", 13, 44), ("R02", 12, 40), ("R50", 10, 20), ("R03", 9, 30), ("R51", 8, 9),
        ("R60", 6, 12), ("R52", 5, 30), ("R04", 5, 10), ("R66", 4, 10), ("R06", 3, 12), ("R13", 2, 11),
    ]
    assert rows(run(lake, "latency", operation="REST.COPY.OBJECT"), "requestid", "key") == [
        ("R09", "archive/Q1 results.pdf")]


PERCENTILES = ("total_p50_ms", "total_p90_ms", "total_p99_ms", "total_max_ms",
               "turnaround_p50_ms", "turnaround_p90_ms", "turnaround_p99_ms", "turnaround_max_ms")


def _summary(table: pa.Table) -> dict[object, tuple]:
    return {row[0]: row[1:] for row in rows(table, "group_key", "requests", *PERCENTILES)}


def _assert_ordered(summary: dict[object, tuple]) -> None:
    """Approximate percentiles cannot be worked out by hand for several values, but they must be ordered."""
    for values in summary.values():
        for first, second in ((0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7)):
            if values[1 + first] is not None:
                assert values[1 + first] <= values[1 + second]


def test_latency_summary_by_operation(lake: Lake) -> None:
    table = run(lake, "latency-summary")
    summary = _summary(table)
    assert len(summary) == 11
    # one request: every percentile is that request's time
    assert summary["REST.COPY.OBJECT"] == (1, 60, 60, 60, 60, 50, 50, 50, 50)
    assert summary["REST.GET.BUCKET"] == (1, 7, 7, 7, 7, None, None, None, None)
    assert summary["REST.DELETE.BUCKET"] == (1, 16, 16, 16, 16, 15, 15, 15, 15)
    assert summary["REST.DELETE.UPLOAD"] == (1, 21, 21, 21, 21, 20, 20, 20, 20)
    assert summary["REST.DELETE.OBJECT_TAGGING"] == (1, 18, 18, 18, 18, 17, 17, 17, 17)
    assert summary["REST.HEAD.OBJECT"] == (1, 9, 9, 9, 9, 8, 8, 8, 8)
    assert summary["WEBSITE.GET.OBJECT"] == (1, 12, 12, 12, 12, 6, 6, 6, 6)
    # several requests: count and maximum exactly
    assert {op: (v[0], v[4], v[8]) for op, v in summary.items() if v[0] > 1} == {
        "REST.GET.OBJECT": (13, 1500, 80), "REST.PUT.OBJECT": (7, 150, 20), "REST.DELETE.OBJECT": (3, 30, 29),
        "REST.POST.MULTI_OBJECT_DELETE": (2, 55, 40)}
    _assert_ordered(summary)
    p90 = table.column("total_p90_ms").to_pylist()
    assert p90 == sorted(p90, reverse=True)


def test_latency_summary_by_ip_and_requester(lake: Lake) -> None:
    by_ip = _summary(run(lake, "latency-summary", bucket="acme-web", by="ip"))
    assert by_ip["2001:db8:85a3::8a2e:370:7334"] == (1, 12, 12, 12, 12, 6, 6, 6, 6)
    assert by_ip["198.51.100.7"] == (1, 35, 35, 35, 35, 30, 30, 30, 30)  # the batch row logs no time
    # 503s log no turn-around time, so one value is left for the turn-around percentiles
    assert by_ip["203.0.113.80"][0] == 4 and by_ip["203.0.113.80"][4:] == (150, 20, 20, 20, 20)
    assert by_ip["192.0.2.10"][0] == 2 and by_ip["192.0.2.10"][4:] == (10, 4, 4, 4, 4)
    assert len(by_ip) == 4
    _assert_ordered(by_ip)
    by_requester = _summary(run(lake, "latency-summary", bucket="acme-web", by="requester"))
    assert {k: (v[0], v[4], v[8]) for k, v in by_requester.items()} == {
        None: (2, 35, 30), BOB: (4, 150, 20), ALICE: (2, 10, 4)}


# --- the combined list ----------------------------------------------------------------------------------
def test_top_troubleshooting_categories(lake: Lake) -> None:
    table = run(lake, "top-troubleshooting")
    transitions = [(f"R{n}", "lifecycle-transition") for n in range(39, 32, -1)]
    assert rows(table, "requestid", "category") == transitions + [
        ("R32", "deletion"), ("R31", "lifecycle-expiration"), ("R30", "lifecycle-expiration"),
        ("R24", "client-error"), ("R23", "deletion"), ("R22", "client-error"),
        ("R67", "server-error"), ("R65", "deletion"), ("R63", "server-error"), ("R62", "server-error"),
        ("R61", "server-error"), ("R13", "client-error"), ("R10", "server-error"),
        ("R08", "deletion"), ("R08", "deletion"), ("R07", "deletion"),
        ("R06", "client-error"), ("R05", "client-error"), ("R04", "client-error"), ("R53", "client-error"),
    ]
    assert rows(run(lake, "top-troubleshooting", bucket="acme-archive"), "requestid", "category") == [
        ("R53", "client-error")]


# --- who ------------------------------------------------------------------------------------------------
def test_anonymous_access_leaves_out_lifecycle(lake: Lake) -> None:
    # R35 (a transition logged with requester '-') is S3 itself, not an anonymous client
    table = run(lake, "anonymous-access")
    assert rows(table, "requestid", "operation", "httpstatus", "key", "remoteip") == [
        ("R22", "REST.GET.BUCKET", 403, None, "198.51.100.7"),
        ("R65", "REST.POST.MULTI_OBJECT_DELETE", 200, None, "198.51.100.7"),
        ("R65", "BATCH.DELETE.OBJECT", 204, "tmp/x.html", "198.51.100.7"),
        ("R60", "WEBSITE.GET.OBJECT", 200, "index.html", "2001:db8:85a3::8a2e:370:7334"),
        ("R05", "REST.GET.OBJECT", 403, Q1, "198.51.100.7"),
    ]
    assert rows(run(lake, "anonymous-access", bucket="acme-web", operation="website.get.object"),
                "requestid", "referrer", "endpoint") == [
        ("R60", "https://example.com/", "acme-web.s3-website-us-east-1.amazonaws.com")]


def test_requests_with_old_short_lines(lake: Lake) -> None:
    assert run(lake, "requests").num_rows == 47
    table = run(lake, "requests", bucket="acme-archive")
    assert rows(table, "requestid", "operation", "key", "httpstatus", "sigv", "tlsversion", "hostid") == [
        ("R53", "REST.GET.OBJECT", "old/gone.pdf", 404, None, None, None),  # 18 fields
        ("R52", "REST.PUT.OBJECT", "old/new.txt", 200, "SigV2", "TLSv1", "hostR52="),  # 24 fields
        ("R51", "REST.HEAD.OBJECT", "old/report 2019.pdf", 200, "SigV2", None, "hostR51="),  # 22 fields
        ("R50", "REST.GET.OBJECT", "old/report 2019.pdf", 200, None, None, None),  # 18 fields
    ]
    assert ids(run(lake, "requests", operation="REST.PUT.OBJECT", status=503)) == ["R63", "R62", "R61"]


def test_top_requesters(lake: Lake) -> None:
    table = run(lake, "top-requesters")
    assert rows(table, *table.column_names) == [
        (ALICE, 15, 214596, 4, 0, "2024-03-01 10:00:00", "2024-03-02 00:07:00"),
        ("AmazonS3", 10, 0, 0, 0, "2024-03-02 01:00:00", "2024-03-02 01:10:00"),
        (BOB, 9, 3510, 3, 0, "2024-03-01 10:06:30", "2024-03-02 00:08:00"),
        (None, 6, 5786, 2, 2, "2024-03-01 10:08:00", "2024-03-02 01:05:02"),
        (CANON_OLD, 4, 1300, 1, 0, "2024-02-29 17:00:00", "2024-02-29 17:30:00"),
        (LEGACY, 2, 486, 2, 2, "2024-03-01 10:09:00", "2024-03-01 10:45:00"),
        (PARTNER, 1, 0, 0, 0, "2024-03-01 10:40:00", "2024-03-01 10:40:00"),
    ]
    by_ip = run(lake, "top-requesters", bucket="acme-archive", by="ip")
    assert rows(by_ip, *by_ip.column_names) == [
        ("192.0.2.44", 4, 1300, 1, 0, "2024-02-29 17:00:00", "2024-02-29 17:30:00")]


def test_deprecated_clients(lake: Lake) -> None:
    table = run(lake, "deprecated-clients")
    assert rows(table, *table.column_names) == [
        (CANON_OLD, 2, 2, 1, 0, "2024-02-29 17:10:00", "2024-02-29 17:20:00", "aws-sdk-java/1.8.0"),
        (LEGACY, 2, 2, 2, 0, "2024-03-01 10:09:00", "2024-03-01 10:45:00", UA_LEGACY),
        (PARTNER, 1, 0, 0, 1, "2024-03-01 10:40:00", "2024-03-01 10:40:00", UA_BOTO),
    ]


def test_throttling_by_bucket_prefix_and_minute(lake: Lake) -> None:
    table = run(lake, "throttling")
    assert rows(table, *table.column_names) == [
        ("2024-03-01 12:00:00", "acme-web", "assets/", 2, 1),
        ("2024-03-01 12:01:00", "acme-web", "img/", 1, 1),
        ("2024-03-01 12:04:00", "acme-web", "img/", 1, 1),
    ]
    assert rows(run(lake, "throttling", requester="user/alice"), "minute", "key_prefix") == [
        ("2024-03-01 12:04:00", "img/")]


# --- one object, one request ----------------------------------------------------------------------------
Q1_FROM_ACCESS_LOG = [
    ("2024-03-01 10:00:00", "access_log", "REST.PUT.OBJECT", 200, ALICE, "R01"),
    ("2024-03-01 10:05:00", "access_log", "REST.GET.OBJECT", 200, ALICE, "R02"),
    ("2024-03-01 10:08:00", "access_log", "REST.GET.OBJECT", 403, None, "R05"),
    ("2024-03-01 10:20:00", "access_log", "REST.COPY.OBJECT_GET", 200, ALICE, "R09"),
    ("2024-03-01 10:30:00", "access_log", "REST.GET.OBJECT", 500, ALICE, "R10"),
    ("2024-03-01 10:31:00", "access_log", "REST.GET.OBJECT", 200, ALICE, "R11"),
    ("2024-03-01 23:59:59", "access_log", "REST.GET.OBJECT", 200, ALICE, "R20"),
    ("2024-03-02 00:00:00", "access_log", "REST.GET.OBJECT", 200, ALICE, "R21"),
    ("2024-03-02 00:05:00", "access_log", "REST.DELETE.OBJECT", 204, ALICE, "R23"),
]
HISTORY_COLUMNS = ("event_time", "source", "action", "httpstatus", "actor", "request_id")


def test_object_history_without_cloudtrail(lake: Lake) -> None:
    table = run(lake, "object-history", bucket="acme-data", key=Q1)
    assert rows(table, *HISTORY_COLUMNS) == Q1_FROM_ACCESS_LOG
    assert set(table.column("key").to_pylist()) == {Q1}


def test_object_history_merges_cloudtrail_in_time_order(lake_with_trail: Lake) -> None:
    table = run(lake_with_trail, "object-history", bucket="acme-data", key=Q1)
    expected = list(Q1_FROM_ACCESS_LOG)
    expected.insert(1, ("2024-03-01 10:00:00", "cloudtrail", "PutObject", None, ALICE, "R01"))
    expected.insert(5, ("2024-03-01 10:25:00", "cloudtrail", "PutObjectTagging", None, BOB, "T02"))
    expected.append(("2024-03-02 00:05:00", "cloudtrail", "DeleteObject", None, ALICE, "R23"))
    assert rows(table, *HISTORY_COLUMNS) == expected
    assert rows(run(lake_with_trail, "object-history", key=Q1, since="2024-03-02"), "source", "request_id") == [
        ("access_log", "R21"), ("access_log", "R23"), ("cloudtrail", "R23")]


def test_request_lookup_by_request_id_and_host_id(lake: Lake) -> None:
    assert rows(run(lake, "request-lookup", request_id="R08"), "operation", "key") == [
        ("REST.POST.MULTI_OBJECT_DELETE", None), ("BATCH.DELETE.OBJECT", "tmp/a.txt"),
        ("BATCH.DELETE.OBJECT", "tmp/b c.txt")]
    table = run(lake, "request-lookup", request_id=R10_HOST_ID)
    record = rows(table, *table.column_names)
    assert len(record) == 1 and record[0][-2].endswith("2024-03-01-10-15-00-0A1B2C3D4E5F6071")
    assert record[0][:-2] + record[0][-1:] == (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", "acme-data", "2024-03-01 10:30:00",
        "192.0.2.10", ALICE, "R10", "REST.GET.OBJECT", Q1, "GET /reports/Q1%20results.pdf HTTP/1.1", 500,
        "InternalError", 282, 52000, 1500, None, None, UA_CLI, None, R10_HOST_ID, "SigV4",
        "ECDHE-RSA-AES128-GCM-SHA256", "AuthHeader", "acme-data.s3.us-east-1.amazonaws.com", "TLSv1.3", None,
        None, "us-east-1", "GET", 13)
    assert run(lake, "request-lookup").num_rows == 0


# --- through the command line ---------------------------------------------------------------------------
def invoke(lake: Lake, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_guidance_alias_any_case(lake: Lake) -> None:
    code, out, _ = invoke(lake, "run", "objectDELETION", "--format", "csv", "--prefix", "tmp/")
    assert code == 0
    assert [(r["requestid"], r["key"], r["request_time"]) for r in csv.DictReader(io.StringIO(out))] == [
        ("R65", "tmp/x.html", "2024-03-01T12:02:00Z"), ("R08", "tmp/a.txt", "2024-03-01T10:11:00Z"),
        ("R08", "tmp/b c.txt", "2024-03-01T10:11:00Z")]


def test_cli_show_sql(lake: Lake) -> None:
    code, out, _ = invoke(lake, "run", "LifecycleAction-Transition", "--show-sql", "--bucket", "acme-data")
    assert code == 0
    assert out.startswith("-- lifecycle-transitions (access): ")
    assert "WHEN 'S3.TRANSITION_GDA.OBJECT' THEN 'DEEP_ARCHIVE'" in out
    assert "'bucket': 'acme-data'" in out and "'since': None" in out


def test_cli_filter_not_taken_is_a_usage_error(lake: Lake) -> None:
    code, out, err = invoke(lake, "run", "lifecycle-stats", "--ip", "192.0.2.10")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert err.startswith("error: lifecycle-stats (access) does not take --ip")


def test_cli_since_not_before_until(lake: Lake) -> None:
    code, _, err = invoke(lake, "run", "requests", "--since", "2024-03-02", "--until", "2024-03-02")
    assert code == 2 and err.startswith("error: --since") and err.strip().count("\n") == 0


def test_cli_csv_output_has_every_row(lake: Lake, tmp_path: Path) -> None:
    target = tmp_path / "all.csv"
    code, _, err = invoke(lake, "run", "requests", "--format", "csv", "--output", str(target))
    assert code == 0 and "wrote 47 rows" in err
    written = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(written) == 47
    assert written[0]["request_time"] == "2024-03-02T01:10:00Z" and written[0]["requestid"] == "R40"
    assert {r["key"] for r in written} >= {"data/café/menü 1.csv", "tmp/b c.txt", Q1}


def test_cli_table_footer_shows_total(lake: Lake) -> None:
    code, out, _ = invoke(lake, "run", "client-errors")
    assert code == 0
    assert "7 rows" in out.strip().splitlines()[-1]
    code, out, _ = invoke(lake, "run", "requests", "--limit", "3")
    assert code == 0 and out.strip().splitlines()[-1].strip() == "3 rows"
