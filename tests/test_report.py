"""The HTML report: the data behind each chart on a hand-written lake, the empty-lake texts, the page being
self-contained, and a real headless Chromium rendering it."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from s3logq.catalog import load_catalog
from s3logq.cli import cli
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.report import ReportData, build_report_data, render_report, write_report
from s3logq.report.data import (
    BucketTraffic,
    ConfigChange,
    OperationLatency,
    PrincipalCount,
    ReportEngine,
    ReportFilters,
    TimeCount,
    TopAddress,
    TopObject,
    config_changes_from_trail,
    period_unit,
)
from s3logq.sources import list_sources

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/bob"
CAROL = "arn:aws:iam::111122223333:user/carol"
ADMIN = "arn:aws:iam::111122223333:user/admin"
LEGACY = "arn:aws:iam::111122223333:user/legacy"


ERROR_CODES = {"403": "AccessDenied", "404": "NoSuchKey", "503": "SlowDown"}


def access_line(bucket: str, hhmm: str, requester: str, operation: str, status: str, total_ms: str,
                key: str = "photos/a.jpg", ip: str = "192.0.2.10") -> str:
    """One access-log line of 2024-03-01 with the fields the report reads; the rest as S3 writes them. A GET
    that succeeded sent 1,000 bytes; an error carries S3's error code for its status."""
    uri = "-" if operation.startswith("S3.") else f'"GET /{bucket}/{key} HTTP/1.1"'
    sent = "1000" if operation == "REST.GET.OBJECT" and status == "200" else "-"
    return (f"{OWNER} {bucket} [01/Mar/2024:{hhmm}:00 +0000] {ip} {requester} REQ{hhmm.replace(':', '')} "
            f"{operation} {key} {uri} {status} {ERROR_CODES.get(status, '-')} {sent} 1024 {total_ms} - \"-\" "
            f"\"curl/8.5\" - HOSTID= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {bucket}.s3.us-east-1.amazonaws.com "
            "TLSv1.2 - -")


# bucket, time, requester, operation, status, total time (ms), key, client IP
ACCESS_LINES = [
    ("acme-data", "10:05", ALICE, "REST.GET.OBJECT", "200", "10", "photos/a.jpg", "192.0.2.10"),
    ("acme-data", "10:20", ALICE, "REST.GET.OBJECT", "200", "20", "photos/b.jpg", "192.0.2.10"),
    ("acme-data", "10:40", BOB, "REST.PUT.OBJECT", "200", "30", "photos/a.jpg", "192.0.2.20"),
    ("acme-data", "11:10", "-", "REST.GET.OBJECT", "403", "5", "photos/a.jpg", "203.0.113.5"),
    ("acme-data", "11:30", BOB, "REST.GET.OBJECT", "403", "6", "photos/a.jpg", "192.0.2.20"),
    ("acme-data", "11:45", "-", "REST.GET.OBJECT", "403", "4", "photos/a.jpg", "203.0.113.5"),
    ("acme-data", "12:00", ALICE, "REST.GET.OBJECT", "503", "100", "photos/b.jpg", "192.0.2.10"),
    ("acme-data", "12:15", ALICE, "REST.DELETE.OBJECT", "204", "8", "photos/b.jpg", "192.0.2.10"),
    ("acme-data", "12:50", ALICE, "REST.GET.OBJECT", "404", "7", "photos/c.jpg", "192.0.2.10"),
    ("acme-data", "12:30", "AmazonS3", "S3.EXPIRE.OBJECT", "-", "-", "photos/old.jpg", "192.0.2.99"),
    ("acme-data", "13:00", "AmazonS3", "S3.TRANSITION_SIA.OBJECT", "-", "-", "photos/a.jpg", "192.0.2.99"),
    ("acme-data", "13:05", "AmazonS3", "S3.TRANSITION_SIA.OBJECT", "-", "-", "photos/b.jpg", "192.0.2.99"),
    ("acme-logs", "10:30", CAROL, "REST.GET.OBJECT", "200", "40", "photos/a.jpg", "192.0.2.30"),
]


def trail_event(hhmm: str, name: str, arn: str | None, bucket: str, params: dict, error: bool = False,
                identity: dict | None = None) -> dict:
    event = {"eventVersion": "1.09", "eventTime": f"2024-03-01T{hhmm}:00Z", "eventSource": "s3.amazonaws.com",
             "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
             "userIdentity": identity or {"type": "IAMUser", "arn": arn, "accountId": "111122223333"},
             "requestParameters": {"bucketName": bucket, **params}, "responseElements": None,
             "requestID": f"R{hhmm}", "eventID": f"e-{hhmm}", "readOnly": name.startswith("Get"),
             "eventType": "AwsApiCall", "managementEvent": not name.endswith("Object"),
             "recipientAccountId": "111122223333"}
    if error:
        event.update(errorCode="AccessDenied", errorMessage="Access Denied")
    return event


TRAIL_EVENTS = [
    trail_event("09:00", "PutBucketVersioning", ADMIN, "acme-data",
                {"versioning": "", "VersioningConfiguration": {"Status": "Suspended"}}),
    trail_event("09:30", "PutBucketPolicy", LEGACY, "acme-data", {"bucketPolicy": {"Statement": []}}, error=True),
    trail_event("10:00", "GetObject", None, "acme-data", {"key": "photos/a.jpg"}, error=True,
                identity={"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}),
    trail_event("11:00", "DeleteBucketLifecycle", ADMIN, "acme-logs", {"lifecycle": ""}),
]


def write_fixture_logs(folder: Path, access: bool = True, trail: bool = True) -> None:
    if access:
        lines = [access_line(*line) for line in ACCESS_LINES]
        (folder / "access").mkdir(parents=True)
        (folder / "access" / "2024-03-01-14-00-00-ABCDEF0123456789").write_text("\n".join(lines) + "\n")
    if trail:
        trail_dir = folder / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01"
        trail_dir.mkdir(parents=True)
        name = "111122223333_CloudTrail_us-east-1_20240301T1400Z_abcdEFGH1234.json"
        (trail_dir / name).write_text(json.dumps({"Records": TRAIL_EVENTS}))


def fixture_lake(tmp_path: Path, access: bool = True, trail: bool = True) -> Lake:
    logs = tmp_path / "logs"
    write_fixture_logs(logs, access, trail)
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list(list_sources([str(logs)])), IngestOptions(workers=1))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return fixture_lake(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def data(lake: Lake) -> ReportData:
    return build_report_data(lake)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, 1, hour, minute, tzinfo=UTC)



# ---- the data behind each card and chart --------------------------------------------------------------------


def test_summary_cards_count_requests_errors_deletions_and_config_changes(data: ReportData) -> None:
    summary = data.summary
    assert (summary.access_rows, summary.requests) == (13, 10)  # 3 lifecycle actions are not requests
    assert (summary.errors_4xx, summary.denied_403, summary.errors_5xx) == (4, 3, 1)
    assert (summary.deletions_api, summary.deletions_lifecycle) == (1, 1)
    assert summary.anonymous == 2
    # total times 4 5 6 7 8 10 20 30 40 100: p99 = 40 + 0.91 * (100 - 40)
    assert summary.p99_ms == pytest.approx(94.6)
    assert (summary.trail_events, summary.trail_anonymous, summary.trail_denied) == (4, 1, 2)
    assert (summary.config_changes, summary.config_changes_denied) == (2, 1)
    assert summary.rate(summary.errors_4xx) == pytest.approx(0.4)


def test_requests_over_time_by_status_class(data: ReportData) -> None:
    assert data.period_unit == "hour"
    assert data.traffic == [
        TimeCount(at(10), "2xx", 4), TimeCount(at(11), "4xx", 3),
        TimeCount(at(12), "2xx", 1), TimeCount(at(12), "4xx", 1), TimeCount(at(12), "5xx", 1),
    ]


def test_top_requesters_and_denied_principals(data: ReportData) -> None:
    assert data.top_requesters == [
        PrincipalCount(ALICE, 5, 2), PrincipalCount("anonymous", 2, 2), PrincipalCount(BOB, 2, 1),
        PrincipalCount(CAROL, 1, 0),
    ]
    assert data.denied == [
        PrincipalCount("anonymous", 2, 2, "access logs"), PrincipalCount("anonymous", 1, 1, "CloudTrail"),
        PrincipalCount(LEGACY, 1, 1, "CloudTrail"), PrincipalCount(BOB, 1, 1, "access logs"),
    ]


def test_latency_percentiles_by_operation(data: ReportData) -> None:
    latency = data.latency
    # GET total times 4 5 6 7 10 20 40 100: p50 = (7 + 10) / 2, p90 = 40 + 0.3 * 60, p99 = 40 + 0.93 * 60
    assert latency[0] == OperationLatency("REST.GET.OBJECT", 8, pytest.approx(8.5), pytest.approx(58.0),
                                          pytest.approx(95.8), 100)
    assert [(o.operation, o.requests, o.p99_ms) for o in latency[1:]] == [
        ("REST.DELETE.OBJECT", 1, 8.0), ("REST.PUT.OBJECT", 1, 30.0)]


def test_lifecycle_actions_by_class_over_time(data: ReportData) -> None:
    assert data.lifecycle == [
        TimeCount(at(12), "Expiration", 1), TimeCount(at(13), "Transition to Standard-IA", 2)]


def test_traffic_and_bytes_per_bucket(data: ReportData) -> None:
    # acme-data: 9 requests, two 200 GETs of 1,000 bytes, four 4xx, one 5xx, three lifecycle actions
    assert data.bucket_traffic == [BucketTraffic("acme-data", 9, 2000, 4, 1, 3),
                                   BucketTraffic("acme-logs", 1, 1000, 0, 0, 0)]


def test_top_objects_and_top_ips(data: ReportData) -> None:
    # a.jpg: the 10:05 GET, the PUT and three 403s by alice, bob and anonymous; ties broken by bytes sent
    assert data.top_objects == [
        TopObject("acme-data", "photos/a.jpg", 5, 1000, 3, 3), TopObject("acme-data", "photos/b.jpg", 3, 1000, 1, 1),
        TopObject("acme-logs", "photos/a.jpg", 1, 1000, 0, 1), TopObject("acme-data", "photos/c.jpg", 1, 0, 1, 1)]
    # the lifecycle rows' 192.0.2.99 is no client
    assert data.top_ips == [TopAddress("192.0.2.10", 5, 2000, 2, 1), TopAddress("192.0.2.20", 2, 0, 1, 1),
                            TopAddress("203.0.113.5", 2, 0, 2, 1), TopAddress("192.0.2.30", 1, 1000, 0, 1)]


def test_error_codes_and_deletions_over_time(data: ReportData) -> None:
    assert data.error_codes == [TimeCount(at(11), "AccessDenied", 3), TimeCount(at(12), "NoSuchKey", 1),
                                TimeCount(at(12), "SlowDown", 1)]
    # the DELETE at 12:15 and the expiration at 12:30; transitions delete nothing
    assert data.deletions == [TimeCount(at(12), "DeleteObject (API)", 1), TimeCount(at(12), "Lifecycle expiration", 1)]


def test_findings_are_what_detect_finds_narrowed_to_the_buckets(lake: Lake, data: ReportData) -> None:
    assert [(f.severity, f.detection, f.bucket_name, f.principal) for f in data.findings] == [
        ("medium", "versioning-suspended", "acme-data", ADMIN)]
    assert (data.findings_total, data.findings_by_severity) == (1, {"medium": 1})
    assert data.findings[0].evidence.startswith(f"s3logq --lake {lake.root} ")
    other = build_report_data(lake, buckets=["acme-logs"])
    assert other.findings == [] and other.empty["findings"] == "No detection found anything in the lake for bucket acme-logs."


def test_refused_deletes_are_no_deletions_and_findings_come_most_severe_first(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "access").mkdir(parents=True)
    (logs / "access" / "2024-03-01-14-00-00-0123456789ABCDEF").write_text("\n".join([
        access_line("acme-data", "10:00", ALICE, "REST.DELETE.OBJECT", "204", "8"),
        access_line("acme-data", "10:10", BOB, "REST.DELETE.OBJECT", "403", "5")]) + "\n")
    trail_dir = logs / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01"
    trail_dir.mkdir(parents=True)
    # the high finding happened before the medium one: newest first alone would put it second
    events = [trail_event("08:00", "DeleteBucketPublicAccessBlock", ADMIN, "acme-data", {"publicAccessBlock": ""}),
              trail_event("09:00", "PutBucketVersioning", ADMIN, "acme-data",
                          {"VersioningConfiguration": {"Status": "Suspended"}})]
    (trail_dir / "111122223333_CloudTrail_us-east-1_20240301T1400Z_zzzzEFGH1234.json").write_text(
        json.dumps({"Records": events}))
    lake = Lake(tmp_path / "lake")
    assert ingest(lake, list(list_sources([str(logs)])), IngestOptions(workers=1)).ok
    data = build_report_data(lake)
    assert data.deletions == [TimeCount(at(10), "DeleteObject (API)", 1)]  # bob's 403 deleted nothing
    assert [(f.severity, f.detection) for f in data.findings] == [
        ("high", "public-access-block-off"), ("medium", "versioning-suspended")]
    html = render_report(data)
    assert '<span class="card-value">2</span>\n    <span class="card-detail">1 high · 1 medium</span>' in html


def test_config_change_timeline_says_what_changed(data: ReportData) -> None:
    changes = data.config_changes
    assert [(c.event_time, c.bucket, c.event_name, c.principal, c.error) for c in changes] == [
        (at(9), "acme-data", "PutBucketVersioning", ADMIN, None),
        (at(9, 30), "acme-data", "PutBucketPolicy", LEGACY, "AccessDenied"),
        (at(11), "acme-logs", "DeleteBucketLifecycle", ADMIN, None),
    ]
    assert "Suspended" in changes[0].change


def test_report_reads_config_changes_itself_without_the_catalog_analysis(lake: Lake) -> None:
    engine = ReportEngine(lake, None, None)
    changes = config_changes_from_trail(engine, ReportFilters(None, None, ()))
    engine.close()
    assert changes == [
        ConfigChange(at(9), "acme-data", "PutBucketVersioning", ADMIN, "versioning Suspended"),
        ConfigChange(at(9, 30), "acme-data", "PutBucketPolicy", LEGACY, "bucket policy set", "AccessDenied"),
        ConfigChange(at(11), "acme-logs", "DeleteBucketLifecycle", ADMIN, "lifecycle rules deleted"),
    ]


def test_range_and_bucket_narrow_every_section(lake: Lake) -> None:
    data = build_report_data(lake, since=at(11), until=at(12), buckets=["acme-data"])
    assert data.summary.requests == 3
    assert data.traffic == [TimeCount(at(11), "4xx", 3)]
    assert data.top_requesters == [PrincipalCount("anonymous", 2, 2), PrincipalCount(BOB, 1, 1)]
    assert data.lifecycle == [] and "No lifecycle activity" in data.empty["lifecycle"]
    assert data.config_changes == [] and "between 2024-03-01T11:00:00Z and 2024-03-01T12:00:00Z for bucket " \
        "acme-data" in data.empty["config"]
    logs_only = build_report_data(lake, buckets=["acme-logs"])
    assert (logs_only.summary.requests, logs_only.buckets) == (1, ["acme-logs"])
    assert [c.event_name for c in logs_only.config_changes] == ["DeleteBucketLifecycle"]


def test_chart_periods_are_hours_for_a_week_days_for_a_year_then_weeks() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert period_unit(start, start.replace(day=8)) == "hour"
    assert period_unit(start, start.replace(day=10)) == "day"
    assert period_unit(start, start.replace(year=2026)) == "week"
    assert period_unit(None, None) == "hour"


def test_analysis_tables_show_first_rows_and_the_full_result_command(lake: Lake) -> None:
    catalog = load_catalog()
    if not catalog:
        pytest.skip("no analyses in the catalog yet")
    data = build_report_data(lake, since=datetime(2024, 3, 1, tzinfo=UTC), until=datetime(2024, 3, 2, tzinfo=UTC))
    assert data.analyses, "the fixture lake has rows for some analyses"
    for table in data.analyses:
        assert table.error or 0 < len(table.rows) <= 20
        assert all(len(row) == len(table.columns) for row in table.rows)
        assert f"run {table.name} --logs {table.log_type}" in table.commands[0]
        assert "--since 2024-03-01T00:00:00Z --until 2024-03-02T00:00:00Z" in table.commands[0]
        assert table.commands[0].endswith("--format csv --output " + table.name + ".csv")
    shown = {(t.log_type, t.name) for t in data.analyses}
    if any(a.name == "server-errors" and a.log_type == "access" for a in catalog):
        assert ("access", "server-errors") in shown  # the 503 at 12:00
        narrowed = build_report_data(lake, buckets=["acme-logs"])
        assert ("access", "server-errors") not in {(t.log_type, t.name) for t in narrowed.analyses}


# ---- the page -----------------------------------------------------------------------------------------------


class _References(HTMLParser):
    """Every src/href of the page's elements, and how many <script> elements it has."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.references += [value or "" for name, value in attrs if name in ("src", "href", "action", "srcset")]


def test_report_file_is_self_contained_and_small(lake: Lake, tmp_path: Path) -> None:
    location = write_report(lake, str(tmp_path / "out" / "report.html"))
    assert location == str((tmp_path / "out" / "report.html").resolve())
    html = Path(location).read_text(encoding="utf-8")
    parser = _References()
    parser.feed(html)
    assert [r for r in parser.references if not r.startswith("#")] == []  # only in-page anchors
    assert parser.scripts == 2 + 9  # plotly.js, the page's own code, one JSON figure per chart
    assert html.count("* plotly.js (basic - minified) v") == 1  # the basic bundle, inlined once
    assert "* plotly.js v" not in html  # not the full 4.8 MB one
    assert html.count('class="chart"') == 9
    assert Path(location).stat().st_size < 1_500_000  # issue 13: a bucket-day report is worth mailing
    for text in ('<dd class="buckets">all 2: acme-data, acme-logs</dd>', "S3 access logs: 1 files, 13 rows", "CloudTrail: 1 files, 4 rows",
                 "40.0%", "versioning", 'href="#config"'):
        assert text in html


def test_page_shows_findings_first_and_real_counts(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("s3logq.report.data.TABLE_ROWS", 2)  # 2 rows shown of the analyses' 13, 8, ...
    html = render_report(build_report_data(lake))
    sections = [html.index(f'<section class="panel" id="{name}"') for name in ("findings", "analyses", "traffic")]
    assert sections == sorted(sections)  # findings, then everything worth a look, then the charts
    assert "in this range: 1 finding, most severe first" in html
    assert 'class="severity">medium</span>' in html and "versioning suspended" in html
    requests = html[html.index('id="analysis-access-requests"'):]
    requests = requests[:requests.index("</details>")]
    assert 'id="analysis-access-requests" open>' in html  # expanded, not collapsed
    assert '<span class="count">13 rows</span>' in requests and "The first 2 of 13 rows." in requests
    assert requests.count("<tr><td") == 2
    assert re.findall(r'class="count">[^<]*\+', html) == []  # no "2+ rows" anywhere
    assert html.count('class="table-filter"') == html.count('<table class="sortable">')  # a filter on every table
    assert '<td>acme-data</td><td>9</td><td title="2,000 bytes">2.0 kB</td><td>4</td><td>1</td><td>3</td>' in html


def test_empty_lake_report_says_why_each_section_is_empty(tmp_path: Path) -> None:
    html = render_report(build_report_data(Lake(tmp_path / "nothing")))
    assert 'class="chart"' not in html
    # traffic, buckets, objects, IPs, error codes, deletions, requesters, latency, lifecycle
    assert html.count("No S3 server access logs are ingested") == 9
    assert "lifecycle actions are logged only there, never in CloudTrail" in html
    assert "No CloudTrail logs are ingested: bucket configuration changes come from CloudTrail" in html
    assert "No request was denied (HTTP 403 or CloudTrail AccessDenied) in the lake." in html
    assert "The lake holds no logs yet" in html


def test_a_range_with_no_data_says_so(lake: Lake) -> None:
    since, until = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    html = render_report(build_report_data(lake, since, until))
    assert "No access-log requests between 2025-01-01T00:00:00Z and 2025-01-02T00:00:00Z." in html
    assert "No bucket configuration change in CloudTrail between 2025-01-01T00:00:00Z" in html


def test_trail_only_lake_explains_the_access_log_sections(tmp_path: Path) -> None:
    data = build_report_data(fixture_lake(tmp_path, access=False))
    assert "never in CloudTrail" in data.empty["lifecycle"]
    assert "No S3 server access logs are ingested" in data.empty["traffic"]
    assert len(data.config_changes) == 3 and "config" not in data.empty


def test_report_command_writes_the_file_and_prints_where(lake: Lake, tmp_path: Path) -> None:
    from click.testing import CliRunner

    target = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "report", "--since", "2024-03-01",
                                      "--bucket", "acme-data", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(target.resolve())
    assert '<dd class="buckets">acme-data</dd>' in target.read_text()
    bad = CliRunner().invoke(cli, ["--lake", str(lake.root), "report", "--since", "2024-03-02",
                                   "--until", "2024-03-01", "--output", str(target)])
    assert bad.exit_code == 2 and bad.output.startswith("error: --since")


# ---- a headless Chromium driven through the DevTools protocol ---------------------------------------------------


# Resolves after Plotly's debounced resize handlers have run.
_SETTLE = "new Promise(done => setTimeout(() => requestAnimationFrame(() => done(true)), 400))"


class Chromium:
    """Headless Debian Chromium with a DevTools websocket: navigate, evaluate, collect console errors."""

    def __init__(self, binary: str, profile: Path) -> None:
        import websocket

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        browser_url = self._devtools_url()
        self.socket = websocket.create_connection(browser_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _devtools_url(self) -> str:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("DevTools listening on "):
                return line.split(" on ", 1)[1].strip()
        raise RuntimeError("chromium exited before it opened its DevTools port")

    def call(self, method: str, session: bool = False, **params: object) -> dict:
        self.next_id += 1
        message: dict = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60) -> object:
        """Poll until the expression is truthy (the page renders charts asynchronously)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        return self.evaluate(expression)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads among them)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def requests_outside(self, allowed_scheme: str = "file:") -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith((allowed_scheme, "data:", "about:"))]

    def screenshot(self, path: Path, width: int, mobile: bool = False) -> None:
        """A full-page PNG at this width: the viewport is made as tall as the page, then left to settle."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=900,
                  deviceScaleFactor=1, mobile=mobile)
        self.evaluate(_SETTLE)
        height = min(int(self.evaluate("document.documentElement.scrollHeight") or 900), 12000)  # type: ignore[arg-type]
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)
        self.evaluate(_SETTLE)
        shot = self.call("Page.captureScreenshot", session=True, format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(find_chromium() is None, reason="no chromium on PATH (.ci/system-deps installs Debian's)")
def test_chromium_renders_every_chart_as_svg_without_console_errors(lake: Lake, tmp_path: Path) -> None:
    page = Path(write_report(lake, str(tmp_path / "report.html")))
    browser = Chromium(find_chromium() or "", tmp_path / "profile")
    try:
        browser.call("Network.enable", session=True)
        browser.call("Emulation.setDeviceMetricsOverride", session=True, width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", session=True, url=page.as_uri())
        assert browser.wait_for("document.readyState === 'complete' && [...document.querySelectorAll('.chart')]"
                                ".every(chart => chart.querySelector('svg.main-svg g.trace'))") is True
        charts = browser.evaluate("[...document.querySelectorAll('.chart')].map(chart => "
                                  "[chart.closest('section').id, chart.querySelectorAll('svg g.trace').length])")
        assert [section for section, _ in charts] == ["traffic", "buckets", "errors", "deletions", "requesters",
                                                      "denied", "latency", "lifecycle", "config"]
        # traces drawn per chart: status classes, succeeded/4xx/5xx, 3 error codes, 2 deletion causes,
        # succeeded/errors, two log types, 3 percentiles, 2 lifecycle classes, changed/denied
        assert [traces for _, traces in charts] == [3, 3, 3, 2, 2, 2, 3, 2, 2]
        # the traffic chart drew one bar per (hour, status class) with requests: 5
        assert browser.evaluate("document.querySelectorAll('#chart-traffic .point').length") == 5
        # clicking a header sorts the table by that column (the config table starts newest first)
        first_time = "document.querySelector('#config tbody tr td').textContent"
        assert browser.evaluate(first_time) == "2024-03-01T11:00:00Z"
        browser.evaluate("document.querySelector('#config thead th').click()")
        assert browser.evaluate(first_time) == "2024-03-01T09:00:00Z"
        # typing in a table's filter box leaves the rows holding every word, and says how many
        type_in = ("(() => { const box = document.querySelector('#ips input.table-filter'); box.value = {!r}; "
                   "box.dispatchEvent(new Event('input')); return [[...document.querySelectorAll('#ips tbody tr')]"
                   ".filter(row => !row.hidden).map(row => row.cells[0].textContent), "
                   "document.querySelector('#ips .filter-count').textContent]; })()")
        assert browser.evaluate(type_in.replace("{!r}", "'192.0.2.'")) == [
            ["192.0.2.10", "192.0.2.20", "192.0.2.30"], "3 of 4 rows"]
        assert browser.evaluate(type_in.replace("{!r}", "'203 113'")) == [["203.0.113.5"], "1 of 4 rows"]
        assert browser.evaluate(type_in.replace("{!r}", "''")) == [
            ["192.0.2.10", "192.0.2.20", "203.0.113.5", "192.0.2.30"], ""]
        # at phone width (375 px) nothing makes the page scroll sideways: wide tables scroll in their own box
        browser.call("Emulation.setDeviceMetricsOverride", session=True, width=375, height=800,
                     deviceScaleFactor=2, mobile=True)
        browser.evaluate(_SETTLE)
        assert browser.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, "
                                "window.innerWidth]") == [375, 375, 375]
        browser.screenshot(tmp_path / "report-laptop.png", 1280)
        browser.screenshot(tmp_path / "report-phone.png", 375, mobile=True)
        assert browser.errors() == []
        assert browser.requests_outside() == []
    finally:
        browser.close()
    for shot in ("report-laptop.png", "report-phone.png"):
        assert (tmp_path / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
