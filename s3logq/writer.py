"""Write typed rows as Parquet parts of the lake: one file per table, day and flush."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from s3logq.formats import ACCESS
from s3logq.formats.access_log import Reject
from s3logq.lake import Lake, Part, iso_utc

FLUSH_ROWS = 50_000  # rows gathered before a batch is filtered and written (on a writer thread)
WRITES_IN_FLIGHT = 2  # batches queued for the writers before the parser waits (bounds memory)
REJECTS_SCHEMA = pa.schema([("log_file", pa.string()), ("log_line", pa.int32()), ("reason", pa.string()),
                            ("raw_line", pa.string())])
TIME_COLUMN = {"access_log": "request_time", "cloudtrail": "event_time"}
# CloudTrail columns with few distinct values get Parquet dictionaries; JSON texts and IDs would only pay.
_DICTIONARY_COLUMNS = ["bucketowner", "bucket_name", "requester", "operation", "errorcode", "sigv", "ciphersuite",
                       "authtype", "endpoint", "tlsversion", "accesspointarn", "aclrequired", "source_region",
                       "http_method", "log_file", "remoteip", "useragent", "referrer", "eventversion",
                       "eventsource", "eventname", "awsregion", "sourceipaddress", "eventtype", "eventcategory",
                       "recipientaccountid", "account_id", "user_arn", "errormessage", "vpcendpointid",
                       "unmapped", "apiversion", "vpcendpointaccountid", "sessioncredentialfromconsole"]


# Access-log values repeat (keys, agents, IPs, ARNs): dictionaries pay and write faster than plain strings,
# except on the IDs every request has its own of. Those get Bloom filters instead, so that looking up the
# request ID of a support case skips the row groups that cannot hold it. Min/max statistics only where
# analyses filter or rank (a top-N "slowest first" skips row groups whose max cannot reach its 50th row): on
# random IDs they prune nothing and cost a sixth of the write.
_ACCESS_UNIQUE = ("requestid", "hostid")
_ACCESS_STATISTICS = ["request_time", "bucket_name", "operation", "httpstatus", "key", "requester", "remoteip",
                      "errorcode", "log_file", "log_line", "turnaroundtime", "totaltime", "objectsize", "bytessent"]
ROW_GROUP_ROWS = 122_880
EPOCH = date(1970, 1, 1)


def _day_numbers(moments: pa.ChunkedArray) -> pa.Array:
    """Days since 1970-01-01 (UTC) of each timestamp: integer arithmetic, much cheaper than strftime."""
    micros = moments.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pc.floor(pc.divide(pc.cast(micros, pa.float64()), 86_400_000_000.0)).cast(pa.int32())


def _split_by_day(rows: pa.Table, days: pa.Array) -> list[tuple[int, pa.Table]]:
    """The rows of each day. Logs arrive roughly in time order, so days are usually runs: sliced, not copied."""
    numbers = days.to_numpy()
    if numbers.size == 0:
        return []
    if (np.diff(numbers) >= 0).all():
        starts = np.flatnonzero(np.diff(numbers)) + 1
        bounds = [0, *starts.tolist(), numbers.size]
        return [(int(numbers[a]), rows.slice(a, b - a)) for a, b in zip(bounds, bounds[1:], strict=False)]
    return [(day, rows.filter(pc.equal(days, day))) for day in pc.unique(days).to_pylist()]


def _bloom_filters(rows: int) -> dict[str, dict[str, float]]:
    """Bloom filters on the unique ID columns, sized for the values of one row group at a 5% false-positive rate.

    Left at pyarrow's default (a million distinct values), they cost 70% more write CPU for the same pruning.
    """
    distinct = max(1, min(rows, ROW_GROUP_ROWS))
    return {name: {"ndv": distinct, "fpp": 0.05} for name in _ACCESS_UNIQUE}


def _rows_per_file(log_files: pa.ChunkedArray) -> Counter[str]:
    """Rows per source file; access-log chunks are dictionary-encoded, each with its own files."""
    counts: Counter[str] = Counter()
    for chunk in log_files.chunks:
        if isinstance(chunk, pa.DictionaryArray):
            numbers = np.bincount(chunk.indices.to_numpy(zero_copy_only=False), minlength=len(chunk.dictionary))
            counts.update({name: int(n) for name, n in zip(chunk.dictionary.to_pylist(), numbers, strict=True) if n})
        elif len(chunk):
            names, numbers = pc.value_counts(chunk).flatten()
            counts.update(dict(zip(names.to_pylist(), numbers.to_pylist(), strict=True)))
    return counts


class PartWriter:
    """Collects typed tables and writes every row as parts (by table and day), each CloudTrail event once.

    `since`, `until` and `buckets` only count the rows outside them (for the summary): a file read is stored
    whole, so that a filtered ingest never leaves a file half in the lake.
    """

    def __init__(self, lake: Lake, ingest_id: str, since: datetime | None, until: datetime | None,
                 buckets: tuple[str, ...]) -> None:
        self.lake, self.ingest_id = lake, ingest_id
        self.since, self.until, self.buckets = since, until, list(buckets)
        self.pending: dict[str, list[pa.Table]] = {"access_log": [], "cloudtrail": []}
        self.pending_rows = 0
        self.rejects: list[Reject] = []
        self.parts: list[Part] = []
        self.rows_by_file: Counter[str] = Counter()
        self.rows_by_table: Counter[str] = Counter()
        self.rows_outside_range = 0
        self.duplicates_dropped = 0
        # Batches are written while the next files are parsed, one writer thread per table (CloudTrail's must
        # be one at a time: each batch is deduplicated against the parts before it). A second access-log
        # writer made ingest slower (1.2 s -> 2.0 s on 200 MB): the parsers need that core.
        self.threads = {"access_log": ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3logq-writer"),
                        "cloudtrail": ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3logq-writer")}
        self.writes: list[Future[None]] = []
        self.lock = threading.Lock()  # guards the parts and counters the writer threads share
        self.part_numbers = itertools.count()

    def add(self, log_type: str, table: pa.Table | None, rejects: list[Reject]) -> None:
        """Queue one file's typed rows and its rejected lines."""
        self.rejects.extend(rejects)
        if table is None or table.num_rows == 0:
            return
        self.pending["access_log" if log_type == ACCESS else "cloudtrail"].append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hand the pending rows to the writer threads; wait while too many batches are queued."""
        for table_name, tables in self.pending.items():
            if tables:
                self.writes.append(self.threads[table_name].submit(self._write, table_name, pa.concat_tables(tables)))
                self.pending[table_name] = []
        self.pending_rows = 0
        unfinished = [write for write in self.writes if not write.done()]
        if len(unfinished) > WRITES_IN_FLIGHT:
            unfinished[0].result()

    def finish(self) -> list[Part]:
        """Write whatever is pending and the rejected lines; return every part written."""
        self.flush()
        try:
            for write in self.writes:
                write.result()  # re-raises a failed write here, before anything is committed
        finally:
            for pool in self.threads.values():
                pool.shutdown()
        if self.rejects:
            self._write_rejects()
        return self.parts

    def _write(self, table_name: str, batch: pa.Table) -> None:
        """Filter and deduplicate one batch of typed rows, then write it as one part per day."""
        time_column = TIME_COLUMN[table_name]
        outside = self._rows_outside(table_name, batch)
        kept = self._without_duplicate_events(batch) if table_name == "cloudtrail" else batch
        rows_by_file = _rows_per_file(kept.column("log_file"))
        with self.lock:
            self.rows_outside_range += outside
            self.duplicates_dropped += batch.num_rows - kept.num_rows
            self.rows_by_table[table_name] += kept.num_rows
            self.rows_by_file.update(rows_by_file)
        for day, rows in _split_by_day(kept, _day_numbers(kept.column(time_column))):
            self._write_day(table_name, (EPOCH + timedelta(days=day)).isoformat(), rows)

    def _rows_outside(self, table_name: str, batch: pa.Table) -> int:
        """Rows outside [since, until) or the wanted buckets (stored all the same)."""
        if self.since is None and self.until is None and not self.buckets:
            return 0
        moment = batch.column(TIME_COLUMN[table_name])
        keep = pc.is_valid(moment)
        if self.since is not None:
            keep = pc.and_(keep, pc.greater_equal(moment, pa.scalar(self.since, moment.type)))
        if self.until is not None:
            keep = pc.and_(keep, pc.less(moment, pa.scalar(self.until, moment.type)))
        if self.buckets:
            bucket = batch.column("bucket_name")
            wanted = pc.is_in(bucket, value_set=pa.array(self.buckets, pa.string()))
            if table_name == "cloudtrail":  # account-level S3 events (no bucket) matter for every bucket
                account_level = pc.and_(pc.is_null(bucket), pc.equal(batch.column("eventsource"), "s3.amazonaws.com"))
                wanted = pc.or_(wanted, account_level)
            keep = pc.and_(keep, wanted)
        return batch.num_rows - (pc.sum(pc.fill_null(keep, False).cast(pa.int64())).as_py() or 0)

    def _write_day(self, table_name: str, day: str, rows: pa.Table) -> None:
        path = self.lake.part_path(table_name, day, self.ingest_id, next(self.part_numbers))
        if table_name == "access_log":
            options: dict[str, object] = {"write_statistics": _ACCESS_STATISTICS, "use_dictionary": [
                name for name in rows.column_names if name not in _ACCESS_UNIQUE],
                "bloom_filter_options": _bloom_filters(rows.num_rows)}
        else:
            options = {"use_dictionary": [name for name in rows.column_names if name in _DICTIONARY_COLUMNS]}
        pq.write_table(rows, path, compression="zstd", compression_level=1, row_group_size=ROW_GROUP_ROWS,
                       **options)
        first, last = pc.min_max(rows.column(TIME_COLUMN[table_name])).values()
        part = Part(str(path.relative_to(self.lake.root)), table_name, day, rows.num_rows,
                    iso_utc(first.as_py()), iso_utc(last.as_py()), path.stat().st_size,
                    tuple(_rows_per_file(rows.column("log_file"))))
        with self.lock:
            self.parts.append(part)

    def _without_duplicate_events(self, events: pa.Table) -> pa.Table:
        """CloudTrail can deliver an event twice: keep its first copy, and none already in the lake."""
        ids = events.column("eventid")
        keep = None
        # Counting distinct IDs first spares the usual batch (no event twice) the group_by, and the process the
        # import of Arrow's query engine that group_by needs (~25 ms of every ingest's start).
        if len(pc.unique(ids)) - (1 if ids.null_count else 0) < len(ids) - ids.null_count:
            numbered = events.append_column("_row", pa.array(np.arange(events.num_rows)))
            first = numbered.group_by("eventid", use_threads=False).aggregate([("_row", "min")]).column("_row_min")
            keep = pc.or_(pc.is_in(numbered.column("_row"), value_set=first), pc.is_null(ids))
        known = self._known_event_ids(events)
        if len(known):
            new = pc.invert(pc.fill_null(pc.is_in(ids, value_set=known), False))
            keep = new if keep is None else pc.and_(keep, new)
        return events if keep is None or pc.all(keep).as_py() else events.filter(keep)  # a filter copies every column

    def _known_event_ids(self, events: pa.Table) -> pa.Array:
        """Event IDs already in the lake on the days this batch covers."""
        days = set(pc.unique(pc.strftime(events.column("event_time"), format="%Y-%m-%d")).to_pylist())
        with self.lock:
            written = list(self.parts)
        files = [str(self.lake.root / p.path) for p in self.lake.parts("cloudtrail") + written
                 if p.table_name == "cloudtrail" and p.day in days]
        if not files:
            return pa.array([], pa.string())
        # ParquetFile, not read_table: read_table imports Arrow's dataset and query engine modules
        return pc.unique(pa.concat_arrays([pq.ParquetFile(f).read(columns=["eventid"]).column("eventid").combine_chunks()
                                           for f in files]))

    def _write_rejects(self) -> None:
        table = pa.table({
            "log_file": [r.log_file for r in self.rejects], "log_line": [r.log_line for r in self.rejects],
            "reason": [r.reason for r in self.rejects], "raw_line": [r.raw_line for r in self.rejects],
        }, schema=REJECTS_SCHEMA)  # fmt: skip
        path = self.lake.part_path("rejects", None, self.ingest_id, next(self.part_numbers))
        pq.write_table(table, path, compression="zstd")
        self.parts.append(Part(str(path.relative_to(self.lake.root)), "rejects", None, table.num_rows,
                               None, None, path.stat().st_size, tuple(sorted(set(table.column("log_file").to_pylist())))))
