"""What a query may scan on Athena, before it is submitted: the tables its SQL reads, then the sizes of the S3
objects Athena would read for them, listed with ListObjectsV2.

Where the tables lie comes from the config file, where `athena setup` recorded it: raw logs with partition
projection are listed day folder by day folder over the days the day filter keeps (the same one-day delivery
margin), SimplePrefix logs as their whole prefix (Athena cannot prune them), a pushed lake as its
`<table>/day=YYYY-MM-DD/` folders. The figure is an upper bound: Parquet columns a query does not read are
not scanned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from s3logq.athena.client import MINIMUM_BILLED_BYTES, PRICE_PER_TB, AthenaError, _size
from s3logq.athena.ddl import DAY_COLUMN, FIRST_DAY

TABLES = ("access_log", "cloudtrail", "rejects")  # rejects: a pushed lake only, and it has no day
# A log file can be delivered the day after its events: the day filter of engines.athena keeps one more day
# on each side (a test holds the two to the same days).
DELIVERY_MARGIN = timedelta(days=1)
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
_LISTING_WORKERS = 8


class EstimateError(AthenaError):
    """The scan could not be estimated (no record of where a table lies, a listing that failed)."""


class ScanLimitExceeded(AthenaError):
    """The query may scan more than --max-scan-gb: not submitted."""


@dataclass
class ScanEstimate:
    """The bytes and objects a query may read, and where they were listed."""

    scanned_bytes: int = 0
    objects: int = 0
    sources: list[str] = field(default_factory=list)  # one line per table: what was listed

    @property
    def cost_usd(self) -> float:
        """Athena's price for that many bytes (at least 10 MB billed)."""
        return max(self.scanned_bytes, MINIMUM_BILLED_BYTES) / 1000**4 * PRICE_PER_TB

    def summary(self) -> str:
        return (f"at most {_size(self.scanned_bytes)} in {self.objects:,} objects, "
                f"about ${self.cost_usd:.6f} at ${PRICE_PER_TB:g} per TB")


@dataclass
class Listings:
    """What was listed already, so the many queries of one command list each S3 folder once."""

    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # prefix -> (bytes, objects) under it
    folders: dict[str, list[str]] = field(default_factory=dict)  # prefix -> the folder names right under it


def tables_read(sql: str) -> list[str]:
    """The tables among `access_log`, `cloudtrail` and `rejects` that DuckDB-dialect `sql` reads (a CTE of the same
    name is not a read)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return sorted({t.name for t in tree.find_all(exp.Table)
                   if t.name in TABLES and not t.db and t.name not in ctes})


def day_range(since: datetime | None, until: datetime | None, first_day: date = FIRST_DAY,
              today: date | None = None) -> list[date]:
    """The day folders that can hold events of [since, until): one day of delivery margin each side, as the
    day filter of `engines.athena` keeps them; open ends run from `first_day` to today."""
    first = (since - DELIVERY_MARGIN).date() if since else first_day
    last = (until + DELIVERY_MARGIN).date() if until else (today or datetime.now(UTC).date())
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def estimate_scan(sql: str, since: datetime | None, until: datetime | None, settings: dict[str, Any], s3: Any,
                  where: str = "the config file", today: date | None = None,
                  listed: Listings | None = None) -> ScanEstimate:
    """What Athena may read for `sql` over [since, until), by the locations in `settings` (the config's
    [athena] table); EstimateError when a table it reads was never set up. `listed` keeps each prefix's
    (bytes, objects) across calls, so the queries of one command list a folder once."""
    estimate, listed = ScanEstimate(), listed or Listings()
    lake = settings.get("lake", {}).get("location") if isinstance(settings.get("lake"), dict) else None
    for table in tables_read(sql):
        if lake:
            prefixes = _lake_prefixes(lake, table, since, until, today)
            how = f"{len(prefixes)} day folder(s) under {lake.rstrip('/')}/{table}/"
        else:
            record = settings.get(table)
            if not isinstance(record, dict) or not record.get("location"):
                raise EstimateError(f"no record of where {table} lies in {where}: run `s3logq athena setup` "
                                    "(it records the locations there)")
            if record.get("template"):
                first_day = date.fromisoformat(str(record.get("first_day", FIRST_DAY)))
                prefixes = _template_prefixes(s3, record["template"], record.get("projection", {}),
                                              day_range(since, until, first_day, today), listed)
                how = f"{len(prefixes)} day folder(s) under {record['location']}"
            else:
                prefixes = [record["location"]]
                how = f"all of {record['location']} (SimplePrefix: Athena reads the whole prefix)"
        size, count = _sizes(s3, prefixes, listed.sizes)
        estimate.scanned_bytes += size
        estimate.objects += count
        estimate.sources.append(f"{table}: {_size(size)} in {count:,} objects, {how}")
    return estimate


def _lake_prefixes(lake: str, table: str, since: datetime | None, until: datetime | None,
                   today: date | None) -> list[str]:
    root = f"{lake.rstrip('/')}/{table}/"
    if table == "rejects" or (since is None and until is None):
        return [root]
    return [f"{root}day={day:%Y-%m-%d}/" for day in day_range(since, until, FIRST_DAY, today)]


def _template_prefixes(s3: Any, template: str, projection: dict[str, Iterable[str]], days: list[date],
                       listed: Listings) -> list[str]:
    """The day folders of a projection template: each `${enum}` folder kept when it exists in S3 and is one
    of its projected values (one delimited listing per level, so 30 projected regions cost one call)."""
    prefixes = [""]
    pieces = _PLACEHOLDER.split(template)  # text, name, text, name, ...
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            prefixes = [p + piece for p in prefixes]
        elif piece == DAY_COLUMN:
            prefixes = [f"{p}{day:%Y/%m/%d}/" for p in prefixes for day in days]
        else:
            values = set(projection.get(piece, ()))
            for prefix in prefixes:
                if prefix not in listed.folders:
                    listed.folders[prefix] = _folders(s3, prefix)
            prefixes = [p + folder for p in prefixes for folder in listed.folders[p] if folder in values]
    return prefixes


def _folders(s3: Any, uri: str) -> list[str]:
    """The folder names right under s3://bucket/prefix (a delimited listing)."""
    bucket, prefix = _split(uri)
    names = []
    for page in _pages(s3, Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return names


def _sizes(s3: Any, prefixes: list[str], listed: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(bytes, objects) under the prefixes, listed a few at a time (those in `listed` not again)."""

    def one(uri: str) -> tuple[int, int]:
        bucket, prefix = _split(uri)
        size = count = 0
        for page in _pages(s3, Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                size += int(item["Size"])
                count += 1
        return size, count

    missing = sorted(set(prefixes) - listed.keys())
    with ThreadPoolExecutor(_LISTING_WORKERS) as pool:
        listed.update(zip(missing, pool.map(one, missing), strict=True))
    return sum(listed[p][0] for p in prefixes), sum(listed[p][1] for p in prefixes)


def _pages(s3: Any, **request: Any) -> Iterable[dict]:
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{request['Bucket']}/{request['Prefix']}"
    try:
        yield from s3.get_paginator("list_objects_v2").paginate(**request)
    except ClientError as error:
        raise EstimateError(f"cannot list {where} to estimate the scan: "
                            f"{error.response.get('Error', {}).get('Code', 'error')}") from None
    except BotoCoreError as error:
        raise EstimateError(f"cannot list {where} to estimate the scan: {error}") from None


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise EstimateError(f"not an s3://bucket/prefix/ location: {uri}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def check_limit(estimate: ScanEstimate, max_scan_gb: float) -> None:
    """ScanLimitExceeded when the estimate is over the limit (GB of 10^9 bytes, as Athena bills)."""
    if estimate.scanned_bytes > max_scan_gb * 1000**3:
        raise ScanLimitExceeded(f"not submitted: the query may scan {_size(estimate.scanned_bytes)} "
                                f"({estimate.objects:,} objects), over --max-scan-gb {max_scan_gb:g}")


def dry_run_text(sql: str, parameters: list[str], estimate: ScanEstimate) -> str:
    """What --dry-run prints: the estimate, each table's listing, the SQL and its execution parameters."""
    lines = [f"-- estimate: {estimate.summary()}", *(f"--   {source}" for source in estimate.sources)]
    return "\n".join([*lines, sql, f"-- execution parameters (one per ?, in order): {', '.join(parameters)}"])


def estimate_for(sql: str, since: datetime | None, until: datetime | None, options: Any) -> ScanEstimate:
    """The estimate for `sql` with the locations the config file records, listed with `options`' AWS
    settings (an AthenaOptions). No Athena call."""
    from s3logq.config import athena_settings, config_path

    return estimate_scan(sql, since, until, athena_settings(), s3_client_for(options), where=str(config_path()))


def s3_client_for(options: Any) -> Any:
    """An S3 client with `options`' profile, region and endpoint (an AthenaOptions)."""
    from s3logq.sources import SourceError
    from s3logq.sources.s3 import make_client

    try:
        return make_client("s3", options.profile, options.region, options.endpoint_url)
    except SourceError as error:
        raise EstimateError(str(error)) from None
