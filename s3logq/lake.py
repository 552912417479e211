"""The lake: Parquet parts partitioned by log type and day, and a SQLite manifest that is the truth.

A part becomes visible only when the manifest lists it, and one ingest's parts and source files are
listed in one SQLite transaction. Each ingest is recorded as running before it writes a part, and its
parts carry its ID in their names: the leftovers of a killed ingest are provably its own, and only they
are deleted. A lake has an identity, kept both in its manifest and in its folder, so a manifest copied
from another lake is refused instead of taken for the truth about this folder.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    uri TEXT PRIMARY KEY, size INTEGER, version TEXT, log_type TEXT, ingest_id TEXT,
    rows INTEGER, rejected INTEGER, skipped_reason TEXT, content TEXT);
CREATE TABLE IF NOT EXISTS parts (
    path TEXT PRIMARY KEY, table_name TEXT, day TEXT, rows INTEGER,
    min_time TEXT, max_time TEXT, bytes INTEGER, ingest_id TEXT);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id TEXT PRIMARY KEY, started TEXT, finished TEXT, files INTEGER, rows INTEGER,
    rejected INTEGER, failed INTEGER, state TEXT);
CREATE TABLE IF NOT EXISTS part_sources (path TEXT, uri TEXT, PRIMARY KEY (path, uri));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS lost_parts (path TEXT PRIMARY KEY, table_name TEXT, day TEXT, problem TEXT, since TEXT);
CREATE INDEX IF NOT EXISTS parts_by_table_day ON parts (table_name, day);
"""
# Columns added after the first release, added to older manifests when they are opened.
_ADDED_COLUMNS = {"sources": [("content", "TEXT")], "ingests": [("state", "TEXT")]}
LAKE_ID_FILE = "s3logq-lake-id"
RUNNING, COMMITTED, ABANDONED = "running", "committed", "abandoned"

TABLES = ("access_log", "cloudtrail", "rejects")
_MANIFEST_TABLES = frozenset({"sources", "parts", "ingests"})


class LakeError(Exception):
    """The lake cannot be used (a damaged manifest, a folder that cannot be made): one clear line for the user."""


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
    sources: tuple[str, ...] = ()  # the source files whose rows it holds (known when it is written)


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
    content: str | None = None  # what the bytes are: "xxh3:<hash>" (local) or "etag:<ETag>" (S3)


class Lake:
    """A lake directory: parts under <table>/day=YYYY-MM-DD/, manifest.sqlite beside them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.sqlite"

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def create(self) -> None:
        """Make the lake's folder if there is none."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LakeError(f"cannot make the lake folder {self.root}: {error.strerror or error}") from None

    def connect(self) -> sqlite3.Connection:
        """The manifest, created with the lake when there is none; LakeError when it is damaged."""
        self.create()
        if not self.exists() and self._has_part_files():
            raise self._no_manifest()
        try:
            connection = sqlite3.connect(self.manifest_path, timeout=30)
        except sqlite3.Error as error:
            raise self._damaged(error) from None
        try:
            self._check_tables(connection)
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
            self._check_identity(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise self._damaged(error) from None
        except LakeError:
            connection.close()
            raise
        return connection

    def _has_manifest(self) -> bool:
        """Whether there is a manifest to read; no manifest beside parts is a LakeError, not an empty lake."""
        if self.exists():
            return True
        if self._has_part_files():
            raise self._no_manifest()
        return False

    def _no_manifest(self) -> LakeError:
        return LakeError(f"the lake {self.root} holds Parquet parts but no manifest.sqlite (lost, or left by an "
                         "interrupted first ingest of an older s3logq); nothing was changed")

    def _check_tables(self, connection: sqlite3.Connection) -> None:
        """A manifest without its tables is new, unless the lake already holds parts: then it was lost or
        truncated, and taking it for new would have the next ingest delete every part as an orphan."""
        found = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = _MANIFEST_TABLES - found
        if missing and (found or self._has_part_files()):
            raise self._damaged(f"no {', '.join(sorted(missing))} table, yet the lake holds data")

    def _check_identity(self, connection: sqlite3.Connection) -> None:
        """The manifest and the folder must name the same lake; a new or older lake is given an identity."""
        row = connection.execute("SELECT value FROM meta WHERE key = 'lake_id'").fetchone()
        id_file = self.root / LAKE_ID_FILE
        try:
            folder_id = id_file.read_text().strip() if id_file.exists() else None
        except OSError as error:
            raise LakeError(f"cannot read {id_file}: {error.strerror or error}") from None
        if row is None and folder_id is None:  # a new lake, or one made before lakes had an identity
            lake_id = uuid.uuid4().hex
            with connection:
                connection.execute("INSERT INTO meta VALUES ('lake_id', ?)", (lake_id,))
            id_file.write_text(lake_id + "\n")
        elif row is None or folder_id is None or row[0] != folder_id:
            found = "no identity" if row is None else f"lake {row[0]}"
            expected = f"lake {folder_id}" if folder_id else f"none ({id_file.name} is missing)"
            raise LakeError(f"the manifest {self.manifest_path} belongs to {found}, but this folder is {expected}: "
                            "it was copied from another lake or replaced; nothing was changed")

    def _has_part_files(self) -> bool:
        return any(next((self.root / table_name).rglob("*.parquet"), None) for table_name in TABLES)

    def _damaged(self, reason: object) -> LakeError:
        if "disk is full" in str(reason) or "disk I/O error" in str(reason):
            return LakeError(f"disk full (or failing) writing the lake's manifest {self.manifest_path}: {reason}; "
                             "nothing was committed, the lake is as it was")
        return LakeError(f"the lake's manifest {self.manifest_path} is damaged or unreadable ({reason}); "
                         "nothing was changed")

    def new_ingest_id(self) -> str:
        return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]

    def part_path(self, table_name: str, day: str | None, ingest_id: str, sequence: int) -> Path:
        folder = self.root / table_name / (f"day={day}" if day else "")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{ingest_id}-{sequence:04d}.parquet"

    def known_sources(self) -> dict[str, tuple[int, str, str | None]]:
        """uri -> (size, version, content) of every source file already ingested."""
        if not self._has_manifest():
            return {}
        with self._opened() as connection:
            return {uri: (size, version, content) for uri, size, version, content in
                    connection.execute("SELECT uri, size, version, content FROM sources")}

    def known_contents(self) -> dict[str, str]:
        """content -> uri of the file first ingested with it (files read under another name are not listed)."""
        if not self._has_manifest():
            return {}
        with self._opened() as connection:
            return {content: uri for content, uri in connection.execute(
                "SELECT content, uri FROM sources WHERE content IS NOT NULL "
                "AND coalesce(skipped_reason, '') NOT LIKE 'same content as %' ORDER BY uri DESC")}

    def log_types(self, uris: list[str]) -> dict[str, str]:
        """uri -> log type of files already ingested."""
        if not uris or not self._has_manifest():
            return {}
        with self._opened() as connection:
            return {uri: log_type for uri in uris
                    for (log_type,) in connection.execute("SELECT log_type FROM sources WHERE uri = ?", (uri,))}

    def begin_ingest(self, ingest_id: str, started: datetime) -> None:
        """Record an ingest as running before it writes a part, so that its leftovers are known to be its own."""
        with self._opened() as connection, connection:
            connection.execute("INSERT INTO ingests (ingest_id, started, state) VALUES (?, ?, ?)",
                               (ingest_id, iso_utc(started), RUNNING))

    def check_before_ingest(self) -> None:
        """Refuse to write into a lake whose manifest fails SQLite's check or lists parts that are not there."""
        if not self._has_manifest():
            return
        with self._opened() as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise self._damaged(f"integrity check: {verdict}")
            listed = [path for (path,) in connection.execute("SELECT path FROM parts")]
        missing = [path for path in listed if not (self.root / path).is_file()]
        if missing:
            raise LakeError(f"{len(missing)} part(s) the manifest lists are missing (first: {missing[0]}); nothing "
                            f"was changed: see `s3logq --lake {self.root} lake check`, mend with `lake repair`")

    def parts(self, table_name: str, since: datetime | None = None, until: datetime | None = None) -> list[Part]:
        """Parts of a table that can hold rows in [since, until)."""
        if not self._has_manifest():
            return []
        sql = "SELECT path, table_name, day, rows, min_time, max_time, bytes FROM parts WHERE table_name = ?"
        params: list[object] = [table_name]
        if since is not None:
            sql += " AND (max_time IS NULL OR max_time >= ?)"
            params.append(iso_utc(since))
        if until is not None:
            sql += " AND (min_time IS NULL OR min_time < ?)"
            params.append(iso_utc(until))
        with self._opened() as connection:
            return [Part(*row) for row in connection.execute(sql + " ORDER BY path", params)]

    def part_files(self, table_name: str, since: datetime | None = None,
                   until: datetime | None = None) -> list[str]:
        return [str(self.root / part.path) for part in self.parts(table_name, since, until)]

    def commit(self, ingest_id: str, started: datetime, parts: Iterable[Part],
               sources: Iterable[IngestedSource], failed: int) -> None:
        """Make an ingest's parts visible and record its sources, all at once or not at all."""
        parts, sources = list(parts), list(sources)
        with self._opened() as connection, connection:  # one transaction: committed on success, rolled back on error
            connection.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   [(*_part_row(p), ingest_id) for p in parts])
            connection.executemany("INSERT OR IGNORE INTO part_sources VALUES (?, ?)",
                                   [(p.path, uri) for p in parts for uri in p.sources])
            connection.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.uri, s.size, s.version, s.log_type, ingest_id, s.rows, s.rejected, s.skipped_reason, s.content)
                 for s in sources])
            connection.execute(
                "INSERT OR REPLACE INTO ingests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ingest_id, iso_utc(started), iso_utc(datetime.now(UTC)), len(sources),
                 sum(s.rows for s in sources), sum(s.rejected for s in sources), failed, COMMITTED))

    def commit_repair(self, ingest_id: str, parts: Iterable[Part], lost_path: str) -> None:
        """Make a repair's parts visible and forget the lost part they restore, at once or not at all."""
        parts = list(parts)
        with self._opened() as connection, connection:
            connection.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   [(*_part_row(p), ingest_id) for p in parts])
            connection.executemany("INSERT OR IGNORE INTO part_sources VALUES (?, ?)",
                                   [(p.path, uri) for p in parts for uri in p.sources])
            connection.execute("DELETE FROM lost_parts WHERE path = ?", (lost_path,))
            connection.execute("UPDATE ingests SET finished = ?, state = ?, rows = ? WHERE ingest_id = ?",
                               (iso_utc(datetime.now(UTC)), COMMITTED, sum(p.rows for p in parts), ingest_id))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A manifest connection whose statements are committed together when the block ends without error."""
        with self._opened() as connection, connection:
            yield connection

    def remove_orphans(self, current_ingest: str | None = None) -> int:
        """Delete the parts of killed ingests (recorded as running, never committed) that no manifest entry lists.

        Only files named for such an ingest are touched: a file this lake cannot prove its own is left alone.
        Call it only while holding the lake's lock, so that no other ingest is running.
        """
        with self._opened() as connection:
            killed = [ingest_id for (ingest_id,) in connection.execute(
                "SELECT ingest_id FROM ingests WHERE state = ? AND ingest_id != ?", (RUNNING, current_ingest or ""))]
            listed = {path for (path,) in connection.execute("SELECT path FROM parts")}
        removed = 0
        for ingest_id in killed:
            for table_name in TABLES:
                for path in (self.root / table_name).rglob(f"{ingest_id}-*.parquet"):
                    if str(path.relative_to(self.root)) not in listed:
                        path.unlink(missing_ok=True)
                        removed += 1
            with self._opened() as connection, connection:
                connection.execute("UPDATE ingests SET state = ? WHERE ingest_id = ?", (ABANDONED, ingest_id))
        return removed

    def unlisted_files(self) -> list[str]:
        """Parquet files under the table folders that the manifest does not list (not ours to delete)."""
        with self._opened() as connection:
            listed = {path for (path,) in connection.execute("SELECT path FROM parts")}
        return sorted(str(path.relative_to(self.root)) for table_name in TABLES
                      for path in (self.root / table_name).rglob("*.parquet")
                      if str(path.relative_to(self.root)) not in listed)

    def query(self, sql: str, params: Iterable[object] = ()) -> list[tuple]:
        """Rows of a query on the manifest (an empty list when there is no lake yet)."""
        if not self._has_manifest():
            return []
        with self._opened() as connection:
            return connection.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def _opened(self) -> Iterator[sqlite3.Connection]:
        """A manifest connection closed on exit (sqlite3's own context manager only commits)."""
        connection = self.connect()
        try:
            yield connection
        except sqlite3.DatabaseError as error:  # a page damaged past the header shows only when read
            raise self._damaged(error) from None
        finally:
            connection.close()


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    for table_name, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table_name})")}
        for name, sql_type in columns:
            if name not in present:
                with connection:
                    connection.execute(f"ALTER TABLE {table_name} ADD COLUMN {name} {sql_type}")


def _part_row(part: Part) -> tuple:
    return (part.path, part.table_name, part.day, part.rows, part.min_time, part.max_time, part.bytes)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 UTC with a fixed shape, so that text comparison in SQLite is time comparison."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
