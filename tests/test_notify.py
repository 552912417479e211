"""Notifications through real servers on loopback: aiosmtpd, an http.server webhook, SNS on moto."""

from __future__ import annotations

import pyarrow as pa
import pytest
from s3_server import (  # noqa: F401 - fixtures
    moto_server_fixture,
    s3_fixture,
    smtp_server_fixture,
    sns_messages,
    sns_topic_with_queue,
    webhook_fixture,
)

from s3logq.notify import AnalysisResult, NotifyEvent, check_targets, notify, smtp_settings

PREVIEW = pa.table({"requester": ["arn:aws:iam::111111111111:user/alice", None],
                    "requests": [12, 3]})
FINISHED = NotifyEvent(
    "finish", ("deletions",), ("acme-prod-data",), {"since": "2024-03-01T00:00:00Z", "bucket": "acme-prod-data"},
    (AnalysisResult("deletions", 2, "s3://acme-audit/results/deletions.csv", PREVIEW),), seconds=4.25)
EXPECTED_BODY = """\
s3logq: deletions on acme-prod-data finished: 2 rows

since: 2024-03-01T00:00:00Z
bucket: acme-prod-data
duration: 4.2 s

deletions: 2 rows -> s3://acme-audit/results/deletions.csv
requester                             requests
------------------------------------  --------
arn:aws:iam::111111111111:user/alice  12
                                      3
"""


def test_message_subject_and_body():
    assert FINISHED.subject() == "s3logq: deletions on acme-prod-data finished: 2 rows"
    assert FINISHED.body() == EXPECTED_BODY
    failed = NotifyEvent("failure", ("deletions",), (), {}, error="no such bucket: acme-logs", seconds=0.5)
    assert failed.subject() == "s3logq: deletions FAILED"
    assert "error: no such bucket: acme-logs" in failed.body()


def test_mail_through_a_real_smtp_server(smtp_server):
    assert notify(["mailto:ops@example.com"], FINISHED) == []
    [mail] = smtp_server.mails
    assert mail.recipients == ["ops@example.com"] and mail.sender == "s3logq@example.com"
    assert mail.message["Subject"] == "s3logq: deletions on acme-prod-data finished: 2 rows"
    assert mail.message.get_content().replace("\r\n", "\n") == EXPECTED_BODY  # SMTP sends CRLF


def test_webhook_gets_slack_text_and_fields(webhook):
    notify([webhook.url + "/ok"], FINISHED)
    [post] = webhook.posts
    assert post["text"] == EXPECTED_BODY
    assert post["event"] == "finish" and post["buckets"] == ["acme-prod-data"]
    assert post["results"] == [{"analysis": "deletions", "rows": 2,
                                "location": "s3://acme-audit/results/deletions.csv"}]


def test_sns_publish_reaches_a_subscribed_queue(s3):
    topic, queue = sns_topic_with_queue(s3, "s3logq-test-notify")
    assert notify([f"sns:{topic}"], FINISHED, endpoint_url=s3.endpoint_url) == []
    [message] = sns_messages(s3, queue)
    assert message["Subject"] == "s3logq: deletions on acme-prod-data finished: 2 rows"
    assert message["Message"] == EXPECTED_BODY


def test_a_failing_notifier_is_a_warning_and_the_others_still_run(webhook, smtp_server, monkeypatch):
    warnings: list[str] = []
    secret_hook = webhook.url + "/broken/T000/B000/very-secret-token"
    monkeypatch.setenv("S3LOGQ_SMTP_PASSWORD", "hunter2")
    monkeypatch.setenv("S3LOGQ_SMTP_USER", "")  # no login on this server; the password must not leak anyway
    failed = notify([secret_hook, "mailto:ops@example.com", webhook.url + "/ok"], FINISHED,
                    on_warning=warnings.append)
    assert failed == [secret_hook]
    assert warnings == ["could not notify http://127.0.0.1/…: HTTP Error 500: Internal Server Error"]
    assert len(smtp_server.mails) == 1 and len(webhook.posts) == 1
    assert "hunter2" not in smtp_server.mails[0].message.as_string()


def test_unknown_target_kind_is_refused_up_front():
    with pytest.raises(ValueError, match="expected mailto:ADDRESS"):
        check_targets(["slack:#ops"])


def test_smtp_settings_from_file_then_environment(tmp_path):
    config = tmp_path / "smtp.toml"
    config.write_text('host = "mail.example.com"\nport = 2525\nstarttls = true\nuser = "ops"\n')
    settings = smtp_settings({"S3LOGQ_SMTP_PORT": "587", "S3LOGQ_SMTP_FROM": "audit@example.com"}, config)
    assert (settings.host, settings.port, settings.starttls, settings.ssl, settings.user, settings.sender) == \
        ("mail.example.com", 587, True, False, "ops", "audit@example.com")
