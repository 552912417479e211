"""The SQL that reaches Athena, checked by two independent Trino gates (trino-sql-validator: valid and no
unknown function; trino-query-parser: Trino 422's grammar) and the table DDL by sqlglot's Athena dialect.

The gates are imported, not skipped: a machine without them fails here. What no gate here can check is
Athena's engine itself (types at run time, the SerDes, partition projection); see tests/test_athena_live.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot
import trino_query_parser
import trino_sql_validator
from click.testing import CliRunner

from s3logq.athena import ddl
from s3logq.catalog import load_catalog
from s3logq.cli import cli
from s3logq.engines import QueryError
from s3logq.engines.athena import athena_sql
from s3logq.formats.access_log import parse_access_log

FIXTURES = Path(__file__).parent / "fixtures"
SINCE, UNTIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC)
ACCESS = ddl.access_location("s3://acme-logs/access/111111111111/us-east-1/acme-prod-data/")
SIMPLE = ddl.access_location("s3://acme-logs/simple/")
TRAIL = ddl.cloudtrail_location("s3://acme-trail/AWSLogs/o-abc123/", accounts=("111122223333", "444455556666"))


def assert_trino_runs(sql: str) -> None:
    """Both gates accept the statement, and it names no function or type Trino lacks."""
    result = trino_sql_validator.validate(sql)
    assert result.valid, result.error
    assert not result.unknown_functions and not result.unknown_types, (result.unknown_functions, result.unknown_types)
    trino_query_parser.parse_statement(sql)  # raises TrinoSyntaxError


@pytest.mark.parametrize("days", [False, True], ids=["no-range", "day-filter"])
@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_rendered_for_athena_passes_both_gates(analysis, days: bool) -> None:
    values = {"since": SINCE, "until": UNTIL} if days else {}
    text, bound = athena_sql(analysis.sql, analysis.bind(values), *(SINCE, UNTIL) if days else (None, None))
    assert_trino_runs(text)
    assert len(list(sqlglot.parse_one(text, read="trino").find_all(sqlglot.exp.Placeholder))) == len(bound)
    if days:  # every read of a view is narrowed to the day folders of the range, with a day's margin
        assert "log_day IS NULL OR (log_day >= ? AND log_day <= ?)" in text
        assert "2024/02/29" in bound and "2024/03/09" in bound


@pytest.mark.parametrize("location", [ACCESS, SIMPLE, TRAIL], ids=["partitioned", "simple", "cloudtrail"])
def test_every_view_passes_both_gates(location) -> None:
    view = ddl.access_view("s3logq", location) if location.table == "access_log" else ddl.cloudtrail_view(
        "s3logq", location)
    assert_trino_runs(view)


@pytest.mark.parametrize("location", [ACCESS, SIMPLE, TRAIL], ids=["partitioned", "simple", "cloudtrail"])
def test_table_ddl_round_trips_through_sqlglot_athena_and_the_hive_gate(location) -> None:
    table = (ddl.access_raw_table("s3logq", location) if location.table == "access_log"
             else ddl.cloudtrail_raw_table("s3logq", location))
    tree = sqlglot.parse_one(table, read="athena")
    assert sqlglot.parse_one(tree.sql(dialect="athena"), read="athena") == tree
    # the regex reaches the SerDe intact: sqlglot reads the Hive literal back to our pattern
    properties = {p.name: p.text("value") for p in tree.find_all(sqlglot.exp.Property)}
    if location.table == "access_log":
        assert properties["input.regex"] == ddl.ACCESS_REGEX
    # the validator's Hive grammar has no struct<>/map<> column types: the rest of the statement must pass
    flat = re.sub(r"`(\w+)` (?:struct|map|array)<.*", r"`\1` string,", table)
    result = trino_sql_validator.validate(flat, dialect="hive")
    assert result.valid, result.error


def test_partition_projection_follows_each_layout() -> None:
    assert ACCESS.template == "s3://acme-logs/access/111111111111/us-east-1/acme-prod-data/${log_day}"
    assert not SIMPLE.partitioned
    assert TRAIL.template == "s3://acme-trail/AWSLogs/o-abc123/${account}/CloudTrail/${region}/${log_day}"
    assert TRAIL.enums["account"] == ("111122223333", "444455556666")
    table = ddl.cloudtrail_raw_table("s3logq", TRAIL)
    assert "PARTITIONED BY (`account` string, `region` string, `log_day` string)" in table
    assert "'projection.log_day.format'='yyyy/MM/dd'" in table
    assert "PARTITIONED BY" not in ddl.access_raw_table("s3logq", SIMPLE)
    with pytest.raises(ddl.DDLError, match="--account"):
        ddl.cloudtrail_location("s3://acme-trail/AWSLogs/")


def test_views_have_every_lake_column_with_its_type() -> None:
    from s3logq.formats.access_log import ACCESS_SCHEMA
    from s3logq.formats.cloudtrail import SCHEMA

    for schema, view in ((ACCESS_SCHEMA, ddl.access_view("d", ACCESS)), (SCHEMA, ddl.cloudtrail_view("d", TRAIL))):
        for field in schema:
            assert f" AS {ddl.trino_type(field.type)}) AS {field.name},\n" in view, field.name


def test_sql_athena_cannot_run_is_refused_before_submission() -> None:
    with pytest.raises(QueryError, match="no function percentile_cont"):  # sqlglot renders quantile_cont so
        athena_sql("SELECT quantile_cont(totaltime, 0.5) FROM access_log", {})
    with pytest.raises(QueryError, match="does not parse"):
        athena_sql("SELECT FROM WHERE", {})


def _lines() -> list[tuple[str, int, str]]:
    return [(path.name, number, line) for path in sorted((FIXTURES / "access").iterdir())
            for number, line in enumerate(path.read_text().split("\n"), 1) if line]


def test_our_regex_reads_every_fixture_line_and_aws_regex_loses_one() -> None:
    """Measured for the README: of the 47 fixture lines, AWS's regex matches 46 (the user agent with `\\"`
    becomes an all-NULL row in Athena); ours matches all 47, as the lake reads them."""
    lines = _lines()
    ours, aws = re.compile(ddl.ACCESS_REGEX), re.compile(ddl.AWS_ACCESS_REGEX)
    assert ours.groups == aws.groups == len(ddl.ACCESS_RAW_COLUMNS) == 27
    assert (len(lines), sum(bool(ours.fullmatch(t)) for _, _, t in lines),
            sum(bool(aws.fullmatch(t)) for _, _, t in lines)) == (47, 47, 46)


def _unquoted(value: str) -> str | None:
    """What the view does to a quoted field (strip quotes, undo escapes, '-' is NULL)."""
    text = re.sub(r"\\(.)", r"\1", value[1:-1] if value.startswith('"') else value)
    return None if text == "-" else text


def test_our_regex_splits_each_fixture_line_into_the_lake_fields() -> None:
    for path in sorted((FIXTURES / "access").iterdir()):
        rows, _ = parse_access_log(path.read_bytes(), path.name)
        lake = {row["log_line"]: row for row in rows.to_pylist()}
        for number, line in enumerate(path.read_text().split("\n"), 1):
            if not line:
                continue
            groups = dict(zip(ddl.ACCESS_RAW_COLUMNS, re.fullmatch(ddl.ACCESS_REGEX, line).groups(), strict=True))
            row = lake[number]
            for name in ("request_uri", "referrer", "useragent"):
                assert _unquoted(groups[name]) == row[name], (path.name, number, name)
            for name in ("requestid", "operation", "hostid", "bucket_name", "source_region", "tlsversion"):
                assert (None if groups[name] in (None, "-") else groups[name]) == row[name], (path.name, number, name)


def test_ddl_command_prints_the_script_without_aws(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: any AWS call would fail
    result = CliRunner().invoke(cli, ["athena", "ddl", "--access", "s3://acme-logs/simple/", "--cloudtrail",
                                      "s3://acme-trail/AWSLogs/111122223333/", "--database", "audit"])
    assert result.exit_code == 0, result.output
    assert "CREATE DATABASE IF NOT EXISTS audit;" in result.output
    assert "CREATE OR REPLACE VIEW audit.access_log AS" in result.output
    assert "CREATE OR REPLACE VIEW audit.cloudtrail AS" in result.output
    assert "every query reads the whole prefix" in result.output
    bad = CliRunner().invoke(cli, ["athena", "ddl", "--cloudtrail", "s3://acme-trail/AWSLogs/"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "--account" in bad.output


def test_show_sql_for_athena_needs_no_lake_and_no_aws(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--lake", str(tmp_path / "none"), "run", "deletions", "--engine", "athena",
                                      "--show-sql", "--since", "2024-03-01", "--bucket", "it's"])
    assert result.exit_code == 0, result.output
    assert ("FROM (SELECT * FROM access_log WHERE log_day IS NULL OR (log_day >= ?) OR (log_day >= ? AND "
            "log_day <= ?)) AS access_log") in result.output  # raw logs' days, then a pushed lake's (yyyy-MM-dd)
    assert ("-- parameters: [\"'2024/02/29'\", \"'2024-02-29'\", \"'2024-12-31'\", "
            "\"TIMESTAMP '2024-03-01 00:00:00.000000 UTC'\"") in result.output
    assert "'it''s'" in result.output and "= 'it" not in result.output.split("-- parameters")[0]
