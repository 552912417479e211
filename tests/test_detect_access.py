"""Access-log detections on the hand-written story of tests/detection_fixtures.py: every expected finding
below was worked out from the rows there, and each threshold is tested at its edge (found at the value the
data reaches, not found one step past it) and against being ignored."""

from __future__ import annotations

from datetime import datetime

import pytest
from detection_fixtures import ALICE, BOB, EVE, MALLORY, ROOT, access_line

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
    lake = Lake(tmp_path_factory.mktemp("detect-access"))
    report = ingest(lake, list_sources([str(ROOT / "access")]), IngestOptions(workers=2))
    assert report.rows == {"access_log": 61} and not report.failures
    return DuckDBEngine(lake)


def found(engine: DuckDBEngine, name: str, since: datetime | None = SINCE, until: datetime | None = UNTIL,
          **overrides: object) -> list[tuple]:
    """(time, bucket, key, principal, ip, detail) of each finding, oldest first."""
    return [(f"{f.event_time:%m-%d %H:%M}", f.bucket_name, f.object_key, f.principal, f.source_ip, f.detail)
            for f in run_detection(engine, find_detection(name), since, until, overrides)]


def test_credential_file_reads_once_per_key_and_requester(engine):
    # negatives: docs/environment.md (not .env), keys/id_rsa.pub (a public key), secrets/id_rsa (403)
    assert found(engine, "credential-file-read") == [
        ("03-10 13:00", PROD, "config/.env", EVE, "198.51.100.7", "credential-like file read 2 times"),
        ("03-10 13:05", PROD, "keys/deploy.pem", ALICE, "192.0.2.10", "credential-like file read"),
        ("03-10 13:07", PROD, "home/.aws/credentials", MALLORY, "203.0.113.66", "credential-like file read"),
    ]


def test_ransom_note_uploads(engine):
    # negatives: docs/recovery-plan.pdf (not a text note), docs/HOW_TO_RECOVER.html (refused, 403)
    assert found(engine, "ransom-note-upload") == [
        ("03-10 14:00", PROD, "README_TO_DECRYPT.txt", MALLORY, "203.0.113.66", "ransom-note-like key uploaded"),
        ("03-10 14:01", PROD, "invoices/1.pdf.locked", MALLORY, "203.0.113.66", "ransom-note-like key uploaded"),
    ]


def test_unusual_clients_once_per_client_and_requester(engine):
    assert found(engine, "unusual-client") == [
        ("03-10 15:00", PROD, "reports/q1.csv", BOB, "192.0.2.20", "S3 Browser used: 2 requests"),
        ("03-10 15:20", PROD, "reports/q1.csv", EVE, "198.51.100.7", "Cyberduck used: 1 request"),
    ]


def test_insecure_transport_sigv2_old_tls_and_plain_http(engine):
    # alice's TLSv1.2 read (docs/environment.md) is not a weakness
    assert found(engine, "insecure-transport") == [
        ("03-10 15:10", PROD, "reports/q3.csv", BOB, "192.0.2.20", "TLSv1.1 used: 1 request"),
        ("03-10 15:11", PROD, "reports/q4.csv", BOB, "192.0.2.20", "no TLS used: 1 request"),
        ("03-10 15:30", PROD, "reports/q5.csv", EVE, "198.51.100.7", "SigV2 used: 1 request"),
    ]


def test_anonymous_reads_only_for_a_bucket_that_had_none(engine):
    # acme-web has been read anonymously every day since 03-01; acme-backup's anonymous request was refused
    assert found(engine, "anonymous-reads-new") == [
        ("03-10 12:00", PROD, "public/logo.png", None, "198.51.100.9",
         "first anonymous read of the bucket (REST.GET.OBJECT)")]
    # over the whole lake, acme-web's first anonymous read is a finding of its own
    assert [row[:2] for row in found(engine, "anonymous-reads-new", None, None)] == [
        ("03-01 08:00", "acme-web"), ("03-10 12:00", PROD)]


FIRST_SEEN_ON_03_10 = [
    ("03-10 10:00", PROD, "invoices/1.pdf", MALLORY, "203.0.113.66", "first request from this ip (REST.DELETE.OBJECT)"),
    ("03-10 10:00", PROD, "invoices/1.pdf", MALLORY, "203.0.113.66",
     "first request from this requester (REST.DELETE.OBJECT)"),
    ("03-10 11:00", PROD, "private/a", EVE, "198.51.100.7", "first request from this ip (REST.GET.OBJECT)"),
    ("03-10 11:00", PROD, None, None, "198.51.100.9", "first request from this ip (REST.GET.BUCKET)"),
    ("03-10 11:00", PROD, "private/a", EVE, "198.51.100.7", "first request from this requester (REST.GET.OBJECT)"),
    ("03-10 11:01", PROD, "private/x", None, "198.51.100.10", "first request from this ip (REST.GET.OBJECT)"),
]


def test_first_seen_requesters_and_ips(engine):
    # alice and bob and their IPs were seen before; acme-backup is first logged on 03-10 (no history yet)
    assert found(engine, "first-seen-requester") == FIRST_SEEN_ON_03_10


def test_first_seen_min_history_days_at_its_edge(engine):
    # acme-prod-data is first logged 03-01 10:00:00; mallory comes at 03-10 10:00:00, nine days later exactly
    assert found(engine, "first-seen-requester", min_history_days=9) == FIRST_SEEN_ON_03_10
    assert found(engine, "first-seen-requester", min_history_days=10) == []


def test_mass_deletion_defaults_find_nothing_here(engine):
    assert [(t.name, t.default) for t in find_detection("mass-deletion").thresholds] == [
        ("min_objects", 100), ("window_minutes", 10)]
    assert found(engine, "mass-deletion") == []


def test_mass_deletion_min_objects_at_its_edge(engine):
    # mallory: five DELETEs 10:00-10:04 and one multi-object delete key at 10:06 (her 403 at 10:05 deleted nothing)
    assert found(engine, "mass-deletion", min_objects=6) == [
        ("03-10 10:06", PROD, "invoices/6.pdf", MALLORY, "203.0.113.66", "6 objects deleted in 10 minutes")]
    assert found(engine, "mass-deletion", min_objects=7) == []
    # bob's three deletes 10:00-10:02 join in at 3
    assert [row[3] for row in found(engine, "mass-deletion", min_objects=3)] == [BOB, MALLORY]


def test_mass_deletion_window_minutes_is_used(engine):
    # 5-minute windows split mallory's deletes 5 + 1
    assert found(engine, "mass-deletion", min_objects=6, window_minutes=5) == []
    assert found(engine, "mass-deletion", min_objects=5, window_minutes=5) == [
        ("03-10 10:04", PROD, "invoices/5.pdf", MALLORY, "203.0.113.66", "5 objects deleted in 5 minutes")]


def test_mass_deletion_windows_start_on_the_clock(engine):
    # 5-minute windows from midnight UTC: mallory's five deletes 10:00-10:04 are the window [10:00, 10:05)
    (finding,) = run_detection(engine, find_detection("mass-deletion"), SINCE, UNTIL,
                               {"min_objects": 5, "window_minutes": 5})
    assert finding.identity == {"bucket_name": PROD, "principal": MALLORY, "window_start": "2024-03-10T10:00:00Z"}
    assert finding.evidence.endswith("--since 2024-03-10T10:00:00Z --until 2024-03-10T10:05:00Z")


def test_mass_deletion_looks_back_to_the_start_of_the_window(engine):
    # a window [10:03, 11:00) still counts the whole 10:00-10:10 window of mallory
    assert [row[5] for row in found(engine, "mass-deletion", parse_when("2024-03-10T10:03:00"),
                                    parse_when("2024-03-10T11:00:00"), min_objects=6)] == [
        "6 objects deleted in 10 minutes"]


def test_access_denied_burst_min_denied_at_its_edge(engine):
    assert found(engine, "access-denied-burst") == []  # 20 by default
    assert found(engine, "access-denied-burst", min_denied=4) == [
        ("03-10 11:03", PROD, "private/d", EVE, "198.51.100.7", "4 requests denied in 5 minutes (REST.GET.OBJECT)")]
    assert found(engine, "access-denied-burst", min_denied=5) == []
    # anonymous requests count per IP: 198.51.100.9 has three, 198.51.100.10 one
    assert found(engine, "access-denied-burst", min_denied=3) == [
        ("03-10 11:02", PROD, None, None, "198.51.100.9", "3 requests denied in 5 minutes (REST.GET.BUCKET)"),
        ("03-10 11:03", PROD, "private/d", EVE, "198.51.100.7", "4 requests denied in 5 minutes (REST.GET.OBJECT)"),
    ]


def test_access_denied_burst_window_minutes_is_used(engine):
    # eve's 403s at 11:00, 11:01, 11:02, 11:03 fall two and two in 2-minute windows
    assert found(engine, "access-denied-burst", min_denied=4, window_minutes=2) == []
    assert len(found(engine, "access-denied-burst", min_denied=2, window_minutes=2)) == 3  # eve twice, .9 once


def test_egress_spike_against_the_requesters_own_average(engine):
    # alice: 2,000,000,000 bytes on 03-10; 9,000,000 bytes over the 14 days before: 642,857 a day, 3111.1 times
    # eve's 3,000,000,000 bytes have no earlier day to compare with; bob's spike is 2,000 bytes (min_bytes)
    assert found(engine, "egress-spike") == [
        ("03-10 16:00", PROD, "big/dump.tar", ALICE, "192.0.2.10",
         "2000000000 bytes sent in a day, 3111.1 times the daily average of 642857.0")]


def test_egress_spike_min_bytes_at_its_edge(engine):
    assert len(found(engine, "egress-spike", min_bytes=2_000_000_000)) == 1
    assert found(engine, "egress-spike", min_bytes=2_000_000_001) == []
    # with no floor, bob's 2,000 bytes against 100/14 a day is a spike too
    assert [row[3] for row in found(engine, "egress-spike", min_bytes=1)] == [BOB, ALICE]


def test_egress_spike_multiplier_and_baseline_days_at_their_edges(engine):
    # over 9 days alice's average is 1,000,000 exactly: the day is 2000 times it
    assert len(found(engine, "egress-spike", baseline_days=9, multiplier=2000)) == 1
    assert found(engine, "egress-spike", baseline_days=9, multiplier=2001) == []
    # over 5 days (03-05..03-09) it is 5,000,000 / 5: 2000 times again (a sixth day would make it 1666.7)
    assert len(found(engine, "egress-spike", baseline_days=5, multiplier=2000)) == 1
    # from 03-09 the rows of 03-04 are read too (03-09's own baseline): 03-10's average must still leave them out
    assert len(found(engine, "egress-spike", parse_when("2024-03-09"), UNTIL, baseline_days=5, multiplier=2000)) == 1
    # over 14 days it is 642,857.1: 3111.1 times
    assert len(found(engine, "egress-spike", baseline_days=14, multiplier=3111)) == 1
    assert found(engine, "egress-spike", baseline_days=14, multiplier=3112) == []


def test_first_seen_is_the_earliest_request_then_the_first_in_the_log_files(tmp_path):
    # carol's first request (10:00) lies in a later file than her second (11:00); dave's two first requests share
    # one second, in files -C (line 2) and -D (line 1): -C's is his first. Each shows its own key.
    def line(clock: str, who: str, key: str) -> str:
        return access_line(datetime(2024, 3, 10, *map(int, clock.split(":"))), "acme-new", "192.0.2.99",
                           who, "REST.GET.OBJECT", key)

    carol, dave = "arn:aws:iam::123456789012:user/carol", "arn:aws:iam::123456789012:user/dave"
    files = {"2024-03-01-00-00-00-OLD": access_line(datetime(2024, 3, 1), "acme-new", "192.0.2.1", ALICE,
                                                      "REST.GET.OBJECT", "history"),
             "2024-03-10-10-00-00-A": line("11:00:00", carol, "carol-second"),
             "2024-03-10-12-00-00-B": line("10:00:00", carol, "carol-first"),
             "2024-03-10-12-00-00-C": line("10:30:00", "svc:s3.amazonaws.com", "x") + "\n"
                                      + line("10:30:00", dave, "dave-first"),
             "2024-03-10-12-00-00-D": line("10:30:00", dave, "dave-tie-later")}
    for name, text in files.items():
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / name).write_text(text + "\n")
    lake = Lake(tmp_path / "lake")
    assert ingest(lake, list_sources([str(tmp_path / "logs")])).ok
    findings = [row for row in found(DuckDBEngine(lake), "first-seen-requester") if "requester" in row[5]]
    assert findings == [
        ("03-10 10:00", "acme-new", "carol-first", carol, "192.0.2.99", "first request from this requester "
         "(REST.GET.OBJECT)"),
        ("03-10 10:30", "acme-new", "dave-first", dave, "192.0.2.99", "first request from this requester "
         "(REST.GET.OBJECT)")]
