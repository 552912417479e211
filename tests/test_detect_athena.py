"""Every detection as `--engine athena` sends it: both Trino gates accept it, and read back by sqlglot into DuckDB
(the stand-in of test_athena_semantics) it finds what DuckDB finds on the detection story.

What this cannot see is Trino itself: a Trino function read back as its DuckDB counterpart is assumed to mean
the same (see test_athena_semantics)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
import sqlglot
from click.testing import CliRunner
from detection_parity import DAY, OVERRIDES, case_id, cases, findings_on, story_lake
from s3_server import store
from test_athena_semantics import DuckDBAsAthena, athena_stand_in
from test_athena_sql import assert_trino_runs
from test_report_athena import WORKGROUP, DuckDBUnderAthenasName, _executions, can, server_fixture  # noqa: F401

from s3logq.athena.client import AthenaOptions
from s3logq.catalog.detection import load_detections
from s3logq.cli import cli
from s3logq.config import record_athena
from s3logq.detect import find_all
from s3logq.engines import render
from s3logq.engines.athena import AthenaEngine, athena_sql
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.lake import Lake

CASES = cases()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return story_lake(tmp_path_factory.mktemp("detect-athena") / "lake")


@pytest.fixture(scope="module")
def athena(lake: Lake) -> Iterator[AthenaEngine]:
    connection = athena_stand_in(lake)
    yield AthenaEngine(AthenaOptions(), client=DuckDBAsAthena(connection))  # type: ignore[arg-type]
    connection.close()


@pytest.mark.parametrize("with_range", [True, False], ids=["day", "no-range"])
@pytest.mark.parametrize("detection", load_detections(), ids=lambda d: d.name)
def test_every_detection_rendered_for_athena_passes_both_gates(detection, with_range: bool) -> None:
    since, until = DAY if with_range else (None, None)
    for overrides in [{}, *OVERRIDES.get(detection.name, [])]:
        params = detection.bind(since, until, overrides)
        text, bound = athena_sql(detection.sql, params, since, until)
        assert_trino_runs(text)
        assert len(list(sqlglot.parse_one(text, read="trino").find_all(sqlglot.exp.Placeholder))) == len(bound)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_detection_on_athena_finds_what_duckdb_finds(lake: Lake, athena: AthenaEngine, case) -> None:
    detection, window, overrides = case
    native = findings_on(DuckDBEngine(lake), detection, window, overrides)
    assert findings_on(athena, detection, window, overrides) == native


def test_the_cases_are_worth_comparing(lake: Lake) -> None:
    """Every detection finds something on the story in some case, and every override changes what it finds."""
    native = DuckDBEngine(lake)
    finding = set()
    for detection, window, overrides in CASES:
        found = findings_on(native, detection, window, overrides)
        if found:
            finding.add(detection.name)
        if overrides:
            assert found != findings_on(native, detection, window, {}), case_id((detection, window, overrides))
    assert finding == {d.name for d in load_detections()}


def test_positional_values_follow_the_text_even_from_a_with() -> None:
    # sqlglot visits a WITH after the query that reads it: the values must still be in the order of the `?`s
    text, values = render("WITH d AS (SELECT $a AS x FROM t WHERE y > $b) SELECT x, $c FROM d HAVING count(*) > $a",
                          {"a": 1, "b": 2, "c": 3}, "athena")
    assert text == "WITH d AS (SELECT ? AS x FROM t WHERE y > ?) SELECT x, ? FROM d HAVING COUNT(*) > ?"
    assert values == [1, 2, 3, 1]


def test_detect_on_athena_over_http_prints_duckdbs_findings_and_the_cost(server, lake: Lake) -> None:
    """moto answers each detection with DuckDB's answer to the same query; every statement sent passes both
    gates with its values bound, and the findings printed are DuckDB's."""
    recorder = DuckDBUnderAthenasName(lake)
    expected = find_all(recorder, DAY[0], None)  # what the command asks, in its order: detect --since 2024-03-10
    assert len(recorder.answers) == len(load_detections()) and len(expected) == 33
    can(server, recorder.answers)
    before = len(_executions(server))
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "detect", "--engine", "athena", "--since",
                                      "2024-03-10", "--format", "csv", "--workgroup", WORKGROUP, "--results",
                                      "s3://athena-results/q/", "--endpoint-url", server.endpoint_url,
                                      "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    sent = _executions(server)[before:]
    assert len(sent) == len(load_detections())
    for execution in sent:
        assert_trino_runs(execution["Query"])
        placeholders = list(sqlglot.parse_one(execution["Query"], read="trino").find_all(sqlglot.exp.Placeholder))
        assert len(placeholders) == len(execution.get("ExecutionParameters", []))
    printed = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["finding_id"], r["event_time"], r["detail"], r["facts"]) for r in printed] == [
        (f.finding_id, f.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"), f.detail, f.as_row()["facts"])
        for f in reversed(expected)]
    assert not any("--lake" in r["evidence"] for r in printed)  # Athena's findings are not the lake's
    assert result.stderr.strip().splitlines()[-1].startswith(f"athena: {len(sent)} queries")


def test_detect_dry_run_prints_each_detections_sql_and_estimate_and_submits_nothing(server, lake: Lake) -> None:
    store(server, "detect-scan", {"access/2024-03-10-12-00-00-A": b"x" * 100, "trail/t.json.gz": b"x" * 7})
    record_athena({"access_log": {"location": "s3://detect-scan/access/"},
                   "cloudtrail": {"location": "s3://detect-scan/trail/"}})
    before = len(_executions(server))
    result = CliRunner().invoke(cli, ["--lake", str(lake.root), "detect", "--engine", "athena", "--since",
                                      "2024-03-10", "--severity", "critical", "--dry-run", "--workgroup", WORKGROUP,
                                      "--endpoint-url", server.endpoint_url, "--region", "us-east-1"])
    assert result.exit_code == 0, result.output
    assert len(_executions(server)) == before
    # the two critical detections, one on each table: each its own estimate (a SimplePrefix reads it all)
    blocks = result.stdout.split("-- ransom-note-upload (access): ")[1].split("-- sse-c-encryption (cloudtrail): ")
    assert "-- estimate: at most 100 B in 1 objects" in blocks[0] and "FROM access_log" in blocks[0]
    assert "-- estimate: at most 7 B in 1 objects" in blocks[1] and "FROM cloudtrail" in blocks[1]
    assert result.stdout.count("-- estimate: ") == 2
