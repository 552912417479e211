"""Opt-in, on a real AWS account: `athena setup` over real logs, then three analyses on Athena's engine.

Skipped unless S3LOGQ_ATHENA_LIVE=1, S3LOGQ_ATHENA_RESULTS (s3:// for results) and S3LOGQ_ATHENA_LIVE_ACCESS
(s3:// of access logs, as `athena ddl --access` takes it) are set, with AWS credentials in the usual chain.
This is the only test that runs the SerDes, partition projection and Trino's functions for real.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from s3logq.cli import cli

ACCESS = os.environ.get("S3LOGQ_ATHENA_LIVE_ACCESS")
pytestmark = pytest.mark.skipif(
    os.environ.get("S3LOGQ_ATHENA_LIVE") != "1" or not ACCESS or not os.environ.get("S3LOGQ_ATHENA_RESULTS"),
    reason="live Athena: set S3LOGQ_ATHENA_LIVE=1, S3LOGQ_ATHENA_RESULTS and S3LOGQ_ATHENA_LIVE_ACCESS")
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
