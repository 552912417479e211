"""Every detection file: a complete header (valid severity and ATT&CK technique, thresholds with defaults that
the SQL uses as bound parameters, identity columns it returns), a test that names it, an evidence command that
runs and shows the finding; and the `detections` and `detect` commands through the real entry point."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from detection_fixtures import ROOT, all_files

import s3logq.catalog.detection
from s3logq.catalog.detection import (
    FINDING_COLUMNS,
    SEVERITIES,
    TECHNIQUES,
    DetectionError,
    find_detection,
    load_detections,
    parse_detection,
)
from s3logq.cli import cli
from s3logq.detect import evidence_command, find_all, to_ocsf
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

FOLDER = Path(s3logq.catalog.detection.__file__).with_name("detections")
FILES = sorted(FOLDER.glob("*/*.sql"))
IDS = [f"{f.parent.name}/{f.stem}" for f in FILES]
TESTS = Path(__file__).parent
# thresholds low enough that every detection has a finding on the fixtures
LOW = {"mass-deletion": {"min_objects": 3}, "access-denied-burst": {"min_denied": 3},
       "mass-deletion-trail": {"min_objects": 3}}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("detect-catalog"))
    ingest(lake, list_sources([str(ROOT)]), IngestOptions(workers=2))
    return lake


def test_the_fixture_files_are_what_detection_fixtures_writes():
    written = {str(p.relative_to(ROOT)): p.read_bytes() for p in ROOT.rglob("*") if p.is_file()}
    assert written == all_files()


def test_the_catalog_has_the_detections_of_issue_15():
    names = {d.name for d in load_detections()}
    assert len(names) == len(FILES) == 20  # names are unique across log types: a finding's identity starts there
    assert {"public-policy-or-acl", "public-access-block-off", "versioning-suspended", "logging-disabled",
            "encryption-deleted", "replication-to-other-account", "lifecycle-expires-everything",
            "sse-c-encryption", "bucket-deleted", "cross-account-principal", "mass-deletion",
            "access-denied-burst", "anonymous-reads-new", "credential-file-read", "ransom-note-upload",
            "unusual-client", "insecure-transport", "egress-spike", "first-seen-requester"} <= names


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_header_is_complete_and_valid(path: Path):
    detection = parse_detection(path.read_text(encoding="utf-8"), path.parent.name)
    assert detection.name == path.stem
    assert detection.title and detection.description and detection.identity and detection.evidence
    assert detection.severity in SEVERITIES and detection.technique in TECHNIQUES
    assert re.fullmatch(r"T\d{4}(\.\d{3})?", detection.technique)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_thresholds_are_the_bound_parameters_of_the_sql(path: Path):
    detection = parse_detection(path.read_text(encoding="utf-8"), path.parent.name)
    placeholders = set(re.findall(r"\$([a-z_]+)", detection.sql))
    assert placeholders == {"since", "until"} | {t.name for t in detection.thresholds}
    assert all(t.description and t.default is not None for t in detection.thresholds)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_a_detection_test_names_it(path: Path):
    text = "".join(p.read_text(encoding="utf-8") for p in TESTS.glob("test_detect_*.py") if p.name != Path(__file__).name)
    assert f'"{path.stem}"' in text


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_columns_start_with_the_finding_columns_and_hold_the_identity(path: Path, lake: Lake):
    detection = parse_detection(path.read_text(encoding="utf-8"), path.parent.name)
    table = DuckDBEngine(lake).query(detection.sql, detection.bind(None, None))
    assert tuple(table.column_names[:len(FINDING_COLUMNS)]) == FINDING_COLUMNS
    assert set(detection.identity) <= set(table.column_names)
    assert table.schema.field("event_time").type.tz == "UTC"


def test_header_errors_are_named():
    text = (FOLDER / "access" / "mass-deletion.sql").read_text()
    with pytest.raises(ValueError, match="severity 'urgent' is not one of"):
        parse_detection(text.replace("severity: high", "severity: urgent"), "access")
    with pytest.raises(ValueError, match="unknown ATT&CK technique 'T9999'"):
        parse_detection(text.replace("technique: T1485", "technique: T9999"), "access")
    with pytest.raises(ValueError, match="header says logs 'access' but the file is under cloudtrail/"):
        parse_detection(text, "cloudtrail")
    with pytest.raises(ValueError, match="lacks identity"):
        parse_detection(re.sub(r"-- identity:.*\n", "", text), "access")
    with pytest.raises(DetectionError, match="mass-deletion has no threshold min_files"):
        find_detection("mass-deletion").bind(None, None, {"min_files": 3})


def test_evidence_command_fills_columns_and_drops_empty_options():
    template = "run requests --bucket {bucket_name} --requester {principal} --since {event_time}"
    row = {"bucket_name": "acme data", "principal": None, "event_time": parse_when("2024-03-10T10:00:00")}
    assert evidence_command(template, row, "/var/lake") == (
        "s3logq --lake /var/lake run requests --bucket 'acme data' --since 2024-03-10T10:00:00Z")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_the_evidence_command_runs_and_shows_the_finding(path: Path, lake: Lake):
    detection = find_detection(path.stem)
    [first, *_] = find_all(DuckDBEngine(lake), detections=[detection], thresholds=LOW, lake_option=str(lake.root))
    words = shlex.split(first.evidence)
    assert words[:3] == ["s3logq", "--lake", str(lake.root)]
    result = CliRunner().invoke(cli, [*words[1:], "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows, first.evidence
    shown = result.stdout
    # the rows shown are the finding's: its principal, or its time, or its key is among them
    assert any(value and value in shown for value in (first.principal, first.object_key,
                                                     f"{first.event_time:%Y-%m-%dT%H:%M:%S}Z")), first.evidence


def run(lake: Lake, *args: str):
    return CliRunner().invoke(cli, ["--lake", str(lake.root), *args])


def test_detections_command_lists_the_catalog():
    result = CliRunner().invoke(cli, ["detections", "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    mass = next(r for r in rows if r["name"] == "mass-deletion")
    assert mass == {"name": "mass-deletion", "logs": "access", "severity": "high", "technique": "T1485",
                    "technique_name": "Data Destruction", "title": "Many objects deleted by one principal",
                    "thresholds": "min_objects=100, window_minutes=10", "identity": "bucket_name, principal, window_start",
                    "description": mass["description"]}
    assert len(rows) == 20


def test_detect_prints_every_finding_newest_first(lake: Lake):
    result = run(lake, "detect", "--since", "2024-03-10T13:00", "--until", "2024-03-10T14:00", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["event_time"], r["detection"], r["object_key"]) for r in rows] == [
        ("2024-03-10T13:10:00Z", "cross-account-principal", "reports/q3.csv"),
        ("2024-03-10T13:07:00Z", "credential-file-read", "home/.aws/credentials"),
        ("2024-03-10T13:05:00Z", "credential-file-read", "keys/deploy.pem"),
        ("2024-03-10T13:00:00Z", "cross-account-principal", "reports/q1.csv"),
        ("2024-03-10T13:00:00Z", "credential-file-read", "config/.env"),
    ]


def test_detect_severity_and_bucket_filters(lake: Lake):
    result = run(lake, "detect", "--severity", "critical", "--format", "json")
    assert [(r["detection"], r["object_key"]) for r in json.loads(result.stdout)] == [
        ("ransom-note-upload", "invoices/1.pdf.locked"), ("ransom-note-upload", "README_TO_DECRYPT.txt"),
        ("sse-c-encryption", "data/4.csv"), ("sse-c-encryption", "data/3.csv")]
    web = json.loads(run(lake, "detect", "--bucket", "acme-web", "--format", "json").stdout)
    # acme-web's own findings, and the account-level one (no bucket)
    assert [(r["detection"], r["bucket_name"]) for r in web] == [
        ("public-access-block-off", None), ("public-policy-or-acl", "acme-web"),
        ("public-policy-or-acl", "acme-web"), ("anonymous-reads-new", "acme-web")]


def test_detect_thresholds_from_the_command_line(lake: Lake):
    found = run(lake, "detect", "--threshold", "mass-deletion.min_objects=6", "--format", "json")
    assert [r["detail"] for r in json.loads(found.stdout) if r["detection"] == "mass-deletion"] == [
        "6 objects deleted in 10 minutes"]
    wrong = run(lake, "detect", "--threshold", "mass-deletion.min_files=6")
    assert wrong.exit_code == 2 and wrong.output == (
        "error: mass-deletion has no threshold min_files; it has: min_objects, window_minutes\n")
    shape = run(lake, "detect", "--threshold", "min_objects=6")
    assert shape.exit_code == 2 and "expected DETECTION.THRESHOLD=VALUE" in shape.output


def test_detect_ocsf_is_a_detection_finding(lake: Lake):
    result = run(lake, "detect", "--since", "2024-03-10T09:30", "--until", "2024-03-10T09:31", "--format", "ocsf")
    assert result.exit_code == 0, result.output
    [finding] = json.loads(result.stdout)
    assert finding["class_uid"] == 2004 and finding["category_uid"] == 2 and finding["activity_id"] == 1
    assert finding["type_uid"] == 2004 * 100 + 1
    assert (finding["severity_id"], finding["severity"]) == (4, "High")
    assert finding["time"] == int(parse_when("2024-03-10T09:30:00").timestamp() * 1000)
    assert finding["metadata"]["product"]["name"] == "s3logq" and finding["metadata"]["version"]
    assert finding["finding_info"]["title"] == "Server access logging turned off"
    assert finding["finding_info"]["attacks"][0]["technique"] == {
        "uid": "T1562.008", "name": "Impair Defenses: Disable or Modify Cloud Logs"}
    assert finding["resources"] == [{"type": "AWS::S3::Bucket", "name": "acme-prod-data",
                                     "uid": "arn:aws:s3:::acme-prod-data"}]
    assert finding["actor"]["user"]["uid"] == "arn:aws:iam::111122223333:user/alice"
    assert finding["src_endpoint"] == {"ip": "192.0.2.10"}


def test_ocsf_of_every_finding_has_the_required_attributes(lake: Lake):
    for finding in find_all(DuckDBEngine(lake), thresholds=LOW):
        event = to_ocsf(finding)
        for attribute in ("activity_id", "class_uid", "category_uid", "severity_id", "time", "metadata",
                          "finding_info", "type_uid"):
            assert event[attribute] is not None, (finding.detection, attribute)
        assert event["finding_info"]["uid"] == finding.finding_id
        json.dumps(event)  # nothing that is not JSON (times, lists) is left in it
