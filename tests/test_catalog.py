"""Every analysis file, of both log types: a complete header, parameters that match the SQL, columns that
match the result, SQL that sqlglot renders for Trino and Spark, a count that matches its rows, and a test that
names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

import s3logq.catalog
from s3logq.catalog import PARAMETERS, find_analysis, parse_analysis
from s3logq.engines import get_engine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

ANALYSES = Path(s3logq.catalog.__file__).parent / "analyses"
FILES = sorted(ANALYSES.glob("*/*.sql"))
TESTS = Path(__file__).parent
IDS = [f"{f.parent.name}/{f.stem}" for f in FILES]


def _load(path: Path) -> s3logq.catalog.Analysis:
    return parse_analysis(path.read_text(encoding="utf-8"), path.parent.name)


@pytest.fixture(scope="module")
def fixture_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The hand-written access-log and CloudTrail fixtures, ingested."""
    lake = Lake(tmp_path_factory.mktemp("catalog-lake"))
    ingest(lake, list_sources([str(TESTS / "fixtures" / "access"), str(TESTS / "fixtures" / "cloudtrail")]),
           IngestOptions(workers=2))
    return lake


def test_there_are_analyses_of_both_log_types() -> None:
    assert {f.parent.name for f in FILES} <= {"access", "cloudtrail"}
    assert len([f for f in FILES if f.parent.name == "access"]) >= 18


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_header_is_complete(path: Path) -> None:
    analysis = _load(path)
    assert analysis.name == path.stem
    assert analysis.title and analysis.description and analysis.columns
    assert len(set(analysis.columns)) == len(analysis.columns)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_parameters_match_the_sql(path: Path) -> None:
    analysis = _load(path)
    placeholders = set(re.findall(r"\$([a-z_]+)", analysis.sql))
    assert placeholders == set(analysis.parameters)
    assert placeholders <= set(PARAMETERS)


@pytest.mark.parametrize("path", FILES, ids=IDS)
@pytest.mark.parametrize("dialect", ["trino", "spark"])
def test_sql_transpiles(path: Path, dialect: str) -> None:
    rendered = sqlglot.transpile(_load(path).sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE)
    assert len(rendered) == 1 and rendered[0].strip()


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_columns_match_the_result_on_an_empty_lake(path: Path, tmp_path: Path) -> None:
    analysis = _load(path)
    table = analysis.run(get_engine("duckdb", Lake(tmp_path / "lake")), {})
    assert tuple(table.column_names) == analysis.columns
    assert table.num_rows == 0


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_the_count_drops_only_the_final_order_by(path: Path) -> None:
    analysis = _load(path)
    ordered_by = analysis.sql.removeprefix(analysis.unordered_sql)
    assert ordered_by.startswith("\nORDER BY ") and "\n" not in ordered_by.strip() and "$" not in ordered_by


def test_sql_without_a_final_order_by_line_is_counted_as_it_is() -> None:
    header = "-- name: x\n-- title: X\n-- description: X\n-- columns: a\n"
    for sql in ("SELECT a FROM t", "SELECT a FROM (SELECT a FROM t\nORDER BY a\nLIMIT 3)"):
        assert parse_analysis(header + sql, "access").unordered_sql == sql


@pytest.mark.parametrize("rows", [1, 3])
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_the_preview_count_is_the_number_of_rows(path: Path, rows: int, fixture_lake: Lake) -> None:
    analysis = _load(path)
    engine = get_engine("duckdb", fixture_lake)
    values = {"key": "reports/Q1 results.pdf"} if "key" in analysis.parameters else {}
    every_row = analysis.run(engine, values)
    first, total = analysis.preview(engine, values, rows)
    assert total == every_row.num_rows and first.equals(every_row.slice(0, rows))
    assert analysis.preview(engine, values, rows, limit=2)[1] == min(every_row.num_rows, 2)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_analysis_has_a_test(path: Path) -> None:
    mentioned = any(f'"{path.stem}"' in test.read_text(encoding="utf-8") for test in TESTS.glob("test_*.py")
                    if test.name != "test_catalog.py")
    assert mentioned, f"no test names {path.stem!r}"


def test_names_and_aliases_are_unambiguous_within_a_log_type() -> None:
    for log_type in ("access", "cloudtrail"):
        names: list[str] = []
        for path in FILES:
            if path.parent.name == log_type:
                analysis = _load(path)
                names += {analysis.name, *(alias.lower() for alias in analysis.aliases)}
        assert len(names) == len(set(names)), log_type


def test_the_guidance_names_find_the_access_analyses() -> None:
    guidance = {"ObjectAccess": "object-access", "ClientError-4xx": "client-errors",
                "ServiceError-5xx": "server-errors", "ObjectDeletion": "deletions",
                "LifecycleAction-Expiration": "lifecycle-expirations",
                "LifecycleAction-Transition": "lifecycle-transitions",
                "LifecycleActionStatistics": "lifecycle-stats", "Latency": "latency",
                "TopTroubleshootingQueries": "top-troubleshooting"}
    for alias, name in guidance.items():
        assert find_analysis(alias.upper(), "access").name == name


def test_every_filter_of_every_analysis_has_a_filter_test() -> None:
    """tests/test_filters.py registers the (log type, analysis, filter) triples its tests cover; a filter
    declared in a header and not covered there fails here (and one covered that no header declares)."""
    from test_filters import COVERED  # tests/ is on sys.path: pytest's rootdir-less test modules

    declared = {(path.parent.name, path.stem, p) for path in FILES for p in _load(path).parameters}
    assert sorted(declared - COVERED) == [], "filters without a test in tests/test_filters.py"
    assert sorted(COVERED - declared) == [], "tests of filters no analysis takes"
