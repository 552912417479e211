"""`s3logq watch` end to end with real parts: the fixture logs of tests/detection_fixtures.py arriving in two
batches (a folder, or moto's S3), aiosmtpd, a webhook receiver on loopback that is down and then up, SNS on
moto. What is checked is what a person on call would see: each finding once, in order, nothing lost.

The expected counts, from the findings worked out in test_detect_access.py and test_detect_cloudtrail.py:
- the morning batch (access history and 03-10 to 11:01, the trail to 10:02) holds 17 findings at severity low
  and above: acme-web's first anonymous read (03-01), six first-seen requesters and IPs, and ten CloudTrail
  findings (three public policy/ACL, two public access block, versioning, logging, encryption, replication,
  lifecycle);
- the afternoon batch adds 17: acme-prod-data's first anonymous read, three credential reads, two ransom notes,
  two unusual clients, three insecure transports, one egress spike, two SSE-C windows, a deleted bucket and two
  cross-account principals.
"""

from __future__ import annotations

import gzip
import http.server
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from detection_fixtures import ROOT
from s3_server import (  # noqa: F401 - fixtures
    free_port,
    moto_server_fixture,
    s3_fixture,
    smtp_server_fixture,
    sns_messages,
    sns_topic_with_queue,
    store,
    webhook_fixture,
)

from s3logq.cli import cli
from s3logq.detect import find_all
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.lake import Lake
from s3logq.watch import FINDINGS_PER_MESSAGE, FindingStore, WatchJob, watch

MORNING = ["access/2024-03-09-23-59-00-0000000000000001", "access/2024-03-10-12-00-00-0000000000000002",
           "cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/"
           "111122223333_CloudTrail_us-east-1_20240310T1100Z_A1.json.gz"]
AFTERNOON = ["access/2024-03-10-18-00-00-0000000000000003",
             "cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/10/"
             "111122223333_CloudTrail_us-east-1_20240310T1500Z_B2.json.gz"]
MORNING_FINDINGS, AFTERNOON_FINDINGS = 17, 17


def arrive(logs: Path, names: list[str]) -> None:
    """Log files landing in the watched folder."""
    for name in names:
        target = logs / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, target)


def watch_once(lake: Path, logs: str, *options: str) -> object:
    return CliRunner().invoke(cli, ["--lake", str(lake), "watch", logs, "--once", *options])


def all_findings_ids(lake: Path) -> list[str]:
    """Every finding of the lake at severity low and above, as `detect` finds them from scratch."""
    return sorted(f.finding_id for f in find_all(DuckDBEngine(Lake(lake)), min_severity="low"))


def test_watch_once_twice_over_growing_logs_delivers_each_finding_once(tmp_path, webhook, smtp_server):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    targets = ["--notify", webhook.url + "/ok", "--notify", "mailto:secops@example.com"]
    arrive(logs, MORNING)
    first = watch_once(lake, str(logs), *targets)
    assert first.exit_code == 0, first.output
    assert "3 new files" in first.output and f"{MORNING_FINDINGS} new findings" in first.output
    arrive(logs, AFTERNOON)
    second = watch_once(lake, str(logs), *targets)
    assert second.exit_code == 0, second.output
    assert "2 new files" in second.output and f"{AFTERNOON_FINDINGS} new findings" in second.output
    third = watch_once(lake, str(logs), *targets)  # nothing new: nothing sent
    assert "0 new files, 0 rows, 0 new findings, 0 delivered" in third.output

    # one message per cycle with findings, to each target; every finding once, and every one of the lake
    assert [len(post["findings"]) for post in webhook.posts] == [MORNING_FINDINGS, AFTERNOON_FINDINGS]
    delivered = [f["finding_id"] for post in webhook.posts for f in post["findings"]]
    assert sorted(delivered) == all_findings_ids(lake)
    assert len(smtp_server.mails) == 2
    # a long Subject is folded onto a second line: strip() takes the fold's space off
    assert smtp_server.mails[0].message["Subject"].strip() == (
        "s3logq: 17 findings (9 high, 2 medium, 6 low) on acme-prod-data, acme-web")
    mail_ids = [line.split()[-1] for mail in smtp_server.mails
                for line in mail.message.get_content().splitlines() if line.startswith("  finding:")]
    assert mail_ids == delivered  # the same findings in the same order
    table = FindingStore(Lake(lake)).table()
    assert table.num_rows == MORNING_FINDINGS + AFTERNOON_FINDINGS
    assert table.column("delivered_at").null_count == 0
    # and `s3logq sql` reads them as the table `findings`
    sql = CliRunner().invoke(cli, ["--lake", str(lake), "sql", "--format", "csv",
                                   "select count(*) as n, count(delivered_at) as delivered from findings"])
    assert sql.stdout == '"n","delivered"\n34,34\n'


def test_a_mail_names_what_who_where_and_the_evidence_command(tmp_path, smtp_server):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    arrive(logs, AFTERNOON[1:])  # the trail of the afternoon alone
    result = watch_once(lake, str(logs), "--notify", "mailto:secops@example.com", "--min-severity", "critical")
    assert result.exit_code == 0, result.output
    [mail] = smtp_server.mails
    body = mail.message.get_content().replace("\r\n", "\n")
    block = body.split("\n\n")[1]
    assert block.splitlines()[:7] == [
        "[CRITICAL] Objects encrypted with customer-provided keys (SSE-C) (sse-c-encryption)",
        "  when:      2024-03-10T11:20:00Z",
        "  what:      3 objects written with SSE-C keys in 60 minutes",
        "  who:       arn:aws:iam::111122223333:user/intruder from 203.0.113.66",
        "  where:     s3://acme-prod-data/data/3.csv",
        "  technique: T1486 Data Encrypted for Impact",
        "  evidence:  s3logq --lake " + str(lake.resolve()) + " sql 'select event_time, eventname, bucket_name, "
        "object_key, user_arn from cloudtrail where requestparameters like '\"'\"'%customer-algorithm%'\"'\"' "
        "order by event_time'",
    ]
    assert mail.message["Subject"].strip() == "s3logq: 2 findings (2 critical) on acme-prod-data"


class SwitchableWebhook:
    """A webhook receiver on a fixed loopback port that can be down (nothing listening) or up."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[dict] = []
        self.server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/T0/B0"

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
                receiver.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture(name="switchable")
def switchable_fixture():
    hook = SwitchableWebhook()
    yield hook
    hook.down()


def test_a_target_down_for_three_cycles_gets_everything_afterwards_once_in_order(tmp_path, switchable, smtp_server):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    targets = ["--notify", switchable.url, "--notify", "mailto:secops@example.com"]
    arrive(logs, MORNING)
    down_1 = watch_once(lake, str(logs), *targets)
    assert down_1.exit_code == 1  # for cron: something is waiting
    assert f"{MORNING_FINDINGS} new findings" in down_1.output and f"{MORNING_FINDINGS} delivered" in down_1.output  # the mail
    assert f"{MORNING_FINDINGS} waiting" in down_1.output and "not delivered to http://127.0.0.1/…" in down_1.output
    assert "/hook/T0/B0" not in down_1.output  # the webhook's secret path is never printed
    arrive(logs, AFTERNOON)
    down_2 = watch_once(lake, str(logs), *targets)
    assert f"{MORNING_FINDINGS + AFTERNOON_FINDINGS} waiting" in down_2.output
    down_3 = watch_once(lake, str(logs), *targets)
    assert f"{MORNING_FINDINGS + AFTERNOON_FINDINGS} waiting" in down_3.output
    assert switchable.posts == [] and len(smtp_server.mails) == 2  # mail was never held back by the webhook

    switchable.up()
    recovered = watch_once(lake, str(logs), *targets)
    assert recovered.exit_code == 0, recovered.output
    assert f"{MORNING_FINDINGS + AFTERNOON_FINDINGS} delivered, 0 waiting" in recovered.output
    again = watch_once(lake, str(logs), *targets)
    assert "0 delivered, 0 waiting" in again.output
    [post] = switchable.posts
    delivered = [f["finding_id"] for f in post["findings"]]
    mailed = [line.split()[-1] for mail in smtp_server.mails
              for line in mail.message.get_content().splitlines() if line.startswith("  finding:")]
    assert delivered == mailed  # the same order as found: the morning's findings first
    assert sorted(delivered) == all_findings_ids(lake)


def test_restarts_and_logs_arriving_again_never_resend(tmp_path, webhook):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    arrive(logs, MORNING)
    assert watch_once(lake, str(logs), "--notify", webhook.url + "/ok").exit_code == 0
    # the same records delivered again in other files (lines and records in another order): new files, the
    # same rows (access-log rows are stored twice, CloudTrail events once by eventID), no new finding
    copy = tmp_path / "again"
    for name in MORNING:
        target = copy / name.replace("0000000000000", "9999999999999")
        target.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".gz"):
            records = json.loads(gzip.decompress((ROOT / name).read_bytes()))["Records"]
            target.write_bytes(gzip.compress(json.dumps({"Records": records[::-1]}).encode()))
        else:
            target.write_text("\n".join((ROOT / name).read_text().splitlines()[::-1]) + "\n")
    result = watch_once(lake, str(copy), "--notify", webhook.url + "/ok")
    assert result.exit_code == 0 and "3 new files" in result.output and "0 new findings" in result.output
    assert len(webhook.posts) == 1


def test_min_severity_filters_what_is_sent_not_what_is_stored(tmp_path, webhook):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    arrive(logs, MORNING)
    assert watch_once(lake, str(logs), "--notify", webhook.url + "/ok", "--min-severity", "high").exit_code == 0
    [post] = webhook.posts
    # the morning's high findings: acme-web's first anonymous read, three public policy/ACL, two public access
    # block, logging, replication, lifecycle
    assert [f["severity"] for f in post["findings"]] == ["high"] * 9
    assert FindingStore(Lake(lake)).table().num_rows == MORNING_FINDINGS


def test_watch_reads_s3_and_publishes_to_sns(tmp_path, s3):
    topic, queue = sns_topic_with_queue(s3, "s3logq-test-watch")
    store(s3, "watched-logs", {name: (ROOT / name).read_bytes() for name in MORNING})
    lake = tmp_path / "lake"
    options = ["--notify", f"sns:{topic}", "--endpoint-url", s3.endpoint_url]
    first = watch_once(lake, "s3://watched-logs/", *options)
    assert first.exit_code == 0, first.output
    store(s3, "watched-logs", {name: (ROOT / name).read_bytes() for name in AFTERNOON})
    second = watch_once(lake, "s3://watched-logs/", *options)
    assert second.exit_code == 0, second.output
    messages = sns_messages(s3, queue)
    assert [m["Subject"] for m in messages] == [
        "s3logq: 17 findings (9 high, 2 medium, 6 low) on acme-prod-data, acme-web",
        "s3logq: 17 findings (4 critical, 4 high, 4 medium, 5 low) on acme-old, acme-prod-data"]
    ids = [line.split()[-1] for m in messages for line in m["Message"].splitlines() if line.startswith("  finding:")]
    assert sorted(ids) == all_findings_ids(lake)


def test_a_failing_cycle_is_logged_every_cycle_reported_once_and_recovers(tmp_path, webhook):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    lines: list[str] = []
    stop = threading.Event()
    job = WatchJob((str(logs),), (webhook.url + "/ok",), every_seconds=0.05)

    def log(line: str) -> None:
        lines.append(line)
        failures = sum("cycle failed" in line for line in lines)
        if failures == 3 and not logs.exists():
            arrive(logs, MORNING)  # the source comes back
        if "recovered" in line:
            stop.set()

    thread = threading.Thread(target=watch, args=(Lake(lake), job), kwargs={"log": log, "stop": stop})
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert [("cycle failed" in line) for line in lines[:3]] == [True] * 3
    assert lines[0].endswith(f"cycle failed: no such file or folder: {logs} (retried next cycle)")
    assert "new findings" in lines[3] and lines[4].endswith(" recovered")
    failure_posts = [p for p in webhook.posts if p.get("event") == "failure"]
    assert len(failure_posts) == 1 and f"no such file or folder: {logs}" in failure_posts[0]["error"]
    assert sum(len(p.get("findings", [])) for p in webhook.posts) == MORNING_FINDINGS


def start_watch(lake: Path, logs: Path, *options: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from s3logq.cli import main; main()", "--lake", str(lake), "watch", str(logs),
               *options]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_kill_9_at_random_moments_and_restarts_lose_nothing(tmp_path, webhook):
    """A kill can fall between a target taking a message and the store recording it: that message is the one
    that can come twice (a receiver drops it by finding_id). Nothing is ever lost."""
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    pick = random.Random(15)
    kills = 6
    for number in range(kills):
        if number == 0:
            arrive(logs, MORNING)
        if number == 3:
            arrive(logs, AFTERNOON)
        process = start_watch(lake, logs, "--every", "0.1s", "--notify", webhook.url + "/ok")
        time.sleep(pick.uniform(1.0, 4.0))  # from still starting to a few cycles in
        process.kill()
        process.wait()
    final = watch_once(lake, str(logs), "--notify", webhook.url + "/ok")
    assert final.exit_code == 0, final.output
    delivered = [f["finding_id"] for post in webhook.posts for f in post["findings"]]
    assert sorted(set(delivered)) == all_findings_ids(lake)
    doubled = len(delivered) - len(set(delivered))
    assert doubled <= kills * FINDINGS_PER_MESSAGE
    assert len(webhook.posts) - len({tuple(f["finding_id"] for f in p["findings"]) for p in webhook.posts}) <= kills


def test_sigterm_stops_between_steps_and_exits_cleanly(tmp_path, webhook):
    logs, lake = tmp_path / "logs", tmp_path / "lake"
    arrive(logs, MORNING)
    process = start_watch(lake, logs, "--every", "1h", "--notify", webhook.url + "/ok")
    first_line = process.stderr.readline()  # one line per cycle: the first cycle is done
    assert "new findings" in first_line
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 10  # not after the hour's wait
    assert len(webhook.posts) == 1 and len(webhook.posts[0]["findings"]) == MORNING_FINDINGS


def test_an_s3_outage_or_a_damaged_file_fails_the_cycle_not_watch_and_nothing_is_lost(tmp_path, s3, webhook):
    store(s3, "outage-logs", {name: (ROOT / name).read_bytes() for name in MORNING})
    lake = tmp_path / "lake"
    options = ["--notify", webhook.url + "/ok", "--endpoint-url", s3.endpoint_url]
    s3.requests.private_buckets.add("outage-logs")  # every listing answers 403
    outage = watch_once(lake, "s3://outage-logs/", *options)
    assert outage.exit_code == 1
    [line] = outage.output.splitlines()
    assert "cycle failed:" in line and line.endswith("(retried next cycle)") and "Traceback" not in outage.output
    again = watch_once(lake, "s3://outage-logs/", *options)  # a second run (cron) logs it, reports it no more
    assert again.exit_code == 1 and "cycle failed:" in again.output
    failures = [p for p in webhook.posts if p.get("event") == "failure"]
    assert len(failures) == 1 and "outage-logs" in failures[0]["error"]
    s3.requests.private_buckets.clear()
    # the trail file is cut short on its first GET: that file fails, the others are ingested and detected
    s3.requests.faults[MORNING[2]] = ["truncate"] * 10
    damaged = watch_once(lake, "s3://outage-logs/", *options)
    assert damaged.exit_code == 1 and "2 new files" in damaged.output and "1 files unreadable" in damaged.output
    s3.requests.faults.clear()
    recovered = watch_once(lake, "s3://outage-logs/", *options)
    assert recovered.exit_code == 0 and "1 new files" in recovered.output
    delivered = [f["finding_id"] for post in webhook.posts if "findings" in post for f in post["findings"]]
    assert sorted(delivered) == all_findings_ids(lake) and len(delivered) == MORNING_FINDINGS
