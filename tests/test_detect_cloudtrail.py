"""CloudTrail detections on the hand-written trail of tests/detection_fixtures.py: every expected finding was
worked out from the events there (each positive has a negative next to it), and each threshold is tested at
its edge and against being ignored."""

from __future__ import annotations

import pytest
from detection_fixtures import INTRUDER, OUTSIDER, PARTNER, ROOT, TRAIL_ACCOUNT, TRAIL_ALICE

from s3logq.catalog.detection import find_detection
from s3logq.detect import run_detection
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

SINCE, UNTIL = parse_when("2024-03-10"), parse_when("2024-03-11")
PROD = "acme-prod-data"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    lake = Lake(tmp_path_factory.mktemp("detect-trail"))
    report = ingest(lake, list_sources([str(ROOT / "cloudtrail")]), IngestOptions(workers=2))
    assert report.rows == {"cloudtrail": 38} and not report.failures
    return DuckDBEngine(lake)


def found(engine: DuckDBEngine, name: str, **overrides: object) -> list[tuple]:
    """(time, bucket, key, principal, ip, detail) of each finding, oldest first."""
    return [(f"{f.event_time:%H:%M}", f.bucket_name, f.object_key, f.principal, f.source_ip, f.detail)
            for f in run_detection(engine, find_detection(name), SINCE, UNTIL, overrides)]


def identities(engine: DuckDBEngine, name: str, **overrides: object) -> list[dict]:
    return [f.identity for f in run_detection(engine, find_detection(name), SINCE, UNTIL, overrides)]


def by_alice(time: str, bucket: str | None, detail: str, key: str | None = None) -> tuple:
    return (time, bucket, key, TRAIL_ALICE, "192.0.2.10", detail)


def test_public_policy_or_acl(engine):
    # negatives: a Deny-only Principal * policy (09:03), a private canned ACL (09:04), a refused public policy (09:05)
    assert found(engine, "public-policy-or-acl") == [
        by_alice("09:00", "acme-web", "PutBucketPolicy: bucket policy allows Principal *"),
        by_alice("09:01", "acme-web", "PutBucketAcl: bucket ACL grants to AllUsers"),
        by_alice("09:02", PROD, "PutObjectAcl: object ACL public-read", key="reports/q1.pdf"),
    ]
    assert identities(engine, "public-policy-or-acl") == [{"eventid": "evt-0001"}, {"eventid": "evt-0002"},
                                                          {"eventid": "evt-0003"}]


def test_public_access_block_off_bucket_and_account(engine):
    # negative: the 09:12 block with all four flags true
    assert found(engine, "public-access-block-off") == [
        by_alice("09:10", PROD, "bucket public access block off: BlockPublicPolicy"),
        by_alice("09:11", None, "account public access block deleted"),
    ]


def test_versioning_suspended_not_enabled(engine):
    assert found(engine, "versioning-suspended") == [by_alice("09:20", PROD, "versioning suspended")]


def test_logging_disabled_not_retargeted(engine):
    assert found(engine, "logging-disabled") == [by_alice("09:30", PROD, "server access logging turned off")]


def test_encryption_deleted_not_changed(engine):
    assert found(engine, "encryption-deleted") == [by_alice("09:40", PROD, "default encryption deleted")]


def test_replication_to_another_account_only(engine):
    # 09:51 replicates to its own account and to a destination without an account: not a finding
    assert found(engine, "replication-to-other-account") == [
        by_alice("09:50", PROD, "replication to account 444455556666")]


def test_bucket_deleted_not_refused(engine):
    assert found(engine, "bucket-deleted") == [by_alice("12:30", "acme-old", "bucket deleted")]


def test_lifecycle_expiring_everything_max_expiration_days_at_its_edge(engine):
    # 10:00: a one-day rule without a prefix (next to a one-day rule on logs/); 10:01: thirty days, no filter;
    # 10:02: one day, but on tmp/ only, or disabled
    assert found(engine, "lifecycle-expires-everything") == [
        by_alice("10:00", PROD, "lifecycle rule expires every object after 1 day")]
    assert [row[0] for row in found(engine, "lifecycle-expires-everything", max_expiration_days=30)] == [
        "10:00", "10:01"]
    assert [row[0] for row in found(engine, "lifecycle-expires-everything", max_expiration_days=29)] == ["10:00"]


def test_sse_c_writes_per_window(engine):
    # 11:00, 11:10 (a copy), 11:20 and 12:05 (a multipart upload) carry an SSE-C key; 11:05 is SSE-KMS, 11:06 refused
    assert found(engine, "sse-c-encryption") == [
        ("11:20", PROD, "data/3.csv", INTRUDER, "203.0.113.66", "3 objects written with SSE-C keys in 60 minutes"),
        ("12:05", PROD, "data/4.csv", INTRUDER, "203.0.113.67", "1 object written with SSE-C keys in 60 minutes"),
    ]
    assert identities(engine, "sse-c-encryption")[0] == {
        "bucket_name": PROD, "principal": INTRUDER, "window_start": "2024-03-10T11:00:00Z"}


def test_sse_c_min_objects_at_its_edge_and_window_minutes_used(engine):
    assert [row[0] for row in found(engine, "sse-c-encryption", min_objects=3)] == ["11:20"]
    assert found(engine, "sse-c-encryption", min_objects=4) == []
    # 20-minute windows: [11:00, 11:20) holds two, [11:20, 11:40) and [12:00, 12:20) one each
    assert found(engine, "sse-c-encryption", min_objects=2, window_minutes=20) == [
        ("11:10", PROD, "data/2.csv", INTRUDER, "203.0.113.66", "2 objects written with SSE-C keys in 20 minutes")]


def test_cross_account_principals_once_each(engine):
    # the outsider's refused call (13:20), the anonymous read (13:15) and the CloudTrail service's write are left out
    assert found(engine, "cross-account-principal") == [
        ("13:00", PROD, "reports/q1.csv", OUTSIDER, "198.51.100.44",
         "principal of account 444455556666 made 2 calls (GetObject)"),
        ("13:10", PROD, "reports/q3.csv", PARTNER, "198.51.100.60",
         "principal of account 777788889999 made 1 call (GetObject)"),
    ]


def test_cross_account_trusted_accounts_are_left_out(engine):
    assert [row[3] for row in found(engine, "cross-account-principal", trusted_accounts="777788889999")] == [OUTSIDER]
    assert [row[3] for row in found(engine, "cross-account-principal",
                                    trusted_accounts=f"{TRAIL_ACCOUNT}, 444455556666,777788889999")] == []


def test_mass_deletion_in_data_events_min_objects_at_its_edge(engine):
    # 14:00 DeleteObjects of three keys, 14:01 and 14:02 DeleteObject; 14:03 was refused
    assert found(engine, "mass-deletion-trail") == []  # 100 by default
    assert found(engine, "mass-deletion-trail", min_objects=5) == [
        ("14:02", PROD, "e.csv", INTRUDER, "203.0.113.66", "5 objects deleted in 10 minutes")]
    assert found(engine, "mass-deletion-trail", min_objects=6) == []


def test_mass_deletion_in_data_events_window_minutes_used(engine):
    # 2-minute windows: [14:00, 14:02) holds 4 objects, [14:02, 14:04) one
    assert found(engine, "mass-deletion-trail", min_objects=5, window_minutes=2) == []
    assert [row[5] for row in found(engine, "mass-deletion-trail", min_objects=4, window_minutes=2)] == [
        "4 objects deleted in 2 minutes"]
