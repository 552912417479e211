"""The command line through click's runner and through the installed `s3logq` entry point."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from s3logq.cli import cli

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
LINES = [
    f'{OWNER} acme [01/Mar/2024:10:00:0{i} +0000] 192.0.2.{i} arn:aws:iam::1:user/a R{i} REST.GET.OBJECT k{i}.txt '
    f'"GET /acme/k{i}.txt HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -'
    for i in range(3)
]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "2024-03-01-10-05-00-AAAA").write_text("\n".join(LINES + ["not a log line"]) + "\n")
    return folder


def invoke(lake: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake), *args])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_status_and_sql(logs: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    code, out, _ = invoke(lake, "ingest", str(logs))
    assert code == 0
    assert "ingested 1 files" in out and "3 access_log rows" in out and "1 lines rejected" in out
    code, out, _ = invoke(lake, "status", "--format", "json")
    status = json.loads(out)
    assert code == 0 and len(status) == 1
    assert {k: status[0][k] for k in ("log_type", "files", "rows", "first_event", "last_event", "rejected_lines")} == {
        "log_type": "access", "files": 1, "rows": 3, "first_event": "2024-03-01T10:00:00Z",
        "last_event": "2024-03-01T10:00:02Z", "rejected_lines": 1}
    code, out, _ = invoke(lake, "sql", "select key, request_time, remoteip from access_log order by key", "-f", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["key", "request_time", "remoteip"],
                                                  ["k0.txt", "2024-03-01T10:00:00Z", "192.0.2.0"],
                                                  ["k1.txt", "2024-03-01T10:00:01Z", "192.0.2.1"],
                                                  ["k2.txt", "2024-03-01T10:00:02Z", "192.0.2.2"]]


def test_sql_writes_every_row_to_parquet_and_json_files(logs: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    invoke(lake, "ingest", str(logs))
    code, _, err = invoke(lake, "sql", "select * from access_log", "--output", str(tmp_path / "out" / "all.parquet"))
    assert code == 0 and "wrote 3 rows" in err
    assert pq.read_table(tmp_path / "out" / "all.parquet").num_rows == 3
    code, _, _ = invoke(lake, "sql", "select log_line, reason from rejects", "-o", str(tmp_path / "rejects.json"))
    assert json.loads((tmp_path / "rejects.json").read_text())[0]["log_line"] == 4


def test_output_dash_is_standard_output(logs: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    invoke(lake, "ingest", str(logs))
    code, as_dash, _ = invoke(lake, "run", "requests", "--output", "-")
    assert code == 0 and as_dash.count("\n") == 4  # header + 3 rows, csv by default
    assert (code, as_dash) == invoke(lake, "run", "requests", "--format", "csv")[:2]
    assert invoke(lake, "sql", "select 1 as n", "-o", "-", "-f", "json")[1] == '[\n {\n  "n": 1\n }\n]\n'
    assert not (tmp_path / "-").exists() and not Path("-").exists()


def test_the_report_is_not_written_under_a_data_format_name(logs: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    invoke(lake, "ingest", str(logs))
    code, _, err = invoke(lake, "report", "--output", str(tmp_path / "r.csv"))
    assert code == 2 and "name it .html, not .csv" in err and not (tmp_path / "r.csv").exists()


def test_table_output_shows_the_total(logs: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    invoke(lake, "ingest", str(logs))
    code, out, _ = invoke(lake, "sql", "select * from range(120) t(n)")
    assert code == 0 and "120 rows (first 50 shown" in out


@pytest.mark.parametrize("args, message", [
    (["ingest", "/does/not/exist"], "no such file or folder: /does/not/exist"),
    (["ingest", "x", "--since", "2024-03-02", "--until", "2024-03-01"], "must be before"),
    (["ingest", "x", "--since", "yesterday"], "is not a date"),
    (["sql", "select 1", "--output", "out.xlsx"], "cannot tell the format"),
    (["run", "requests", "--since", "2024-13-01"], "Invalid value for '--since': '2024-13-01' is not a date"),
    (["run", "requests", "--limit", "0"], "Invalid value for '--limit': 0 is not in the range x>=1."),
    (["ingest", "x", "--type", "syslog"], "Invalid value for '--type'"),
    (["sql"], "Missing argument 'QUERY'. (see: cli sql --help)"),
    (["nope"], "No such command 'nope'. (see: cli --help)"),  # CliRunner names the program "cli"
])  # fmt: skip
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = invoke(tmp_path / "lake", *args)
    assert code == 2
    assert message in err and "Traceback" not in err + out
    assert len(err.splitlines()) == 1 and err.startswith("error: ")  # click's usage block too
    assert not (tmp_path / "lake").exists()


def test_a_sql_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()  # an empty lake: the tables exist, with no rows
    code, out, err = invoke(tmp_path / "lake", "sql", "select nope from access_log")
    assert code == 2 and "nope" in err and len(err.splitlines()) == 1 and "Traceback" not in err + out


@pytest.mark.parametrize("args", [["status"], ["sql", "select * from access_log"], ["run", "requests"],
                                  ["report", "--output", "r.html"]])
def test_reading_a_lake_that_is_not_there_is_an_error_not_an_empty_answer(tmp_path: Path, args: list[str]) -> None:
    # a mistyped --lake would otherwise print "0 rows" and exit 0
    code, out, err = invoke(tmp_path / "typo", *args)
    assert code == 1 and err.startswith(f"error: no lake at {tmp_path / 'typo'}") and len(err.splitlines()) == 1
    assert not (tmp_path / "typo").exists() and out == ""


def test_a_file_that_cannot_be_read_exits_1_and_the_rest_commits(logs: Path, tmp_path: Path) -> None:
    (logs / "2024-03-01-11-00-00-BAD.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    code, out, err = invoke(tmp_path / "lake", "ingest", str(logs))
    assert code == 1
    assert "2024-03-01-11-00-00-BAD.gz: broken gzip data" in err and "3 access_log rows" in out


def test_the_installed_entry_point_runs(logs: Path, tmp_path: Path) -> None:
    entry_point = Path(sys.executable).parent / "s3logq"
    result = subprocess.run([str(entry_point), "--lake", str(tmp_path / "lake"), "ingest", str(logs)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "3 access_log rows" in result.stdout
    result = subprocess.run([str(entry_point), "--lake", str(tmp_path / "lake"), "sql", "select count(*) n from access_log",
                             "--format", "json"], capture_output=True, text=True)
    assert json.loads(result.stdout) == [{"n": 3}]


def test_every_command_has_help() -> None:
    for name, command in cli.commands.items():
        assert command.help and len(command.help) > 20, name
        assert CliRunner().invoke(cli, [name, "--help"]).exit_code == 0
