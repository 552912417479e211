"""Write parsed rows as Parquet parts of the lake, one file per table, day and flush."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from s3logq.formats import ACCESS
from s3logq.formats.access_log import TYPED_SELECT, Reject
from s3logq.lake import Lake, Part, iso_utc

FLUSH_ROWS = 1_000_000  # rows held in memory before they are written out
_PARQUET = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880"
REJECTS_SCHEMA = pa.schema([("log_file", pa.string()), ("log_line", pa.int32()), ("reason", pa.string()),
                            ("raw_line", pa.string())])


class PartWriter:
    """Collects parsed tables, keeps the rows in [since, until) of the wanted buckets, writes parts."""

    def __init__(self, lake: Lake, ingest_id: str, since: datetime | None, until: datetime | None,
                 buckets: tuple[str, ...]) -> None:
        self.lake, self.ingest_id = lake, ingest_id
        self.params = {"since": since, "until": until, "buckets": list(buckets) or None}
        self.connection = duckdb.connect()
        self._run("SET TimeZone = 'UTC'")
        self.pending: dict[str, list[pa.Table]] = {"access_log": [], "cloudtrail": []}
        self.pending_rows = 0
        self.rejects: list[Reject] = []
        self.parts: list[Part] = []
        self.rows_by_file: Counter[str] = Counter()
        self.rows_by_table: Counter[str] = Counter()
        self.rows_outside_range = 0
        self.duplicates_dropped = 0
        self.flushes = 0

    def add(self, log_type: str, table: pa.Table | None, rejects: list[Reject], log_file: str) -> None:
        """Queue one file's rows (raw access-log columns or typed CloudTrail rows) and rejected lines."""
        self.rejects.extend(rejects)
        if table is None or table.num_rows == 0:
            return
        if log_type == ACCESS:
            table = table.append_column("log_file", _repeat(log_file, table.num_rows))
        self.pending["access_log" if log_type == ACCESS else "cloudtrail"].append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for table_name, tables in self.pending.items():
            if tables:
                # One contiguous batch: DuckDB scans thousands of small Arrow chunks far more slowly.
                self._write(table_name, pa.concat_tables(tables).combine_chunks())
                tables.clear()
        self.pending_rows = 0

    def finish(self) -> list[Part]:
        """Write whatever is pending and the rejected lines; return every part written."""
        self.flush()
        if self.rejects:
            self._write_rejects()
        self.connection.close()
        return self.parts

    def _write(self, table_name: str, batch: pa.Table) -> None:
        """Type, filter and deduplicate one batch, then write it as one part per day."""
        self.connection.register("raw", batch)
        time_column = _TIME_COLUMN[table_name]
        base = TYPED_SELECT if table_name == "access_log" else "SELECT * FROM raw"
        params = dict(self.params)
        if table_name == "cloudtrail":
            self.connection.register("known_events", self._known_event_ids())
        select = (f"SELECT *, strftime({time_column}, '%Y-%m-%d') AS day FROM ({base}) "
                  f"WHERE {_range_filter(time_column)}{_bucket_filter(table_name)}{_DEDUPE[table_name]}")
        per_file_day = self.connection.execute(
            f"SELECT log_file, day, count(*), min({time_column}), max({time_column}) FROM ({select}) GROUP BY ALL",
            params).fetchall()
        (self.lake.root / table_name).mkdir(parents=True, exist_ok=True)
        files = self.connection.execute(
            f"COPY ({select}) TO '{_quote(self.lake.root / table_name)}' ({_PARQUET}, PARTITION_BY (day), "
            f"FILENAME_PATTERN '{self.ingest_id}-{self.flushes}-{{i}}', OVERWRITE_OR_IGNORE, RETURN_FILES)",
            params).fetchall()[0][1]
        self.flushes += 1
        self._record_parts(table_name, files, per_file_day)
        stored = sum(rows for _, _, rows, _, _ in per_file_day)
        in_range = stored
        if table_name == "cloudtrail":
            in_range = self.connection.execute(
                f"SELECT count(*) FROM raw WHERE {_range_filter(time_column)}{_bucket_filter(table_name)}",
                self.params).fetchall()[0][0]
        self.connection.unregister("raw")
        self.duplicates_dropped += in_range - stored
        self.rows_outside_range += batch.num_rows - in_range
        self.rows_by_table[table_name] += stored
        for log_file, _, rows, _, _ in per_file_day:
            self.rows_by_file[log_file] += rows

    def _record_parts(self, table_name: str, files: list[str], per_file_day: list[tuple]) -> None:
        if not files:  # every row was a duplicate or out of range: COPY wrote nothing
            return
        days: dict[str, list] = {}
        for _, day, rows, first, last in per_file_day:
            entry = days.setdefault(day, [0, first, last])
            entry[0] += rows
            entry[1], entry[2] = min(entry[1], first), max(entry[2], last)
        rows_in = dict(self.connection.execute(
            "SELECT file_name, num_rows FROM parquet_file_metadata($files)", {"files": files}).fetchall())
        for file in files:
            path = Path(file)
            day = path.parent.name.removeprefix("day=")
            _, first, last = days[day]
            self.parts.append(Part(str(path.relative_to(self.lake.root)), table_name, day, rows_in[file],
                                   _iso(first), _iso(last), path.stat().st_size))

    def _known_event_ids(self) -> pa.Table:
        """Event IDs already in the lake on the days this batch covers (CloudTrail can deliver twice)."""
        days = {d for (d,) in self.connection.execute(
            "SELECT DISTINCT strftime(event_time, '%Y-%m-%d') FROM raw WHERE event_time IS NOT NULL").fetchall()}
        files = [str(self.lake.root / p.path) for p in self.lake.parts("cloudtrail") + self.parts
                 if p.table_name == "cloudtrail" and p.day in days]
        if not files:
            return pa.table({"eventid": pa.array([], pa.string())})
        return self.connection.sql("SELECT DISTINCT eventid FROM read_parquet($files) WHERE eventid IS NOT NULL",
                                   params={"files": files}).to_arrow_table()

    def _run(self, sql: str, params: dict | None = None) -> None:
        """Run a statement to completion (DuckDB keeps a result open until it is fetched)."""
        self.connection.execute(sql, params).fetchall()

    def _write_rejects(self) -> None:
        table = pa.table({
            "log_file": [r.log_file for r in self.rejects], "log_line": [r.log_line for r in self.rejects],
            "reason": [r.reason for r in self.rejects], "raw_line": [r.raw_line for r in self.rejects],
        }, schema=REJECTS_SCHEMA)  # fmt: skip
        path = self.lake.part_path("rejects", None, self.ingest_id, len(self.parts))
        self.connection.register("rejected", table)
        self._run(f"COPY rejected TO '{_quote(path)}' ({_PARQUET})")
        self.parts.append(Part(str(path.relative_to(self.lake.root)), "rejects", None, table.num_rows,
                               None, None, path.stat().st_size))


_TIME_COLUMN = {"access_log": "request_time", "cloudtrail": "event_time"}
# CloudTrail can deliver an event twice: keep the first copy in a batch, and none already in the lake.
_DEDUPE = {
    "access_log": "",
    "cloudtrail": (" AND (eventid IS NULL OR eventid NOT IN (SELECT eventid FROM known_events))"
                   " QUALIFY eventid IS NULL OR row_number() OVER (PARTITION BY eventid ORDER BY log_file) = 1"),
}


def _range_filter(time_column: str) -> str:
    return (f"({time_column} IS NOT NULL"
            f" AND ($since IS NULL OR {time_column} >= $since) AND ($until IS NULL OR {time_column} < $until))")


def _bucket_filter(table_name: str) -> str:
    if table_name == "access_log":
        return " AND ($buckets IS NULL OR list_contains($buckets, bucket_name))"
    # Account-level S3 events (no bucket) matter for every bucket: keep them.
    return (" AND ($buckets IS NULL OR list_contains($buckets, bucket_name)"
            " OR (bucket_name IS NULL AND eventsource = 's3.amazonaws.com'))")


def _quote(path: object) -> str:
    return str(path).replace("'", "''")


def _iso(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def _repeat(value: str, count: int) -> pa.Array:
    """One value `count` times (plain strings: DuckDB reads many small Arrow dictionaries slowly)."""
    return pa.array([value], pa.string()).take(np.zeros(count, dtype=np.int32))
