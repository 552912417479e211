"""Opt-in, on a real AWS account: `athena setup` over real logs, then three analyses on Athena's engine.

Skipped unless S3LOGQ_ATHENA_LIVE=1, S3LOGQ_ATHENA_RESULTS (s3:// for results) and S3LOGQ_ATHENA_LIVE_ACCESS
(s3:// of access logs, as `athena ddl --access` takes it) are set, with AWS credentials in the usual chain;
the published-lake test also needs S3LOGQ_ATHENA_LIVE_LAKE (an s3:// prefix it may write to). Marked `aws`:
`pytest -m aws` runs only these. They are the only tests that run the SerDes, partition projection and Trino's
functions for real.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from s3logq.cli import cli

ACCESS = os.environ.get("S3LOGQ_ATHENA_LIVE_ACCESS")
LAKE_PREFIX = os.environ.get("S3LOGQ_ATHENA_LIVE_LAKE")
pytestmark = [pytest.mark.aws, pytest.mark.skipif(
    os.environ.get("S3LOGQ_ATHENA_LIVE") != "1" or not ACCESS or not os.environ.get("S3LOGQ_ATHENA_RESULTS"),
    reason="live Athena: set S3LOGQ_ATHENA_LIVE=1, S3LOGQ_ATHENA_RESULTS and S3LOGQ_ATHENA_LIVE_ACCESS")]
DATABASE = os.environ.get("S3LOGQ_ATHENA_DATABASE", "s3logq_live_test")


def test_setup_then_three_analyses_run_on_athena() -> None:
    runner = CliRunner()
    setup = runner.invoke(cli, ["athena", "setup", "--access", str(ACCESS), "--database", DATABASE])
    assert setup.exit_code == 0, setup.output
    for name in ("requests", "access-denied", "latency-summary"):
        result = runner.invoke(cli, ["run", name, "--engine", "athena", "--database", DATABASE, "--format", "csv",
                                     "--limit", "20"])
        assert result.exit_code == 0, result.output
        assert "athena: succeeded" in result.stderr


@pytest.mark.skipif(not LAKE_PREFIX, reason="set S3LOGQ_ATHENA_LIVE_LAKE=s3://bucket/prefix/ to publish a lake")
def test_a_pushed_lake_answers_on_athena_as_on_duckdb(tmp_path) -> None:
    from s3logq.demo import write_access_logs

    runner = CliRunner()
    lake = str(tmp_path / "lake")
    write_access_logs(tmp_path / "logs", 2_000_000, 20, gzip=True)
    assert runner.invoke(cli, ["--lake", lake, "ingest", str(tmp_path / "logs")]).exit_code == 0
    push = runner.invoke(cli, ["--lake", lake, "lake", "push", str(LAKE_PREFIX)])
    assert push.exit_code == 0, push.output
    database = DATABASE + "_lake"
    setup = runner.invoke(cli, ["athena", "setup", "--lake", str(LAKE_PREFIX), "--database", database])
    assert setup.exit_code == 0, setup.output
    for name in ("access-denied", "top-requesters", "deletions"):
        local = runner.invoke(cli, ["--lake", lake, "run", name, "--format", "csv"])
        remote = runner.invoke(cli, ["--lake", lake, "run", name, "--engine", "athena", "--database", database,
                                     "--format", "csv"])
        assert local.exit_code == 0 and remote.exit_code == 0, remote.output
        assert sorted(remote.stdout.splitlines()) == sorted(local.stdout.splitlines()), name
