"""What the engine parity tests of the detections compare: each detection over the hand-written story of
tests/detection_fixtures.py, with its default thresholds and with the thresholds the DuckDB tests take to their
edges, in the story's day, over the whole lake, and from a time that is not on a window's edge."""

from __future__ import annotations

from datetime import datetime

from detection_fixtures import ROOT

from s3logq.catalog.detection import Detection, load_detections
from s3logq.detect import Finding, run_detection
from s3logq.engines import Engine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

DAY = (parse_when("2024-03-10"), parse_when("2024-03-11"))
# 10:03 is inside a window of 5, 10, 20 or 60 minutes: the windowed detections must still count from its start
MID_WINDOW = (parse_when("2024-03-10T10:03:00"), parse_when("2024-03-11"))
# thresholds that change what each detection finds on the story (the DuckDB tests' edges)
OVERRIDES: dict[str, list[dict[str, object]]] = {
    "access-denied-burst": [{"min_denied": 3}, {"min_denied": 2, "window_minutes": 2}],
    "mass-deletion": [{"min_objects": 6}, {"min_objects": 3}, {"min_objects": 5, "window_minutes": 5}],
    "first-seen-requester": [{"min_history_days": 10}, {"min_history_days": 0}],
    "egress-spike": [{"min_bytes": 1}, {"baseline_days": 5, "multiplier": 2000}],
    "lifecycle-expires-everything": [{"max_expiration_days": 30}],
    "sse-c-encryption": [{"min_objects": 2, "window_minutes": 20}],
    "cross-account-principal": [{"trusted_accounts": "777788889999"}],
    "mass-deletion-trail": [{"min_objects": 4, "window_minutes": 2}, {"min_objects": 1}],
}


def story_lake(root) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(ROOT / "access"), str(ROOT / "cloudtrail")]), IngestOptions(workers=2))
    assert report.ok and report.rows == {"access_log": 61, "cloudtrail": 38}
    return lake


def cases() -> list[tuple[Detection, tuple[datetime | None, datetime | None], dict[str, object]]]:
    """(detection, (since, until), thresholds) to run on every engine."""
    found = []
    for detection in load_detections():
        windowed = any(t.name == "window_minutes" for t in detection.thresholds)
        for window in (DAY, (None, None), MID_WINDOW) if windowed else (DAY, (None, None)):
            found.append((detection, window, {}))
        for overrides in OVERRIDES.get(detection.name, []):
            found.append((detection, DAY, overrides))
    return found


def case_id(case: tuple) -> str:
    detection, (since, _until), overrides = case
    when = "all" if since is None else f"{since:%dT%H%M}"
    return "-".join([detection.name, when] + [f"{k}={v}" for k, v in overrides.items()])


def compared(findings: list[Finding]) -> list[tuple]:
    """What must be equal on every engine: identity (and so finding_id), severity, times, who, where, detail,
    and the detection's own columns as `detect` writes them (json: a count is a number on every engine)."""
    return [(f.finding_id, f.severity, f.event_time, f.bucket_name, f.object_key, f.principal, f.source_ip,
             f.detail, f.identity, f.evidence, f.as_row()["facts"]) for f in findings]


def findings_on(engine: Engine, detection: Detection, window: tuple, overrides: dict[str, object]) -> list[tuple]:
    return compared(run_detection(engine, detection, window[0], window[1], overrides))
