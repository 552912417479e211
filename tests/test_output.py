"""Output formats: times as ISO-8601 UTC text, and files written straight to their target with the same bytes
as the rows serialized in memory."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from rich.console import Console

from s3logq import output
from s3logq.catalog import find_analysis
from s3logq.cli import cli
from s3logq.engines import get_engine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.output import OutputError, readable, serialize, write_table
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
TIMES = [datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC), datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC),
         datetime(2024, 3, 1, 0, 0, 0, 10_000, tzinfo=UTC), None]
ISO = ["2024-03-01T10:00:00Z", "2024-02-29T23:59:59.999Z", "2024-03-01T00:00:00.010Z", None]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The hand-written access-log fixture (47 lines) and CloudTrail fixture, ingested."""
    lake = Lake(tmp_path_factory.mktemp("output-lake"))
    ingest(lake, list_sources([str(FIXTURES / "access"), str(FIXTURES / "cloudtrail")]), IngestOptions(workers=2))
    return lake


@pytest.fixture(scope="module")
def requests(lake: Lake) -> pa.Table:
    return find_analysis("requests", "access").run(get_engine("duckdb", lake), {})


def test_the_terminal_shows_brackets_and_colons_in_values_as_they_are() -> None:
    # keys and user agents are the logs' data: rich markup or emoji codes in them must not be interpreted
    values = ["logs/a[/b]c.txt", "[bold]x[/bold] :smile:", "aws-cli/2 [ci]"]
    table = pa.table({"key": values, "[/odd name]": [1, 2, 3]})
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(output.rich_table(table))
    shown = console.file.getvalue()
    assert all(value in shown for value in values) and "[/odd name]" in shown


def test_times_are_iso_utc_with_milliseconds_only_when_there_are_some() -> None:
    table = pa.table({"utc": pa.array(TIMES, pa.timestamp("us", tz="UTC")),
                      "new_york": pa.array(TIMES, pa.timestamp("us", tz="UTC")).cast(
                          pa.timestamp("us", tz="America/New_York")),
                      "seconds": pa.array(TIMES, pa.timestamp("us", tz="UTC")).cast(pa.timestamp("ms", tz="UTC"))})
    assert readable(table).to_pydict() == {"utc": ISO, "new_york": ISO, "seconds": ISO}


def test_times_without_a_zone_are_read_as_utc() -> None:
    naive = [t.astimezone(timezone(timedelta(0))).replace(tzinfo=None) if t else None for t in TIMES]
    assert readable(pa.table({"t": pa.array(naive, pa.timestamp("us"))})).column("t").to_pylist() == ISO


@pytest.mark.parametrize("batch_rows", [1, 7, 10_000])
def test_json_is_the_text_of_json_dumps_whatever_the_batches(requests: pa.Table, batch_rows: int,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "JSON_BATCH_ROWS", batch_rows)
    expected = json.dumps(readable(requests).to_pylist(), ensure_ascii=False, indent=1, default=str) + "\n"
    assert requests.num_rows > 7 and serialize(requests, "json").decode() == expected
    assert serialize(requests.slice(0, 0), "json") == b"[]\n"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_file_holds_the_same_bytes_as_the_rows_serialized_in_memory(requests: pa.Table, fmt: str,
                                                                       tmp_path: Path) -> None:
    target = tmp_path / "out" / f"requests.{fmt}"
    assert write_table(requests, fmt, str(target)) == str(target.resolve())
    assert target.read_bytes() == serialize(requests, fmt)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # the temporary name is gone


def test_csv_and_parquet_files_hold_every_row(requests: pa.Table, tmp_path: Path) -> None:
    write_table(requests, "csv", str(tmp_path / "r.csv"))
    write_table(requests, "parquet", str(tmp_path / "r.parquet"))
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as text:
        read_back = list(csv.DictReader(text))
    assert [row["requestid"] for row in read_back] == requests.column("requestid").to_pylist()
    assert read_back[0]["request_time"] == readable(requests).column("request_time")[0].as_py()
    assert pq.read_table(tmp_path / "r.parquet").equals(requests)


def test_a_write_that_fails_leaves_no_file(tmp_path: Path) -> None:
    not_text = pa.table({"t": pa.array([b"ok", b"\xff"], pa.binary())})  # Arrow's csv writer fails on the 2nd
    with pytest.raises(pa.ArrowInvalid):
        write_table(not_text, "csv", str(tmp_path / "t.csv"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        write_table(not_text.slice(0, 0), "csv", str(tmp_path / "a-file" / "t.csv"))


def test_run_writes_the_same_csv_to_a_file_and_to_stdout(lake: Lake, requests: pa.Table, tmp_path: Path) -> None:
    args = ["--lake", str(lake.root), "run", "requests", "--format", "csv"]
    to_file = CliRunner().invoke(cli, [*args, "--output", str(tmp_path / "requests.csv")])
    to_stdout = CliRunner().invoke(cli, args)
    assert to_file.exit_code == 0 and to_stdout.exit_code == 0
    assert f"wrote {requests.num_rows:,} rows" in to_file.stderr
    assert (tmp_path / "requests.csv").read_bytes() == to_stdout.stdout_bytes == serialize(requests, "csv")
    assert list(csv.reader(io.StringIO(to_stdout.stdout)))[0] == requests.column_names
