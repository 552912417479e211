"""Running on Athena: Ctrl-C, big results read from the result file, throttling, the config file, and the scan
estimate of --max-scan-gb / --dry-run.

Over real HTTP to moto in server mode on loopback (Athena's API and S3). moto does not run SQL, page results,
or throttle: those calls are scripted with botocore's Stubber, while the S3 side (the result CSV, the
listings of the estimate) stays real moto.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from s3_server import MotoServer, ensure_work_group, start_server, store

from s3logq.athena.client import AthenaClient, AthenaError, AthenaOptions
from s3logq.athena.estimate import day_range, estimate_scan, tables_read
from s3logq.cli import cli
from s3logq.config import ConfigError, athena_settings, dumps, record_athena
from s3logq.engines.athena import with_day_filter

WORKGROUP = "s3logq-running"
RESULTS = "s3://athena-results/q/"
S3LOGQ = Path(sys.executable).with_name("s3logq")


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[MotoServer]:
    server, werkzeug_server = start_server()
    ensure_work_group(server, WORKGROUP)
    server.client().create_bucket(Bucket="athena-results")
    yield server
    werkzeug_server.shutdown()


def _flags(server: MotoServer) -> list[str]:
    return ["--workgroup", WORKGROUP, "--results", RESULTS, "--endpoint-url", server.endpoint_url,
            "--region", "us-east-1"]


def _execution_ids(server: MotoServer) -> list[str]:
    return server.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]


def _transition(server: MotoServer, transition: dict) -> None:
    body = json.dumps({"model_name": "athena::execution", "transition": transition}).encode()
    urllib.request.urlopen(urllib.request.Request(server.endpoint_url + "/moto-api/state-manager/set-transition",
                                                  body, {"Content-Type": "application/json"}))


# --- Ctrl-C ----------------------------------------------------------------------------------------------------

def test_ctrl_c_stops_the_query_in_athena_and_exits_130_with_one_line(server: MotoServer, tmp_path: Path) -> None:
    _transition(server, {"progression": "manual", "times": 100_000})  # the query stays QUEUED
    try:
        before = set(_execution_ids(server))
        env = {**os.environ, "S3LOGQ_CONFIG": str(tmp_path / "config.toml")}
        process = subprocess.Popen([str(S3LOGQ), "sql", "select 1", "--engine", "athena", *_flags(server)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (started := set(_execution_ids(server)) - before):
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.1)
        time.sleep(1.5)  # past StartQueryExecution's answer, into the polling
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        _transition(server, {"progression": "immediate"})
    (query_id,) = started
    assert process.returncode == 130, stderr
    assert stderr == f"cancelled: query {query_id}\n"
    assert stdout == ""
    state = server.client("athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
    assert state["State"] == "CANCELLED"


# --- big results: the result file --------------------------------------------------------------------------

_COLUMNS = [{"Name": "name", "Type": "varchar"}, {"Name": "n", "Type": "bigint"},
            {"Name": "at", "Type": "timestamp with time zone"}, {"Name": "ok", "Type": "boolean"},
            {"Name": "price", "Type": "decimal", "Precision": 10, "Scale": 2}, {"Name": "day", "Type": "date"},
            {"Name": "ratio", "Type": "double"}]
# Stands in for Athena's writer: a header, every value quoted, quotes doubled, NULL as an empty unquoted field.
_RESULT_CSV = (
    '"name","n","at","ok","price","day","ratio"\n'
    '"a, b","1","2024-03-01 10:00:00.123 UTC","true","12.50","2024-03-01","0.5"\n'
    '"say ""hi""",,,"false",,,\n'
    '"line one\nline two","-3","2024-02-29 23:59:59.999 UTC",,"0.01","2024-02-29","1e-3"\n'
    '"",,,,,,\n'
)
_EXPECTED_ROWS = [
    {"name": "a, b", "n": 1, "at": datetime(2024, 3, 1, 10, 0, 0, 123000, tzinfo=UTC), "ok": True,
     "price": Decimal("12.50"), "day": date(2024, 3, 1), "ratio": 0.5},
    {"name": 'say "hi"', "n": None, "at": None, "ok": False, "price": None, "day": None, "ratio": None},
    {"name": "line one\nline two", "n": -3, "at": datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC),
     "ok": None, "price": Decimal("0.01"), "day": date(2024, 2, 29), "ratio": 0.001},
    {"name": "", "n": None, "at": None, "ok": None, "price": None, "day": None, "ratio": None},
]


def _paged_client(server: MotoServer) -> tuple[AthenaClient, Stubber]:
    """Athena's API scripted (moto has no NextToken), S3 real moto: the first page says there are more."""
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    options = AthenaOptions(endpoint_url=server.endpoint_url, region="us-east-1", poll_seconds=0)
    stub = Stubber(athena)
    first_page = {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": c["Name"]} for c in _COLUMNS]},
                                         {"Data": [{"VarCharValue": "only the first page"}] + [{}] * 6}],
                                "ResultSetMetadata": {"ColumnInfo": _COLUMNS}}, "NextToken": "page-2"}
    stub.add_response("get_query_results", first_page, {"QueryExecutionId": "q-big", "MaxResults": 1000})
    return AthenaClient(options, athena=athena), stub


def test_a_result_with_more_pages_is_read_from_athenas_csv_and_typed(server: MotoServer) -> None:
    server.client().put_object(Bucket="athena-results", Key="q/q-big.csv", Body=_RESULT_CSV.encode())
    client, stub = _paged_client(server)
    with stub:  # one page only: a second GetQueryResults would be a Stubber error
        table = client.rows("q-big", f"{RESULTS}q-big.csv")
    assert table.schema.types == [pa.string(), pa.int64(), pa.timestamp("ms", tz="UTC"), pa.bool_(),
                                  pa.decimal128(10, 2), pa.date32(), pa.float64()]
    assert table.to_pylist() == _EXPECTED_ROWS
    assert client.notes == []


def test_a_result_file_that_cannot_be_read_falls_back_to_pages_and_says_so(server: MotoServer) -> None:
    client, stub = _paged_client(server)
    stub.add_response("get_query_results", {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": "second"}] + [{}] * 6}],
                                                          "ResultSetMetadata": {"ColumnInfo": _COLUMNS}}},
                      {"QueryExecutionId": "q-big", "MaxResults": 1000, "NextToken": "page-2"})
    with stub:
        table = client.rows("q-big", f"{RESULTS}missing.csv")
    assert table.column("name").to_pylist() == ["only the first page", "second"]
    assert client.notes == [f"athena: cannot read the result file {RESULTS}missing.csv: NoSuchKey; "
                            "reading the rows 1,000 a page instead"]


# --- throttling ------------------------------------------------------------------------------------------------

def _stubbed(retries: int = 5) -> tuple[AthenaClient, Stubber]:
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    options = AthenaOptions(poll_seconds=0, throttle_retries=retries, throttle_seconds=0.001)
    return AthenaClient(options, athena=athena), Stubber(athena)


_SUCCEEDED = {"QueryExecution": {"QueryExecutionId": "q1", "Status": {"State": "SUCCEEDED"},
                                 "Statistics": {"DataScannedInBytes": 123}}}


def test_throttled_start_and_get_calls_are_retried_until_they_pass() -> None:
    client, stub = _stubbed()
    stub.add_client_error("start_query_execution", "TooManyRequestsException", "too many queries")
    stub.add_client_error("start_query_execution", "ThrottlingException", "Rate exceeded")
    stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
    stub.add_client_error("get_query_execution", "ThrottlingException", "Rate exceeded")
    stub.add_response("get_query_execution", _SUCCEEDED)
    with stub:
        stats = client.execute("SELECT 1")
        stub.assert_no_pending_responses()
    assert (stats.query_id, stats.state, stats.scanned_bytes) == ("q1", "SUCCEEDED", 123)


def test_throttling_that_does_not_stop_is_one_line_and_other_errors_are_not_retried() -> None:
    client, stub = _stubbed(retries=2)
    for _ in range(3):
        stub.add_client_error("start_query_execution", "TooManyRequestsException", "too many\nqueries")
    with stub, pytest.raises(AthenaError) as failure:
        client.execute("SELECT 1")
    message = str(failure.value)
    assert message.startswith("Athena start_query_execution: still throttled (TooManyRequestsException) after 3 "
                              "attempts over ") and message.endswith(" s: too many queries")
    client, stub = _stubbed()
    stub.add_client_error("start_query_execution", "InvalidRequestException", "bad workgroup")
    stub.add_response("start_query_execution", {"QueryExecutionId": "never"})
    with stub, pytest.raises(AthenaError, match="^Athena start_query_execution: InvalidRequestException: bad "):
        client.execute("SELECT 1")


# --- the config file -----------------------------------------------------------------------------------------

def test_flags_beat_the_environment_which_beats_the_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    record_athena({"workgroup": "wg_file", "database": "db_file", "results": "s3://file/", "region": "eu-west-1"})
    monkeypatch.setenv("S3LOGQ_ATHENA_DATABASE", "db_env")
    monkeypatch.delenv("S3LOGQ_ATHENA_WORKGROUP", raising=False)
    monkeypatch.delenv("S3LOGQ_ATHENA_RESULTS", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    options = AthenaOptions.from_env(workgroup="wg_flag")
    assert (options.workgroup, options.database, options.results, options.region) == (
        "wg_flag", "db_env", "s3://file/", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # boto3 reads it; the file's region must not override it
    assert AthenaOptions.from_env().region is None


def test_the_toml_writer_round_trips_awkward_strings(tmp_path: Path) -> None:
    document = {"top": 1, "athena": {"results": 's3://b/"q"\\x/', "template": "s3://b/${account}/${log_day}",
                                     "note": "line\nbreak\ttab", "access_log": {"projection": {
                                         "region": ["us-east-1", "eu-west-1"], "weird key": []}}}}
    assert tomllib.loads(dumps(document)) == document


def test_a_config_file_that_does_not_parse_is_one_line_naming_it_and_exit_1(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[athena]\nworkgroup = 'unterminated\n")
    monkeypatch.setenv("S3LOGQ_CONFIG", str(broken))
    result = CliRunner().invoke(cli, ["sql", "select 1", "--engine", "athena"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: config file {broken} does not parse: ")
    assert result.stderr.count("\n") == 1
    with pytest.raises(ConfigError):
        athena_settings()


def test_setup_records_what_it_made_and_run_then_needs_no_flags(server: MotoServer) -> None:
    setup = CliRunner().invoke(cli, ["athena", "setup", "--database", "recorded", "--access",
                                     "s3://acme-logs/access/", "--account", "111122223333", "--source-bucket", "data",
                                     "--source-region", "eu-west-1", "--cloudtrail",
                                     "s3://acme-trail/AWSLogs/111122223333/CloudTrail/us-east-1/",
                                     "--first-day", "2024-01-01", *_flags(server)])
    assert setup.exit_code == 0, setup.output
    path = Path(os.environ["S3LOGQ_CONFIG"])
    assert f"recorded in {path}" in setup.stdout
    saved = tomllib.loads(path.read_text())["athena"]
    assert {k: saved[k] for k in ("database", "workgroup", "results", "region", "endpoint_url")} == {
        "database": "recorded", "workgroup": WORKGROUP, "results": RESULTS, "region": "us-east-1",
        "endpoint_url": server.endpoint_url}
    assert saved["access_log"] == {
        "location": "s3://acme-logs/access/", "first_day": "2024-01-01",
        "template": "s3://acme-logs/access/${account}/${region}/${source_bucket}/${log_day}",
        "projection": {"account": ["111122223333"], "region": ["eu-west-1"], "source_bucket": ["data"]}}
    assert saved["cloudtrail"]["template"] == "s3://acme-trail/AWSLogs/111122223333/CloudTrail/us-east-1/${log_day}"
    before = set(_execution_ids(server))
    result = CliRunner().invoke(cli, ["sql", "select 42", "--engine", "athena"])  # no flag: all from the file
    assert result.exit_code == 0, result.output
    (query_id,) = set(_execution_ids(server)) - before
    sent = server.client("athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert sent["QueryExecutionContext"]["Database"] == "recorded"
    assert sent["ResultConfiguration"]["OutputLocation"] == f"{RESULTS}{query_id}.csv"


# --- what a query may scan -----------------------------------------------------------------------------------

_ACCESS_ROOT = "access/111122223333/"
# (key under s3://scan-logs/, size): days around since=2024-03-01, until=2024-03-08, which keep 02-29 .. 03-09
_PARTITIONED = {
    f"{_ACCESS_ROOT}us-east-1/data/2024/02/28/early": 100,        # two days before since: out
    f"{_ACCESS_ROOT}us-east-1/data/2024/02/29/margin": 200,       # the delivery margin before since: in
    f"{_ACCESS_ROOT}us-east-1/data/2024/03/01/a": 300,
    f"{_ACCESS_ROOT}us-east-1/data/2024/03/01/b": 4,
    f"{_ACCESS_ROOT}us-east-1/data/2024/03/07/last": 7,
    f"{_ACCESS_ROOT}us-east-1/data/2024/03/09/margin": 90,        # until's day + 1 (delivered late): in
    f"{_ACCESS_ROOT}us-east-1/data/2024/03/10/late": 1000,        # out
    f"{_ACCESS_ROOT}eu-west-1/data/2024/03/05/eu": 50,            # a projected region: in
    f"{_ACCESS_ROOT}us-east-1/other/2024/03/05/unprojected": 5000,  # a source bucket not projected: out
    f"{_ACCESS_ROOT}ap-south-1/data/2024/03/05/region": 6000,      # a region not projected: out
}
_IN_RANGE = 200 + 300 + 4 + 7 + 90 + 50
_SIMPLE = {"simple/2024-03-01-10-00-00-AAAA": 11, "simple/2023-01-01-00-00-00-BBBB": 22, "elsewhere/x": 999}
_SINCE, _UNTIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)


def _settings() -> dict:
    return {"access_log": {
        "location": "s3://scan-logs/access/", "first_day": "2024-01-01",
        "template": "s3://scan-logs/access/${account}/${region}/${source_bucket}/${log_day}",
        "projection": {"account": ["111122223333"], "region": ["us-east-1", "eu-west-1"], "source_bucket": ["data"]}},
        "cloudtrail": {"location": "s3://scan-logs/simple/"}}  # a flat prefix stands in for an unpruned table


@pytest.fixture(scope="module", name="scan_logs")
def scan_logs_fixture(server: MotoServer) -> MotoServer:
    store(server, "scan-logs", {key: b"x" * size for key, size in {**_PARTITIONED, **_SIMPLE}.items()})
    store(server, "scan-lake", {"lake/access_log/day=2024-02-28/p.parquet": b"x" * 1,
                                "lake/access_log/day=2024-02-29/p.parquet": b"x" * 20,
                                "lake/access_log/day=2024-03-09/p.parquet": b"x" * 300,
                                "lake/access_log/day=2024-03-10/p.parquet": b"x" * 4000,
                                "lake/cloudtrail/day=2024-03-01/p.parquet": b"x" * 50000,
                                "lake/rejects/p.parquet": b"x" * 600000})
    return server


def test_the_estimate_lists_only_the_projected_day_folders_in_range(scan_logs: MotoServer) -> None:
    estimate = estimate_scan("SELECT * FROM access_log", _SINCE, _UNTIL, _settings(), scan_logs.client())
    assert (estimate.scanned_bytes, estimate.objects) == (_IN_RANGE, 6)
    def scanned(since: str, until: str) -> int:
        return estimate_scan("SELECT * FROM access_log", datetime.fromisoformat(since),
                             datetime.fromisoformat(until), _settings(), scan_logs.client()).scanned_bytes

    # the day edges: since's day - 1 and until's day + 1 are the first and last folders read
    assert scanned("2024-03-01T23:59:59+00:00", "2024-03-08T00:00:01+00:00") == _IN_RANGE
    assert scanned("2024-03-02T00:00:00+00:00", "2024-03-08T00:00:00+00:00") == _IN_RANGE - 200
    assert scanned("2024-03-01T00:00:00+00:00", "2024-03-07T23:59:59+00:00") == _IN_RANGE - 90
    assert scanned("2024-03-01T00:00:00+00:00", "2024-03-09T00:00:00+00:00") == _IN_RANGE + 1000


def test_the_estimate_keeps_the_same_days_as_the_day_filter() -> None:
    for since, until in [(_SINCE, _UNTIL), (datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC),
                                             datetime(2024, 12, 31, 0, 0, 1, tzinfo=UTC))]:
        _, values = with_day_filter("SELECT * FROM access_log", since, until)
        days = day_range(since, until)
        bounds = {str(v) for v in values.values()}  # raw logs' 'yyyy/MM/dd' (and a lake's 'yyyy-MM-dd')
        assert {f"{days[0]:%Y/%m/%d}", f"{days[-1]:%Y/%m/%d}"} <= bounds
        assert f"{days[0] - timedelta(days=1):%Y/%m/%d}" not in bounds
        assert f"{days[-1] + timedelta(days=1):%Y/%m/%d}" not in bounds


def test_a_flat_prefix_is_estimated_whole_and_a_lake_by_its_day_folders(scan_logs: MotoServer) -> None:
    flat = estimate_scan("SELECT * FROM cloudtrail", _SINCE, _UNTIL, _settings(), scan_logs.client())
    assert (flat.scanned_bytes, flat.objects) == (11 + 22, 2)  # the 2023 file too: Athena reads it all
    lake = {"lake": {"location": "s3://scan-lake/lake/"}}
    both = estimate_scan("SELECT * FROM access_log a JOIN cloudtrail c ON a.requester = c.user_arn",
                         _SINCE, _UNTIL, lake, scan_logs.client())
    assert both.scanned_bytes == 20 + 300 + 50000
    assert estimate_scan("SELECT * FROM access_log", None, None, lake, scan_logs.client()).scanned_bytes == 4321
    assert estimate_scan("SELECT * FROM rejects", _SINCE, _UNTIL, lake, scan_logs.client()).scanned_bytes == 600000


def test_the_tables_a_query_reads() -> None:
    assert tables_read("SELECT 1") == []
    assert tables_read("WITH access_log AS (SELECT 1 AS x) SELECT * FROM access_log") == []
    assert tables_read("SELECT * FROM (SELECT * FROM cloudtrail) t, access_log") == ["access_log", "cloudtrail"]


def test_listings_are_paged(server: MotoServer) -> None:
    store(server, "scan-many", {f"simple/{n:05d}": b"xy" for n in range(1001)})
    settings = {"access_log": {"location": "s3://scan-many/simple/"}}
    estimate = estimate_scan("SELECT * FROM access_log", None, None, settings, server.client())
    assert (estimate.scanned_bytes, estimate.objects) == (2002, 1001)


def test_an_unrecorded_table_is_one_line() -> None:
    with pytest.raises(AthenaError, match="^no record of where cloudtrail lies in the config file: run "):
        estimate_scan("SELECT * FROM cloudtrail", None, None, {}, None)


def test_over_max_scan_gb_nothing_is_submitted_and_under_it_the_query_runs(scan_logs: MotoServer) -> None:
    record_athena(_settings())
    args = ["run", "access-denied", "--logs", "access", "--engine", "athena", "--since", "2024-03-01", "--until", "2024-03-08",
            *_flags(scan_logs), "--format", "csv"]
    before = len(_execution_ids(scan_logs))
    refused = CliRunner().invoke(cli, [*args, "--max-scan-gb", f"{(_IN_RANGE - 1) / 1e9}"])
    assert refused.exit_code == 1
    assert refused.stderr == ("error: not submitted: the query may scan 651 B (6 objects), over --max-scan-gb "
                              "6.5e-07\n")
    assert len(_execution_ids(scan_logs)) == before
    allowed = CliRunner().invoke(cli, [*args, "--max-scan-gb", f"{_IN_RANGE / 1e9}"])
    assert allowed.exit_code == 0, allowed.output
    assert len(_execution_ids(scan_logs)) == before + 1


def test_dry_run_prints_the_estimate_its_price_and_the_sql_and_calls_no_athena(scan_logs: MotoServer) -> None:
    record_athena(_settings())
    scan_logs.requests.clear()
    result = CliRunner().invoke(cli, ["run", "access-denied", "--logs", "access", "--engine", "athena", "--since", "2024-03-01",
                                      "--until", "2024-03-08", "--bucket", "data", "--dry-run", *_flags(scan_logs)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "-- estimate: at most 651 B in 6 objects, about $0.000050 at $5 per TB"
    # 10 days (02-29 .. 03-09) in each of the two projected regions that hold the source bucket
    assert lines[2].startswith("--   access_log: 651 B in 6 objects, 20 day folder(s) under s3://scan-logs/access/")
    assert "log_day >= ?" in result.stdout and "'data'" not in "\n".join(lines[3:-1])
    assert lines[-1].startswith("-- execution parameters (one per ?, in order): '2024/02/29', '2024/03/09', ")
    parameters = lines[-1].partition("in order): ")[2].split(", ")
    assert parameters.count("'data'") == 2 and len(parameters) == "\n".join(lines[3:-1]).count("?")
    assert all(r.method == "GET" for r in scan_logs.requests.seen)  # listings only: no Athena call at all
    sql = CliRunner().invoke(cli, ["sql", "select count(*) from cloudtrail", "--engine", "athena", "--dry-run",
                                   *_flags(scan_logs)])
    assert sql.exit_code == 0, sql.output
    assert sql.stdout.startswith("-- estimate: at most 33 B in 2 objects")


def test_max_scan_gb_and_dry_run_are_for_athena_only() -> None:
    result = CliRunner().invoke(cli, ["sql", "select 1", "--dry-run"])
    assert result.exit_code == 2 and "--engine athena only" in result.stderr
