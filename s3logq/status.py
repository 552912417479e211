"""What the lake holds, per log type: files read (skipped ones, as CloudTrail digests, apart), rows, first and
last event, rejected lines, size."""

from __future__ import annotations

import pyarrow as pa

from s3logq.lake import Lake

_STATUS_SQL = """
SELECT s.log_type, s.files, s.skipped_files, coalesce(p.rows, 0), p.first_event, p.last_event, s.rejected,
       coalesce(p.bytes, 0), p.days
FROM (SELECT log_type, count(*) FILTER (WHERE skipped_reason IS NULL) AS files, count(skipped_reason) AS skipped_files, sum(rejected) AS rejected
      FROM sources GROUP BY log_type) AS s
LEFT JOIN (SELECT CASE table_name WHEN 'access_log' THEN 'access' ELSE table_name END AS log_type,
                  sum(rows) AS rows, replace(min(min_time), '.000000Z', 'Z') AS first_event,
                  replace(max(max_time), '.000000Z', 'Z') AS last_event,
                  sum(bytes) AS bytes, count(DISTINCT day) AS days
           FROM parts WHERE table_name != 'rejects' GROUP BY 1) AS p USING (log_type)
ORDER BY s.log_type
"""
KEY_COLUMNS = ("log_type", "rows", "files", "first_event", "last_event", "days")  # the terminal shows these first
COLUMNS = ["log_type", "files", "skipped_files", "rows", "first_event", "last_event", "rejected_lines",
           "size_mb", "days"]


def lake_status(lake: Lake) -> pa.Table:
    """One row per log type in the lake (none for an empty lake)."""
    records = [dict(zip(COLUMNS, row, strict=True)) for row in lake.query(_STATUS_SQL)]
    for record in records:
        record["size_mb"] = round(record["size_mb"] / 1e6, 2)
    schema = pa.schema([("log_type", pa.string()), ("files", pa.int64()), ("skipped_files", pa.int64()),
                        ("rows", pa.int64()), ("first_event", pa.string()), ("last_event", pa.string()),
                        ("rejected_lines", pa.int64()), ("size_mb", pa.float64()), ("days", pa.int64())])
    return pa.Table.from_pylist(records, schema=schema)
