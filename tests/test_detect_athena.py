"""Every detection as `--engine athena` sends it: both Trino gates accept it, and read back by sqlglot into DuckDB
(the stand-in of test_athena_semantics) it finds what DuckDB finds on the detection story.

What this cannot see is Trino itself: a Trino function read back as its DuckDB counterpart is assumed to mean
the same (see test_athena_semantics)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlglot
from detection_parity import DAY, OVERRIDES, case_id, cases, findings_on, story_lake
from test_athena_semantics import DuckDBAsAthena, athena_stand_in
from test_athena_sql import assert_trino_runs

from s3logq.athena.client import AthenaOptions
from s3logq.catalog.detection import load_detections
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
