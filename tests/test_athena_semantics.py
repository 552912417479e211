"""Athena semantics without Athena: what `--engine athena` sends, read back by sqlglot (Athena -> DuckDB) and run
in DuckDB, must give the native rows; and the raw-log views of `athena setup`, translated the same way and run
over the fixture logs as the SerDes present them, must give the lake's rows.

The stand-in for Athena is a client that receives exactly what AthenaEngine hands boto3 (the SQL text with `?`
and the execution parameters as literal texts), puts each literal at its `?` in text order (EXECUTE ... USING),
and runs the result in DuckDB. What this cannot check is Trino itself; see the module's notes on each gap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot.tokens import TokenType

from s3logq.athena.client import AthenaOptions
from s3logq.catalog import Analysis, find_analysis, load_catalog
from s3logq.engines.athena import AthenaEngine
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

FIXTURES = Path(__file__).parent / "fixtures"
LAKE_FOLDERS = ("access", "access-trail", "cloudtrail", "filters")
# the filter an analysis needs to give rows at all
REQUIRED: dict[str, dict[str, object]] = {"request-lookup": {"request_id": "R08"}}
# Time windows tried in order for each analysis: the first that keeps some but not all of its rows is used, so
# an ignored bound, or a day filter that drops a day it should keep, changes the answer. Mid-day bounds: a day
# filter off by one day in either direction drops rows inside the window.
WINDOWS = [(datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 2, 12, tzinfo=UTC)),
           (datetime(2024, 3, 2, 12, tzinfo=UTC), datetime(2024, 3, 3, 12, tzinfo=UTC)),
           (datetime(2024, 2, 29, 12, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)),
           (datetime(2024, 3, 1, 6, tzinfo=UTC), datetime(2024, 3, 3, 6, tzinfo=UTC)),
           (datetime(2024, 3, 2, 11, 3, tzinfo=UTC), datetime(2024, 3, 3, 11, 3, tzinfo=UTC))]


def bind_in_text_order(athena_sql: str, parameters: list[str]) -> str:
    """The statement Athena runs: each execution parameter (a literal's text) at its `?`, in text order."""
    tokens = [t for t in sqlglot.tokenize(athena_sql, read="athena") if t.token_type == TokenType.PLACEHOLDER]
    assert len(tokens) == len(parameters), (len(tokens), parameters)
    for token, value in reversed(list(zip(tokens, parameters, strict=True))):
        athena_sql = athena_sql[: token.start] + value + athena_sql[token.end + 1:]
    return athena_sql


class DuckDBAsAthena:
    """Takes AthenaClient.query's arguments and answers from DuckDB tables standing in for Athena's views."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.history: list[object] = []
        self.sent: list[tuple[str, list[str]]] = []

    def query(self, sql: str, parameters: list[str] | None = None, on_progress: object = None) -> pa.Table:
        self.sent.append((sql, list(parameters or [])))
        statement = bind_in_text_order(sql, list(parameters or []))
        return self.connection.sql(sqlglot.transpile(statement, read="athena", write="duckdb")[0]).to_arrow_table()


def _ingest(root: Path) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(FIXTURES / f) for f in LAKE_FOLDERS]), IngestOptions(workers=2))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return _ingest(tmp_path_factory.mktemp("athena-semantics") / "lake")


def athena_stand_in(lake: Lake) -> duckdb.DuckDBPyConnection:
    """The lake's rows as Athena's views show them: the same columns, plus `log_day` ('yyyy/MM/dd' of the row's
    time, the partition the day filter reads)."""
    native = DuckDBEngine(lake)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for view, time_column in (("access_log", "request_time"), ("cloudtrail", "event_time")):
        rows = native.query(f"SELECT * FROM {view}")  # noqa: F841 (read by DuckDB's replacement scan)
        connection.execute(f"CREATE TABLE {view} AS SELECT *, strftime({time_column}, '%Y/%m/%d') AS log_day "
                           "FROM rows")
    return connection


@pytest.fixture(scope="module")
def athena(lake: Lake) -> Iterator[AthenaEngine]:
    connection = athena_stand_in(lake)
    yield AthenaEngine(AthenaOptions(), client=DuckDBAsAthena(connection))  # type: ignore[arg-type]
    connection.close()


def values(table: pa.Table) -> list[dict[str, object]]:
    return [{k: int(v) if isinstance(v, Decimal) and v == int(v) else v for k, v in row.items()}
            for row in table.to_pylist()]


def assert_same_rows(athena_table: pa.Table, native_table: pa.Table) -> None:
    """Same columns and rows in the same order (every analysis's ORDER BY ends with a unique key)."""
    assert athena_table.column_names == native_table.column_names
    assert values(athena_table) == values(native_table)


def window_for(analysis: Analysis, lake: Lake) -> dict[str, object]:
    """The first window (in WINDOWS) that keeps some but not all of the analysis's native rows; else the first
    that keeps none (request-lookup's R08 rows share one instant: a window can only keep all or none)."""
    native = DuckDBEngine(lake)
    base = REQUIRED.get(analysis.name, {})
    everything = values(analysis.run(native, base))
    kept = {window: values(analysis.run(native, {**base, "since": window[0], "until": window[1]}))
            for window in WINDOWS}
    narrowing = [w for w in WINDOWS if kept[w] and kept[w] != everything] or [w for w in WINDOWS if not kept[w]]
    assert narrowing, f"no window narrows {analysis.name}: add one to WINDOWS"
    return {**base, "since": narrowing[0][0], "until": narrowing[0][1]}


@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_on_athena_gives_the_native_rows(lake: Lake, athena: AthenaEngine, analysis: Analysis) -> None:
    native = DuckDBEngine(lake)
    filters = REQUIRED.get(analysis.name, {})
    expected = analysis.run(native, filters)
    assert expected.num_rows > 0  # two empty answers would prove nothing
    assert_same_rows(analysis.run(athena, filters), expected)


@pytest.mark.parametrize("analysis", [a for a in load_catalog() if "since" in a.parameters],
                         ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_in_a_time_window_on_athena_gives_the_native_rows(lake: Lake, athena: AthenaEngine,
                                                                         analysis: Analysis) -> None:
    """The window's bounds reach Athena twice: as the analysis's own `?`s and as the day filter's."""
    filters = window_for(analysis, lake)
    sent = len(athena.client.sent)
    assert_same_rows(analysis.run(athena, filters), analysis.run(DuckDBEngine(lake), filters))
    sql, _ = athena.client.sent[sent]
    assert re.search(r"WHERE log_day IS NULL OR \(log_day >= \?", sql)  # the day filter was sent, not dropped


FILTERED = [
    ("access", "object-access", {"since": "2024-03-01T23:59:59Z", "until": "2024-03-02"}),
    ("access", "requests", {"since": "2024-03-01", "until": "2024-03-02", "bucket": "acme-data",
                            "prefix": "reports/"}),
    ("access", "latency", {"requester": "user/alice", "operation": "rest.get.object", "status": 200}),
    ("access", "top-requesters", {"bucket": "acme-web", "by": "ip"}),
    ("access", "object-history", {"bucket": "acme-data", "key": "reports/Q1 results.pdf",
                                  "since": "2024-03-01T09:00:00Z"}),
    ("access", "request-lookup", {"request_id": "hostR06=", "since": "2024-03-01"}),
    ("access", "deletions", {"since": "2024-03-02", "until": "2024-03-03", "prefix": "logs/"}),
    ("access", "latency-summary", {"by": "requester", "since": "2024-03-01T12:00:00Z", "status": 200}),
    ("cloudtrail", "bucket-config-changes", {"since": "2024-03-02", "until": "2024-03-03", "bucket": "acme-logs"}),
    ("cloudtrail", "object-access", {"since": "2024-03-01", "until": "2024-03-02", "prefix": "reports/"}),
    ("cloudtrail", "public-exposure", {"until": "2024-03-03T12:00:00Z", "operation": "PutBucketPolicy"}),
]


@pytest.mark.parametrize("log_type,name,filters", FILTERED, ids=[f"{t}/{n}" for t, n, _ in FILTERED])
def test_filters_reach_athena_in_the_order_of_their_placeholders(lake: Lake, athena: AthenaEngine, log_type: str,
                                                                 name: str, filters: dict[str, object]) -> None:
    """Several filters at once: a value bound to another filter's `?` changes the rows."""
    analysis = find_analysis(name, log_type)
    given = {k: parse_when(v) if k in ("since", "until") else v for k, v in filters.items()}
    expected = analysis.run(DuckDBEngine(lake), given)
    assert expected.num_rows > 0 and values(expected) != values(analysis.run(DuckDBEngine(lake), {}))
    assert_same_rows(analysis.run(athena, given), expected)


def test_a_limit_keeps_the_analysis_order(lake: Lake, athena: AthenaEngine) -> None:
    analysis = find_analysis("requests", "access")
    assert_same_rows(analysis.run(athena, {"bucket": "acme-data"}, limit=5),
                     analysis.run(DuckDBEngine(lake), {"bucket": "acme-data"}, limit=5))


def test_the_stand_in_reads_literals_as_athena_does() -> None:
    """bind_in_text_order puts each value at its own `?`, quotes and all (a `?` inside a string is not one)."""
    assert (bind_in_text_order("SELECT ?, '?', ? FROM t WHERE a = ?", ["1", "'it''s'", "NULL"])
            == "SELECT 1, '?', 'it''s' FROM t WHERE a = NULL")
    assert re.search(r"\?", bind_in_text_order("SELECT '?'", [])) is not None
