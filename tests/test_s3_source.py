"""Reading logs straight from S3 (a real moto server on loopback): pruning by date and bucket, counted on
the server side; re-runs; throttling, dropped connections and a 403 injected by the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from s3_server import moto_server_fixture, s3_fixture, simple_prefix_objects, store  # noqa: F401 - fixtures

from s3logq.cli import cli
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import DateRange, SourceError, SourceUnavailable, list_sources
from s3logq.sources.s3 import S3Stats, upload_bytes

SINCE, UNTIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)


def ingest_s3(lake: Lake, uri: str, server, since=SINCE, until=UNTIL, buckets=(), stats=None):
    stats = stats if stats is not None else S3Stats()
    sources = list_sources([uri], days=DateRange.of(since, until), buckets=buckets,
                           endpoint_url=server.endpoint_url, stats=stats)
    return ingest(lake, sources, IngestOptions(since=since, until=until, buckets=buckets, workers=16))


def stored_rows(lake: Lake, table: str) -> int:
    return sum(pq.read_metadata(path).num_rows for path in lake.part_files(table))


def test_simple_prefix_reads_only_the_days_of_the_range(s3, tmp_path):
    lake = Lake(tmp_path / "lake")
    report = ingest_s3(lake, "s3://logs/simple/", s3)
    gets = s3.requests.object_gets("logs")
    # Files are delivered 36 a day, 02-25..03-14. The range's days 03-01..03-07 plus one day of late
    # delivery (03-08) are fetched: 8 x 36. Each file holds 2 requests of its own day, and a file read is stored
    # whole (queries apply the range): 8 x 36 x 2 rows, 72 of them (03-08) outside the range.
    assert len(gets) == 288 and set(gets.values()) == {1}
    assert min(gets) >= "simple/2024-03-01" and max(gets) < "simple/2024-03-09"
    assert report.rows == {"access_log": 576} and stored_rows(lake, "access_log") == 576
    assert report.rows_outside_range == 72
    assert report.files_out_of_range == 36  # 02-29: listed from a day early, never opened
    starts = [q.get("start-after") for q in s3.requests.listings()]
    assert starts == [None, "simple/2024-02-29"]  # layout detection, then one page from the first day


def test_a_rerun_fetches_nothing(s3, tmp_path):
    lake = Lake(tmp_path / "lake")
    ingest_s3(lake, "s3://logs/simple/", s3)
    s3.requests.clear()
    report = ingest_s3(lake, "s3://logs/simple/", s3)
    assert s3.requests.object_gets() == {}
    assert report.files_already_ingested == 288 and report.rows == {}


def test_partitioned_prefix_lists_each_day_of_the_wanted_bucket_only(s3, tmp_path):
    lake = Lake(tmp_path / "lake")
    report = ingest_s3(lake, "s3://logs/partitioned/", s3, buckets=("alpha",))
    gets = s3.requests.object_gets("logs")
    # 2 accounts x 2 regions x bucket alpha x days 03-01..03-08 x 4 files x 2 requests, each file stored whole.
    assert len(gets) == 2 * 2 * 8 * 4
    assert all("/alpha/" in key for key in gets)
    assert report.rows == {"access_log": 2 * 2 * 8 * 4 * 2}
    prefixes = [q["prefix"] for q in s3.requests.listings()]
    assert not any("/beta/" in p for p in prefixes)
    day_listings = [p for p in prefixes if p.count("/") == 7]  # partitioned/acct/region/bucket/YYYY/MM/DD/
    assert len(day_listings) == 2 * 2 * 8
    assert min(p[-11:] for p in day_listings) == "2024/03/01/" and max(p[-11:] for p in day_listings) == "2024/03/08/"


def test_without_a_range_everything_under_the_prefix_is_read(s3, tmp_path):
    lake = Lake(tmp_path / "lake")
    report = ingest_s3(lake, "s3://logs/partitioned/", s3, since=None, until=None, buckets=("beta",))
    assert len(s3.requests.object_gets()) == 2 * 2 * 19 * 4
    assert report.rows == {"access_log": 2 * 2 * 19 * 4 * 2}


def test_cloudtrail_with_organization_accounts_and_regions_skips_digests(s3, tmp_path):
    lake = Lake(tmp_path / "lake")
    report = ingest_s3(lake, "s3://trail/", s3)  # AWSLogs/ found below the bucket root
    gets = s3.requests.object_gets("trail")
    assert len(gets) == 2 * 2 * 8 * 8  # accounts x regions x days 03-01..03-08 x files
    assert {key.split("/")[2] for key in gets} == {"111111111111", "222222222222"}
    assert {key.split("/")[4] for key in gets} == {"us-east-1", "eu-west-1"}
    assert report.rows == {"cloudtrail": 2 * 2 * 8 * 8 * 2}  # the late-delivery day's files are stored whole
    assert not any("Digest" in q["prefix"] for q in s3.requests.listings())
    assert report.files_skipped == {}


def test_throttling_is_retried_and_counted(s3, tmp_path):
    day = {key: body for key, body in simple_prefix_objects("throttled/").items() if "2024-03-02" in key}
    keys = sorted(day)[:3]
    store(s3, "throttled", {key: day[key] for key in keys})
    # One 503 SlowDown per key: more would only slow the test, as adaptive retries then throttle the
    # client itself (down to half a request per second at this low request rate).
    s3.requests.faults[keys[0]] = ["slowdown"]
    s3.requests.faults[keys[1]] = ["slowdown"]
    stats = S3Stats()
    report = ingest_s3(Lake(tmp_path / "lake"), "s3://throttled/throttled/", s3, stats=stats)
    assert report.failures == [] and report.rows == {"access_log": 3 * 2}
    assert [s3.requests.object_gets()[k] for k in keys] == [2, 2, 1]
    assert stats.retries == 2


def test_dropped_connections_lose_no_data_and_the_403_object_is_named(s3, tmp_path):
    day = {key: body for key, body in simple_prefix_objects("faulty/").items() if "2024-03-02" in key}
    keys = sorted(day)[:10]
    store(s3, "faulty", {key: day[key] for key in keys})
    s3.requests.faults[keys[0]] = ["drop", "drop"]  # connection closed before any response, twice
    s3.requests.faults[keys[1]] = ["truncate"]  # body breaks off half way
    s3.requests.forbidden.add(keys[2])
    lake, stats = Lake(tmp_path / "lake"), S3Stats()
    report = ingest_s3(lake, "s3://faulty/faulty/", s3, stats=stats)
    assert report.failures == [(f"s3://faulty/{keys[2]}", "AccessDenied (s3:GetObject)")]
    assert report.rows == {"access_log": 9 * 2}
    gets = s3.requests.object_gets("faulty")
    assert [gets[k] for k in keys[:3]] == [3, 2, 1]
    assert stats.retries == 2 + 1

    s3.requests.clear()
    report = ingest_s3(lake, "s3://faulty/faulty/", s3)  # the object now readable is the only one fetched
    assert s3.requests.object_gets() == {keys[2]: 1}
    assert report.rows == {"access_log": 2} and stored_rows(lake, "access_log") == 10 * 2


def test_access_denied_on_listing_names_bucket_and_permission(s3):
    s3.requests.private_buckets.add("logs")
    with pytest.raises(SourceError) as error:
        list(list_sources(["s3://logs/simple/"], endpoint_url=s3.endpoint_url))
    assert str(error.value) == "access denied listing s3://logs/simple/: needs s3:ListBucket on bucket logs"


def test_missing_bucket_and_missing_credentials_are_one_line(s3, monkeypatch, tmp_path):
    with pytest.raises(SourceError, match=r"^no such bucket: nothing-here$"):
        list(list_sources(["s3://nothing-here/x/"], endpoint_url=s3.endpoint_url))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(SourceError, match=r"^cannot list s3://logs/simple/: no AWS credentials found"):
        list(list_sources(["s3://logs/simple/"], endpoint_url=s3.endpoint_url))
    assert os.environ.get("AWS_SECRET_ACCESS_KEY") is None


def test_upload_small_and_multipart(s3):
    s3.client().create_bucket(Bucket="results")
    assert upload_bytes(b"a,b\n1,2\n", "s3://results/out/rows.csv", endpoint_url=s3.endpoint_url) \
        == "s3://results/out/rows.csv"
    large = os.urandom(9 * 1024 * 1024)
    upload_bytes(large, "s3://results/out/big.parquet", endpoint_url=s3.endpoint_url)
    client = s3.client()
    assert client.get_object(Bucket="results", Key="out/rows.csv")["Body"].read() == b"a,b\n1,2\n"
    assert client.get_object(Bucket="results", Key="out/big.parquet")["Body"].read() == large
    assert any(r.method == "POST" and "uploads" in r.query for r in s3.requests.seen)  # multipart


def test_upload_to_a_folder_uri_is_refused(s3):
    from s3logq.output import OutputError

    with pytest.raises(OutputError, match="names a folder"):
        upload_bytes(b"x", "s3://results/out/", endpoint_url=s3.endpoint_url)


# --- an endpoint that is not there, or does not answer: one line naming it, within about ten seconds ---------

def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed when the block ends: connecting is refused


def test_an_unreachable_endpoint_is_named_within_seconds(s3):  # s3: its credentials in the environment
    endpoint = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with pytest.raises(SourceUnavailable) as error:
        list(list_sources(["s3://logs/simple/"], endpoint_url=endpoint))
    assert time.monotonic() - started < 10  # ten adaptive retries with backoff took 26 s
    assert str(error.value) == (f"cannot list s3://logs/simple/: the S3 endpoint {endpoint} cannot be reached "
                                "(cannot connect: EndpointConnectionError)")


def test_an_endpoint_that_never_answers_is_named_within_about_ten_seconds(s3):
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(SourceUnavailable, match=f"the S3 endpoint {endpoint} cannot be reached .no answer"):
            list(list_sources(["s3://logs/simple/"], endpoint_url=endpoint))
        assert time.monotonic() - started < 13  # botocore's default: 60 s a read, ten attempts


def test_listing_failures_exit_1_not_the_usage_code(s3, tmp_path):
    s3.requests.private_buckets.add("logs")
    for endpoint, message in ((s3.endpoint_url, "access denied listing s3://logs/simple/"),
                              (f"http://127.0.0.1:{closed_port()}", "cannot be reached")):
        result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "ingest", "s3://logs/simple/",
                                          "--endpoint-url", endpoint])
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert len(result.stderr.splitlines()) == 1
    # a URI without a bucket is the user's to fix: usage
    result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), "ingest", "s3:///x/"])
    assert result.exit_code == 2 and "no bucket in" in result.stderr


def test_a_long_listing_shows_progress_on_a_terminal(s3, tmp_path):
    # 684 keys under s3://logs/simple/ (36 a day for 19 days); stderr is a terminal, stdout is not
    main, terminal = os.openpty()
    entry_point = Path(sys.executable).parent / "s3logq"
    with subprocess.Popen([str(entry_point), "--lake", str(tmp_path / "lake"), "ingest", "s3://logs/simple/",
                           "--endpoint-url", s3.endpoint_url], stdout=subprocess.PIPE, stderr=terminal) as child:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        assert child.wait(timeout=120) == 0
    os.close(main)
    assert b"listing the logs" in shown
    assert b"500 files found" in shown


def test_the_region_comes_from_aws_region_too_and_none_is_one_line(monkeypatch, tmp_path) -> None:
    from s3logq.sources import SourceError
    from s3logq.sources.s3 import make_client

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))  # no profile region to fall back on
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert make_client("athena").meta.region_name == "eu-west-3"
    assert make_client("athena", region="us-east-2").meta.region_name == "us-east-2"  # the flag wins
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(SourceError, match="^no AWS region for athena: give --region"):
        make_client("athena")
