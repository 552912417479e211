"""`report --engine athena` and `investigate --engine athena` over real HTTP: boto3 against moto's server.

moto runs no SQL. Each query the report sends is answered by DuckDB on the fixture lake first (through the same
Athena rendering, so the same queries are refused before submission), and those answers are canned in moto in
order; the command's page must then show DuckDB's numbers, and every statement that reached moto must pass both
Trino gates (trino-sql-validator and trino-query-parser), with its values as execution parameters.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from click.testing import CliRunner
from s3_server import MotoServer, ensure_work_group, start_server
from test_athena_sql import assert_trino_runs

from s3logq.cli import cli
from s3logq.engines.athena import athena_sql
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.report import build_report_data, render_report
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
WORKGROUP = "s3logq-report"


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[MotoServer]:
    server, werkzeug_server = start_server()
    ensure_work_group(server, WORKGROUP, "s3://r/")
    yield server
    werkzeug_server.shutdown()


@pytest.fixture(scope="module", name="lake")
def lake_fixture(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("report-athena") / "lake")
    sources = list_sources([str(FIXTURES / f) for f in ("access", "access-trail", "cloudtrail")])
    assert ingest(lake, sources, IngestOptions(workers=1)).ok
    return lake


class DuckDBUnderAthenasName:
    """DuckDB over the lake, named athena so the report takes Athena's path: each query is first rendered as
    Athena would send it (a QueryError there means it is never submitted), then answered by DuckDB and kept."""

    name = "athena"
    dialect = "athena"

    def __init__(self, lake: Lake) -> None:
        self.duckdb = DuckDBEngine(lake)
        self.answers: list[pa.Table] = []

    def query(self, sql: str, params: dict[str, object] | None = None, since: datetime | None = None,
              until: datetime | None = None) -> pa.Table:
        athena_sql(sql, params or {}, since, until)
        answer = self.duckdb.query(sql, params, since, until)
        self.answers.append(answer)
        return answer


def _athena_column(field: pa.Field) -> dict:
    kind, precision, scale = "varchar", 0, 0
    if pa.types.is_timestamp(field.type):
        kind = "timestamp with time zone"
    elif pa.types.is_boolean(field.type):
        kind = "boolean"
    elif pa.types.is_integer(field.type):
        kind = "bigint"
    elif pa.types.is_floating(field.type):
        kind = "double"
    elif pa.types.is_decimal(field.type):
        kind, precision, scale = "decimal", field.type.precision, field.type.scale
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": field.name, "Label": field.name,
            "Type": kind, "Precision": precision, "Scale": scale, "Nullable": "UNKNOWN", "CaseSensitive": True}


def _athena_text(value: object) -> dict:
    """A value as GetQueryResults gives it: text, no VarCharValue for NULL."""
    if value is None:
        return {}
    if isinstance(value, datetime):
        return {"VarCharValue": f"{value:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"}
    if isinstance(value, bool):
        return {"VarCharValue": str(value).lower()}
    if isinstance(value, float | Decimal):
        return {"VarCharValue": repr(float(value)) if isinstance(value, float) else str(value)}
    return {"VarCharValue": value if isinstance(value, str) else json.dumps(value, default=str)}


def can(server: MotoServer, answers: list[pa.Table]) -> None:
    """Queue the answers in moto, first in first out, each with the header row Athena sends first."""
    results = []
    for table in answers:
        rows = [{"Data": [{"VarCharValue": f.name} for f in table.schema]}]
        rows += [{"Data": [_athena_text(v) for v in row.values()]} for row in table.to_pylist()]
        results.append({"rows": rows, "column_info": [_athena_column(f) for f in table.schema]})
    body = json.dumps({"region": "us-east-1", "results": results}).encode()
    request = urllib.request.Request(server.endpoint_url + "/moto-api/static/athena/query-results", body,
                                     {"Content-Type": "application/json"})
    assert urllib.request.urlopen(request).status == 201


def _executions(server: MotoServer) -> list[dict]:
    athena = server.client("athena")
    ids = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def _flags(server: MotoServer) -> list[str]:
    return ["--workgroup", WORKGROUP, "--results", "s3://athena-results/q/", "--endpoint-url", server.endpoint_url,
            "--region", "us-east-1"]


def cards(html: str) -> dict[str, str]:
    found = re.findall(r'<span class="card-title">([^<]*)</span>\s*<span class="card-value">([^<]*)</span>', html)
    return dict(found)


def cells(html: str, section: str) -> list[str]:
    """Every table cell of one section of the page, in order."""
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<td[^>]*>(.*?)</td>", part, re.S)


def test_report_on_athena_shows_duckdbs_numbers_and_sends_only_sql_trino_runs(
        server: MotoServer, lake: Lake, tmp_path: Path) -> None:
    recorder = DuckDBUnderAthenasName(lake)
    expected = build_report_data(lake, engine=recorder)
    assert len(recorder.answers) > 40  # summary, sections, the detections Athena can run, analyses and counts
    can(server, recorder.answers)
    before = len(_executions(server))
    page = tmp_path / "athena.html"
    result = CliRunner().invoke(cli, ["report", "--engine", "athena", "--output", str(page), *_flags(server)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page)
    sent = _executions(server)[before:]
    assert len(sent) == len(recorder.answers)  # one execution a query, each consuming its canned answer

    # every statement is Trino SQL with its values bound, never formatted in
    for execution in sent:
        assert_trino_runs(execution["Query"])
        placeholders = list(sqlglot.parse_one(execution["Query"], read="trino").find_all(sqlglot.exp.Placeholder))
        assert len(placeholders) == len(execution.get("ExecutionParameters", []))
    assert f"athena: {len(sent)} queries" in result.stderr and result.stderr.count("athena: ") == 1

    html = page.read_text()
    native = render_report(build_report_data(lake))
    # the cards show the DuckDB report's numbers, but p99 (Athena has approximate percentiles only); every
    # detection runs on Athena, so none is named as left out
    athena_cards, duckdb_cards = cards(html), cards(native)
    assert athena_cards["p99 latency"] == "–" and duckdb_cards["p99 latency"] != "–"
    assert athena_cards["Requests"] == duckdb_cards["Requests"] == "36"
    for title in ("Requests", "4xx rate", "403 rate", "5xx rate", "Deletions", "Config changes", "Anonymous"):
        assert athena_cards[title] == duckdb_cards[title], title
    assert "approximate percentiles only" in html and "could not run on athena" not in html
    assert athena_cards["Findings"] == duckdb_cards["Findings"] != "0"
    for section in ("buckets", "objects", "ips", "config"):
        assert cells(html, section) == cells(native, section) != [], section
    # and, section by section, the very data DuckDB answered through Athena's path
    assert render_report(expected).split("<footer>")[0].split("</header>")[1] == \
        html.split("<footer>")[0].split("</header>")[1]


def test_investigate_on_athena_ingests_nothing_and_binds_the_range(server: MotoServer, lake: Lake,
                                                                   tmp_path: Path) -> None:
    from s3logq.catalog import find_analysis

    analysis = find_analysis("deletions", "access")
    since = datetime.fromisoformat("2024-03-01T00:00:00+00:00")
    answer = analysis.run(DuckDBEngine(lake), {"since": since})
    assert answer.num_rows >= 2
    can(server, [answer])
    before = len(_executions(server))
    empty_lake = tmp_path / "no-lake"
    result = CliRunner().invoke(cli, ["--lake", str(empty_lake), "investigate", "--engine", "athena",
                                      "--analysis", "deletions", "--since", "2024-03-01", "--format", "csv",
                                      "--output", "-", *_flags(server)])
    assert result.exit_code == 0, result.output
    assert not empty_lake.exists()  # nothing ingested, no lake made
    native = CliRunner().invoke(cli, ["--lake", str(lake.root), "run", "deletions", "--since", "2024-03-01",
                                      "--format", "csv"])
    assert result.stdout == native.stdout
    (sent,) = _executions(server)[before:]
    assert "log_day >= ?" in sent["Query"] and "2024-03-01" not in sent["Query"]
    assert "TIMESTAMP '2024-03-01 00:00:00.000000 UTC'" in sent["ExecutionParameters"]
    assert "athena: 1 queries" in result.stderr


def test_investigate_engine_and_logs_are_checked_before_any_work(tmp_path: Path) -> None:
    both = CliRunner().invoke(cli, ["--lake", str(tmp_path), "investigate", "--engine", "athena", "--logs", "x/",
                                    "--analysis", "deletions"])
    assert both.exit_code == 2 and "drop --logs" in both.stderr
    neither = CliRunner().invoke(cli, ["--lake", str(tmp_path), "investigate", "--analysis", "deletions"])
    assert neither.exit_code == 2 and "--logs" in neither.stderr


def test_report_on_athena_binds_buckets_and_range_never_formats_them(server: MotoServer, lake: Lake,
                                                                     tmp_path: Path) -> None:
    since, until = datetime.fromisoformat("2024-03-01T00:00:00+00:00"), datetime.fromisoformat("2024-03-03T00:00:00+00:00")
    recorder = DuckDBUnderAthenasName(lake)
    expected = build_report_data(lake, since, until, ["acme-data", "acme-logs"], engine=recorder)
    assert 0 < expected.summary.requests < 36  # the range and buckets took effect
    can(server, recorder.answers)
    before = len(_executions(server))
    result = CliRunner().invoke(cli, ["report", "--engine", "athena", "--since", "2024-03-01", "--until",
                                      "2024-03-03", "--bucket", "acme-data", "--bucket", "acme-logs",
                                      "--output", str(tmp_path / "r.html"), *_flags(server)])
    assert result.exit_code == 0, result.output
    sent = _executions(server)[before:]
    assert len(sent) == len(recorder.answers)
    summary = sent[0]  # the first query: the access-log summary, narrowed to both buckets and the range
    assert "bucket_name IN (?, ?)" in summary["Query"] and "acme" not in summary["Query"]
    assert ["'acme-data'", "'acme-logs'"] == [p for p in summary["ExecutionParameters"] if "acme" in p]
    assert "TIMESTAMP '2024-03-03 00:00:00.000000 UTC'" in summary["ExecutionParameters"]
    assert all("acme-" not in e["Query"] and "2024-03-0" not in e["Query"] for e in sent)
    assert cards(tmp_path.joinpath("r.html").read_text())["Requests"] == f"{expected.summary.requests:,}"
