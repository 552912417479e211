"""Output formats: times as ISO-8601 UTC text, and files written straight to their target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa

from s3logq.output import readable

TIMES = [datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC),
         datetime(2024, 3, 1, 0, 0, 0, 10_000, tzinfo=UTC), None]
ISO = ["2024-03-01T10:00:00Z", "2024-02-29T23:59:59.999Z", "2024-03-01T00:00:00.010Z", None]


def test_times_are_iso_utc_with_milliseconds_only_when_there_are_some() -> None:
    table = pa.table({"utc": pa.array(TIMES, pa.timestamp("us", tz="UTC")),
                      "new_york": pa.array(TIMES, pa.timestamp("us", tz="UTC")).cast(
                          pa.timestamp("us", tz="America/New_York")),
                      "seconds": pa.array(TIMES, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("ms", tz="UTC"))})
    assert readable(table).to_pydict() == {"utc": ISO, "new_york": ISO, "seconds": ISO}


def test_times_without_a_zone_are_read_as_utc() -> None:
    naive = [t.astimezone(timezone(timedelta(0))).replace(tzinfo=None) if t else None for t in TIMES]
    assert readable(pa.table({"t": pa.array(naive, pa.timestamp("us"))})).column("t").to_pylist() == ISO
