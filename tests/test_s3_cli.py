"""The S3 side of the command line: ingest s3://, investigate, run --notify, against the moto server."""

from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner
from s3_server import moto_server_fixture, s3_fixture, simple_prefix_objects, store, webhook_fixture  # noqa: F401

from s3logq.cli import cli


def invoke(tmp_path, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), *args], env=env)


def test_ingest_from_s3_names_the_unreadable_object_and_commits_the_rest(s3, tmp_path):
    day = sorted(k for k in simple_prefix_objects("cli/") if "2024-03-03" in k)[:6]
    objects = simple_prefix_objects("cli/")
    store(s3, "cli-logs", {key: objects[key] for key in day})
    s3.requests.forbidden.add(day[2])
    result = invoke(tmp_path, "ingest", "s3://cli-logs/cli/", "--since", "2024-03-01", "--until", "2024-03-08",
                    "--endpoint-url", s3.endpoint_url)
    assert result.exit_code == 1
    assert "ingested 5 files" in result.stdout and "10 access_log rows" in result.stdout
    assert f"error: s3://cli-logs/{day[2]}: AccessDenied (s3:GetObject)\n" in result.stderr
    assert "testing" not in result.output  # the access key and secret


def test_investigate_cloudtrail_to_s3_with_a_webhook(s3, webhook, tmp_path):
    s3.client().create_bucket(Bucket="cli-audit")
    result = invoke(tmp_path, "investigate", "--logs", "s3://trail/AWSLogs/", "--since", "2024-03-01",
                    "--until", "2024-03-08", "--analysis", "object-access", "--output", "s3://cli-audit/r/",
                    "--notify", webhook.url + "/ok", "--endpoint-url", s3.endpoint_url)
    assert result.exit_code == 0, result.output
    # object-access exists for both log types: the lake holds CloudTrail only, so the CloudTrail one runs.
    # 2 accounts x 2 regions x 7 days x 8 files x 2 GetObject events.
    assert "wrote 448 rows to s3://cli-audit/r/object-access.csv" in result.stdout
    body = s3.client().get_object(Bucket="cli-audit", Key="r/object-access.csv")["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 448 and {r["eventname"] for r in rows} == {"GetObject"}
    assert {r["account_id"] for r in rows} == {"111111111111", "222222222222"}
    assert [p["event"] for p in webhook.posts] == ["start", "finish"]
    assert webhook.posts[1]["results"] == [
        {"analysis": "object-access", "rows": 448, "location": "s3://cli-audit/r/object-access.csv"}]


def test_run_notifies_and_writes_to_s3_through_aws_endpoint_url(s3, webhook, tmp_path):
    s3.client().create_bucket(Bucket="cli-runs")
    env = {"AWS_ENDPOINT_URL": s3.endpoint_url}
    assert invoke(tmp_path, "ingest", "s3://logs/simple/", "--since", "2024-03-04", "--until", "2024-03-05",
                  env=env).exit_code == 0
    # the ingest also read the late-delivery day's files (03-05), stored whole: the query applies the range
    result = invoke(tmp_path, "run", "top-requesters", "--since", "2024-03-04", "--until", "2024-03-05",
                    "--output", "s3://cli-runs/top.json", "--notify", webhook.url + "/ok", env=env)
    assert result.exit_code == 0, result.output
    rows = json.loads(s3.client().get_object(Bucket="cli-runs", Key="top.json")["Body"].read())
    assert [(r["group_key"], r["requests"]) for r in rows] == [("arn:aws:iam::111111111111:user/alice", 36 * 2)]
    [finish] = webhook.posts  # run tells how it ended, not that it started
    assert finish["event"] == "finish" and finish["subject"] == "s3logq: top-requesters finished: 1 row"
    assert finish["results"][0]["location"] == "s3://cli-runs/top.json"


def test_a_bad_notify_target_is_a_usage_error(tmp_path):
    result = invoke(tmp_path, "investigate", "--logs", "s3://x/", "--analysis", "deletions", "--notify", "slack:#ops")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --notify slack:#ops: expected mailto:ADDRESS")
