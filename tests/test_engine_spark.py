"""The Spark engine with real pyspark in local mode: every analysis gives DuckDB's rows on the hand-checked
fixtures of test_analyses_access.py and test_analyses_cloudtrail.py, with filters bound as parameters.

One SparkSession serves the whole module (starting one takes seconds); it is stopped at the end.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from s3logq.catalog import Analysis, find_analysis, load_catalog
from s3logq.cli import cli
from s3logq.engines import QueryError, get_engine
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.engines.spark import SparkEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

FIXTURES = Path(__file__).parent / "fixtures"
Q1 = "reports/Q1 results.pdf"
# latency-summary's percentiles are approximate, and each engine approximates its own way (see below)
PERCENTILES = ("total_p50_ms", "total_p90_ms", "total_p99_ms", "turnaround_p50_ms", "turnaround_p90_ms",
               "turnaround_p99_ms")
# the filter an analysis needs to give rows at all
REQUIRED: dict[str, dict[str, object]] = {"request-lookup": {"request_id": "R08"}}


pytestmark = pytest.mark.usefixtures("spark_for_module")


def _ingest(root: Path, *folders: str) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(FIXTURES / f) for f in folders]), IngestOptions(workers=2))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Both analysis fixtures in one lake: the access logs, their CloudTrail data events, and the trail."""
    return _ingest(tmp_path_factory.mktemp("spark") / "lake", "access", "access-trail", "cloudtrail")


@pytest.fixture(scope="module")
def access_only(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The access logs alone: the cloudtrail table has no part, so both engines read an empty table."""
    return _ingest(tmp_path_factory.mktemp("spark") / "access-only", "access")


def run(lake: Lake, engine_name: str, analysis: Analysis, filters: dict[str, object] | None = None,
        limit: int | None = None) -> pa.Table:
    values = {k: parse_when(v) if k in ("since", "until") and isinstance(v, str) else v
              for k, v in (filters or {}).items()}
    return analysis.run(get_engine(engine_name, lake), values, limit)


def types(table: pa.Table) -> list[str]:
    # DuckDB sums BIGINT into a 128-bit HUGEINT (decimal(38, 0) in Arrow), Spark into BIGINT: same numbers
    return ["int64" if f.type == pa.decimal128(38, 0) else str(f.type) for f in table.schema]


def values(table: pa.Table) -> list[dict[str, object]]:
    return [{k: int(v) if isinstance(v, Decimal) else v for k, v in row.items()} for row in table.to_pylist()]


def assert_same(spark_table: pa.Table, duckdb_table: pa.Table) -> None:
    """Same columns, types and rows in the same order (every analysis's ORDER BY ends with a unique key:
    log_file and log_line, eventid, or the group key; object-history's ties are identical rows)."""
    assert spark_table.column_names == duckdb_table.column_names
    assert types(spark_table) == types(duckdb_table)
    assert values(spark_table) == values(duckdb_table)


@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_gives_duckdbs_rows(lake: Lake, analysis: Analysis) -> None:
    filters = REQUIRED.get(analysis.name, {})
    spark_table, duckdb_table = run(lake, "spark", analysis, filters), run(lake, "duckdb", analysis, filters)
    assert duckdb_table.num_rows > 0  # a comparison of two empty results would prove nothing
    if analysis.name == "latency-summary":  # its order follows the percentiles: compared by group below
        spark_table, duckdb_table = (t.drop_columns(list(PERCENTILES)).sort_by("group_key")
                                     for t in (spark_table, duckdb_table))
    assert_same(spark_table, duckdb_table)


@pytest.mark.parametrize("by,column", [(None, "operation"), ("ip", "remoteip"), ("requester", "requester")])
def test_latency_summary_percentiles_are_exact_on_spark(lake: Lake, by: str | None, column: str) -> None:
    """Spark's percentile_approx is exact up to 10,000 values a group (its default accuracy): the smallest
    value with at least that fraction of values at or below it. DuckDB's approx_quantile is a t-digest that
    interpolates (p90 of 13 GET times: 376 ms where no request took 376 ms), so the two cannot agree."""
    analysis = find_analysis("latency-summary", "access")
    table = run(lake, "spark", analysis, {"by": by})
    times = DuckDBEngine(lake).query(
        f"SELECT {column} AS group_key, list(totaltime) AS total, list(turnaroundtime) AS turnaround "
        "FROM access_log WHERE totaltime IS NOT NULL GROUP BY 1")
    expected = {}
    for group in times.to_pylist():
        row = {}
        for measure in ("total", "turnaround"):
            known = sorted(v for v in group[measure] if v is not None)
            for p in (50, 90, 99):
                row[f"{measure}_p{p}_ms"] = known[math.ceil(p / 100 * len(known)) - 1] if known else None
        expected[group["group_key"]] = row
    assert {r["group_key"]: {c: r[c] for c in PERCENTILES} for r in table.to_pylist()} == expected
    # the order is Spark's own percentiles': p90 descending, then the group
    order = [(-r["total_p90_ms"], r["group_key"] is None, r["group_key"] or "") for r in table.to_pylist()]
    assert order == sorted(order)


FILTERED = [
    ("access", "object-access", {"since": "2024-03-01T23:59:59Z", "until": "2024-03-02"}),
    ("access", "requests", {"since": "2024-03-01", "until": "2024-03-02", "bucket": "acme-data",
                            "prefix": "reports/"}),
    ("access", "latency", {"requester": "user/alice", "operation": "rest.get.object", "status": 200}),
    ("access", "top-requesters", {"bucket": "acme-web", "by": "ip"}),
    ("access", "object-history", {"bucket": "acme-data", "key": Q1}),
    ("access", "request-lookup", {"request_id": "hostR06=", "since": "2024-03-01"}),
    ("access", "deletions", {"since": "2024-03-02", "until": "2024-03-03", "prefix": "logs/"}),
    ("cloudtrail", "bucket-config-changes", {"since": "2024-03-02", "until": "2024-03-03", "bucket": "acme-logs"}),
    ("cloudtrail", "object-access", {"since": "2024-03-01", "until": "2024-03-02", "prefix": "reports/"}),
]


@pytest.mark.parametrize("log_type,name,filters", FILTERED, ids=[f"{t}/{n}" for t, n, _ in FILTERED])
def test_filters_are_bound_and_give_duckdbs_rows(lake: Lake, log_type: str, name: str,
                                                 filters: dict[str, object]) -> None:
    analysis = find_analysis(name, log_type)
    spark_table = run(lake, "spark", analysis, filters)
    assert_same(spark_table, run(lake, "duckdb", analysis, filters))
    # each filter set narrows the rows to some, not none
    assert spark_table.num_rows > 0 and values(spark_table) != values(run(lake, "duckdb", analysis))


def test_a_value_is_never_sql(lake: Lake) -> None:
    analysis = find_analysis("client-errors", "access")
    assert run(lake, "spark", analysis, {"bucket": "acme-data"}).num_rows > 0
    assert run(lake, "spark", analysis, {"bucket": "acme-data' OR '1'='1"}).num_rows == 0


def test_a_time_without_a_zone_is_utc(lake: Lake) -> None:
    analysis = find_analysis("object-access", "access")
    naive = run(lake, "spark", analysis, {"since": datetime(2024, 3, 1, 23, 59, 59), "until": datetime(2024, 3, 2)})
    assert naive.column("requestid").to_pylist() == ["R20"]


def test_limit_keeps_the_analysis_order_and_the_preview_counts_all(lake: Lake) -> None:
    analysis = find_analysis("requests", "access")
    spark, duckdb = get_engine("spark", lake), get_engine("duckdb", lake)
    assert_same(analysis.run(spark, {}, limit=5), analysis.run(duckdb, {}, limit=5))
    first, total = analysis.preview(spark, {"bucket": "acme-data"}, rows=3)
    assert first.num_rows == 3 and (first, total) == analysis.preview(duckdb, {"bucket": "acme-data"}, rows=3)


def test_an_empty_table_has_its_columns(access_only: Lake) -> None:
    history = find_analysis("object-history", "access")
    assert_same(run(access_only, "spark", history, {"key": Q1}), run(access_only, "duckdb", history, {"key": Q1}))
    changes = find_analysis("bucket-config-changes", "cloudtrail")
    empty = run(access_only, "spark", changes)
    assert empty.num_rows == 0 and empty.column_names == list(changes.columns)


def test_json_null_is_not_a_missing_path(lake: Lake) -> None:
    """sqlglot turns json_extract into get_json_object, which reads a JSON null as SQL NULL; DuckDB does not."""
    sql = ("SELECT json_extract($doc, '$.a.b') IS NULL AS null_value, json_extract($doc, '$.a.c') IS NULL AS missing,"
           " json_extract($doc, '$.a.d[1]') AS element, json_extract_string($doc, '$.a.e') AS text")
    doc = '{"a": {"b": null, "d": [1, {"x": "é"}], "e": "Suspended"}}'
    on_spark = SparkEngine(lake).query(sql, {"doc": doc}).to_pylist()
    assert on_spark == [{"null_value": False, "missing": True, "element": '{"x":"é"}', "text": "Suspended"}]
    assert on_spark == DuckDBEngine(lake).query(sql, {"doc": doc}).to_pylist()


def test_an_error_is_one_line(lake: Lake) -> None:
    with pytest.raises(QueryError) as error:
        SparkEngine(lake).query("SELECT no_such_column FROM access_log")
    assert "no_such_column" in str(error.value) and "\n" not in str(error.value)


def test_a_damaged_part_is_one_line_naming_it(tmp_path_factory: pytest.TempPathFactory) -> None:
    lake = _ingest(tmp_path_factory.mktemp("spark") / "damaged", "access")
    part = Path(lake.part_files("access_log")[0])
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])  # the footer is gone
    with pytest.raises(QueryError) as error:  # it used to escape as a Py4JJavaError with the JVM's trace
        SparkEngine(lake).query("SELECT count(*) AS n FROM access_log")
    message = str(error.value)
    assert f"{part} is not a Parquet file" in message and "\n" not in message


def invoke(lake: Lake, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), *args])
    return result.exit_code, result.stdout


def test_cli_run_with_engine_spark(lake: Lake) -> None:
    for args in (["run", "object-access", "--bucket", "acme-data", "--format", "csv"],
                 ["run", "bucket-config-changes", "--logs", "cloudtrail", "--since", "2024-03-02"]):
        code, on_spark = invoke(lake, *args, "--engine", "spark")
        assert code == 0, on_spark
        assert (code, on_spark) == invoke(lake, *args)
    assert on_spark.splitlines()[-1].endswith(" rows") and "acme-logs" in on_spark  # the terminal table


def test_cli_sql_with_engine_spark(lake: Lake) -> None:
    query = ("select operation, count(*) as requests, max(request_time) as last_request from access_log "
             "where starts_with(key, 'reports/') group by operation order by requests desc, operation")
    code, on_spark = invoke(lake, "sql", query, "--engine", "spark", "--format", "csv")
    assert code == 0 and len(on_spark.splitlines()) > 2, on_spark
    assert (code, on_spark) == invoke(lake, "sql", query, "--format", "csv")


def test_cli_show_sql_for_spark(lake: Lake) -> None:
    code, out = invoke(lake, "run", "object-access", "--bucket", "b'; --", "--engine", "spark", "--show-sql")
    assert code == 0
    assert ":bucket" in out and "STARTSWITH(key, :prefix)" in out and "$bucket" not in out
    assert "b'; --" not in out.split("-- parameters:")[0]  # the value is only listed as a parameter
