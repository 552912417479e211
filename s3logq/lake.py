"""The lake: Parquet parts partitioned by log type and day, and a SQLite manifest that is the truth.

A part becomes visible only when the manifest lists it, and one ingest's parts and source files are
listed in one SQLite transaction. A killed ingest therefore leaves orphan files that nobody reads;
the next ingest deletes them.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    uri TEXT PRIMARY KEY, size INTEGER, version TEXT, log_type TEXT, ingest_id TEXT,
    rows INTEGER, rejected INTEGER, skipped_reason TEXT);
CREATE TABLE IF NOT EXISTS parts (
    path TEXT PRIMARY KEY, table_name TEXT, day TEXT, rows INTEGER,
    min_time TEXT, max_time TEXT, bytes INTEGER, ingest_id TEXT);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id TEXT PRIMARY KEY, started TEXT, finished TEXT, files INTEGER, rows INTEGER,
    rejected INTEGER, failed INTEGER);
CREATE INDEX IF NOT EXISTS parts_by_table_day ON parts (table_name, day);
"""

TABLES = ("access_log", "cloudtrail", "rejects")


@dataclass(frozen=True)
class Part:
    """One Parquet file of the lake; times are ISO-8601 UTC (None for the rejects table)."""

    path: str  # relative to the lake root
    table_name: str
    day: str | None
    rows: int
    min_time: str | None
    max_time: str | None
    bytes: int


@dataclass(frozen=True)
class IngestedSource:
    """A source file recorded as read: never read again while its size and version stay the same."""

    uri: str
    size: int
    version: str
    log_type: str
    rows: int
    rejected: int
    skipped_reason: str | None = None


class Lake:
    """A lake directory: parts under <table>/day=YYYY-MM-DD/, manifest.sqlite beside them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.sqlite"

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.manifest_path, timeout=30)
        connection.executescript(_SCHEMA)
        return connection

    def new_ingest_id(self) -> str:
        return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]

    def part_path(self, table_name: str, day: str | None, ingest_id: str, sequence: int) -> Path:
        folder = self.root / table_name / (f"day={day}" if day else "")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{ingest_id}-{sequence:04d}.parquet"

    def known_sources(self) -> dict[str, tuple[int, str]]:
        """uri -> (size, version) of every source file already ingested."""
        if not self.exists():
            return {}
        with self._read() as connection:
            return {uri: (size, version) for uri, size, version in
                    connection.execute("SELECT uri, size, version FROM sources")}

    def parts(self, table_name: str, since: datetime | None = None, until: datetime | None = None) -> list[Part]:
        """Parts of a table that can hold rows in [since, until)."""
        if not self.exists():
            return []
        sql = "SELECT path, table_name, day, rows, min_time, max_time, bytes FROM parts WHERE table_name = ?"
        params: list[object] = [table_name]
        if since is not None:
            sql += " AND (max_time IS NULL OR max_time >= ?)"
            params.append(iso_utc(since))
        if until is not None:
            sql += " AND (min_time IS NULL OR min_time < ?)"
            params.append(iso_utc(until))
        with self._read() as connection:
            return [Part(*row) for row in connection.execute(sql + " ORDER BY path", params)]

    def part_files(self, table_name: str, since: datetime | None = None,
                   until: datetime | None = None) -> list[str]:
        return [str(self.root / part.path) for part in self.parts(table_name, since, until)]

    def commit(self, ingest_id: str, started: datetime, parts: Iterable[Part],
               sources: Iterable[IngestedSource], failed: int) -> None:
        """Make an ingest's parts visible and record its sources, all at once or not at all."""
        parts, sources = list(parts), list(sources)
        with self.connect() as connection:  # one transaction: committed on success, rolled back on error
            connection.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   [(*_part_row(p), ingest_id) for p in parts])
            connection.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.uri, s.size, s.version, s.log_type, ingest_id, s.rows, s.rejected, s.skipped_reason)
                 for s in sources])
            connection.execute(
                "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ingest_id, iso_utc(started), iso_utc(datetime.now(UTC)), len(sources),
                 sum(s.rows for s in sources), sum(s.rejected for s in sources), failed))
        connection.close()

    def remove_orphans(self) -> int:
        """Delete Parquet files no manifest entry lists (left by an interrupted ingest)."""
        listed = {str(self.root / part) for (part,) in self._all_part_paths()}
        removed = 0
        for table_name in TABLES:
            for path in (self.root / table_name).rglob("*.parquet"):
                if str(path) not in listed:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _all_part_paths(self) -> list[tuple[str]]:
        if not self.exists():
            return []
        with self._read() as connection:
            return list(connection.execute("SELECT path FROM parts"))

    def _read(self) -> _ReadConnection:
        return _ReadConnection(self)


class _ReadConnection:
    """A manifest connection closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, lake: Lake) -> None:
        self.connection = lake.connect()

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def _part_row(part: Part) -> tuple:
    return (part.path, part.table_name, part.day, part.rows, part.min_time, part.max_time, part.bytes)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC with a fixed shape, so that text comparison in SQLite is time comparison."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
