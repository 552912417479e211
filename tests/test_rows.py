"""Rows fetched as Python values print exactly as the same rows fetched as Arrow: csv, json, the terminal's cells,
and the table s3logq draws without rich (issue 12: `run` without pyarrow)."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from s3logq.catalog import find_analysis
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.output import write_csv, write_json
from s3logq.rows import Rows, arrow_float, kind_of
from s3logq.sources import list_sources
from s3logq.terminal import TerminalView, cells, terminal_view

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = int(os.environ.get("S3LOGQ_FUZZ_EXAMPLES", "100"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(sql: str, table: pa.Table | None = None) -> tuple[Rows, pa.Table]:
    """The same query's rows from DuckDB as Python values and as Arrow."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    if table is not None:
        connection.register("t", table)
    cursor = connection.execute(sql)
    rows = Rows([d[0] for d in cursor.description], [kind_of(str(d[1])) for d in cursor.description],
                cursor.fetchall())
    return rows, connection.sql(sql).to_arrow_table()


def written(write, table) -> bytes:  # noqa: ANN001
    sink = io.BytesIO()
    write(table, sink)
    return sink.getvalue()


def test_every_kind_of_column_prints_as_arrow_prints_it() -> None:
    rows, arrow = both("""SELECT 'a"b' AS text, '' AS empty, NULL::VARCHAR AS missing, 42::BIGINT AS n,
        sum(7::BIGINT) AS total, 100.0::DOUBLE AS d, 1.5::DECIMAL(10, 2) AS money, true AS yes,
        TIMESTAMPTZ '2024-03-01 10:00:00.123+00' AS at, TIMESTAMP '2024-03-01 10:00:00' AS naive,
        DATE '2024-03-01' AS day, {'a': 1, 'b': [1, 2]} AS nested, [1, 2] AS list""")
    assert written(write_csv, rows) == written(write_csv, arrow) == (
        b'"text","empty","missing","n","total","d","money","yes","at","naive","day","nested","list"\n'
        b'"a""b","",,42,7,100,1.50,true,"2024-03-01T10:00:00.123Z","2024-03-01T10:00:00Z","2024-03-01",'
        b'"{""a"": 1, ""b"": [1, 2]}","[1, 2]"\n')
    # sum() is a 128-bit integer: Arrow gives a Decimal, which json writes as a string
    assert written(write_json, rows) == written(write_json, arrow)
    assert b'"total": "7"' in written(write_json, rows)
    assert cells(rows, 50) == cells(arrow, 50)
    assert cells(rows, 50)["money"] == ["1.50"] and cells(rows, 50)["total"] == ["7"]


def test_times_finer_than_milliseconds_are_cut_to_them_on_both_paths() -> None:
    # now() and your own SQL give microseconds: Arrow's path refused them ("would lose data") before
    rows, arrow = both("""SELECT TIMESTAMPTZ '2024-01-01 00:00:00.123456+00' AS at,
        TIMESTAMPTZ '1969-12-31 23:59:59.999999+00' AS before_1970, TIMESTAMP '2024-01-01 00:00:00.000900' AS naive""")
    assert written(write_csv, rows) == written(write_csv, arrow) == (
        b'"at","before_1970","naive"\n"2024-01-01T00:00:00.123Z","1969-12-31T23:59:59.999Z","2024-01-01T00:00:00Z"\n')
    assert cells(rows, 50) == cells(arrow, 50)


def test_floats_as_arrow_writes_them() -> None:
    # worked out from Arrow's formatter: plain from 1e-6 to below 1e10, else a mantissa and a signed exponent
    expected = {100.0: "100", 1e9: "1000000000", 1e10: "1e+10", 1.5e17: "1.5e+17", 0.000001: "0.000001",
                1e-7: "1e-7", 0.1 + 0.2: "0.30000000000000004", -0.0: "-0", 1 / 3: "0.3333333333333333",
                float("inf"): "inf", float("nan"): "nan", 123456789012345678.0: "1.2345678901234568e+17"}
    assert {value: arrow_float(value) for value in expected} == expected


texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
floats = st.floats(allow_nan=False, width=64)
times = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@PROPERTY
@given(st.lists(st.tuples(st.none() | texts, st.none() | st.integers(-2**63, 2**63 - 1), st.none() | floats,
                          st.none() | st.booleans(), st.none() | times), max_size=8))
def test_any_rows_print_as_arrow_prints_them(values: list[tuple]) -> None:
    names = ["text", "n", "x", "yes", "at"]
    table = pa.table({name: [row[i] for row in values] for i, name in enumerate(names)},
                     schema=pa.schema([("text", pa.string()), ("n", pa.int64()), ("x", pa.float64()),
                                       ("yes", pa.bool_()), ("at", pa.timestamp("ms", tz="UTC"))]))
    rows, arrow = both("SELECT * FROM t", table)
    assert written(write_csv, rows) == written(write_csv, arrow)
    assert written(write_json, rows) == written(write_json, arrow)
    assert cells(rows, 50) == cells(arrow, 50)


def rich_lines(view: TerminalView, terminal: bool) -> str:
    console = Console(file=io.StringIO(), width=view.width, soft_wrap=False, force_terminal=terminal,
                      color_system="standard" if terminal else None)
    console.print(view.table)
    return console.file.getvalue()


def test_a_table_drawn_by_hand() -> None:
    view = TerminalView("Who", ["name", "n"], [6, 3], [False, True], [["abc", "1,2"], ["", "5"]], 16)
    assert view.plain_lines() == ["      Who       ",
                                  "┏━━━━━━━━┳━━━━━┓",
                                  "┃ name   ┃   n ┃",
                                  "┡━━━━━━━━╇━━━━━┩",
                                  "│ abc    │ 1,2 │",
                                  "│        │   5 │",
                                  "└────────┴─────┘"]
    assert "\n".join(view.plain_lines()) + "\n" == rich_lines(view, terminal=False)


ascii_texts = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10)


@PROPERTY
@given(st.none() | ascii_texts, st.lists(st.tuples(ascii_texts.filter(bool), st.booleans()), min_size=1, max_size=4),
       st.integers(0, 4), st.data())
def test_the_plain_table_is_what_rich_prints(title: str | None, columns: list[tuple[str, bool]], count: int,
                                             data: st.DataObject) -> None:
    rows = [[data.draw(ascii_texts) for _ in columns] for _ in range(count)]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, (name, _) in enumerate(columns)]
    width = 1 + sum(w + 3 for w in widths)
    view = TerminalView(title, [n for n, _ in columns], widths, [r for _, r in columns], rows, width)
    lines = view.plain_lines()
    if lines is None:  # only a title wider than the table goes to rich
        assert title is not None and len(title) > width
        return
    assert "\n".join(lines) + "\n" == rich_lines(view, terminal=False)
    assert "\n".join(view.plain_lines(bold_header=True)) + "\n" == rich_lines(view, terminal=True)


def test_what_only_rich_measures_goes_to_rich() -> None:
    for text in ("Zoë", "名前", "tab\there", "a\rb"):
        assert TerminalView(None, ["c"], [10], [False], [[text]], 14).plain_lines() is None


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    lake = Lake(tmp_path_factory.mktemp("rows-lake"))
    ingest(lake, list_sources([str(FIXTURES / "access"), str(FIXTURES / "cloudtrail")]), IngestOptions(workers=1))
    return DuckDBEngine(lake)


def test_a_small_answer_is_fetched_as_python_values_and_a_big_one_is_not(engine: DuckDBEngine) -> None:
    analysis = find_analysis("requests", "access")
    every = analysis.run(engine, {})
    assert every.num_rows == 47  # the access fixture's readable lines
    rows = analysis.run_small(engine, {}, most=47)
    assert isinstance(rows, Rows) and rows.num_rows == 47
    assert written(write_csv, rows) == written(write_csv, every)
    assert analysis.run_small(engine, {}, most=46) is None  # Arrow writes more rows faster
    assert analysis.run_small(engine, {}, most=46, limit=46).num_rows == 46


def test_the_terminal_view_of_lake_rows_is_the_same_from_python_values(engine: DuckDBEngine) -> None:
    analysis = find_analysis("requests", "access")
    rows, total = analysis.preview(engine, {}, 50, as_rows=True)
    arrow, arrow_total = analysis.preview(engine, {}, 50)
    assert isinstance(rows, Rows) and total == arrow_total == 47
    for width in (80, 220):
        view = terminal_view(rows, width, "t", analysis.key_columns)
        assert rich_lines(view, terminal=False) == rich_lines(terminal_view(arrow, width, "t", analysis.key_columns),
                                                             terminal=False)
        lines = view.plain_lines()  # None at 220: the fixture's keys and user agents are not all ASCII
        assert (lines is None) == (width == 220)
        assert lines is None or "\n".join(lines) + "\n" == rich_lines(view, terminal=False)
    plain = ["request_time", "operation", "httpstatus", "bytessent", "requester"]
    view = terminal_view(rows.select(plain), 220, "t", analysis.key_columns)
    assert view.plain_lines() == terminal_view(arrow.select(plain), 220, "t", analysis.key_columns).plain_lines()
    assert "\n".join(view.plain_lines()) + "\n" == rich_lines(view, terminal=False)


def test_a_query_names_only_its_tables(engine: DuckDBEngine) -> None:
    """Views are made for the tables the SQL names: an access-log query does not open CloudTrail's parts."""
    engine.query_rows("SELECT count(*) FROM access_log")
    assert set(engine._views) == {"access_log"}
    # CloudTrail's parts were not allowed in that database: a new one reads them
    assert engine.query_rows("SELECT count(*) AS n FROM cloudtrail").records[0][0] > 0
    assert set(engine._views) == {"cloudtrail"}


def test_decimal_total_is_a_decimal_in_rows() -> None:
    rows, _ = both("SELECT sum(x) AS total FROM range(3) AS r(x)")
    assert rows.readable().records == [(Decimal(3),)]
