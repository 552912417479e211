"""The Athena API over real HTTP: boto3 against moto's server on loopback.

What this checks: the requests s3logq sends (statements of `setup` in order, workgroup, database context,
results location, the SQL and the execution parameters of each query), polling through moto's states, and that
rows Athena returns are typed and printed exactly. moto does not run SQL: its results are canned here from
DuckDB's answer on the fixture lake, so these tests say nothing about what Athena's engine would compute.
What moto cannot do (FAILED states, NextToken paging) is scripted with botocore's Stubber.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from s3_server import MotoServer, ensure_work_group, start_server

from s3logq.athena.client import AthenaClient, AthenaOptions
from s3logq.athena.ddl import access_location, cloudtrail_location, raw_log_statements
from s3logq.cli import cli
from s3logq.engines.athena import AthenaEngine, AthenaQueryFailed
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
WORKGROUP = "s3logq-test"


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[MotoServer]:
    server, werkzeug_server = start_server()
    ensure_work_group(server, WORKGROUP, "s3://r/")
    yield server
    werkzeug_server.shutdown()


@pytest.fixture(scope="module", name="lake")
def lake_fixture(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("athena") / "lake")
    ingest(lake, list_sources([str(FIXTURES / "access"), str(FIXTURES / "cloudtrail")]), IngestOptions(workers=1))
    return lake


def _flags(server: MotoServer) -> list[str]:
    return ["--workgroup", WORKGROUP, "--results", "s3://athena-results/q/", "--endpoint-url", server.endpoint_url,
            "--region", "us-east-1"]


def _executions(server: MotoServer) -> list[dict]:
    athena = server.client("athena")
    ids = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def _athena_text(value: object) -> dict:
    """One value as GetQueryResults gives it: text, and no VarCharValue for NULL."""
    if value is None:
        return {}
    if isinstance(value, datetime):
        return {"VarCharValue": f"{value:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"}
    if isinstance(value, bool):
        return {"VarCharValue": str(value).lower()}
    return {"VarCharValue": str(value)}


_ATHENA_TYPES = {pa.int16(): "smallint", pa.int32(): "integer", pa.int64(): "bigint", pa.bool_(): "boolean"}


def can_results(server: MotoServer, table: pa.Table) -> None:
    """Queue `table` as the next query's result in moto, with the header row Athena sends first."""
    columns = [{"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": f.name, "Label": f.name,
                "Type": "timestamp with time zone" if pa.types.is_timestamp(f.type) else
                _ATHENA_TYPES.get(f.type, "varchar"), "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
                "CaseSensitive": True} for f in table.schema]
    rows = [{"Data": [{"VarCharValue": f.name} for f in table.schema]}]
    rows += [{"Data": [_athena_text(v) for v in row.values()]} for row in table.to_pylist()]
    body = json.dumps({"region": "us-east-1", "results": [{"rows": rows, "column_info": columns}]}).encode()
    request = urllib.request.Request(server.endpoint_url + "/moto-api/static/athena/query-results", body,
                                     {"Content-Type": "application/json"})
    assert urllib.request.urlopen(request).status == 201


def test_setup_sends_every_statement_in_order_with_workgroup_and_results(server: MotoServer) -> None:
    before = len(_executions(server))
    result = CliRunner().invoke(cli, ["athena", "setup", "--access", "s3://acme-logs/simple/", "--cloudtrail",
                                      "s3://acme-trail/AWSLogs/111122223333/", "--database", "audit",
                                      *_flags(server)])
    assert result.exit_code == 0, result.output
    expected = raw_log_statements("audit", access_location("s3://acme-logs/simple/"),
                                  cloudtrail_location("s3://acme-trail/AWSLogs/111122223333/"))
    sent = _executions(server)[before:]
    assert [e["Query"] for e in sent] == [s.sql for s in expected]
    assert [e["QueryExecutionContext"]["Database"] for e in sent] == ["default"] + ["audit"] * (len(expected) - 1)
    assert all(e["ResultConfiguration"]["OutputLocation"].startswith("s3://athena-results/q/") for e in sent)
    assert "every query reads the whole prefix" in result.output
    assert f"{len(expected)} statements in audit" in result.output


def test_run_sends_the_sql_and_values_and_prints_athenas_rows_exactly(server: MotoServer, lake: Lake) -> None:
    native = CliRunner().invoke(cli, ["--lake", str(lake.root), "run", "deletions", "--bucket", "acme-data",
                                      "--since", "2024-03-01", "--format", "csv"])
    assert native.exit_code == 0, native.output
    from s3logq.catalog import find_analysis
    from s3logq.engines.duckdb import DuckDBEngine

    analysis = find_analysis("deletions", "access")
    filters = {"bucket": "acme-data", "since": datetime.fromisoformat("2024-03-01T00:00:00+00:00")}
    answer = analysis.run(DuckDBEngine(lake), filters)
    assert answer.num_rows >= 2  # the fixture has deletions in that bucket
    can_results(server, answer)
    before = len(_executions(server))
    result = CliRunner().invoke(
        cli, ["run", "deletions", "--engine", "athena", "--bucket", "acme-data", "--since", "2024-03-01",
              "--format", "csv", *_flags(server)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == native.stdout
    (sent,) = _executions(server)[before:]
    assert "log_day >= ?" in sent["Query"] and "acme-data" not in sent["Query"]
    assert sent["ExecutionParameters"][:5] == ["'2024/02/29'", "'2024-02-29'", "'2024-12-31'",  # raw, lake days
                                              "TIMESTAMP '2024-03-01 00:00:00.000000 UTC'",
                                              "TIMESTAMP '2024-03-01 00:00:00.000000 UTC'"]
    assert sent["ExecutionParameters"].count("'acme-data'") == 2
    assert "athena: succeeded" in result.stderr and "about $0.000050" in result.stderr  # 10 MB billed at least


def test_polling_goes_through_queued_and_running(server: MotoServer) -> None:
    request = urllib.request.Request(
        server.endpoint_url + "/moto-api/state-manager/set-transition",
        json.dumps({"model_name": "athena::execution", "transition": {"progression": "manual", "times": 2}}).encode(),
        {"Content-Type": "application/json"})
    urllib.request.urlopen(request)
    try:
        seen: list[str] = []
        options = AthenaOptions(workgroup=WORKGROUP, results="s3://athena-results/q/",
                                endpoint_url=server.endpoint_url, region="us-east-1", poll_seconds=0.01)
        AthenaClient(options).execute("SELECT 1", on_progress=lambda state, *_: seen.append(state))
        assert seen[0] == "QUEUED" and "RUNNING" in seen and seen[-1] == "SUCCEEDED"
    finally:
        unset = json.dumps({"model_name": "athena::execution", "transition": {"progression": "immediate"}})
        urllib.request.urlopen(urllib.request.Request(server.endpoint_url + "/moto-api/state-manager/set-transition",
                                                      unset.encode(), {"Content-Type": "application/json"}))


def test_an_unknown_workgroup_is_one_line_and_exit_1(server: MotoServer) -> None:
    result = CliRunner().invoke(
        cli, ["sql", "select 1", "--engine", "athena", "--workgroup", "nope", "--endpoint-url", server.endpoint_url,
              "--region", "us-east-1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Athena start_query_execution:") and result.stderr.count("\n") == 1


def _stubbed() -> tuple[AthenaClient, Stubber]:
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return AthenaClient(AthenaOptions(poll_seconds=0), athena=athena), Stubber(athena)


def test_a_failed_query_gives_athenas_reason_in_one_line() -> None:
    client, stub = _stubbed()
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_response("get_query_execution", {"QueryExecution": {"QueryExecutionId": "q1", "Status": {
        "State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8:\n Column 'nope' cannot be resolved"},
        "Statistics": {"DataScannedInBytes": 0}}})
    with stub, pytest.raises(AthenaQueryFailed) as failure:
        AthenaEngine(client=client).query("SELECT nope FROM access_log")
    assert str(failure.value) == ("Athena query failed: COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be "
                                  "resolved (query q1)")


def test_every_page_of_results_is_read_and_typed() -> None:
    client, stub = _stubbed()
    columns = [{"Name": "operation", "Type": "varchar"}, {"Name": "n", "Type": "bigint"},
               {"Name": "at", "Type": "timestamp with time zone"}]

    def page(rows: list[list[str | None]]) -> dict:
        return {"ResultSet": {"Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in rows],
                              "ResultSetMetadata": {"ColumnInfo": columns}}}

    stub.add_response("get_query_results", {**page([["operation", "n", "at"], ["GET", "2", None]]),
                                            "NextToken": "t2"}, {"QueryExecutionId": "q", "MaxResults": 1000})
    stub.add_response("get_query_results", page([["PUT", None, "2024-03-01 10:00:00.123 UTC"]]),
                      {"QueryExecutionId": "q", "MaxResults": 1000, "NextToken": "t2"})
    with stub:
        table = client.rows("q")
    assert table.schema.types == [pa.string(), pa.int64(), pa.timestamp("ms", tz="UTC")]
    assert table.to_pylist() == [
        {"operation": "GET", "n": 2, "at": None},
        {"operation": "PUT", "n": None, "at": datetime.fromisoformat("2024-03-01T10:00:00.123+00:00")}]
