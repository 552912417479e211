"""--max-scan-gb and --dry-run on `report --engine athena` and `investigate --engine athena`: the queries the
command would send are planned first, each estimated from S3 listings (moto in server mode, objects of known
sizes), and the limit is held to their sum before the first is submitted.

The lake published at s3://plan-lake/lake/ has day folders of sizes chosen so that each figure says which days a
query read: access_log 02-28: 500 B, 02-29: 10 B, 03-01: 100 B, 03-02: 1,000 B, 03-03: 2,000 B, 03-04: 10,000 B,
cloudtrail 02-27: 1,000,000 B, 03-01: 100,000 B. For --since 2024-03-01 --until 2024-03-02 a query keeps one
delivery day each side of [03-01, 03-02] (02-29 .. 03-03: access 3,110 B); a windowed detection reads a day more
before since (02-28 too: 3,610 B).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa
import pytest
from click.testing import CliRunner
from s3_server import MotoServer, ensure_work_group, start_server, store
from test_report_athena import can

from s3logq.cli import cli
from s3logq.config import record_athena

WORKGROUP = "s3logq-plan"
RANGE = ["--since", "2024-03-01", "--until", "2024-03-02"]
ACCESS_IN_RANGE, ACCESS_FOR_DETECTIONS, TRAIL_IN_RANGE = 3110, 3610, 100_000


@pytest.fixture(scope="module", name="server")
def server_fixture() -> Iterator[MotoServer]:
    server, werkzeug_server = start_server()
    ensure_work_group(server, WORKGROUP)
    server.client().create_bucket(Bucket="athena-results")
    sizes = {"access_log/day=2024-02-28/a.parquet": 500, "access_log/day=2024-02-29/a.parquet": 10,
             "access_log/day=2024-03-01/a.parquet": 60, "access_log/day=2024-03-01/b.parquet": 40,
             "access_log/day=2024-03-02/a.parquet": 1000, "access_log/day=2024-03-03/a.parquet": 2000,
             "access_log/day=2024-03-04/a.parquet": 10_000,
             "cloudtrail/day=2024-03-01/a.parquet": 100_000, "cloudtrail/day=2024-02-27/a.parquet": 1_000_000}
    store(server, "plan-lake", {f"lake/{key}": b"x" * size for key, size in sizes.items()})
    yield server
    werkzeug_server.shutdown()


@pytest.fixture(autouse=True)
def _lake_recorded() -> None:
    record_athena({"lake": {"location": "s3://plan-lake/lake/"}})


def _flags(server: MotoServer) -> list[str]:
    return ["--workgroup", WORKGROUP, "--results", "s3://athena-results/q/", "--endpoint-url", server.endpoint_url,
            "--region", "us-east-1"]


def _executions(server: MotoServer) -> list[str]:
    return server.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]


def _planned(output: str) -> dict[str, list[str]]:
    """The dry run's query lines: name -> the sizes it printed for that name (a name can come back per bucket)."""
    found: dict[str, list[str]] = {}
    for name, size in re.findall(r"^-- +\d+\. (.+): ([\d.,]+ [KMG]?B) \(", output, re.M):
        found.setdefault(name, []).append(size)
    return found


def test_report_dry_run_lists_each_query_with_the_days_it_reads_and_submits_nothing(server: MotoServer) -> None:
    server.requests.seen.clear()
    result = CliRunner().invoke(cli, ["report", "--engine", "athena", *RANGE, "--dry-run", *_flags(server)])
    assert result.exit_code == 0, result.output
    planned = _planned(result.stdout)
    assert planned["report summary"] == ["3.11 KB"]  # 02-29 .. 03-03, not 02-28 nor 03-04
    assert planned["report trail summary"] == ["100.00 KB"]  # 03-01 only, not 02-27
    assert planned["detection credential-file-read"] == ["3.61 KB"]  # windowed: a day more before since
    assert planned["analysis deletions (access)"] == ["3.11 KB"]
    assert planned["analysis deletions (access), count (when the preview is full)"] == ["3.11 KB"]
    lines = result.stdout.splitlines()
    count = len(lines) - 1
    assert count == sum(len(sizes) for sizes in planned.values()) > 50
    assert "SELECT" not in result.stdout  # names, not the SQL, without --show-sql
    # the total is the sum of every line, which each of these kinds contributes to
    access = sum(1 for line in lines[1:] if line.endswith("(access_log)"))
    trail = sum(1 for line in lines[1:] if line.endswith("(cloudtrail)"))
    both = sum(1 for line in lines[1:] if line.endswith("103.11 KB (access_log, cloudtrail)"))  # denied, ...
    windowed = sum(1 for line in lines[1:] if line.endswith("3.61 KB (access_log)"))
    assert access + trail + both == count and 0 < windowed < access and both > 0
    total = ((access - windowed) * ACCESS_IN_RANGE + windowed * ACCESS_FOR_DETECTIONS + trail * TRAIL_IN_RANGE
             + both * (ACCESS_IN_RANGE + TRAIL_IN_RANGE))
    assert lines[0].startswith(f"-- estimate: at most {total / 1e6:,.2f} MB in all, the sum of {count} queries "
                               "(each billed at least 10 MB): about $")
    assert f"${count * 10e6 / 1e12 * 5:.6f} at $5 per TB" in lines[0]  # every query under 10 MB: billed 10 MB
    assert all(r.method == "GET" for r in server.requests.seen) and not _executions(server)


def test_report_over_max_scan_gb_is_one_line_and_submits_nothing(server: MotoServer, tmp_path) -> None:
    dry = CliRunner().invoke(cli, ["report", "--engine", "athena", *RANGE, "--dry-run", *_flags(server)])
    count = len(dry.stdout.splitlines()) - 1
    total = dry.stdout.split("at most ", 1)[1].split(" in all", 1)[0]
    assert float(total.removesuffix(" MB")) > 3  # 87 queries of 3 to 103 KB each
    # far under the sum but over any one query's figure: a check of each query alone would let them all run
    limit = 0.0002
    refused = CliRunner().invoke(cli, ["report", "--engine", "athena", *RANGE, "--max-scan-gb", f"{limit}",
                                       "--output", str(tmp_path / "r.html"), *_flags(server)])
    assert refused.exit_code == 1
    assert refused.stderr == (f"error: not submitted: the {count} queries of the report may scan {total} "
                              f"in all (the sum over the {count} queries, each billed at least 10 MB), over "
                              f"--max-scan-gb {limit:g}\n")
    assert not _executions(server) and not (tmp_path / "r.html").exists()


def test_investigate_is_held_to_the_sum_of_its_analyses_and_runs_under_it(server: MotoServer) -> None:
    args = ["investigate", "--engine", "athena", "--analysis", "deletions", "--analysis", "bucket-created",
            *RANGE, "--format", "csv", "--output", "-", *_flags(server)]
    dry = CliRunner().invoke(cli, [*args, "--dry-run", "--show-sql"])
    assert dry.exit_code == 0, dry.output
    assert _planned(dry.stdout) == {"analysis deletions (access)": ["3.11 KB"],
                                    "analysis bucket-created (cloudtrail)": ["100.00 KB"]}
    assert dry.stdout.count("-- execution parameters: ") == 2  # --show-sql: each query's SQL and values
    assert "log_day >= ?" in dry.stdout and "'2024-02-29'" in dry.stdout and "'2024-02-29'" not in \
        "".join(line for line in dry.stdout.splitlines() if not line.startswith("-- execution parameters: "))
    both = ACCESS_IN_RANGE + TRAIL_IN_RANGE
    refused = CliRunner().invoke(cli, [*args, "--max-scan-gb", f"{(both - 1) / 1e9}"])
    assert refused.exit_code == 1 and "the 2 queries of the investigation may scan 103.11 KB" in refused.stderr
    assert not _executions(server)
    can(server, [pa.table({"n": [1]}), pa.table({"n": [2]})])
    allowed = CliRunner().invoke(cli, [*args, "--max-scan-gb", f"{both / 1e9}"])
    assert allowed.exit_code == 0, allowed.output
    assert len(_executions(server)) == 2 and "athena: 2 queries" in allowed.stderr


def test_the_scan_flags_are_usage_errors_off_athena(tmp_path) -> None:
    for args in (["report", "--dry-run"], ["report", "--max-scan-gb", "1"],
                 ["investigate", "--logs", str(tmp_path), "--analysis", "deletions", "--dry-run"],
                 ["report", "--engine", "athena", "--show-sql"]):
        result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "lake"), *args])
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
