"""Every detection on real Spark (pyspark, local mode) finds what DuckDB finds on the detection story: the same
findings (identity and finding_id, severity, times, who, where, detail, evidence) in the same order, with default
thresholds and at the edges of the DuckDB tests. One SparkSession for the module, stopped at the end."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from detection_parity import case_id, cases, findings_on, story_lake

from s3logq.cli import cli
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.engines.spark import SparkEngine
from s3logq.lake import Lake

CASES = cases()


pytestmark = pytest.mark.usefixtures("spark_for_module")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return story_lake(tmp_path_factory.mktemp("detect-spark") / "lake")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_detection_on_spark_finds_what_duckdb_finds(lake: Lake, case) -> None:
    detection, window, overrides = case
    native = findings_on(DuckDBEngine(lake), detection, window, overrides)
    assert findings_on(SparkEngine(lake), detection, window, overrides) == native


def test_detect_on_spark_prints_duckdbs_findings(lake: Lake) -> None:
    def detect(*engine: str) -> str:
        result = CliRunner().invoke(cli, ["--lake", str(lake.root), "detect", "--since", "2024-03-10",
                                          "--format", "csv", *engine])
        assert result.exit_code == 0, result.output
        return result.stdout

    native = detect()
    assert native.count("\n") == 34  # the header and 33 findings
    assert detect("--engine", "spark") == native


def test_arg_min_skips_rows_without_a_value_on_spark(lake: Lake) -> None:
    # 198.51.100.9 first lists the bucket three times (no key, 11:00-11:02), then reads public/logo.png at 12:00:
    # DuckDB's arg_min skips the rows without a key, Spark's min_by would answer NULL
    sql = "SELECT arg_min(key, request_time) AS first_key FROM access_log WHERE remoteip = '198.51.100.9'"
    assert SparkEngine(lake).query(sql).to_pylist() == DuckDBEngine(lake).query(sql).to_pylist() == [
        {"first_key": "public/logo.png"}]
