"""`s3logq lake push` and `athena setup --lake`, over real HTTP: boto3 against moto's server on loopback, a real
lake ingested from the fixture logs. What is pushed is compared byte for byte with the lake's part files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlglot
from click.testing import CliRunner
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from s3_server import MotoServer, _QuietHandler, access_log_body, delivery_time, start_server
from werkzeug.serving import make_server

from s3logq.athena.ddl import day_ranges, lake_statements
from s3logq.cli import cli
from s3logq.engines.athena import with_day_filter
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import TABLES, Lake
from s3logq.push import RECORD_KEY, push_lake
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
BUCKET = "acme-lake"


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[MotoServer]:
    server, werkzeug_server = start_server()
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    werkzeug_server.shutdown()


def _lake(root: Path, *sources: Path) -> Lake:
    lake = Lake(root)
    ingest(lake, list_sources([str(s) for s in sources]), IngestOptions(workers=1))
    return lake


def _remote(server: MotoServer, prefix: str) -> dict[str, bytes]:
    """Every object under the prefix's table folders: path relative to the prefix -> its bytes."""
    s3 = server.client()
    found = {}
    for table in TABLES:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}{table}/"):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                found[item["Key"][len(prefix):]] = body
    return found


def _parts(lake: Lake) -> dict[str, bytes]:
    return {part.path: (lake.root / part.path).read_bytes() for table in TABLES for part in lake.parts(table)}


def _push(lake: Lake, server: MotoServer, prefix: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "lake", "push", f"s3://{BUCKET}/{prefix}",
                                      "--endpoint-url", server.endpoint_url, "--region", "us-east-1"])
    return result.exit_code, result.output


def _access_file(folder: Path, day: date, tag: str) -> Path:
    delivered = delivery_time(day, 1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{delivered:%Y-%m-%d-%H-%M-%S}-{tag}"
    path.write_bytes(access_log_body("acme-data", delivered, tag))
    return path


def test_push_is_incremental_idempotent_and_removes_only_its_own(server: MotoServer, tmp_path: Path) -> None:
    damaged = _access_file(tmp_path / "damaged", date(2024, 3, 2), "DAMAGED1")
    damaged.write_bytes(damaged.read_bytes() + b"not an access log line\n")
    lake = _lake(tmp_path / "lake", FIXTURES / "access", FIXTURES / "cloudtrail", damaged)
    parts = _parts(lake)
    assert {path.split("/")[0] for path in parts} == set(TABLES)  # every table has parts, rejects too

    code, output = _push(lake, server, "first/")
    assert code == 0, output
    assert _remote(server, "first/") == parts  # every part, at its key, byte for byte
    assert f"{len(parts)} parts uploaded ({sum(len(b) for b in parts.values()) / 1000:,.2f} KB), 0 removed, " \
           "0 already there" in output
    record = json.loads(server.client().get_object(Bucket=BUCKET, Key="first/" + RECORD_KEY)["Body"].read())
    assert record["parts"] == {path: len(body) for path, body in parts.items()}

    server.requests.clear()
    code, output = _push(lake, server, "first/")
    assert code == 0 and f"is up to date: {len(parts)} parts already there, nothing uploaded or removed" in output
    assert not [r for r in server.requests.seen if r.method in ("PUT", "POST", "DELETE")]  # not even the record

    # someone else's object under a table folder, and a pushed part cut short there
    s3 = server.client()
    s3.put_object(Bucket=BUCKET, Key="first/access_log/day=2024-03-01/theirs.parquet", Body=b"not ours")
    cut = next(path for path in parts if path.startswith("cloudtrail/"))
    s3.put_object(Bucket=BUCKET, Key="first/" + cut, Body=parts[cut][:100])
    new_file = _access_file(tmp_path / "more", date(2024, 3, 5), "NEWFILE1")
    ingest(lake, list_sources([str(new_file)]), IngestOptions(workers=1))
    added = set(_parts(lake)) - set(parts)
    assert len(added) == 1
    code, output = _push(lake, server, "first/")
    assert code == 0, output
    assert "2 parts uploaded" in output and f"0 removed, {len(parts) - 1} already there" in output
    remote = _remote(server, "first/")
    assert remote.pop("access_log/day=2024-03-01/theirs.parquet") == b"not ours"
    assert remote == _parts(lake)

    # the lake drops a part: repair sets a damaged one aside and writes its rows as new parts
    from s3logq.repair import reopen_source, repair_lake

    dropped = next(path for path in added)
    (lake.root / dropped).write_bytes(b"PAR1 damaged")
    repair = repair_lake(lake, reopen_source)
    assert repair.parts_set_aside == [dropped] and repair.parts_restored
    code, output = _push(lake, server, "first/")
    assert code == 0, output
    assert f"{len(repair.parts_restored)} parts uploaded" in output and ", 1 removed," in output
    remote = _remote(server, "first/")
    assert dropped not in remote
    assert remote.pop("access_log/day=2024-03-01/theirs.parquet") == b"not ours"
    assert remote == _parts(lake)


def test_a_prefix_another_lake_owns_is_refused_and_nothing_written(server: MotoServer, tmp_path: Path) -> None:
    ours = _lake(tmp_path / "ours", FIXTURES / "access")
    theirs = _lake(tmp_path / "theirs", FIXTURES / "cloudtrail")
    assert _push(theirs, server, "shared/")[0] == 0
    before = _remote(server, "shared/")
    server.requests.clear()
    code, output = _push(ours, server, "shared/")
    assert code == 1
    assert output.startswith(f"error: s3://{BUCKET}/shared/ holds the parts of another lake (")
    assert output.count("\n") == 1 and "nothing was written" in output
    assert not [r for r in server.requests.seen if r.method in ("PUT", "POST", "DELETE")]
    assert _remote(server, "shared/") == before


def test_a_record_naming_keys_outside_the_tables_is_not_trusted(server: MotoServer, tmp_path: Path) -> None:
    lake = _lake(tmp_path / "lake", FIXTURES / "access")
    lake_id = lake.query("SELECT value FROM meta WHERE key = 'lake_id'")[0][0]
    s3 = server.client()
    s3.put_object(Bucket=BUCKET, Key="odd/precious.txt", Body=b"keep me")
    s3.put_object(Bucket=BUCKET, Key="odd/" + RECORD_KEY,
                  Body=json.dumps({"lake_id": lake_id, "parts": {"../odd/precious.txt": 7}}).encode())
    code, output = _push(lake, server, "odd/")
    assert code == 1 and "outside the table folders; nothing was written" in output
    assert s3.get_object(Bucket=BUCKET, Key="odd/precious.txt")["Body"].read() == b"keep me"


def test_a_multipart_upload_is_whole_and_one_a_killed_push_left_is_aborted(server: MotoServer, tmp_path: Path,
                                                                            monkeypatch) -> None:
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 256)  # S3's is 5 MB; the fixture parts are KBs
    lake = _lake(tmp_path / "lake", FIXTURES / "access", FIXTURES / "cloudtrail")
    parts = _parts(lake)
    big = max(parts, key=lambda path: len(parts[path]))
    # what a push killed inside a multipart upload leaves: its record claiming the key, an incomplete upload
    s3 = server.client()
    lake_id = lake.query("SELECT value FROM meta WHERE key = 'lake_id'")[0][0]
    s3.put_object(Bucket=BUCKET, Key="multi/" + RECORD_KEY,
                  Body=json.dumps({"lake_id": lake_id, "parts": {big: len(parts[big])}}).encode())
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="multi/" + big)
    s3.upload_part(Bucket=BUCKET, Key="multi/" + big, UploadId=upload["UploadId"], PartNumber=1,
                   Body=parts[big][:512])
    assert _remote(server, "multi/") == {}  # an incomplete upload is no object
    server.requests.clear()
    report = push_lake(lake, f"s3://{BUCKET}/multi/", endpoint_url=server.endpoint_url, region="us-east-1",
                       multipart_threshold=1024)
    assert report.aborted_uploads == 1 and report.uploaded == len(parts)
    assert not s3.list_multipart_uploads(Bucket=BUCKET, Prefix="multi/").get("Uploads")
    assert any("partNumber" in r.query for r in server.requests.seen if r.key == "multi/" + big)  # in chunks
    assert _remote(server, "multi/") == parts


class _SlowPuts:
    """Each PUT of an object under a table folder waits a little: a push takes long enough to be killed."""

    def __init__(self, app: DomainDispatcherApplication) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - WSGI
        if environ["REQUEST_METHOD"] == "PUT" and "/access_log/" in environ.get("PATH_INFO", ""):
            time.sleep(0.15)
        return self.app(environ, start_response)


def test_kill_9_mid_push_leaves_only_whole_parts_and_the_next_push_completes(server: MotoServer,
                                                                            tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    for number in range(40):
        _access_file(folder, date(2024, 1, 1) + timedelta(days=number), f"DAY{number:04d}")
    lake = _lake(tmp_path / "lake", folder)
    parts = _parts(lake)
    assert len(parts) >= 40
    slow = make_server("127.0.0.1", 0, _SlowPuts(DomainDispatcherApplication(create_backend_app)), threaded=True,
                       request_handler=_QuietHandler)
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{slow.server_port}"
    try:
        command = [sys.executable, "-c", "from s3logq.cli import main; main()", "--lake", str(lake.root), "lake", "push",
                   f"s3://{BUCKET}/killed/", "--endpoint-url", endpoint, "--region", "us-east-1"]
        process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        s3 = server.client()  # the same moto backend, without the delay
        deadline = time.monotonic() + 60
        while not s3.list_objects_v2(Bucket=BUCKET, Prefix="killed/access_log/").get("KeyCount"):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.5)  # requests the server already read finish
        remote = _remote(server, "killed/")
        assert 0 < len(remote) < len(parts)
        assert all(parts[path] == body for path, body in remote.items())  # only whole parts, at their own keys
        record = json.loads(s3.get_object(Bucket=BUCKET, Key="killed/" + RECORD_KEY)["Body"].read())
        assert set(remote) <= set(record["parts"])  # claimed before they went up: a later push may remove them
        assert _push(lake, server, "killed/")[0] == 0
        assert _remote(server, "killed/") == parts
    finally:
        slow.shutdown()


# --- athena setup --lake --------------------------------------------------------------------------------------

def _executions(server: MotoServer, workgroup: str) -> list[dict]:
    athena = server.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_setup_lake_sends_parquet_tables_projected_on_the_lakes_day_folders(server: MotoServer) -> None:
    import trino_sql_validator

    workgroup = "lake-setup"
    server.client("athena").create_work_group(Name=workgroup)
    result = CliRunner().invoke(cli, ["athena", "setup", "--lake", f"s3://{BUCKET}/first/", "--database",
                                      "s3logq_lake", "--workgroup", workgroup, "--results", "s3://results/q/",
                                      "--endpoint-url", server.endpoint_url, "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    sent = [e["Query"] for e in _executions(server, workgroup)]
    assert sent == [s.sql for s in lake_statements("s3logq_lake", f"s3://{BUCKET}/first/")]
    assert len(sent) == 7  # the database, then a drop and a create for each of the three tables
    for sql in sent:
        # the validator's Hive grammar has no struct<>/array<> column types: the rest of the statement must pass
        verdict = trino_sql_validator.validate(re.sub(r"`(\w+)` (?:struct|map|array)<.*", r"`\1` string,", sql),
                                               dialect="hive")
        assert verdict.valid and not verdict.unknown_functions, (sql, verdict.error)
        assert sqlglot.parse_one(sqlglot.parse_one(sql, read="athena").sql("athena"), read="athena") == \
            sqlglot.parse_one(sql, read="athena")
    access = next(sql for sql in sent if sql.startswith("CREATE EXTERNAL TABLE s3logq_lake.access_log"))
    assert "`request_time` timestamp" in access and "`httpstatus` smallint" in access
    assert "PARTITIONED BY (`log_day` string)\nSTORED AS PARQUET" in access
    assert f"'storage.location.template'='s3://{BUCKET}/first/access_log/day=${{log_day}}/'" in access
    assert "'projection.log_day.format'='yyyy-MM-dd'" in access
    rejects = next(sql for sql in sent if sql.startswith("CREATE EXTERNAL TABLE s3logq_lake.rejects"))
    assert "PARTITIONED" not in rejects and f"LOCATION 's3://{BUCKET}/first/rejects/'" in rejects


def _folders(first: date, count: int) -> list[str]:
    """Day folder values in both formats: the raw logs' 'yyyy/MM/dd' and the pushed lake's 'yyyy-MM-dd'."""
    days = [first + timedelta(days=n) for n in range(count)]
    return [f"{day:%Y/%m/%d}" for day in days] + [f"{day:%Y-%m-%d}" for day in days]


@pytest.mark.parametrize(("since", "until", "first", "last"), [
    ("2024-03-01", "2024-03-08", date(2024, 2, 29), date(2024, 3, 9)),
    ("2024-12-30", "2025-01-02", date(2024, 12, 29), date(2025, 1, 3)),  # a new year: one range per format is not
    ("2023-06-01", "2025-02-01", date(2023, 5, 31), date(2025, 2, 2)),
    ("2024-12-30", None, date(2024, 12, 29), None),
    (None, "2024-01-02", None, date(2024, 1, 3)),
])
def test_the_day_predicate_selects_exactly_the_day_folders_of_both_layouts(since, until, first, last) -> None:
    """The engine's filter, run in DuckDB over every folder value of 2022-2026 in both formats, with its values
    bound: exactly the days of the range (one day of delivery margin each side), and every SimplePrefix row."""
    moment = {name: datetime.fromisoformat(f"{value}T00:00:00+00:00") if value else None
              for name, value in (("since", since), ("until", until))}
    tree, values = with_day_filter("SELECT log_day FROM access_log", moment["since"], moment["until"])
    sql = tree if isinstance(tree, str) else tree.sql(dialect="duckdb")
    folders = _folders(date(2022, 1, 1), 365 * 5)
    connection = duckdb.connect()
    connection.execute("CREATE TABLE access_log AS SELECT unnest(?::VARCHAR[]) AS log_day", [[*folders, None]])
    selected = [row[0] for row in connection.execute(sql, values).fetchall()]
    expected = [f for f in folders if (first is None or f.replace("/", "-") >= f"{first}")
                and (last is None or f.replace("/", "-") <= f"{last}")]
    assert sorted(selected, key=str) == sorted([*expected, None], key=str)


def test_day_ranges_two_per_format_within_a_year() -> None:
    assert day_ranges(date(2024, 2, 29), date(2024, 3, 9)) == [("2024/02/29", "2024/03/09"),
                                                              ("2024-02-29", "2024-03-09")]


def test_an_endpoint_that_never_answers_gets_two_attempts_not_ten(tmp_path: Path, monkeypatch) -> None:
    import socket

    import s3logq.sources.s3 as s3_source
    from s3logq.push import PushError

    monkeypatch.setattr(s3_source, "FIRST_LISTING_READ_TIMEOUT_SECONDS", 0.3)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    lake = _lake(tmp_path / "lake", FIXTURES / "access")
    connections = []
    with socket.socket() as silent:  # accepts each connection, counts it, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        silent.settimeout(0.2)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    connections.append(silent.accept()[0])
                except TimeoutError:
                    pass

        acceptor = threading.Thread(target=accept)
        acceptor.start()
        try:
            with pytest.raises(PushError, match=f"cannot read s3://{BUCKET}/p/{RECORD_KEY}"):
                push_lake(lake, f"s3://{BUCKET}/p/", endpoint_url=endpoint, region="us-east-1")
        finally:
            stop.set()
            acceptor.join()
            for connection in connections:
                connection.close()
    # the first try and FIRST_LISTING_ATTEMPTS retries (botocore's max_attempts counts retries); the push's
    # other client would make 11, each waiting 60 s for an answer
    assert len(connections) == s3_source.FIRST_LISTING_ATTEMPTS + 1


@pytest.mark.parametrize("target", ["acme-lake/prefix/", "s3://", "s3:///prefix/"])
def test_a_target_that_is_not_s3_bucket_prefix_is_a_usage_error(tmp_path: Path, target: str) -> None:
    lake = _lake(tmp_path / "lake", FIXTURES / "access")
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "lake", "push", target])
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert f"{target!r} is not s3://bucket/prefix/" in result.stderr
