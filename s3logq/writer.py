"""Write parsed rows as Parquet parts of the lake, one file per table, day and flush."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from s3logq.formats import ACCESS
from s3logq.formats.access_log import TYPED_SELECT, Reject
from s3logq.lake import Lake, Part, iso_utc

FLUSH_ROWS = 1_000_000  # rows held in memory before they are written out
_PARQUET = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880"
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
                self._write(table_name, pa.concat_tables(tables))
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
        self.connection.register("raw", batch)
        select = TYPED_SELECT if table_name == "access_log" else "SELECT * FROM raw"
        time_column = "request_time" if table_name == "access_log" else "event_time"
        keep = _range_filter(time_column) + _bucket_filter(table_name)
        self._run(f"CREATE OR REPLACE TEMP TABLE batch AS SELECT * FROM ({select}) WHERE {keep}", self.params)
        self.connection.unregister("raw")
        if table_name == "cloudtrail":
            self._drop_duplicate_events()
        stored = self._count_by_file()
        self.rows_outside_range += batch.num_rows - sum(stored.values()) - self.duplicates_dropped
        self.rows_by_file.update(stored)
        self.rows_by_table[table_name] += sum(stored.values())
        days = [day for (day,) in self.connection.execute(
            f"SELECT DISTINCT strftime({time_column}, '%Y-%m-%d') FROM batch ORDER BY 1").fetchall()]
        for day in days:
            self._write_day(table_name, time_column, day)

    def _write_day(self, table_name: str, time_column: str, day: str) -> None:
        path = self.lake.part_path(table_name, day, self.ingest_id, len(self.parts))
        in_day = f"strftime({time_column}, '%Y-%m-%d') = '{day}'"  # `day` came from DuckDB, not the user
        order = "bucket_name, " + time_column
        self._run(
            f"COPY (SELECT * FROM batch WHERE {in_day} ORDER BY {order}) TO '{_quote(path)}' ({_PARQUET})")
        rows, first, last = self.connection.execute(
            f"SELECT count(*), min({time_column}), max({time_column}) FROM batch WHERE {in_day}").fetchall()[0]
        self.parts.append(Part(str(path.relative_to(self.lake.root)), table_name, day, rows,
                               _iso(first), _iso(last), path.stat().st_size))

    def _drop_duplicate_events(self) -> None:
        """CloudTrail can deliver an event twice: keep one row per eventID, in this batch and the lake."""
        before = self._batch_rows()
        self._run(
            "CREATE OR REPLACE TEMP TABLE batch AS SELECT * FROM batch "
            "QUALIFY eventid IS NULL OR row_number() OVER (PARTITION BY eventid ORDER BY log_file) = 1")
        days = [d for (d,) in self.connection.execute(
            "SELECT DISTINCT strftime(event_time, '%Y-%m-%d') FROM batch").fetchall()]
        existing = [p for p in self.lake.parts("cloudtrail") if p.day in days]
        existing += [p for p in self.parts if p.table_name == "cloudtrail" and p.day in days]
        if existing:
            files = [str(self.lake.root / p.path) for p in existing]
            self._run(
                "DELETE FROM batch WHERE eventid IN (SELECT eventid FROM read_parquet($files))", {"files": files})
        self.duplicates_dropped += before - self._batch_rows()

    def _run(self, sql: str, params: dict | None = None) -> None:
        """Run a statement to completion (DuckDB keeps a result open until it is fetched)."""
        self.connection.execute(sql, params).fetchall()

    def _batch_rows(self) -> int:
        return self.connection.execute("SELECT count(*) FROM batch").fetchall()[0][0]

    def _count_by_file(self) -> Counter[str]:
        return Counter(dict(self.connection.execute(
            "SELECT log_file, count(*) FROM batch GROUP BY log_file").fetchall()))

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
    """One value `count` times, stored once (dictionary-encoded)."""
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, dtype=np.int32)), pa.array([value]))
