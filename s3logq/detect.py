"""Running detections: every detection of the catalog over a time window of the lake, as findings.

A finding's identity is its detection's name and the values of the columns its header names as identity;
`finding_id` is a hash of both, so the same finding found again (a later run, logs delivered twice) is the
same row of the `findings` store, never a new one.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from s3logq.catalog.detection import (
    FINDING_COLUMNS,
    LOOKBACK_DAYS,
    SEVERITIES,
    TECHNIQUES,
    Detection,
    DetectionError,
    load_detections,
)
from s3logq.engines import Engine
from s3logq.times import iso

FINDING_SCHEMA = pa.schema([
    ("event_time", pa.timestamp("us", tz="UTC")), ("severity", pa.string()), ("detection", pa.string()),
    ("title", pa.string()), ("bucket_name", pa.string()), ("object_key", pa.string()), ("principal", pa.string()),
    ("source_ip", pa.string()), ("detail", pa.string()), ("technique", pa.string()), ("log_type", pa.string()),
    ("evidence", pa.string()), ("finding_id", pa.string()), ("identity", pa.string()), ("facts", pa.string()),
])  # fmt: skip
OCSF_SEVERITY = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
OCSF_VERSION = "1.3.0"


@dataclass(frozen=True)
class Finding:
    """One thing a detection found: what, when, who, from where, on which bucket and key."""

    detection: str
    log_type: str
    severity: str
    technique: str
    title: str
    event_time: datetime
    bucket_name: str | None
    object_key: str | None
    principal: str | None
    source_ip: str | None
    detail: str
    evidence: str
    identity: dict[str, Any]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def finding_id(self) -> str:
        return finding_id(self.detection, self.identity)

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)

    def as_row(self) -> dict[str, Any]:
        return {"event_time": self.event_time, "severity": self.severity, "detection": self.detection,
                "title": self.title, "bucket_name": self.bucket_name, "object_key": self.object_key,
                "principal": self.principal, "source_ip": self.source_ip, "detail": self.detail,
                "technique": self.technique, "log_type": self.log_type, "evidence": self.evidence,
                "finding_id": self.finding_id, "identity": _json(self.identity), "facts": _json(self.facts)}


def finding_id(detection: str, identity: dict[str, Any]) -> str:
    """A stable identity: the same detection and identity values give the same id, on any run."""
    text = detection + "\n" + _json(identity)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), default=_plain)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def read_since(detection: Detection, since: datetime | None) -> datetime | None:
    """From when a detection reads the logs: windowed ones a day before `since`, whole-history ones all of them."""
    return None if detection.whole_history or since is None else since - timedelta(days=LOOKBACK_DAYS)


def detection_queries(since: datetime | None = None, until: datetime | None = None,
                      thresholds: dict[str, dict[str, object]] | None = None,
                      min_severity: str = "info") -> list[tuple[Detection, dict[str, object], datetime | None]]:
    """What `find_all` would send an engine: each detection at or above a severity, its bound values, and
    from when it reads (for an estimate before anything runs)."""
    thresholds = thresholds or {}
    wanted = SEVERITIES.index(min_severity)
    return [(d, d.bind(since, until, thresholds.get(d.name)), read_since(d, since))
            for d in load_detections() if d.severity_rank >= wanted]


def run_detection(engine: Engine, detection: Detection, since: datetime | None = None,
                  until: datetime | None = None, overrides: dict[str, object] | None = None,
                  lake_option: str | None = None) -> list[Finding]:
    """The findings of one detection whose time falls in [since, until), oldest first."""
    params = detection.bind(since, until, overrides)
    table = engine.query(detection.sql, params, read_since(detection, since), until)
    findings = []
    for row in table.to_pylist():
        identity = {name: _identity_value(row[name]) for name in detection.identity}
        facts = {k: v for k, v in row.items() if k not in FINDING_COLUMNS}
        findings.append(Finding(
            detection=detection.name, log_type=detection.log_type, severity=detection.severity,
            technique=detection.technique, title=detection.title, event_time=row["event_time"],
            bucket_name=row["bucket_name"], object_key=row["object_key"], principal=row["principal"],
            source_ip=row["source_ip"], detail=row["detail"] or detection.title,
            evidence=evidence_command(detection.evidence, row, lake_option), identity=identity, facts=facts))
    return findings


def _identity_value(value: object) -> object:
    return iso(value) if isinstance(value, datetime) else value


def find_all(engine: Engine, since: datetime | None = None, until: datetime | None = None,
             detections: list[Detection] | None = None, thresholds: dict[str, dict[str, object]] | None = None,
             min_severity: str = "info", lake_option: str | None = None) -> list[Finding]:
    """Every detection's findings in [since, until) at or above a severity, oldest first."""
    catalog = load_detections()
    detections = catalog if detections is None else detections
    thresholds = thresholds or {}
    unknown = sorted(set(thresholds) - {d.name for d in catalog})
    if unknown:
        raise DetectionError(f"no detection called {', '.join(unknown)}; `s3logq detections` lists them")
    wanted = SEVERITIES.index(min_severity)
    findings = []
    for detection in detections:
        if detection.severity_rank >= wanted:
            findings += run_detection(engine, detection, since, until, thresholds.get(detection.name), lake_option)
    return sorted(findings, key=lambda f: (f.event_time, f.detection, f.finding_id))


def parse_thresholds(settings: tuple[str, ...] | list[str]) -> dict[str, dict[str, object]]:
    """`DETECTION.NAME=VALUE` settings as {detection: {threshold: value}}; ValueError on another shape."""
    parsed: dict[str, dict[str, object]] = {}
    for setting in settings:
        target, equals, value = setting.partition("=")
        detection, dot, name = target.partition(".")
        if not (equals and dot and detection and name):
            raise ValueError(f"--threshold {setting!r}: expected DETECTION.THRESHOLD=VALUE, "
                             "e.g. mass-deletion.min_objects=500")
        parsed.setdefault(detection.strip(), {})[name.strip()] = value.strip()
    return parsed


def evidence_command(template: str, row: dict[str, Any], lake_option: str | None = None) -> str:
    """The s3logq command that shows a finding's evidence: `{column}` words filled from the row, and an
    `--option {column}` pair left out when the column is empty."""
    words = shlex.split(template)
    filled: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word.startswith("--") and _is_placeholder(following):
            value = row.get(following[1:-1])
            if value is not None:
                filled += [word, _shown(value)]
            index += 2
            continue
        filled.append(_shown(row.get(word[1:-1])) if _is_placeholder(word) else word)
        index += 1
    prefix = ["s3logq"] + (["--lake", lake_option] if lake_option else [])
    return shlex.join(prefix + filled)


def _is_placeholder(word: str) -> bool:
    return word.startswith("{") and word.endswith("}") and len(word) > 2


def _shown(value: object) -> str:
    return iso(value) if isinstance(value, datetime) else "" if value is None else str(value)


def findings_table(findings: list[Finding], newest_first: bool = False) -> pa.Table:
    rows = [f.as_row() for f in (reversed(findings) if newest_first else findings)]
    return pa.Table.from_pylist(rows, schema=FINDING_SCHEMA)


# --- OCSF --------------------------------------------------------------------------------------------------

def to_ocsf(finding: Finding) -> dict[str, Any]:
    """A finding as an OCSF Detection Finding (class 2004), the schema of Security Lake and Security Hub."""
    from s3logq import __version__

    technique_name, tactic_uid, tactic_name = TECHNIQUES[finding.technique]
    resources = []
    if finding.bucket_name:
        resources.append({"type": "AWS::S3::Bucket", "name": finding.bucket_name,
                          "uid": f"arn:aws:s3:::{finding.bucket_name}"})
        if finding.object_key:
            resources.append({"type": "AWS::S3::Object", "name": finding.object_key,
                              "uid": f"arn:aws:s3:::{finding.bucket_name}/{finding.object_key}"})
    event: dict[str, Any] = {
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": 1, "activity_name": "Create", "type_uid": 200401, "type_name": "Detection Finding: Create",
        "severity_id": OCSF_SEVERITY[finding.severity], "severity": finding.severity.capitalize(),
        "status_id": 1, "status": "New",
        "time": int(finding.event_time.timestamp() * 1000),
        "message": finding.detail,
        "metadata": {"version": OCSF_VERSION, "uid": finding.finding_id,
                     "product": {"name": "s3logq", "vendor_name": "s3logq", "version": __version__}},
        "finding_info": {
            "uid": finding.finding_id, "title": finding.title, "desc": finding.detail,
            "types": [finding.detection],
            "analytic": {"uid": finding.detection, "name": finding.detection, "type_id": 1, "type": "Rule"},
            "attacks": [{"technique": {"uid": finding.technique, "name": technique_name},
                         "tactic": {"uid": tactic_uid, "name": tactic_name}}],
            "first_seen_time": int(finding.event_time.timestamp() * 1000),
        },
        "cloud": {"provider": "AWS"},
        "resources": resources,
        "unmapped": {"evidence_command": finding.evidence, "log_type": finding.log_type,
                     "identity": finding.identity, **{k: _plain_value(v) for k, v in finding.facts.items()}},
    }
    if finding.principal:
        event["actor"] = {"user": {"uid": finding.principal, "name": finding.principal}}
    if finding.source_ip:
        event["src_endpoint"] = {"ip": finding.source_ip}
    return event


def _plain_value(value: object) -> object:
    return value if isinstance(value, str | int | float | bool) or value is None else _plain(value)


def ocsf_json(findings: list[Finding]) -> bytes:
    """Findings as a JSON array of OCSF Detection Findings."""
    return (json.dumps([to_ocsf(f) for f in findings], indent=1, ensure_ascii=False) + "\n").encode()
