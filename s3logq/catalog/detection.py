"""The detection catalog: one SQL file per detection under detections/<log type>/, with a header.

    -- name: mass-deletion
    -- title: Many objects deleted by one principal
    -- severity: high
    -- logs: access
    -- technique: T1485
    -- description: ...
    -- threshold: min_objects = 100: objects deleted by one requester in one window
    -- identity: bucket_name, principal, window_start
    -- evidence: run deletions --bucket {bucket_name} --requester {principal} --since {window_start}
    -- history: all        (optional: the SQL compares against the whole lake, not only the last day)
    SELECT ... WHERE request_time >= $since AND request_time < $until AND count(*) >= $min_objects

Every detection returns the columns of FINDING_COLUMNS first (then any of its own); its findings are the
rows whose time falls in [$since, $until), and its thresholds are bound parameters like $since.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from s3logq.catalog import split_header
from s3logq.formats import LOG_TYPES

SEVERITIES = ("info", "low", "medium", "high", "critical")
# The ATT&CK techniques detections may name, with their names (for the catalog and OCSF's `attacks`).
TECHNIQUES = {
    "T1040": ("Network Sniffing", "TA0006", "Credential Access"),
    "T1078.004": ("Valid Accounts: Cloud Accounts", "TA0001", "Initial Access"),
    "T1098": ("Account Manipulation", "TA0003", "Persistence"),
    "T1110": ("Brute Force", "TA0006", "Credential Access"),
    "T1485": ("Data Destruction", "TA0040", "Impact"),
    "T1486": ("Data Encrypted for Impact", "TA0040", "Impact"),
    "T1490": ("Inhibit System Recovery", "TA0040", "Impact"),
    "T1530": ("Data from Cloud Storage", "TA0009", "Collection"),
    "T1537": ("Transfer Data to Cloud Account", "TA0010", "Exfiltration"),
    "T1552.001": ("Unsecured Credentials: Credentials In Files", "TA0006", "Credential Access"),
    "T1562.008": ("Impair Defenses: Disable or Modify Cloud Logs", "TA0005", "Defense Evasion"),
    "T1562": ("Impair Defenses", "TA0005", "Defense Evasion"),
    "T1580": ("Cloud Infrastructure Discovery", "TA0007", "Discovery"),
    "T1619": ("Cloud Storage Object Discovery", "TA0007", "Discovery"),
}
# What every detection returns first, in this order: the facts a notification and `detect` show.
FINDING_COLUMNS = ("event_time", "bucket_name", "object_key", "principal", "source_ip", "detail")
# Windowed detections read this far before $since; `history: all` ones read the whole lake.
LOOKBACK_DAYS = 1

_HEADER_KEYS = ("name", "title", "severity", "logs", "technique", "description", "threshold", "identity",
                "evidence", "history")
_THRESHOLD = re.compile(r"^([a-z_]+)\s*=\s*(\"[^\"]*\"|[^:\s]+)\s*:\s*(.+)$")
_PLACEHOLDER = re.compile(r"\$([a-z_]+)")


class DetectionError(ValueError):
    """An unknown detection or threshold: one clear line for the user."""


@dataclass(frozen=True)
class Threshold:
    name: str
    default: int | float | str
    description: str


@dataclass(frozen=True)
class Detection:
    """One detection: its SQL and what the header says about it."""

    name: str
    log_type: str
    title: str
    severity: str
    technique: str
    description: str
    sql: str
    thresholds: tuple[Threshold, ...]
    identity: tuple[str, ...]
    evidence: str
    whole_history: bool = False

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)

    def bind(self, since: object, until: object, overrides: dict[str, object] | None = None) -> dict[str, object]:
        """The bound parameters: the time window, and each threshold (its default unless overridden)."""
        overrides = overrides or {}
        known = {t.name: t for t in self.thresholds}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise DetectionError(f"{self.name} has no threshold {', '.join(unknown)}; "
                                 f"it has: {', '.join(known) or 'none'}")
        values: dict[str, object] = {"since": since, "until": until}
        for name, threshold in known.items():
            values[name] = _typed(overrides[name], threshold) if name in overrides else threshold.default
        return {name: values[name] for name in sorted(set(_PLACEHOLDER.findall(self.sql)))}


def _typed(value: object, threshold: Threshold) -> int | float | str:
    """An override as the type of the threshold's default ('500' for an integer threshold is 500)."""
    kind = type(threshold.default)
    try:
        return kind(str(value))
    except ValueError:
        raise DetectionError(f"threshold {threshold.name}: {value!r} is not {kind.__name__}") from None


def parse_detection(text: str, log_type: str) -> Detection:
    """A Detection from a SQL file's text; ValueError names what the header lacks or gets wrong."""
    header, sql = split_header(text, _HEADER_KEYS)

    def one(key: str) -> str:
        return " ".join(header.get(key, [])).strip()

    missing = [k for k in ("name", "title", "severity", "logs", "technique", "description", "identity", "evidence")
               if not one(k)]
    if missing:
        raise ValueError(f"detection header lacks {', '.join(missing)}")
    name = one("name")
    if one("logs") != log_type:
        raise ValueError(f"{name}: header says logs {one('logs')!r} but the file is under {log_type}/")
    if one("severity") not in SEVERITIES:
        raise ValueError(f"{name}: severity {one('severity')!r} is not one of {', '.join(SEVERITIES)}")
    if one("technique") not in TECHNIQUES:
        raise ValueError(f"{name}: unknown ATT&CK technique {one('technique')!r}")
    thresholds = tuple(_parse_threshold(name, line) for line in header.get("threshold", []))
    return Detection(name=name, log_type=log_type, title=one("title"), severity=one("severity"),
                     technique=one("technique"), description=one("description"),
                     sql=sql, thresholds=thresholds,
                     identity=tuple(p.strip() for p in one("identity").split(",") if p.strip()),
                     evidence=one("evidence"), whole_history=one("history") == "all")


def _parse_threshold(detection: str, line: str) -> Threshold:
    match = _THRESHOLD.match(line)
    if not match:
        raise ValueError(f"{detection}: threshold line {line!r} is not `name = default: description`")
    name, raw, description = match.groups()
    default: int | float | str
    if raw.startswith('"'):
        default = raw.strip('"')
    else:
        try:
            default = int(raw)
        except ValueError:
            default = float(raw)
    return Threshold(name, default, description.strip())


def load_detections() -> list[Detection]:
    """Every detection shipped in the package, sorted by log type and name."""
    detections = []
    root = Path(__file__).with_name("detections")  # package data lies beside the module
    for log_type in LOG_TYPES:
        folder = root / log_type
        for entry in sorted(folder.glob("*.sql")):
            detections.append(parse_detection(entry.read_text(encoding="utf-8"), log_type))
    return detections


def find_detection(name: str) -> Detection:
    for detection in load_detections():
        if detection.name == name:
            return detection
    raise DetectionError(f"no detection called {name!r}; `s3logq detections` lists them")
