"""Amazon Athena: the analyses rendered for Trino by sqlglot, bound values sent as execution parameters, over the
tables `athena setup` made (`access_log` and `cloudtrail` views with the lake's columns).

A time range also becomes a predicate on the views' day partition, so a projected table reads only its days.
boto3 is imported here only; nothing imports this module until the athena engine is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa

from s3logq.athena.client import (
    AthenaCancelled,
    AthenaClient,
    AthenaError,
    AthenaOptions,
    QueryStats,
    literal,
)
from s3logq.athena.ddl import DAY_COLUMN, day_ranges
from s3logq.engines import QueryError, render

if TYPE_CHECKING:
    from sqlglot import exp

_VIEWS = ("access_log", "cloudtrail")
# A log file can be delivered the day after its events (the lake's ingest keeps the same margin).
_DELIVERY_MARGIN = timedelta(days=1)


class AthenaEngine:
    name = "athena"
    dialect = "athena"

    def __init__(self, options: AthenaOptions | None = None, client: AthenaClient | None = None,
                 on_progress: Callable[[str, float, int], None] | None = None,
                 max_scan_gb: float | None = None) -> None:
        self.options = options or AthenaOptions.from_env()
        self._client = client
        self.on_progress = on_progress
        self.max_scan_gb = max_scan_gb  # each query's estimated scan must stay under it, or it is not submitted

    @property
    def client(self) -> AthenaClient:
        if self._client is None:
            self._client = AthenaClient(self.options)
        return self._client

    @property
    def history(self) -> list[QueryStats]:
        """Every query this engine ran, with what it scanned."""
        return self._client.history if self._client else []

    @property
    def notes(self) -> list[str]:
        """What the user should know besides the rows (a result file that could not be read)."""
        return self._client.notes if self._client else []

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        """Run DuckDB-dialect SQL on Athena: rendered for Trino, values bound, the days of [since, until) only."""
        text, values = athena_sql(sql, params or {}, since, until)
        if self.max_scan_gb is not None:
            from s3logq.athena.estimate import check_limit, estimate_for

            check_limit(estimate_for(sql, since, until, self.options), self.max_scan_gb)
        try:
            return self.client.query(text, [literal(v) for v in values], on_progress=self.on_progress)
        except AthenaCancelled:
            raise
        except AthenaError as error:
            raise AthenaQueryFailed(str(error)) from None


class AthenaQueryFailed(AthenaError):
    """Athena ran the query and it failed, or could not be reached (exit 1, not a usage error)."""


def athena_sql(sql: str, params: dict[str, object], since: datetime | None = None,
               until: datetime | None = None) -> tuple[str, list[object]]:
    """The Athena SQL and its positional values; QueryError (before anything is sent) for SQL that does not
    parse, or that uses a function Trino does not have."""
    import sqlglot.errors

    if not sql.strip(" \t\r\n;"):
        raise QueryError("no SQL given")
    try:
        with_days, day_values = with_day_filter(sql, since, until)
        text, values = render(with_days, {**params, **day_values}, "athena")
    except sqlglot.errors.SqlglotError as error:
        raise QueryError(f"the SQL does not parse: {str(error).splitlines()[0]}") from None
    assert isinstance(values, list)
    check_runs_on_athena(text)
    return text, values


def with_day_filter(sql: str, since: datetime | None,
                    until: datetime | None) -> tuple[str | exp.Expression, dict[str, object]]:
    """The SQL (as a DuckDB tree, which `render` takes as is) with each read of a view narrowed to the day
    folders that can hold [since, until), as bound `$log_day_*` values: Athena's partition projection then lists
    only those days."""
    if since is None and until is None:
        return sql, {}
    import sqlglot
    from sqlglot import exp

    values: dict[str, object] = {}
    ranges = []  # raw-log views' days are 'yyyy/MM/dd', a pushed lake's 'yyyy-MM-dd': ranges exact for both
    first = (since - _DELIVERY_MARGIN).date() if since is not None else None
    last = (until + _DELIVERY_MARGIN).date() if until is not None else None
    for number, bounds in enumerate(day_ranges(first, last)):
        conditions = []
        for name, operator, bound in (("from", ">=", bounds[0]), ("to", "<=", bounds[1])):
            if bound is not None:
                values[f"log_day_{name}_{number}"] = bound
                conditions.append(f"{DAY_COLUMN} {operator} $log_day_{name}_{number}")
        ranges.append("(" + " AND ".join(conditions) + ")")
    # SimplePrefix views have no day (NULL): the filter must keep their rows
    where = f"{DAY_COLUMN} IS NULL OR " + " OR ".join(ranges)

    def narrowed(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in _VIEWS and not node.db:
            body = sqlglot.parse_one(f"SELECT * FROM {node.name} WHERE {where}", read="duckdb")
            return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(node.alias_or_name)))
        return node

    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.transform(narrowed, copy=True), values


def check_runs_on_athena(text: str) -> None:
    """QueryError before submission for SQL that Trino does not parse or a function it does not have
    (with trino-sql-validator installed: `pip install 's3logq[athena]'`)."""
    try:
        import trino_sql_validator
    except ImportError:
        return
    result = trino_sql_validator.validate(text)
    if not result.valid:
        raise QueryError(f"Athena cannot run this SQL: {result.error}")
    if result.unknown_functions:
        raise QueryError("Athena cannot run this SQL: no function " + ", ".join(sorted(set(result.unknown_functions)))
                         + " in Trino")
    try:  # the validator passes some SQL Trino's own grammar refuses (ARBITRARY(x) IGNORE NULLS)
        import trino_query_parser
    except ImportError:
        return
    try:
        trino_query_parser.parse_statement(text)
    except Exception as error:  # TrinoSyntaxError, and whatever else its ANTLR parser raises
        raise QueryError(f"Athena cannot run this SQL: {str(error).splitlines()[0]}") from None


def progress_line(state: str, seconds: float, scanned: int) -> str:
    """One status line while a query runs."""
    return f"athena: {state.lower()} {seconds:.0f} s, {scanned / 1e6:,.1f} MB scanned"
