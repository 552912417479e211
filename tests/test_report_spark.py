"""`report --engine spark` and `investigate --engine spark` with real pyspark in local mode: the report's data
(what the HTML is rendered from) equals DuckDB's on the hand-checked analysis fixtures, section by section, and
investigate prints DuckDB's rows. One SparkSession for the module, stopped at the end (about a minute in all).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3logq.cli import cli
from s3logq.engines import get_engine
from s3logq.engines.spark import spark_session
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.report.data import ReportData, build_report_data
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.usefixtures("spark_for_module")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("report-spark") / "lake")
    sources = list_sources([str(FIXTURES / f) for f in ("access", "access-trail", "cloudtrail")])
    assert ingest(lake, sources, IngestOptions(workers=2)).ok
    return lake


def spark_jobs() -> int:
    """How many jobs this process's Spark has run: equal data proves nothing if Spark was never asked."""
    return len(spark_session().sparkContext.statusTracker().getJobIdsForGroup(None))


def rounded(value: object) -> object:
    """Floats to 9 digits: DuckDB and Spark interpolate the same percentile with another last bit."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


def sections(data: ReportData) -> dict[str, object]:
    return {k: rounded(v) for k, v in dataclasses.asdict(data).items()}


def test_report_data_from_spark_equals_duckdbs(lake: Lake) -> None:
    duckdb, jobs = build_report_data(lake), spark_jobs()
    spark = build_report_data(lake, engine=get_engine("spark", lake))
    assert spark_jobs() >= jobs + 30  # a job a query at least: the summary, each section, detections, analyses
    left, right = sections(duckdb), sections(spark)
    # the data must be worth comparing: the fixtures give every section rows
    assert duckdb.summary.requests == 36 and duckdb.summary.trail_events == 43
    assert duckdb.traffic and duckdb.latency and duckdb.lifecycle and duckdb.config_changes and duckdb.findings
    for name in ("summary", "buckets", "first_time", "last_time", "traffic", "top_requesters", "denied", "latency",
                 "lifecycle", "config_changes", "config_source", "bucket_traffic", "top_objects", "top_ips",
                 "error_codes", "deletions", "empty", "period_unit", "ingested"):
        assert right[name] == left[name], name
    # every detection runs on Spark: nothing left out, and DuckDB's findings
    assert spark.engine == "spark" and duckdb.left_out == spark.left_out == []
    assert duckdb.findings and spark.findings == duckdb.findings
    # the analyses' first rows and real counts; latency-summary's approximate percentiles are each engine's own
    assert [a.name for a in spark.analyses] == [a.name for a in duckdb.analyses]
    for ours, theirs in zip(spark.analyses, duckdb.analyses, strict=True):
        assert (ours.columns, ours.total, ours.error) == (theirs.columns, theirs.total, theirs.error), ours.name
        assert all("--engine spark" in command for command in ours.commands)
        if ours.name != "latency-summary":
            assert ours.rows == theirs.rows, ours.name
        else:
            assert sorted(r[0] for r in ours.rows) == sorted(r[0] for r in theirs.rows)


def test_investigate_on_spark_prints_duckdbs_rows(lake: Lake, tmp_path: Path) -> None:
    def investigate(engine: str) -> str:
        result = CliRunner().invoke(cli, [
            "--lake", str(tmp_path / engine), "investigate", "--logs", str(FIXTURES / "access"),
            "--analysis", "top-requesters", "--analysis", "deletions", "--since", "2024-03-01",
            "--format", "csv", "--output", "-", "--engine", engine])
        assert result.exit_code == 0, result.output
        return result.stdout

    duckdb, jobs = investigate("duckdb"), spark_jobs()
    spark = investigate("spark")
    assert spark_jobs() > jobs
    assert duckdb.startswith("ingested 4 files") and duckdb.count("\n") > 6  # both analyses gave rows
    assert spark.split("\n", 1)[1] == duckdb.split("\n", 1)[1]  # all but the ingest's line, which has its time
