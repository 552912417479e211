"""Nothing lost, nothing doubled: filtered ingests, copies, foreign manifests, killed commits, damage and repair."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from s3logq.cli import cli
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake, LakeError
from s3logq.repair import check_lake, reopen_source, repair_lake
from s3logq.sources import list_sources

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
ROWS = "select * exclude (log_file) from access_log order by request_time, requestid"


def access_line(bucket: str, when: str, key: str, request_id: str) -> str:
    return (f'{OWNER} {bucket} [{when} +0000] 192.0.2.3 arn:aws:iam::1:user/a {request_id} REST.GET.OBJECT {key} '
            f'"GET /{bucket}/{key} HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -')


def write(path: Path, text: str, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """Two days, two buckets, one file spanning midnight, and CloudTrail: filters cut through every file."""
    root = tmp_path / "logs"
    write(root / "access" / "2024-03-01-10-00-00-AAAA", "\n".join([
        access_line("acme", "01/Mar/2024:09:59:59", "a.txt", "R1"),
        access_line("other", "01/Mar/2024:10:00:00", "b.txt", "R2"),
        access_line("acme", "01/Mar/2024:23:59:59", "c.txt", "R3"),
        access_line("acme", "02/Mar/2024:00:00:00", "d.txt", "R4"),
    ]) + "\n")
    write(root / "access" / "2024-03-02-12-00-00-BBBB.gz", "\n".join([
        access_line("other", "02/Mar/2024:11:00:00", "e.txt", "R5"),
        access_line("acme", "02/Mar/2024:12:00:00", "f.txt", "R6"),
        "not a log line",
    ]) + "\n", compress=True)
    trail = root / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03" / "01"
    events = [{"eventTime": f"2024-03-0{day}T12:00:00Z", "eventName": "PutBucketPolicy", "eventID": f"e-{day}",
               "eventSource": "s3.amazonaws.com", "requestParameters": {"bucketName": bucket}}
              for day, bucket in ((1, "acme"), (2, "other"))]
    write(trail / "111122223333_CloudTrail_us-east-1_20240301T1205Z_x1.json", orjson.dumps({"Records": events}).decode())
    return root


def rows(lake: Lake, sql: str = ROWS) -> list[dict]:
    return DuckDBEngine(lake).query(sql).to_pylist()


def everything(lake: Lake) -> tuple[list[dict], list[dict], list[dict]]:
    return (rows(lake), rows(lake, "select * exclude (log_file) from cloudtrail order by eventid"),
            rows(lake, "select log_line, reason, raw_line from rejects order by raw_line"))


def clean_ingest(logs: Path, tmp_path: Path) -> tuple[list[dict], list[dict], list[dict]]:
    lake = Lake(tmp_path / "clean")
    report = ingest(lake, list_sources([str(logs)]))
    assert report.ok, report.failures
    return everything(lake)


@pytest.mark.parametrize("filters", [
    {"buckets": ("acme",)},
    {"since": datetime(2024, 3, 1, 12, tzinfo=UTC), "until": datetime(2024, 3, 2, 0, tzinfo=UTC)},
    {"since": datetime(2024, 3, 2, 11, 30, tzinfo=UTC), "buckets": ("other",)},
])
def test_a_filtered_ingest_then_a_plain_one_leaves_exactly_a_clean_ingest(logs: Path, tmp_path: Path,
                                                                          filters: dict) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]), IngestOptions(**filters))
    ingest(lake, list_sources([str(logs)]))
    assert everything(lake) == clean_ingest(logs, tmp_path)
    assert len(everything(lake)[0]) == 6  # R1..R6, each once


def test_the_same_file_under_another_path_adds_nothing(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    moved = tmp_path / "moved"
    shutil.copytree(logs, moved)
    shutil.copytree(logs / "access", moved / "access-again")  # a copy inside the same tree, read in one run
    report = ingest(lake, list_sources([str(moved)]))
    assert report.rows == {} and report.files_same_content == 5 and report.ok
    assert everything(lake) == clean_ingest(logs, tmp_path)
    aliases = lake.query("select count(*) from sources where skipped_reason like 'same content as %'")
    assert aliases == [(5,)]
    assert ingest(lake, list_sources([str(moved)])).files_already_ingested == 5  # known by name now too


def test_two_copies_read_in_one_ingest_are_stored_once(logs: Path, tmp_path: Path) -> None:
    shutil.copytree(logs / "access", logs / "copy")
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list_sources([str(logs)]), IngestOptions(workers=4))
    assert report.files_same_content == 2
    assert len(rows(lake)) == 6 and len(rows(lake, "select * from rejects")) == 1


def test_a_touched_file_with_the_same_bytes_is_not_reported_as_changed(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    first = logs / "access" / "2024-03-01-10-00-00-AAAA"
    os.utime(first, ns=(1, 1))
    report = ingest(lake, list_sources([str(logs)]))
    assert (report.files_already_ingested, report.files_changed, report.rows) == (3, [], {})
    first.write_text(first.read_text() + access_line("acme", "01/Mar/2024:23:00:00", "z.txt", "R9") + "\n")
    assert ingest(lake, list_sources([str(logs)])).files_changed == [str(first.resolve())]


def test_a_manifest_from_another_lake_is_refused_and_nothing_is_deleted(logs: Path, tmp_path: Path) -> None:
    lake, other = Lake(tmp_path / "lake"), Lake(tmp_path / "other")
    ingest(lake, list_sources([str(logs / "access")]))
    ingest(other, list_sources([str(logs / "AWSLogs")]))
    parts_before = sorted(lake.root.rglob("*.parquet"))
    shutil.copy(other.manifest_path, lake.manifest_path)
    with pytest.raises(LakeError, match="belongs to lake .* but this folder is lake"):
        ingest(lake, list_sources([str(logs)]))
    assert sorted(lake.root.rglob("*.parquet")) == parts_before


def test_a_manifest_listing_a_missing_part_is_refused_and_nothing_is_deleted(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs / "access")]))
    parts_before = sorted(lake.root.rglob("*.parquet"))
    with sqlite3.connect(lake.manifest_path) as manifest:  # one byte of one part's path changed
        manifest.execute("update parts set path = replace(path, '-0000.parquet', '-0000.parqueX') "
                         "where path like '%-0000.parquet'")
    with pytest.raises(LakeError, match="missing"):
        ingest(lake, list_sources([str(logs)]))
    assert sorted(lake.root.rglob("*.parquet")) == parts_before


def test_only_a_killed_ingests_own_leftovers_are_removed(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs / "access")]))
    some_part = next(lake.root.glob("access_log/*/*.parquet"))
    lake.begin_ingest("20240101T000000-deadbeef", datetime.now(UTC))  # a killed ingest: recorded, never committed
    leftover = some_part.parent / "20240101T000000-deadbeef-0000.parquet"
    shutil.copy(some_part, leftover)
    stranger = some_part.parent / "someone-elses.parquet"
    shutil.copy(some_part, stranger)
    report = ingest(lake, list_sources([str(logs)]))
    assert report.orphans_removed == 1
    assert not leftover.exists() and stranger.exists()
    assert len(rows(lake)) == 6


def test_a_commit_killed_between_its_statements_shows_neither_parts_nor_sources(logs: Path, tmp_path: Path) -> None:
    # The process dies as SQLite starts recording the sources, after the parts were inserted: were the commit
    # made of separate transactions, the parts would be visible without their sources (rows read twice later).
    lake_dir = tmp_path / "lake"
    child = textwrap.dedent(f"""
        import os, signal, sqlite3
        real_connect = sqlite3.connect
        def connect(*args, **kwargs):
            connection = real_connect(*args, **kwargs)
            def trace(statement):
                if statement.startswith("INSERT OR REPLACE INTO sources"):
                    os.kill(os.getpid(), signal.SIGKILL)
            connection.set_trace_callback(trace)
            return connection
        sqlite3.connect = connect
        from s3logq.ingest import ingest
        from s3logq.lake import Lake
        from s3logq.sources import list_sources
        ingest(Lake({str(lake_dir)!r}), list_sources([{str(logs)!r}]))
    """)
    killed = subprocess.run([sys.executable, "-c", child], capture_output=True)
    assert killed.returncode == -9
    lake = Lake(lake_dir)
    assert lake.query("select count(*) from parts") == [(0,)]
    assert lake.query("select count(*) from sources") == [(0,)]
    assert any(lake_dir.rglob("*.parquet"))  # the parts were written, just never made visible
    report = ingest(lake, list_sources([str(logs)]))
    assert report.orphans_removed >= 1 and len(rows(lake)) == 6
    assert sorted(str(p.relative_to(lake_dir)) for p in lake_dir.rglob("*.parquet")) == sorted(
        path for (path,) in lake.query("select path from parts"))


def test_check_names_a_damaged_part_and_repair_restores_exactly_its_rows(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    expected = everything(lake)
    day_one = next(p for p in lake.parts("access_log") if p.day == "2024-03-01")
    (lake.root / day_one.path).write_bytes(b"PAR1 damaged")
    report = check_lake(lake)
    assert [(p.path, p.what.split(" ")[0]) for p in report.problems] == [(day_one.path, "size")]
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "lake", "check"])
    assert result.exit_code == 1 and day_one.path in result.output
    repaired = repair_lake(lake, reopen_source)
    assert repaired.parts_set_aside == [day_one.path] and repaired.not_restored == []
    assert repaired.rows_restored == 3  # R1, R2, R3: the 03-01 rows; R4 (03-02, same file) was never lost
    assert everything(lake) == expected
    assert check_lake(lake).problems == []
    assert (lake.root / "damaged").is_dir()  # set aside, not deleted


def test_a_missing_part_whose_source_is_gone_is_named_and_the_rest_stays(logs: Path, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]))
    part = next(p for p in lake.parts("cloudtrail"))
    (lake.root / part.path).unlink()
    shutil.rmtree(logs / "AWSLogs")
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "lake", "repair"])
    assert result.exit_code == 1 and "is no longer there" in result.output
    assert len(rows(lake)) == 6  # access rows untouched
    status = CliRunner().invoke(cli, ["--lake", str(lake.root), "status"])
    assert "1 part(s) set aside, rows not restored" in status.output


def test_an_ingest_waiting_for_the_lock_says_who_holds_it(logs: Path, tmp_path: Path) -> None:
    import fcntl

    lake = Lake(tmp_path / "lake")
    lake.create()
    holder = open(lake.root / ".lock", "a+")  # noqa: SIM115
    fcntl.flock(holder, fcntl.LOCK_EX)
    holder.write("s3logq ingest, pid 4242 on somewhere\n")
    holder.flush()
    command = [sys.executable, "-c", "from s3logq.cli import main; main()", "--lake", str(lake.root), "ingest", str(logs)]
    waiting = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    first = waiting.stderr.readline()
    assert "waiting for the lake's lock, held by s3logq ingest, pid 4242" in first
    holder.close()
    assert waiting.wait(timeout=60) == 0


def test_a_big_file_read_in_slices_gives_the_rows_and_line_numbers_of_a_whole_read(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    import s3logq.reader as reader

    lines = [access_line("acme", f"01/Mar/2024:10:{n // 60:02d}:{n % 60:02d}", f"k{n}.txt", f"R{n}")
             for n in range(3000)]
    lines[1234] = "a damaged line"
    text = "\r\n".join(lines[:1500]) + "\n" + "\n".join(lines[1500:]) + "\n"
    whole, sliced = Lake(tmp_path / "whole"), Lake(tmp_path / "sliced")
    log = write(tmp_path / "logs" / "2024-03-01-10-00-00-BIGFILE.gz", text, compress=True)
    assert ingest(whole, list_sources([str(log)])).ok
    monkeypatch.setattr(reader, "BIG_FILE_BYTES", 1000)
    monkeypatch.setattr(reader, "SLICE_BYTES", 50_000)
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 7_777)
    assert len(list(reader.line_slices_of(log))) > 5
    sliced_report = ingest(sliced, list_sources([str(log)]))
    assert sliced_report.ok, sliced_report.failures
    query = "select * from access_log order by log_line"
    assert rows(sliced, query) == rows(whole, query)
    assert rows(sliced, "select log_line, raw_line from rejects") == [{"log_line": 1235, "raw_line": "a damaged line"}]
    assert sliced.query("select rows, rejected from sources") == [(2999, 1)]


@pytest.mark.parametrize("compress", [True, False])
def test_a_big_file_hashed_as_it_streams_is_known_by_its_content_and_two_copies_store_rows_once(
        tmp_path: Path, monkeypatch, compress: bool) -> None:
    import s3logq.reader as reader

    monkeypatch.setattr(reader, "BIG_FILE_BYTES", 1000)
    monkeypatch.setattr(reader, "SLICE_BYTES", 20_000)
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 3_333)
    lines = [access_line("acme", "01/Mar/2024:10:00:00", f"k{n}.txt", f"R{n}") for n in range(1500)]
    first = write(tmp_path / "a" / "2024-03-01-10-00-00-ONE", "\n".join(lines) + "\n", compress=compress)
    copy = tmp_path / "b" / "2024-03-01-10-00-00-TWO"
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list_sources([str(first)]))
    assert report.ok and report.files_read == 1
    # the content recorded while streaming is the one a separate pass over the stored bytes gives
    assert lake.query("select content from sources") == [(reader.content_of_path(first),)]
    again = ingest(lake, list_sources([str(copy)]))  # known by its size: hashed before it is read
    assert again.files_same_content == 1 and again.rows == {}
    both = Lake(tmp_path / "both")
    report = ingest(both, list_sources([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert report.files_read == 1 and report.files_same_content == 1
    assert rows(both, "select count(*) as n from access_log") == [{"n": 1500}]


def test_a_gzip_file_that_breaks_off_keeps_what_came_before_and_is_not_read_twice(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    import s3logq.reader as reader

    monkeypatch.setattr(reader, "BIG_FILE_BYTES", 1000)
    monkeypatch.setattr(reader, "SLICE_BYTES", 20_000)
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 10_000)
    lines = [access_line("acme", "01/Mar/2024:10:00:00", f"k{n}.txt", f"R{n}") for n in range(2000)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    log = tmp_path / "logs" / "2024-03-01-10-00-00-CUT.gz"
    log.parent.mkdir()
    log.write_bytes(data[: len(data) // 2])
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list_sources([str(log)]))
    assert report.files_partly_read == 1 and len(report.failures) == 1
    stored = rows(lake, "select count(*) as n, max(log_line) as last from access_log")[0]
    assert 0 < stored["n"] == stored["last"] < 2000  # a prefix of the file, in order, nothing doubled
    again = ingest(lake, list_sources([str(log)]))
    assert again.files_already_ingested == 1 and again.rows == {}
    # its content is the whole stored file's, also what came after the break (hashed to the end)
    assert lake.query("select content from sources") == [(reader.content_of_path(log),)]


def test_a_bom_and_any_line_ends_lose_no_line_and_cloudtrail_with_a_bom_is_known_without_its_name(
        tmp_path: Path) -> None:
    lines = [access_line("acme", f"01/Mar/2024:10:00:0{n}", f"k{n}.txt", f"R{n}") for n in range(4)]
    write(tmp_path / "logs" / "access-with-bom", "\ufeff" + lines[0] + "\r\n" + lines[1] + "\r" + lines[2] + "\n"
          + lines[3])
    event = {"eventTime": "2024-03-01T12:00:00Z", "eventName": "GetObject", "eventID": "bom-1",
             "eventSource": "s3.amazonaws.com"}
    write(tmp_path / "logs" / "trail-export.json", "\ufeff" + orjson.dumps({"Records": [event]}).decode())
    lake = Lake(tmp_path / "lake")
    report = ingest(lake, list_sources([str(tmp_path / "logs")]))
    assert report.ok, report.failures
    assert [r["requestid"] for r in rows(lake)] == ["R0", "R1", "R2", "R3"]
    assert rows(lake, "select eventid from cloudtrail") == [{"eventid": "bom-1"}]
    assert rows(lake, "select * from rejects") == []



def test_repair_restores_a_lost_part_when_its_files_rows_of_that_day_span_several_parts(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    import s3logq.reader as reader
    import s3logq.writer as writer

    # a big file read in slices, flushed every few slices: its rows of one day go to several parts
    monkeypatch.setattr(writer, "FLUSH_ROWS", 40)
    monkeypatch.setattr(reader, "BIG_FILE_BYTES", 1000)
    monkeypatch.setattr(reader, "SLICE_BYTES", 5_000)
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 5_000)
    lines = [access_line("acme", f"01/Mar/2024:10:{n // 60:02d}:{n % 60:02d}", f"k{n}.txt", f"R{n}")
             for n in range(100)]
    logs = tmp_path / "logs"
    write(logs / "2024-03-01-10-00-00-FILE", "\n".join(lines) + "\n")
    lake = Lake(tmp_path / "lake")
    ingest(lake, list_sources([str(logs)]), IngestOptions(workers=1))
    parts = lake.parts("access_log")
    assert len(parts) >= 2 and {p.day for p in parts} == {"2024-03-01"}
    expected = everything(lake)
    damaged = parts[1]
    data = bytearray((lake.root / damaged.path).read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = bytes(64)  # same size, damage inside the pages
    (lake.root / damaged.path).write_bytes(bytes(data))
    assert [p.path for p in check_lake(lake).problems] == [damaged.path]
    repaired = repair_lake(lake, reopen_source)
    assert repaired.not_restored == [] and repaired.rows_restored == damaged.rows
    assert everything(lake) == expected  # the rows of the same files in the healthy parts are not doubled
