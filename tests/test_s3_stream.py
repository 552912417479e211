"""Big S3 objects streamed in slices (a real moto server on loopback): the rows of a whole local read, and a body
that breaks off is resumed with a ranged GET pinned to the listed ETag; a changed object or attempts exhausted
keep the rows read so far, recorded as partly read, never read twice."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import moto_server_fixture, s3_fixture, store  # noqa: F401 - fixtures

import s3logq.reader as reader
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import PARTLY_READ, IngestReport, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.sources.s3 import BODY_ATTEMPTS, S3Stats

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
NAME = "2024-03-01-10-00-00-BIGOBJECT"
LINES = 3000
DAMAGED_LINE = 1235


def log_text(tag: str = "R") -> bytes:
    """3,000 requests, line 1,235 damaged, CRLF line ends in the first half: ~1.1 MB."""
    lines = [f'{OWNER} acme [01/Mar/2024:10:{n // 60 % 60:02d}:{n % 60:02d} +0000] 192.0.2.3 arn:aws:iam::1:user/a '
             f'{tag}{n} REST.GET.OBJECT k{n}.txt "GET /acme/k{n}.txt HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - '
             f"HOST SigV4 X AuthHeader e TLSv1.3 - -" for n in range(LINES)]
    lines[DAMAGED_LINE - 1] = "a damaged line"
    return ("\r\n".join(lines[:1500]) + "\n" + "\n".join(lines[1500:]) + "\n").encode()


def rows(lake: Lake, sql: str) -> list[dict]:
    return DuckDBEngine(lake).query(sql).to_pylist()


def contents(lake: Lake) -> tuple[list[dict], list[dict], list[tuple]]:
    """Every row but its file's name, every reject, and the file's counts: where the file was read from aside."""
    return (rows(lake, "select * exclude (log_file) from access_log order by log_line"),
            rows(lake, "select log_line, reason, raw_line from rejects order by log_line"),
            lake.query("select rows, rejected from sources"))


@pytest.fixture
def big_object(s3, tmp_path: Path, monkeypatch, request) -> Iterator[tuple[str, bytes, tuple]]:
    """(key, stored bytes, what a whole local read of them stores) for an object read in slices from S3."""
    body = gzip.compress(log_text()) if request.param == "gzip" else log_text()
    key = f"logs/{NAME}" + (".gz" if request.param == "gzip" else "")
    local = tmp_path / "local" / Path(key).name
    local.parent.mkdir()
    local.write_bytes(body)
    whole = Lake(tmp_path / "whole")
    assert reader.BIG_FILE_BYTES > len(body) and ingest(whole, list_sources([str(local)])).ok  # read whole
    store(s3, "big", {key: body})
    monkeypatch.setattr(reader, "BIG_FILE_BYTES", 1000)
    monkeypatch.setattr(reader, "SLICE_BYTES", 20_000)
    monkeypatch.setattr(reader, "_BLOCK_BYTES", 7_777)
    yield key, body, contents(whole)
    s3.client().delete_object(Bucket="big", Key=key)  # the server outlives the test: the next one lists s3://big/ too


def ingest_big(s3, lake: Lake, stats: S3Stats | None = None) -> IngestReport:
    sources = list_sources(["s3://big/logs/"], endpoint_url=s3.endpoint_url, stats=stats or S3Stats())
    return ingest(lake, sources)


def etag_of(s3, key: str) -> str:
    return s3.client().head_object(Bucket="big", Key=key)["ETag"]


def stored_prefix(lake: Lake) -> int:
    """How many rows and rejects are stored, checking they are the file's first lines, each once."""
    lines = [r["log_line"] for r in rows(lake, "select log_line from access_log union all "
                                               "select log_line from rejects order by log_line")]
    assert lines == list(range(1, len(lines) + 1))
    return len(lines)


@pytest.mark.parametrize("big_object", ["gzip", "plain"], indirect=True)
def test_a_big_object_streamed_gives_the_rows_line_numbers_and_rejects_of_a_whole_local_read(
        s3, big_object, tmp_path: Path) -> None:
    key, body, whole = big_object
    lake, stats = Lake(tmp_path / "lake"), S3Stats()
    report = ingest_big(s3, lake, stats)
    assert report.ok, report.failures
    assert contents(lake) == whole
    assert whole[1] == [{"log_line": DAMAGED_LINE, "reason": whole[1][0]["reason"], "raw_line": "a damaged line"}]
    # one GET, pinned to the listed ETag: the streamed path (a whole read sends no If-Match)
    assert [(r.range, r.if_match) for r in s3.requests.object_requests(key)] == [(None, etag_of(s3, key))]
    assert (stats.gets, stats.retries, stats.bytes_read) == (1, 0, len(body))


@pytest.mark.parametrize("big_object", ["gzip", "plain"], indirect=True)
def test_a_body_cut_short_twice_is_resumed_where_it_broke_off_and_every_row_is_stored_once(
        s3, big_object, tmp_path: Path) -> None:
    key, body, whole = big_object
    s3.requests.faults[key] = ["truncate", "truncate"]  # each GET's body breaks off half way
    lake, stats = Lake(tmp_path / "lake"), S3Stats()
    report = ingest_big(s3, lake, stats)
    assert report.ok, report.failures
    assert contents(lake) == whole
    first_cut = len(body) // 2
    second_cut = first_cut + (len(body) - first_cut) // 2
    etag = etag_of(s3, key)
    assert [(r.range, r.if_match) for r in s3.requests.object_requests(key)] == [
        (None, etag), (f"bytes={first_cut}-", etag), (f"bytes={second_cut}-", etag)]
    assert (stats.gets, stats.retries, stats.bytes_read) == (1, 2, len(body))


@pytest.mark.parametrize("big_object", ["plain"], indirect=True)
def test_an_object_changed_before_a_resumed_get_keeps_the_rows_read_so_far_and_is_not_read_twice(
        s3, big_object, tmp_path: Path) -> None:
    key, body, _ = big_object
    listed_etag = etag_of(s3, key).strip('"')
    s3.requests.faults[key] = ["truncate", "replace"]
    s3.requests.replacements[key] = log_text(tag="NEW")  # other request IDs
    lake = Lake(tmp_path / "lake")
    report = ingest_big(s3, lake)
    assert report.files_partly_read == 1
    [(uri, error)] = report.failures
    assert uri == f"s3://big/{key}" and "\n" not in error
    assert f"changed since it was listed (its ETag is no longer {listed_etag}; read up to byte " in error
    assert 0 < stored_prefix(lake) < LINES
    assert rows(lake, "select count(*) as n from access_log where requestid like 'NEW%'") == [{"n": 0}]
    assert lake.query("select skipped_reason from sources")[0][0].startswith(PARTLY_READ)
    s3.requests.clear()
    again = ingest_big(s3, lake)  # the object has another ETag now: reported as changed, the first rows kept
    assert again.files_changed == [f"s3://big/{key}"] and again.rows == {} and s3.requests.object_gets() == {}


@pytest.mark.parametrize("big_object", ["plain"], indirect=True)  # gzip reads ahead: its 35 KB go in one read
def test_attempts_exhausted_keep_the_rows_read_so_far_and_a_second_ingest_adds_nothing(
        s3, big_object, tmp_path: Path) -> None:
    key, body, _ = big_object
    # half the body, then GETs whose bodies break off before their first byte: no progress, BODY_ATTEMPTS in a row
    s3.requests.faults[key] = ["truncate"] + ["empty"] * (BODY_ATTEMPTS - 1)
    lake = Lake(tmp_path / "lake")
    report = ingest_big(s3, lake)
    assert report.files_partly_read == 1
    [(_, error)] = report.failures
    assert error.endswith(f"(after {BODY_ATTEMPTS} attempts at byte {len(body) // 2:,})") and "\n" not in error
    assert [r.range for r in s3.requests.object_requests(key)] == [None] + [f"bytes={len(body) // 2}-"] * (
        BODY_ATTEMPTS - 1)
    stored = stored_prefix(lake)
    assert 0 < stored < LINES
    s3.requests.clear()
    again = ingest_big(s3, lake)
    assert again.files_already_ingested == 1 and again.rows == {} and s3.requests.object_gets() == {}
    assert stored_prefix(lake) == stored


@pytest.mark.parametrize("big_object", ["plain"], indirect=True)
def test_a_big_object_that_cannot_be_read_is_one_line_and_read_by_the_next_ingest(
        s3, big_object, tmp_path: Path) -> None:
    key, _, whole = big_object
    s3.requests.forbidden.add(key)
    lake = Lake(tmp_path / "lake")
    report = ingest_big(s3, lake)
    assert report.failures == [(f"s3://big/{key}", "AccessDenied (s3:GetObject)")]
    assert report.files_partly_read == 0 and report.rows == {}
    s3.requests.forbidden.clear()
    assert ingest_big(s3, lake).ok and contents(lake) == whole
