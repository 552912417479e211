"""The queries a many-query command (`report`, `investigate`) would send to Athena, found before any is sent, so
that --max-scan-gb can refuse their sum and --dry-run list them.

The command runs on a QueryPlanner instead of Athena: each query is rendered as Athena would get it (so one
refused before submission is not planned), recorded, and answered by DuckDB over stand-in tables of one NULL row
each. One row is enough for the report to take every path Athena would with data (it branches on whether the
tables hold rows), and a catalog preview's count, sent only when the preview fills its rows, is planned too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from s3logq.athena.client import MINIMUM_BILLED_BYTES, PRICE_PER_TB, _size
from s3logq.athena.estimate import Listings, ScanEstimate, ScanLimitExceeded, estimate_scan

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from s3logq.investigate import Investigation
    from s3logq.lake import Lake

_LIMITED = re.compile(r"^SELECT \* FROM \((?P<sql>.*)\) LIMIT \d+$", re.S)
_REPORT_NAME_MIN_PREFIX = 30  # characters a report query shares with its SQL constant, at least, to be named by it


@dataclass(frozen=True)
class PlannedQuery:
    """One query the command would send: a name for people, its DuckDB SQL, values and day range."""

    name: str
    sql: str
    params: dict[str, object]
    since: datetime | None
    until: datetime | None


@dataclass
class PlanEstimate:
    """Each planned query with what it may scan; the sums are what --max-scan-gb is held to."""

    estimates: list[tuple[PlannedQuery, ScanEstimate]] = field(default_factory=list)

    @property
    def scanned_bytes(self) -> int:
        return sum(estimate.scanned_bytes for _, estimate in self.estimates)

    @property
    def cost_usd(self) -> float:
        """Athena's price for them all, each query billed at least 10 MB."""
        return sum(estimate.cost_usd for _, estimate in self.estimates)

    def summary(self) -> str:
        count = len(self.estimates)
        return (f"at most {_size(self.scanned_bytes)} in all, the sum of {count} queries (each billed at least "
                f"{MINIMUM_BILLED_BYTES // 1000**2} MB): about ${self.cost_usd:.6f} at ${PRICE_PER_TB:g} per TB")


class QueryPlanner:
    """An engine under Athena's name that records the queries it is given instead of sending them."""

    name = "athena"
    dialect = "athena"

    def __init__(self) -> None:
        self.planned: list[PlannedQuery] = []
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._rows_for: tuple[object, object] = (None, None)  # the stand-ins' time and bucket
        self._counts = _count_sql()
        self._names = _known_names()

    def query(self, sql: str, params: dict[str, object] | None = None, since: datetime | None = None,
              until: datetime | None = None) -> pa.Table:
        """Record the query (QueryError, as on Athena, when it cannot run there), answer from the stand-ins."""
        from s3logq.engines.athena import athena_sql

        params = params or {}
        athena_sql(sql, params, since, until)
        name = self._name(sql)
        self.planned.append(PlannedQuery(name, sql, params, since, until))
        limited = _LIMITED.match(sql)
        if limited and limited["sql"] in self._counts:  # a preview: its count goes when it fills its rows
            self.planned.append(PlannedQuery(f"{name}, count (when the preview is full)",
                                             self._counts[limited["sql"]], params, since, until))
        return self._stand_ins(params, since, until).sql(sql, params=params or None).to_arrow_table()

    def _name(self, sql: str) -> str:
        inner = _LIMITED.match(sql)
        for text in (sql, inner["sql"] if inner else None):
            if text in self._names:
                return self._names[text]
        best, shared = "query", 0
        for text, name in self._names.items():
            if name.startswith("report "):
                common = len(_common_prefix(text.strip(), sql.strip()))
                if common > shared:
                    best, shared = name, common
        return best if shared >= _REPORT_NAME_MIN_PREFIX else f"query {len(self.planned) + 1}"

    def _stand_ins(self, params: dict[str, object], since: datetime | None,
                   until: datetime | None) -> duckdb.DuckDBPyConnection:
        """DuckDB with each table holding one row inside the query's filters: its time in the range, its bucket
        the first one asked for, every other column NULL."""
        import duckdb
        import pyarrow as pa

        from s3logq.formats.access_log import ACCESS_SCHEMA
        from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA
        from s3logq.writer import REJECTS_SCHEMA

        when = since or (until - timedelta(microseconds=1) if until else datetime.now(UTC))
        bucket = params.get("bucket") or params.get("bucket_0")
        if self._connection is not None and self._rows_for == (when, bucket):
            return self._connection
        self._connection, self._rows_for = self._connection or duckdb.connect(), (when, bucket)
        for table, schema, time_column in (("access_log", ACCESS_SCHEMA, "request_time"),
                                           ("cloudtrail", CLOUDTRAIL_SCHEMA, "event_time"),
                                           ("rejects", REJECTS_SCHEMA, None)):
            row = {time_column: when, "bucket_name": bucket} if time_column else {}
            stand_in = pa.Table.from_pylist([row], schema=schema)
            self._connection.register(f"{table}_stand_in", stand_in)
            self._connection.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table}_stand_in")
        return self._connection


def _known_names() -> dict[str, str]:
    """SQL text -> a name: each catalog analysis and detection, and the report's own SQL constants."""
    from s3logq.catalog import load_catalog
    from s3logq.catalog.detection import load_detections
    from s3logq.report import data

    names = {text: f"report {constant.removesuffix('_SQL').lower().replace('_', ' ')}"
             for constant, text in vars(data).items() if constant.endswith("_SQL") and isinstance(text, str)}
    names.update({d.sql: f"detection {d.name}" for d in load_detections()})
    names.update({a.sql: f"analysis {a.name} ({a.log_type})" for a in load_catalog()})
    return names


def _count_sql() -> dict[str, str]:
    """Each catalog analysis's SQL -> the SQL of its count (Analysis.count)."""
    from s3logq.catalog import load_catalog

    return {a.sql: f"SELECT count(*) AS n FROM ({a.unordered_sql})" for a in load_catalog()}


def _common_prefix(first: str, second: str) -> str:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return first[:length]


def plan_report(lake: Lake, since: datetime | None, until: datetime | None,
                buckets: tuple[str, ...] | list[str] = ()) -> list[PlannedQuery]:
    """The queries `report --engine athena` sends for the range and buckets when the tables hold rows."""
    from s3logq.report import build_report_data

    planner = QueryPlanner()
    build_report_data(lake, since, until, buckets, planner)
    return planner.planned


def plan_investigation(lake: Lake, job: Investigation) -> list[PlannedQuery]:
    """The queries `investigate --engine athena` sends: each analysis, then the report's when --report is given."""
    from s3logq.investigate import analysis_values, resolve

    planner = QueryPlanner()
    for analysis in resolve(job.analyses):
        analysis.run(planner, analysis_values(analysis, job), job.limit)
    if job.report:
        planner.planned += plan_report(lake, job.since, job.until, (job.bucket,) if job.bucket else ())
    return planner.planned


def estimate_plan(plan: list[PlannedQuery], settings: dict[str, Any], s3: Any,
                  where: str = "the config file") -> PlanEstimate:
    """Each query's estimate (estimate_scan), every S3 folder listed once for them all."""
    listed = Listings()
    return PlanEstimate([(query, estimate_scan(query.sql, query.since, query.until, settings, s3, where,
                                               listed=listed)) for query in plan])


def estimate_plan_for(plan: list[PlannedQuery], options: Any) -> PlanEstimate:
    """estimate_plan with the locations the config file records and `options`' AWS settings. No Athena call."""
    from s3logq.athena.estimate import s3_client_for
    from s3logq.config import athena_settings, config_path

    return estimate_plan(plan, athena_settings(), s3_client_for(options), where=str(config_path()))


def check_plan_limit(estimate: PlanEstimate, max_scan_gb: float, command: str) -> None:
    """ScanLimitExceeded, naming the sum and its number of queries, when they may scan over the limit."""
    if estimate.scanned_bytes > max_scan_gb * 1000**3:
        count = len(estimate.estimates)
        raise ScanLimitExceeded(
            f"not submitted: the {count} queries of {command} may scan {_size(estimate.scanned_bytes)} in all "
            f"(the sum over the {count} queries, each billed at least {MINIMUM_BILLED_BYTES // 1000**2} MB), "
            f"over --max-scan-gb {max_scan_gb:g}")


def plan_text(estimate: PlanEstimate, show_sql: bool = False) -> str:
    """What --dry-run prints: the total, then one line a query (with its Athena SQL and values if show_sql)."""
    from s3logq.athena.client import literal
    from s3logq.engines.athena import athena_sql

    lines = [f"-- estimate: {estimate.summary()}"]
    for number, (query, scan) in enumerate(estimate.estimates, 1):
        tables = ", ".join(source.partition(":")[0] for source in scan.sources) or "no table"
        lines.append(f"-- {number:>3}. {query.name}: {_size(scan.scanned_bytes)} ({tables})")
        if show_sql:
            text, values = athena_sql(query.sql, query.params, query.since, query.until)
            lines += [text.strip(), f"-- execution parameters: {', '.join(literal(v) for v in values)}"]
    return "\n".join(lines)
