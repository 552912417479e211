"""Ingest behaviour on real files: incremental, range-pruned, atomic under kill -9, and tolerant of bad input."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import orjson
import pytest

from s3logq.demo import write_access_logs
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"


def access_line(bucket: str, when: str, key: str, status: int = 200) -> str:
    return (f'{OWNER} {bucket} [{when} +0000] 192.0.2.3 arn:aws:iam::1:user/a REQ REST.GET.OBJECT {key} '
            f'"GET /{bucket}/{key} HTTP/1.1" {status} - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -')


def write(path: Path, text: str, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    write(root / "access" / "2024-03-01-10-00-00-AAAA", "\n".join([
        access_line("acme", "01/Mar/2024:09:59:59", "a.txt"),
        access_line("acme", "01/Mar/2024:10:00:00", "b.txt"),
        access_line("other", "01/Mar/2024:10:00:01", "c.txt"),
        "garbage line",
    ]) + "\n")
    write(root / "access" / "2024-03-02-00-05-00-BBBB.gz", "\n".join([
        access_line("acme", "01/Mar/2024:23:59:59", "d.txt"),
        access_line("acme", "02/Mar/2024:00:00:00", "e.txt", 403),
    ]) + "\n", compress=True)
    write(root / "access" / "2024-02-20-00-00-00-OLD0", access_line("acme", "20/Feb/2024:00:00:00", "old.txt") + "\n")
    trail = root / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03" / "01"
    event = {"eventTime": "2024-03-01T12:00:00Z", "eventName": "CreateBucket", "eventSource": "s3.amazonaws.com",
             "eventID": "e-1", "requestParameters": {"bucketName": "acme"}}
    write(trail / "111122223333_CloudTrail_us-east-1_20240301T1205Z_x1.json.gz",
          orjson.dumps({"Records": [event]}).decode(), compress=True)
    write(trail / "111122223333_CloudTrail_us-east-1_20240301T1210Z_x2.json.gz",
          orjson.dumps({"Records": [event, dict(event, eventID="e-2")]}).decode(), compress=True)
    digest = root / "AWSLogs" / "111122223333" / "CloudTrail-Digest" / "us-east-1" / "2024" / "03" / "01"
    write(digest / "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T120000Z.json.gz",
          '{"digestStartTime": "2024-03-01T11:00:00Z", "logFiles": []}', compress=True)
    return root


def count(lake: Lake, sql: str) -> list[tuple]:
    return [tuple(r.values()) for r in DuckDBEngine(lake).query(sql).to_pylist()]


def test_ingest_stores_every_row_once_and_a_rerun_reads_nothing(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = ingest(lake, list_sources([str(logs)]))
    assert first.ok and first.files_read == 6 and first.rejected_lines == 1
    assert first.rows == {"access_log": 6, "cloudtrail": 2} and first.duplicates_dropped == 1
    assert first.files_skipped == {"digest file": 1}
    again = ingest(lake, list_sources([str(logs)]))
    assert (again.files_read, again.files_already_ingested, again.rows) == (0, 6, {})
    assert count(lake, "select count(*) from access_log") == [(6,)]
    assert count(lake, "select eventid from cloudtrail order by 1") == [("e-1",), ("e-2",)]
    assert count(lake, "select log_line, raw_line from rejects") == [(4, "garbage line")]


def test_the_manifest_counts_each_files_stored_rows_and_rejects(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    with sqlite3.connect(lake.root / "manifest.sqlite") as manifest:
        recorded = {Path(uri).name: (rows, rejected) for uri, rows, rejected in
                    manifest.execute("select uri, rows, rejected from sources where skipped_reason is null")}
    assert recorded == {"2024-03-01-10-00-00-AAAA": (3, 1), "2024-03-02-00-05-00-BBBB.gz": (2, 0),
                        "2024-02-20-00-00-00-OLD0": (1, 0),
                        "111122223333_CloudTrail_us-east-1_20240301T1205Z_x1.json.gz": (1, 0),
                        "111122223333_CloudTrail_us-east-1_20240301T1210Z_x2.json.gz": (1, 0)}


def test_access_log_parts_have_bloom_filters_on_request_and_host_ids(logs: Path, tmp_path: Path) -> None:
    # request-lookup relies on them to skip row groups; DuckDB's probe reads the filter the writer stored
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    part = next(p for p in lake.parts("access_log") if p.day == "2024-03-01")
    path = str(lake.root / part.path)
    probe = "select bloom_filter_excludes from parquet_bloom_probe(?, ?, ?)"

    def excluded(column: str, value: str) -> list[tuple]:  # the part itself, as DuckDB's reader sees it
        return duckdb.connect().execute(probe, [path, column, value]).fetchall()

    assert excluded("requestid", "REQ") == [(False,)]
    assert excluded("requestid", "NO-SUCH-REQUEST") == [(True,)]
    assert excluded("hostid", "HOST") == [(False,)]
    assert excluded("hostid", "NO-SUCH-HOST") == [(True,)]


def test_an_event_delivered_again_in_a_later_ingest_is_not_doubled(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    trail = sorted(logs.rglob("*_CloudTrail_us-east-1_*"))
    ingest(lake, list_sources([str(trail[0])]))
    report = ingest(lake, list_sources([str(trail[1])]))
    assert report.duplicates_dropped == 1
    assert count(lake, "select eventid, count(*) from cloudtrail group by 1 order by 1") == [("e-1", 1), ("e-2", 1)]


def test_since_until_and_bucket_choose_files_and_every_row_of_a_file_opened_is_stored(logs: Path,
                                                                                     tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    options = IngestOptions(since=datetime(2024, 3, 1, 10, tzinfo=UTC), until=datetime(2024, 3, 2, tzinfo=UTC),
                            buckets=("acme",))
    report = ingest(lake, list_sources([str(logs / "access")]), options)
    assert report.files_out_of_range == 1  # 2024-02-20 file: never opened, so not recorded as read
    # a.txt (09:59:59), c.txt (bucket other) and e.txt (03-02 00:00:00) are outside the filters, stored all the same
    assert report.rows == {"access_log": 5} and report.rows_outside_range == 3
    assert count(lake, "select key from access_log order by request_time") == [
        ("a.txt",), ("b.txt",), ("c.txt",), ("d.txt",), ("e.txt",)]
    later = ingest(lake, list_sources([str(logs / "access")]))
    assert (later.files_read, later.files_already_ingested, later.rows) == (1, 2, {"access_log": 1})
    assert count(lake, "select count(*) from access_log") == [(6,)]


def test_unreadable_files_are_reported_by_name_and_the_rest_commits(logs: Path, tmp_path: Path) -> None:
    good = gzip.compress(access_line("acme", "01/Mar/2024:10:00:00", "z.txt").encode() * 50)
    write(logs / "broken" / "2024-03-01-00-00-00-TRUNC.gz", "").write_bytes(good[: len(good) // 2])
    write(logs / "broken" / "image.png", "").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    write(logs / "broken" / "notes.txt", "just some notes\nnothing to see\n")
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list_sources([str(logs)]))
    failed = {Path(uri).name: reason for uri, reason in report.failures}
    assert set(failed) == {"2024-03-01-00-00-00-TRUNC.gz", "image.png", "notes.txt"}
    assert "gzip" in failed["2024-03-01-00-00-00-TRUNC.gz"] and "binary" in failed["image.png"]
    assert report.rows == {"access_log": 6, "cloudtrail": 2}
    assert count(lake, "select count(*) from access_log") == [(6,)]


def test_a_killed_ingest_leaves_the_lake_as_before_and_the_next_run_completes(tmp_path: Path) -> None:
    logs = tmp_path / "big"
    lines = write_access_logs(logs, total_bytes=60_000_000, files=40, gzip=True, seed=3)
    lake_dir = tmp_path / "lake"
    env = dict(os.environ, S3LOGQ_LAKE=str(lake_dir))
    command = [sys.executable, "-c", "from s3logq.cli import main; main()", "ingest", str(logs), "--workers", "2"]
    killed_while_running = 0
    for delay in (0.3, 0.8, 1.5):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed_while_running += 1
        process.wait()
        stored = count(Lake(lake_dir), "select count(*) from access_log")[0][0]
        assert stored in (0, lines)  # as before, or complete: never part of it
        if stored == lines:
            break
    assert killed_while_running >= 1
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert count(Lake(lake_dir), "select count(*), count(distinct log_file || log_line) from access_log") == [
        (lines, lines)]
    parquet_files = {str(p) for p in lake_dir.rglob("*.parquet")}
    assert parquet_files == set(Lake(lake_dir).part_files("access_log"))  # the killed runs' files are gone


def test_the_tables_have_exactly_their_schemas_columns_not_the_day_folders(logs: Path, tmp_path: Path) -> None:
    from s3logq.formats.access_log import ACCESS_SCHEMA
    from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA

    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    engine = DuckDBEngine(lake)
    assert engine.query("select * from access_log").column_names == ACCESS_SCHEMA.names
    assert engine.query("select * from cloudtrail").column_names == CLOUDTRAIL_SCHEMA.names
