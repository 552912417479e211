"""investigate(): ingest a range from S3, run analyses, write results to S3, notify; on the moto server."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from s3_server import (  # noqa: F401 - fixtures
    moto_server_fixture,
    s3_fixture,
    smtp_server_fixture,
    sns_messages,
    sns_topic_with_queue,
    webhook_fixture,
)

from s3logq.catalog import CatalogError
from s3logq.investigate import AwsOptions, Investigation, investigate, result_targets
from s3logq.lake import Lake
from s3logq.output import OutputError
from s3logq.sources import SourceError

SINCE, UNTIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)
ALICE = "arn:aws:iam::111111111111:user/alice"


def read_csv(s3, bucket: str, key: str) -> list[dict]:
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_investigate_writes_each_analysis_to_s3_and_notifies(s3, smtp_server, webhook, tmp_path):
    s3.client().create_bucket(Bucket="audit")
    topic, queue = sns_topic_with_queue(s3, "s3logq-investigate")
    job = Investigation(
        logs=("s3://logs/partitioned/",), analyses=("object-access", "top-requesters"), since=SINCE, until=UNTIL,
        bucket="alpha", output="s3://audit/results/", notify=("mailto:ops@example.com", f"sns:{topic}",
                                                                webhook.url + "/ok"),
        aws=AwsOptions(endpoint_url=s3.endpoint_url))
    outcome = investigate(Lake(tmp_path / "lake"), job)

    # Bucket alpha, 2 accounts x 2 regions x days 03-01..03-07 x 4 files x 2 GET requests, all by alice.
    rows = read_csv(s3, "audit", "results/object-access.csv")
    assert len(rows) == 224 and {r["bucket_name"] for r in rows} == {"alpha"}
    assert {r["requester"] for r in rows} == {ALICE}
    assert read_csv(s3, "audit", "results/top-requesters.csv") == [{
        "group_key": ALICE, "requests": "224", "bytes_sent": str(224 * 512), "errors": "0", "denied": "0",
        "first_seen": "2024-03-01T00:05:00Z", "last_seen": "2024-03-07T01:05:00Z"}]
    assert [(r.analysis, r.rows, r.location) for r in outcome.results] == [
        ("object-access", 224, "s3://audit/results/object-access.csv"),
        ("top-requesters", 1, "s3://audit/results/top-requesters.csv")]
    assert len(s3.requests.object_gets("logs")) == 2 * 2 * 8 * 4  # only the range's days of bucket alpha

    subjects = [m.message["Subject"] for m in smtp_server.mails]
    assert subjects == ["s3logq: object-access, top-requesters on alpha started",
                        "s3logq: object-access, top-requesters on alpha finished: 225 rows"]
    finish = smtp_server.mails[1].message.get_content()
    assert "object-access: 224 rows -> s3://audit/results/object-access.csv" in finish
    assert "since: 2024-03-01T00:00:00Z" in finish and "duration: " in finish
    assert [p["event"] for p in webhook.posts] == ["start", "finish"]
    assert [m["Subject"] for m in sns_messages(s3, queue)] == subjects


def test_a_failure_is_notified_then_raised(s3, webhook, tmp_path):
    job = Investigation(logs=("s3://no-such-log-bucket/access/",), analyses=("object-access",), since=SINCE,
                        notify=(webhook.url + "/ok",), aws=AwsOptions(endpoint_url=s3.endpoint_url))
    with pytest.raises(SourceError, match="no such bucket: no-such-log-bucket"):
        investigate(Lake(tmp_path / "lake"), job)
    assert [p["event"] for p in webhook.posts] == ["start", "failure"]
    assert webhook.posts[1]["error"] == "no such bucket: no-such-log-bucket"


def test_bad_names_and_targets_fail_before_any_work(s3, webhook, tmp_path):
    with pytest.raises(CatalogError):
        investigate(Lake(tmp_path / "lake"), Investigation(("s3://logs/simple/",), ("no-such-analysis",),
                                                           notify=(webhook.url + "/ok",)))
    with pytest.raises(OutputError, match="give a folder"):
        investigate(Lake(tmp_path / "lake"), Investigation(("s3://logs/simple/",), ("object-access", "deletions"),
                                                           output="s3://audit/one.csv"))
    assert webhook.posts == [] and s3.requests.seen == []


def test_folder_targets_name_one_file_per_analysis(tmp_path):
    from s3logq.catalog import find_analysis

    analyses = [find_analysis("deletions"), find_analysis("object-access", "access"),
                find_analysis("object-access", "cloudtrail")]
    assert result_targets(analyses, "s3://audit/run/", "json") == [
        "s3://audit/run/deletions.json", "s3://audit/run/object-access-access.json",
        "s3://audit/run/object-access-cloudtrail.json"]
    assert result_targets(analyses[:1], str(tmp_path), None) == [f"{tmp_path}/deletions.csv"]


def test_report_hook_writes_the_html_report(s3, tmp_path):
    pytest.importorskip("s3logq.report")
    job = Investigation(logs=("s3://logs/simple/",), analyses=("top-requesters",), since=SINCE,
                        until=datetime(2024, 3, 2, tzinfo=UTC), report=str(tmp_path / "report.html"),
                        aws=AwsOptions(endpoint_url=s3.endpoint_url))
    outcome = investigate(Lake(tmp_path / "lake"), job)
    assert outcome.report_location == str(tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    # s3://logs/simple/ on 2024-03-01: 36 files x 2 GETs of 512 bytes on bucket alpha, by alice, from
    # 192.0.2.1 and 192.0.2.2, one key each: the report counts what the investigation ingested
    assert '<dd class="buckets">all 1: alpha</dd>' in html
    assert '<span class="card-title">Requests</span>\n    <span class="card-value">72</span>' in html
    assert '<td>alpha</td><td>72</td><td title="36,864 bytes">36.9 kB</td><td>0</td><td>0</td><td>0</td>' in html
    assert '<td>192.0.2.1</td><td>36</td><td title="18,432 bytes">18.4 kB</td><td>0</td><td>1</td>' in html
    assert '<span class="count">72 rows</span>' in html and "The first 10 of 72 rows." in html
