"""watch: each cycle ingests the new log objects, runs every detection over the new data, stores the findings
and delivers each one to every target once.

The state lives in the lake, in findings.sqlite beside the manifest:
- findings: one row per finding identity (detection + identity columns), with when it was delivered;
- deliveries: one row per finding and target, queued when the finding is stored, marked delivered only after
  the target took it: a target that is down keeps its queue, in order, for the next cycle;
- scanned: which ingests each detection has read, written in the same transaction as the findings, so a
  cycle killed at any point is redone from the last commit, never half.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from s3logq.catalog.detection import SEVERITIES, TECHNIQUES, Detection, load_detections
from s3logq.detect import Finding, run_detection
from s3logq.lake import Lake, iso_utc
from s3logq.times import iso

STATE_FILE = "findings.sqlite"
FINDINGS_PER_MESSAGE = 50  # a message stays readable and under SNS's 256 KB
_SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT, finding_id TEXT NOT NULL UNIQUE, detection TEXT, log_type TEXT,
    severity TEXT, technique TEXT, title TEXT, event_time TEXT, bucket_name TEXT, object_key TEXT,
    principal TEXT, source_ip TEXT, detail TEXT, evidence TEXT, identity TEXT, facts TEXT, found_at TEXT,
    delivered_at TEXT);
CREATE TABLE IF NOT EXISTS deliveries (
    finding_id TEXT NOT NULL, target TEXT NOT NULL, queued_at TEXT, delivered_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, PRIMARY KEY (finding_id, target));
CREATE TABLE IF NOT EXISTS scanned (
    detection TEXT NOT NULL, ingest_id TEXT NOT NULL, scanned_at TEXT, PRIMARY KEY (detection, ingest_id));
CREATE TABLE IF NOT EXISTS watch_state (key TEXT PRIMARY KEY, value TEXT);
"""
_COLUMNS = ("finding_id", "detection", "log_type", "severity", "technique", "title", "event_time", "bucket_name",
            "object_key", "principal", "source_ip", "detail", "evidence", "identity", "facts", "found_at",
            "delivered_at")
_TABLE_FOR = {"access": "access_log", "cloudtrail": "cloudtrail"}


def target_key(target: str) -> str:
    """How a target is named in the store: a hash, so a webhook URL's secret token is never written down."""
    return hashlib.sha256(target.encode()).hexdigest()[:16]


class FindingStore:
    """findings.sqlite: findings, their deliveries per target, and the ingests each detection has read."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.path = lake.root / STATE_FILE
        self._schema_made = False

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in one transaction: committed when the block ends, rolled back on any error."""
        self.lake.create()
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            if not self._schema_made:
                connection.executescript(_SCHEMA)
                self._schema_made = True
            with connection:
                yield connection
        finally:
            connection.close()

    def unscanned_ingests(self) -> dict[str, list[str]]:
        """Detection name -> the committed ingests it has not read yet (every detection of the catalog)."""
        ingests = [i for (i,) in self.lake.query(
            "SELECT ingest_id FROM ingests WHERE state IS NULL OR state = 'committed' ORDER BY ingest_id")]
        with self.connect() as connection:
            done: dict[str, set[str]] = {}
            for detection, ingest_id in connection.execute("SELECT detection, ingest_id FROM scanned"):
                done.setdefault(detection, set()).add(ingest_id)
        return {d.name: [i for i in ingests if i not in done.get(d.name, set())] for d in load_detections()}

    def record(self, scans: list[tuple[str, list[str], list[Finding]]], targets: list[str],
               min_severity: str) -> list[Finding]:
        """Store the findings of (detection, ingests read, findings) and mark those ingests read, all in one
        transaction; returns the findings that were new (each queued for every target at or above the
        severity)."""
        now = iso_utc(datetime.now(UTC))
        # in the order they happened, whichever detection found them: the order they are delivered in
        found = sorted((f for _, _, findings in scans for f in findings), key=lambda f: (f.event_time, f.detection))
        with self.connect() as connection:
            new = self._insert(connection, found, targets, min_severity, now)
            connection.executemany("INSERT OR IGNORE INTO scanned VALUES (?, ?, ?)",
                                   [(detection, i, now) for detection, ingest_ids, _ in scans for i in ingest_ids])
        return new

    @staticmethod
    def _insert(connection: sqlite3.Connection, findings: list[Finding], targets: list[str], min_severity: str,
                now: str) -> list[Finding]:
        new = []
        for finding in findings:
            row = finding.as_row()
            inserted = connection.execute(
                f"INSERT OR IGNORE INTO findings ({', '.join(_COLUMNS[:-1])}) "
                f"VALUES ({', '.join('?' * (len(_COLUMNS) - 1))})",
                (row["finding_id"], finding.detection, finding.log_type, finding.severity, finding.technique,
                 finding.title, iso_utc(finding.event_time), finding.bucket_name, finding.object_key,
                 finding.principal, finding.source_ip, finding.detail, finding.evidence, row["identity"],
                 row["facts"], now)).rowcount
            if not inserted:
                continue  # found before (a later look at the same window, logs delivered twice)
            new.append(finding)
            if finding.severity_rank >= SEVERITIES.index(min_severity):
                connection.executemany("INSERT OR IGNORE INTO deliveries (finding_id, target, queued_at) "
                                       "VALUES (?, ?, ?)", [(row["finding_id"], target_key(t), now) for t in targets])
        return new

    def pending(self, target: str) -> list[dict[str, Any]]:
        """The findings queued for a target and not yet delivered to it, in the order they were found."""
        with self.connect() as connection:
            connection.row_factory = sqlite3.Row
            rows = connection.execute(
                "SELECT f.* FROM deliveries AS d JOIN findings AS f USING (finding_id) "
                "WHERE d.target = ? AND d.delivered_at IS NULL ORDER BY f.sequence", (target_key(target),))
            return [dict(row) for row in rows]

    def delivered(self, target: str, finding_ids: list[str]) -> None:
        """Mark findings delivered to a target; a finding delivered to all its targets is delivered."""
        now = iso_utc(datetime.now(UTC))
        with self.connect() as connection:
            connection.executemany(
                "UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = NULL "
                "WHERE finding_id = ? AND target = ?", [(now, f, target_key(target)) for f in finding_ids])
            connection.executemany(
                "UPDATE findings SET delivered_at = ? WHERE finding_id = ? AND NOT EXISTS (SELECT 1 FROM deliveries "
                "WHERE deliveries.finding_id = findings.finding_id AND delivered_at IS NULL)",
                [(now, f) for f in finding_ids])

    def failed(self, target: str, finding_ids: list[str], error: str) -> None:
        with self.connect() as connection:
            connection.executemany(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ? WHERE finding_id = ? AND target = ?",
                [(error, f, target_key(target)) for f in finding_ids])

    def failure(self) -> str | None:
        """The failure watch last reported (kept across runs: `--once` from cron reports it once too)."""
        with self.connect() as connection:
            row = connection.execute("SELECT value FROM watch_state WHERE key = 'failing'").fetchone()
        return row[0] if row else None

    def set_failure(self, reason: str | None) -> None:
        with self.connect() as connection:
            connection.execute("DELETE FROM watch_state WHERE key = 'failing'")
            if reason is not None:
                connection.execute("INSERT INTO watch_state VALUES ('failing', ?)", (reason,))

    def table(self) -> pa.Table:
        """Every stored finding, with when it was delivered, as `s3logq sql` shows the `findings` table."""
        if not self.path.exists():
            rows: list[tuple] = []
        else:
            with self.connect() as connection:
                rows = connection.execute(f"SELECT {', '.join(_COLUMNS)} FROM findings ORDER BY sequence").fetchall()
        columns = {name: [row[i] for row in rows] for i, name in enumerate(_COLUMNS)}
        for name in ("event_time", "found_at", "delivered_at"):
            columns[name] = pa.array([None if v is None else _from_iso(v) for v in columns[name]],
                                     pa.timestamp("us", tz="UTC"))
        return pa.table(columns)


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the message ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FindingsMessage:
    """The findings of one cycle for one target: mail and SNS get the text, a webhook the JSON."""

    findings: tuple[dict[str, Any], ...]

    def subject(self) -> str:
        counts = {s: sum(1 for f in self.findings if f["severity"] == s) for s in reversed(SEVERITIES)}
        buckets = sorted({f["bucket_name"] for f in self.findings if f["bucket_name"]})
        where = f" on {', '.join(buckets[:3])}{' ...' if len(buckets) > 3 else ''}" if buckets else ""
        kinds = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        plural = "s" if len(self.findings) != 1 else ""
        return f"s3logq: {len(self.findings)} finding{plural} ({kinds}){where}"

    def body(self) -> str:
        blocks = [self.subject()]
        for f in self.findings:
            technique = TECHNIQUES.get(f["technique"], ("", "", ""))[0]
            where = f"s3://{f['bucket_name']}/{f['object_key'] or ''}" if f["bucket_name"] else "(account)"
            blocks.append("\n".join([
                f"[{f['severity'].upper()}] {f['title']} ({f['detection']})",
                f"  when:      {_shown_time(f['event_time'])}",
                f"  what:      {f['detail']}",
                f"  who:       {f['principal'] or 'anonymous'}" + (f" from {f['source_ip']}" if f["source_ip"] else ""),
                f"  where:     {where}",
                f"  technique: {f['technique']} {technique}",
                f"  evidence:  {f['evidence']}",
                f"  finding:   {f['finding_id']}"]))
        return "\n\n".join(blocks) + "\n"

    def payload(self) -> dict[str, Any]:
        """The webhook JSON: Slack-compatible `text`, and each finding with its id (a receiver can drop one
        it has seen: a kill between sending and recording is the one way a finding is sent twice)."""
        keep = ("finding_id", "detection", "severity", "title", "technique", "event_time", "bucket_name",
                "object_key", "principal", "source_ip", "detail", "evidence")
        findings = [{k: (_shown_time(f[k]) if k == "event_time" else f[k]) for k in keep} for f in self.findings]
        return {"text": self.body(), "event": "findings", "subject": self.subject(), "findings": findings}


def _shown_time(stored: str) -> str:
    return iso(_from_iso(stored))


# --- a cycle ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WatchJob:
    """What to watch and whom to tell."""

    sources: tuple[str, ...]
    targets: tuple[str, ...] = ()
    min_severity: str = "info"
    every_seconds: float = 300.0
    thresholds: dict[str, dict[str, object]] = field(default_factory=dict)
    workers: int = 16
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


@dataclass
class CycleReport:
    files: int = 0
    rows: int = 0
    file_failures: list[tuple[str, str]] = field(default_factory=list)
    found: int = 0
    delivered: int = 0
    pending: int = 0
    delivery_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return not (self.file_failures or self.delivery_failures)

    def line(self) -> str:
        text = (f"{iso(datetime.now(UTC))} {self.files:,} new files, {self.rows:,} rows, {self.found:,} new findings, "
                f"{self.delivered:,} delivered, {self.pending:,} waiting, {self.seconds:.2f} s")
        if self.file_failures:
            text += f"; {len(self.file_failures)} files unreadable (retried next cycle)"
        if self.delivery_failures:
            text += f"; not delivered to {', '.join(self.delivery_failures)} (retried next cycle)"
        return text + ("; stopped" if self.stopped else "")


def scan(lake: Lake, store: FindingStore, job: WatchJob, detections: list[Detection] | None = None,
         stop: threading.Event | None = None) -> int:
    """Run each detection over the ingests it has not read; returns how many findings were new."""
    from s3logq.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(lake)
    unscanned = store.unscanned_ingests()
    scans: list[tuple[str, list[str], list[Finding]]] = []
    for detection in load_detections() if detections is None else detections:
        if stop is not None and stop.is_set():
            return 0  # nothing recorded: the next cycle scans the same ingests
        ingest_ids = unscanned.get(detection.name, [])
        if not ingest_ids:
            continue
        since = _earliest_new_time(lake, _TABLE_FOR[detection.log_type], ingest_ids)
        # windows reach past the new rows' last time (a late file's window holds rows ingested before), so
        # there is no upper bound: a finding seen again is the same row
        findings = [] if since is None else run_detection(
            engine, detection, since, None, job.thresholds.get(detection.name), str(lake.root.resolve()))
        scans.append((detection.name, ingest_ids, findings))
    return len(store.record(scans, list(job.targets), job.min_severity))


def _earliest_new_time(lake: Lake, table_name: str, ingest_ids: list[str]) -> datetime | None:
    marks = ", ".join("?" * len(ingest_ids))
    [(earliest,)] = lake.query(f"SELECT min(min_time) FROM parts WHERE table_name = ? AND ingest_id IN ({marks})",
                               [table_name, *ingest_ids]) or [(None,)]
    return _from_iso(earliest) if earliest else None


def deliver(store: FindingStore, job: WatchJob, on_warning: Callable[[str], None]) -> tuple[int, int, list[str]]:
    """Send each target its queue, oldest first, FINDINGS_PER_MESSAGE at a time; a target that fails keeps
    the rest of its queue for the next cycle. Returns (delivered, still waiting, targets that failed)."""
    from s3logq.notify import notify, shown_target

    delivered, waiting, failed = 0, 0, []
    for target in job.targets:
        queue = store.pending(target)
        while queue:
            batch, queue = queue[:FINDINGS_PER_MESSAGE], queue[FINDINGS_PER_MESSAGE:]
            ids = [f["finding_id"] for f in batch]
            warnings: list[str] = []
            if notify([target], FindingsMessage(tuple(batch)), endpoint_url=job.endpoint_url, profile=job.profile,
                      on_warning=warnings.append):
                store.failed(target, ids, "; ".join(warnings))
                for warning in warnings:
                    on_warning(warning)
                failed.append(shown_target(target))
                waiting += len(batch) + len(queue)
                break
            store.delivered(target, ids)
            delivered += len(batch)
    return delivered, waiting, failed


def run_cycle(lake: Lake, job: WatchJob, stop: threading.Event | None = None,
              on_warning: Callable[[str], None] = lambda m: print(f"warning: {m}", file=sys.stderr)) -> CycleReport:
    """One cycle: ingest what is new, detect, deliver. Each step commits before the next starts."""
    from s3logq.ingest import IngestOptions, ingest
    from s3logq.sources import list_sources

    clock = time.perf_counter()
    stop = stop or threading.Event()
    report = CycleReport()
    store = FindingStore(lake)
    files = list(list_sources(list(job.sources), max_workers=job.workers, profile=job.profile, region=job.region,
                              endpoint_url=job.endpoint_url))
    ingested = ingest(lake, files, IngestOptions(workers=job.workers))
    report.files, report.rows = ingested.files_read, sum(ingested.rows.values())
    report.file_failures = list(ingested.failures)
    if not stop.is_set():
        report.found = scan(lake, store, job, stop=stop)
    if not stop.is_set():
        report.delivered, report.pending, report.delivery_failures = deliver(store, job, on_warning)
    report.stopped = stop.is_set()
    report.seconds = time.perf_counter() - clock
    return report


def watch(lake: Lake, job: WatchJob, once: bool = False, log: Callable[[str], None] | None = None,
          stop: threading.Event | None = None) -> CycleReport | None:
    """Cycle until stopped (Ctrl-C, SIGTERM) or, with `once`, one cycle. A cycle that fails is logged and
    retried next cycle; its failure is reported to the targets once, not every cycle. Returns the last
    cycle's report (None when it failed)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    stop = stop or threading.Event()
    previous = _stop_on_signals(stop)
    store = FindingStore(lake)
    failing = _remembered_failure(store)
    last: CycleReport | None = None
    try:
        while not stop.is_set():
            try:
                last = run_cycle(lake, job, stop, on_warning=lambda m: log(f"warning: {m}"))
                log(last.line())
                if failing is not None:
                    log(f"{iso(datetime.now(UTC))} recovered")
                    failing = None
                    store.set_failure(None)
            except Exception as error:  # noqa: BLE001 - one bad cycle (S3 down, a damaged lake) must not end watch
                last = None
                reason = _one_line(error)
                log(f"{iso(datetime.now(UTC))} cycle failed: {reason} (retried next cycle)")
                if reason != failing:
                    failing = reason
                    _report_failure(job, reason, log)
                    _remember_failure(store, reason)
            if once:
                break
            stop.wait(job.every_seconds)
    finally:
        _restore_signals(previous)
    return last


def _remembered_failure(store: FindingStore) -> str | None:
    try:
        return store.failure()
    except (OSError, sqlite3.Error):
        return None  # a lake that cannot hold the state fails the cycle, which says why


def _remember_failure(store: FindingStore, reason: str) -> None:
    try:
        store.set_failure(reason)
    except (OSError, sqlite3.Error):
        pass


def _one_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text


def _report_failure(job: WatchJob, reason: str, log: Callable[[str], None]) -> None:
    from s3logq.notify import NotifyEvent, notify

    if job.targets:
        event = NotifyEvent("failure", ("watch",), error=reason, notes=("s3logq watch retries every cycle",))
        notify(list(job.targets), event, endpoint_url=job.endpoint_url, profile=job.profile,
               on_warning=lambda m: log(f"warning: {m}"))


def _stop_on_signals(stop: threading.Event) -> dict[int, Any]:
    """Ctrl-C and SIGTERM set `stop`: the step under way finishes (and commits), the next does not start."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, Any] = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda *_: stop.set())
    return previous


def _restore_signals(previous: dict[int, Any]) -> None:
    for number, handler in previous.items():
        signal.signal(number, handler)


def parse_every(text: str) -> float:
    """'30s', '5m', '1h' or a number of seconds; ValueError otherwise."""
    value = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(value[:-1]) * units[value[-1]] if value and value[-1] in units else float(value)
    except ValueError:
        raise ValueError(f"--every {text!r}: expected a duration like 30s, 5m or 1h") from None
    if seconds <= 0:
        raise ValueError(f"--every {text!r}: must be more than 0")
    return seconds
