"""The terminal view: key columns first and whole at 80, 120 and 200 columns; mistakes that teach (CLI)."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from rich.console import Console

from s3logq.cli import cli
from s3logq.terminal import terminal_view

TIME = pa.array([1_709_337_599_000_000, 1_709_251_200_000_000], pa.timestamp("us", tz="UTC"))
ROWS = pa.table({"request_time": TIME, "bytes": [2_190_000_123, 7], "category": ["client-error", "deletion"],
                 "useragent": ["aws-cli/2.15.0 Python/3.11.6 Linux/6.1", "curl/8"],
                 "key": ["reports/Q1 results.pdf", "a.txt"]})
WHOLE = ["2024-03-01T23:59:59Z", "2024-03-01T00:00:00Z", "2,190,000,123", "client-error", "deletion"]


@pytest.mark.parametrize("width", [80, 120, 200])
def test_kept_columns_are_whole_and_the_rest_is_left_out_in_order(width: int) -> None:
    view = terminal_view(ROWS, width, key_columns=("request_time", "bytes", "category"))
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(view.table)
    shown = console.file.getvalue()
    assert max(len(line) for line in shown.splitlines()) <= width
    assert all(value in shown for value in WHOLE) and "…" not in shown
    kept = [c for c in ("request_time", "bytes", "category", "useragent", "key") if c not in view.left_out]
    assert kept == ["request_time", "bytes", "category", "useragent", "key"][: len(kept)]  # least important go
    for name in kept:
        assert all(str(v) in shown for v in ROWS.column(name).to_pylist() if isinstance(v, str))


def test_at_80_columns_the_least_important_are_left_out() -> None:
    # 1 + (20+3) + (13+3) + (12+3) = 55; the user agent (38+3) does not fit, nor after it the key
    view = terminal_view(ROWS, 80, key_columns=("request_time", "bytes", "category"))
    assert view.left_out == ["useragent", "key"] and view.width == 55
    assert terminal_view(ROWS, 80, key_columns=("request_time",), wide=True).left_out == []


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terminal")
    result = CliRunner().invoke(cli, ["--lake", str(root / "lake"), "demo", "--dir", str(root / "logs")])
    assert result.exit_code == 0, result.output
    return root / "lake"


def run(*args: str, width: int = 220) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})
    return result.exit_code, result.stdout, result.stderr


def test_the_lake_option_after_the_command(demo_lake: Path) -> None:
    code, out, _ = run("status", "--lake", str(demo_lake), "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith('"access",605,0,21945,')
    # digests are skipped files, not CloudTrail files: 516 trail files written, 336 digests
    assert out.splitlines()[2].startswith('"cloudtrail",516,336,5581,')


def test_a_misspelt_analysis_and_bucket_get_a_suggestion(demo_lake: Path) -> None:
    code, _, err = run("--lake", str(demo_lake), "run", "delitions")
    assert code == 2 and "did you mean 'deletions'?" in err
    code, _, err = run("--lake", str(demo_lake), "run", "deletions", "--bucket", "acme-prod-dat")
    assert code == 1 and "did you mean 'acme-prod-data'?" in err
    assert "buckets there: acme-logs-archive, acme-prod-data, acme-public-site" in err


def test_analyses_about_one_thing_require_it(demo_lake: Path) -> None:
    code, _, err = run("--lake", str(demo_lake), "run", "object-history")
    assert code == 2 and "give --key" in err
    code, _, err = run("--lake", str(demo_lake), "run", "request-lookup")
    assert code == 2 and "give --request-id" in err


def test_a_narrow_terminal_says_what_it_left_out_and_the_demo_counts_every_row(demo_lake: Path) -> None:
    code, out, err = run("--lake", str(demo_lake), "run", "top-troubleshooting", "--limit", "2", width=80)
    assert code == 0 and "2024-03-07T23:59:55Z" in out and "AccessDenied" in out
    assert "left out to fit 80 columns: operation, bucket_name, key," in err and "--columns" in err
    code, out, _ = run("--lake", str(demo_lake), "run", "top-troubleshooting", "--columns", "key,httpstatus",
                       "--format", "csv", "--limit", "1")
    assert out.splitlines()[0] == '"key","httpstatus"'
    code, out, _ = run("--lake", str(demo_lake), "run", "lifecycle-stats", "--vertical")
    assert "bytes        | 46,609,912" in out


def test_a_misspelt_command_gets_a_suggestion_on_one_line() -> None:
    code, _, err = run("stauts")
    assert code == 2 and err.startswith("error: No such command 'stauts'. Did you mean 'status'?")
    assert len(err.splitlines()) == 1


def test_parquet_to_a_terminal_is_refused_with_a_hint(demo_lake: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()  # a real terminal on stdout: the check asks isatty()
    command = [str(Path(sys.executable).with_name("s3logq")), "--lake", str(demo_lake), "run", "lifecycle-stats",
               "--format", "parquet"]
    done = subprocess.run(command, stdout=secondary, stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(secondary)
    shown = os.read(primary, 4096) if done.returncode == 0 else b""
    os.close(primary)
    assert done.returncode == 2 and b"PAR1" not in shown
    assert "--format parquet is binary" in done.stderr and "--output FILE.parquet" in done.stderr


def test_investigate_exits_1_and_names_the_smtp_server_when_mail_is_not_delivered(demo_lake: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = demo_lake.parent / "logs" / "access"
    result = CliRunner().invoke(cli, ["--lake", str(demo_lake), "investigate", "--logs", str(logs), "--analysis",
                                      "lifecycle-stats", "--since", "2024-03-01", "--until", "2024-03-02",
                                      "--notify", "mailto:ops@example.com", "--format", "csv"],
                                env={"S3LOGQ_SMTP_HOST": "127.0.0.1", "S3LOGQ_SMTP_PORT": str(port)})
    assert result.exit_code == 1, result.output
    assert f"SMTP server 127.0.0.1:{port}: Connection refused; set S3LOGQ_SMTP_HOST" in result.stderr
    assert "expiration" in result.stdout  # the answer is printed all the same


def test_an_empty_answer_says_whether_the_filters_or_the_lake_left_nothing(demo_lake: Path) -> None:
    code, out, err = run("--lake", str(demo_lake), "run", "deletions", "--bucket", "acme-prod-data", "--key", "nope",
                         "--format", "csv")
    assert code == 0 and out.count("\n") == 1  # the header alone
    assert err == "no rows match --bucket --key; without filters deletions has 1,340 rows in the lake\n"


@pytest.mark.parametrize("width", [80, 120, 200])
def test_the_demo_answers_fit_the_terminal_with_whole_times_and_numbers(demo_lake: Path, width: int) -> None:
    import re

    for command in (["run", "top-troubleshooting"], ["status"], ["run", "lifecycle-stats"], ["analyses"]):
        code, out, _ = run("--lake", str(demo_lake), *command, width=width)
        assert code == 0 and max(len(line) for line in out.splitlines()) <= width, (command, width)
        body = [line for line in out.splitlines() if line.startswith("│")]
        assert body and not any("…" in cell for line in body for cell in line.split("│")[1:4])  # key columns
    code, out, _ = run("--lake", str(demo_lake), "run", "top-troubleshooting", width=width)
    assert len(re.findall(r"│ 2024-03-0\d T?\d\d:\d\d:\d\dZ │".replace(" T?", "T"), out)) == 50
    code, out, _ = run("--lake", str(demo_lake), "status", width=width)
    assert "│ access     │ 21,945 │" in out and "│ cloudtrail │  5,581 │   516 │" in out


def test_a_title_that_names_its_logs_is_not_doubled(demo_lake: Path) -> None:
    code, out, _ = run("--lake", str(demo_lake), "run", "object-access", "--logs", "cloudtrail", "--limit", "1")
    assert code == 0 and "Who read an object (CloudTrail)" in out and "(CloudTrail) (" not in out
    code, out, _ = run("--lake", str(demo_lake), "run", "object-access", "--logs", "access", "--limit", "1")
    assert "Who read an object (access logs)" in out
