"""Athena semantics without Athena: what `--engine athena` sends, read back by sqlglot (Athena -> DuckDB) and run
in DuckDB, must give the native rows; and the raw-log views of `athena setup`, translated the same way and run
over the fixture and demo logs as the SerDes present them, must give the lake's rows.

The stand-in for Athena is a client that receives exactly what AthenaEngine hands boto3 (the SQL text with `?`
and the execution parameters as literal texts), puts each literal at its `?` in text order (EXECUTE ... USING),
and runs the result in DuckDB over tables with the views' columns and `log_day`.

What this cannot see: Trino itself. The round trip maps each Trino function back to its DuckDB counterpart, so
a function that means something else in Trino is invisible here (latency-summary's approx_percentile is
DuckDB's approximation on both sides; regexp_extract's no-match NULL is guarded by nullif in the catalog).
The SerDes are modelled in Python (RegexSerDe: Java's whole-line match, one string per group; the JSON SerDe:
keys without regard to case, nested JSON as orjson writes it, which Jackson's text may not equal byte for
byte). Partition projection is not run: `log_day` is derived from the row's time or its file's folder.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlglot
from sqlglot.tokens import TokenType

from s3logq.athena import ddl
from s3logq.athena.client import AthenaOptions
from s3logq.catalog import Analysis, find_analysis, load_catalog
from s3logq.engines.athena import AthenaEngine
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources
from s3logq.times import parse_when

FIXTURES = Path(__file__).parent / "fixtures"
LAKE_FOLDERS = ("access", "access-trail", "cloudtrail", "filters")
# the filter an analysis needs to give rows at all
REQUIRED: dict[str, dict[str, object]] = {"request-lookup": {"request_id": "R08"}}
# Time windows tried in order for each analysis: the first that keeps some but not all of its rows is used, so
# an ignored bound, or a day filter that drops a day it should keep, changes the answer. Mid-day bounds: a day
# filter off by one day in either direction drops rows inside the window.
WINDOWS = [(datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 2, 12, tzinfo=UTC)),
           (datetime(2024, 3, 2, 12, tzinfo=UTC), datetime(2024, 3, 3, 12, tzinfo=UTC)),
           (datetime(2024, 2, 29, 12, tzinfo=UTC), datetime(2024, 3, 1, 12, tzinfo=UTC)),
           (datetime(2024, 3, 1, 6, tzinfo=UTC), datetime(2024, 3, 3, 6, tzinfo=UTC)),
           (datetime(2024, 3, 2, 11, 3, tzinfo=UTC), datetime(2024, 3, 3, 11, 3, tzinfo=UTC))]


def bind_in_text_order(athena_sql: str, parameters: list[str]) -> str:
    """The statement Athena runs: each execution parameter (a literal's text) at its `?`, in text order."""
    tokens = [t for t in sqlglot.tokenize(athena_sql, read="athena") if t.token_type == TokenType.PLACEHOLDER]
    assert len(tokens) == len(parameters), (len(tokens), parameters)
    for token, value in reversed(list(zip(tokens, parameters, strict=True))):
        athena_sql = athena_sql[: token.start] + value + athena_sql[token.end + 1:]
    return athena_sql


class DuckDBAsAthena:
    """Takes AthenaClient.query's arguments and answers from DuckDB tables standing in for Athena's views."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.history: list[object] = []
        self.sent: list[tuple[str, list[str]]] = []

    def query(self, sql: str, parameters: list[str] | None = None, on_progress: object = None) -> pa.Table:
        self.sent.append((sql, list(parameters or [])))
        statement = bind_in_text_order(sql, list(parameters or []))
        return self.connection.sql(sqlglot.transpile(statement, read="athena", write="duckdb")[0]).to_arrow_table()


# The lake's DuckDB views add `day` (DuckDB reads the parts' hive folders day=...); Athena's views have log_day.
LAKE_ONLY = "day"


def lake_table(engine: DuckDBEngine, view: str) -> pa.Table:
    """Every row of a lake view, with the columns Athena's view of the same name has."""
    table = engine.query(f"SELECT * FROM {view}")
    return table.drop_columns([LAKE_ONLY]) if LAKE_ONLY in table.column_names else table


def _ingest(root: Path) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(FIXTURES / f) for f in LAKE_FOLDERS]), IngestOptions(workers=2))
    assert report.ok and report.rejected_lines == 0
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return _ingest(tmp_path_factory.mktemp("athena-semantics") / "lake")


# log_day as the day folder of the file that delivered the row: an access log's name starts with its delivery
# time (YYYY-MM-DD-...), a CloudTrail file lies in .../YYYY/MM/DD/
DELIVERY_DAY = {"access_log": r"replace(substr(regexp_extract(log_file, '[^/]*$'), 1, 10), '-', '/')",
                "cloudtrail": r"regexp_extract(log_file, '(\d{4}/\d{2}/\d{2})/[^/]*$', 1)"}


def athena_stand_in(lake: Lake, by_delivery: bool = False) -> duckdb.DuckDBPyConnection:
    """The lake's rows as Athena's views show them: the same columns, plus `log_day` ('yyyy/MM/dd' of the row's
    time, or of the file's delivery: the partition the day filter reads)."""
    native = DuckDBEngine(lake)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for view, time_column in (("access_log", "request_time"), ("cloudtrail", "event_time")):
        rows = lake_table(native, view)  # noqa: F841 (read by DuckDB's replacement scan)
        day = DELIVERY_DAY[view] if by_delivery else f"strftime({time_column}, '%Y/%m/%d')"
        connection.execute(f"CREATE TABLE {view} AS SELECT *, {day} AS log_day FROM rows")
    return connection


@pytest.fixture(scope="module")
def athena(lake: Lake) -> Iterator[AthenaEngine]:
    connection = athena_stand_in(lake)
    yield AthenaEngine(AthenaOptions(), client=DuckDBAsAthena(connection))  # type: ignore[arg-type]
    connection.close()


@pytest.fixture(scope="module")
def athena_by_delivery(lake: Lake) -> Iterator[AthenaEngine]:
    connection = athena_stand_in(lake, by_delivery=True)
    yield AthenaEngine(AthenaOptions(), client=DuckDBAsAthena(connection))  # type: ignore[arg-type]
    connection.close()


def values(table: pa.Table) -> list[dict[str, object]]:
    return [{k: int(v) if isinstance(v, Decimal) and v == int(v) else v for k, v in row.items()}
            for row in table.to_pylist()]


def assert_same_rows(athena_table: pa.Table, native_table: pa.Table) -> None:
    """Same columns and rows in the same order (every analysis's ORDER BY ends with a unique key)."""
    assert athena_table.column_names == native_table.column_names
    assert values(athena_table) == values(native_table)


def window_for(analysis: Analysis, lake: Lake) -> dict[str, object]:
    """The first window (in WINDOWS) that keeps some but not all of the analysis's native rows; else the first
    that keeps none (request-lookup's R08 rows share one instant: a window can only keep all or none)."""
    native = DuckDBEngine(lake)
    base = REQUIRED.get(analysis.name, {})
    everything = values(analysis.run(native, base))
    kept = {window: values(analysis.run(native, {**base, "since": window[0], "until": window[1]}))
            for window in WINDOWS}
    narrowing = [w for w in WINDOWS if kept[w] and kept[w] != everything] or [w for w in WINDOWS if not kept[w]]
    assert narrowing, f"no window narrows {analysis.name}: add one to WINDOWS"
    return {**base, "since": narrowing[0][0], "until": narrowing[0][1]}


@pytest.mark.parametrize("analysis", load_catalog(), ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_on_athena_gives_the_native_rows(lake: Lake, athena: AthenaEngine, analysis: Analysis) -> None:
    native = DuckDBEngine(lake)
    filters = REQUIRED.get(analysis.name, {})
    expected = analysis.run(native, filters)
    assert expected.num_rows > 0  # two empty answers would prove nothing
    assert_same_rows(analysis.run(athena, filters), expected)


@pytest.mark.parametrize("analysis", [a for a in load_catalog() if "since" in a.parameters],
                         ids=lambda a: f"{a.log_type}/{a.name}")
def test_every_analysis_in_a_time_window_on_athena_gives_the_native_rows(lake: Lake, athena: AthenaEngine,
                                                                         analysis: Analysis) -> None:
    """The window's bounds reach Athena twice: as the analysis's own `?`s and as the day filter's."""
    filters = window_for(analysis, lake)
    sent = len(athena.client.sent)
    assert_same_rows(analysis.run(athena, filters), analysis.run(DuckDBEngine(lake), filters))
    sql, _ = athena.client.sent[sent]
    assert re.search(r"WHERE log_day IS NULL OR \(log_day >= \?", sql)  # the day filter was sent, not dropped


# The last second of 2024-03-01 is delivered in a file of 2024-03-02 (tests/fixtures/access, R20; the trail's
# 2024/03/02/..T0005Z file): a window ending within 2024-03-01 must still read the next day's folder.
LATE_DELIVERY = {"since": datetime(2024, 3, 1, 6, tzinfo=UTC), "until": datetime(2024, 3, 1, 23, 59, 59, 500000, tzinfo=UTC)}


@pytest.mark.parametrize("analysis", [a for a in load_catalog() if "since" in a.parameters],
                         ids=lambda a: f"{a.log_type}/{a.name}")
def test_rows_delivered_the_next_day_are_read(lake: Lake, athena_by_delivery: AthenaEngine,
                                              analysis: Analysis) -> None:
    filters = {**REQUIRED.get(analysis.name, {}), **LATE_DELIVERY}
    assert_same_rows(analysis.run(athena_by_delivery, filters), analysis.run(DuckDBEngine(lake), filters))


def test_the_late_delivery_window_holds_rows_of_next_day_folders(athena_by_delivery: AthenaEngine) -> None:
    """Without rows from a later folder in the window, the test above could not fail."""
    connection = athena_by_delivery.client.connection
    for view, time_column in (("access_log", "request_time"), ("cloudtrail", "event_time")):
        late = connection.execute(f"SELECT count(*) FROM {view} WHERE {time_column} >= ? AND {time_column} < ? "
                                  "AND log_day > strftime(?, '%Y/%m/%d')",
                                  [LATE_DELIVERY["since"], LATE_DELIVERY["until"], LATE_DELIVERY["until"]]).fetchone()
        assert late is not None and late[0] > 0, view


FILTERED = [
    ("access", "object-access", {"since": "2024-03-01T23:59:59Z", "until": "2024-03-02"}),
    ("access", "requests", {"since": "2024-03-01", "until": "2024-03-02", "bucket": "acme-data",
                            "prefix": "reports/"}),
    ("access", "latency", {"requester": "user/alice", "operation": "rest.get.object", "status": 200}),
    ("access", "top-requesters", {"bucket": "acme-web", "by": "ip"}),
    ("access", "object-history", {"bucket": "acme-data", "key": "reports/Q1 results.pdf",
                                  "since": "2024-03-01T09:00:00Z"}),
    ("access", "request-lookup", {"request_id": "hostR06=", "since": "2024-03-01"}),
    ("access", "deletions", {"since": "2024-03-02", "until": "2024-03-03", "prefix": "logs/"}),
    ("access", "latency-summary", {"by": "requester", "since": "2024-03-01T12:00:00Z", "status": 200}),
    ("cloudtrail", "bucket-config-changes", {"since": "2024-03-02", "until": "2024-03-03", "bucket": "acme-logs"}),
    ("cloudtrail", "object-access", {"since": "2024-03-01", "until": "2024-03-02", "prefix": "reports/"}),
    ("cloudtrail", "public-exposure", {"until": "2024-03-03T12:00:00Z", "operation": "PutBucketPolicy"}),
]


@pytest.mark.parametrize("log_type,name,filters", FILTERED, ids=[f"{t}/{n}" for t, n, _ in FILTERED])
def test_filters_reach_athena_in_the_order_of_their_placeholders(lake: Lake, athena: AthenaEngine, log_type: str,
                                                                 name: str, filters: dict[str, object]) -> None:
    """Several filters at once: a value bound to another filter's `?` changes the rows."""
    analysis = find_analysis(name, log_type)
    given = {k: parse_when(v) if k in ("since", "until") else v for k, v in filters.items()}
    expected = analysis.run(DuckDBEngine(lake), given)
    assert expected.num_rows > 0 and values(expected) != values(analysis.run(DuckDBEngine(lake), {}))
    assert_same_rows(analysis.run(athena, given), expected)


def test_a_limit_keeps_the_analysis_order(lake: Lake, athena: AthenaEngine) -> None:
    analysis = find_analysis("requests", "access")
    assert_same_rows(analysis.run(athena, {"bucket": "acme-data"}, limit=5),
                     analysis.run(DuckDBEngine(lake), {"bucket": "acme-data"}, limit=5))


def test_the_stand_in_reads_literals_as_athena_does() -> None:
    """bind_in_text_order puts each value at its own `?`, quotes and all (a `?` inside a string is not one)."""
    assert (bind_in_text_order("SELECT ?, '?', ? FROM t WHERE a = ?", ["1", "'it''s'", "NULL"])
            == "SELECT 1, '?', 'it''s' FROM t WHERE a = NULL")
    assert bind_in_text_order("SELECT '?'", []) == "SELECT '?'"


# --- the raw-log views ----------------------------------------------------------------------------------------
# What sqlglot's Athena -> DuckDB translation leaves in Trino's terms, and what the stand-in gives DuckDB for it:
# - parse_datetime's Joda pattern is passed through as is: the same pattern in strptime's terms;
# - at_timezone(t, 'UTC') has no DuckDB function: a TIMESTAMPTZ is the same instant in any zone, so t itself;
# - regexp_replace's Java replacement '$1' is passed through; RE2 writes it '\1';
# - DuckDB's url_decode is not Trino's (Java's URLDecoder: an invalid escape fails, try() makes it NULL, and
#   undecodable UTF-8 becomes U+FFFD): java_url_decode below is Java's, as a Python function.
ACCESS_LOCATION = ddl.access_location("s3://acme-logs/access/111111111111/us-east-1/acme-data/")
TRAIL_LOCATION = ddl.cloudtrail_location("s3://acme-trail/AWSLogs/111122223333/CloudTrail/us-east-1/")
# (Trino construct as sqlglot leaves it, DuckDB's), for the access view; the CloudTrail view needs none of them
TRINO_FOR_DUCKDB = [("STRPTIME(requestdatetime, 'dd/MMM/yyyy:HH:mm:ss Z')",
                     "STRPTIME(requestdatetime, '%d/%b/%Y:%H:%M:%S %z')"),
                    ("$1'", "\\1'"),  # the end of each regexp_replace replacement
                    ("URL_DECODE(", "JAVA_URL_DECODE(")]


def java_url_decode(text: str) -> str:
    """java.net.URLDecoder.decode(text, UTF_8), which Trino's url_decode is: '+' is a space, runs of %XX are
    UTF-8 (malformed bytes become U+FFFD), and a '%' without two hex digits is an error."""
    out, index = [], 0
    while index < len(text):
        char = text[index]
        if char != "%":
            out.append(" " if char == "+" else char)
            index += 1
            continue
        run = bytearray()
        while index < len(text) and text[index] == "%":
            digits = text[index + 1:index + 3]
            if len(digits) < 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"illegal escape in {text!r}")
            run.append(int(digits, 16))
            index += 3
        out.append(run.decode("utf-8", errors="replace"))
    return "".join(out)


def duckdb_view(view_sql: str) -> str:
    """A view of ddl.py in DuckDB's SQL: sqlglot's translation, with what it leaves in Trino's terms replaced."""
    text = sqlglot.transpile(view_sql, read="athena", write="duckdb")[0]
    if "access_log_raw" in text:
        for trino, duck in TRINO_FOR_DUCKDB:
            assert trino in text, trino  # the view changed: say what its new construct is in DuckDB
            text = text.replace(trino, duck)
    return text


def serde_connection() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA s3logq")
    connection.execute("CREATE MACRO at_timezone(moment, zone) AS moment")
    connection.create_function("java_url_decode", java_url_decode, ["VARCHAR"], "VARCHAR",
                               exception_handling="return_null")
    return connection


def regex_serde_rows(data: bytes, path: str, pattern: str = ddl.ACCESS_REGEX) -> list[tuple[str | None, ...]]:
    """A log file as RegexSerDe reads it: gunzipped when named .gz, lines split at \\n, \\r\\n or \\r (Hadoop's
    LineReader), text as UTF-8 with U+FFFD for bad bytes, one string per group when the whole line matches, all
    NULL when it does not."""
    regex = re.compile(pattern)
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8", errors="replace")
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for line in lines:
        match = regex.fullmatch(line)
        rows.append(match.groups() if match else (None,) * regex.groups)
    return rows


def access_log_paths() -> list[Path]:
    return sorted(p for folder in ("access", "filters/access", "detections/access")
                  for p in (FIXTURES / folder).iterdir())


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from s3logq.demo import generate

    root = tmp_path_factory.mktemp("demo-logs")
    generate(root)
    return root


def lake_of(root: Path, paths: list[Path]) -> Lake:
    lake = Lake(root)
    report = ingest(lake, list_sources([str(p) for p in paths]), IngestOptions(workers=2))
    assert report.ok
    return lake


def rows_without(table: pa.Table, *columns: str) -> list[tuple]:
    """The rows as sortable tuples, without the named columns (None sorts first)."""
    kept = [name for name in table.column_names if name not in columns]
    rows = [tuple(row[name] for name in kept) for row in table.to_pylist()]
    return sorted(rows, key=lambda row: [(value is not None, repr(value)) for value in row])


def access_view_rows(paths: list[Path]) -> pa.Table:
    """ddl.access_view over the files split by RegexSerDe's rules ($path: the lake's log_file for the file)."""
    columns: dict[str, list] = {name: [] for name in (*ddl.ACCESS_RAW_COLUMNS, "$path", "log_day")}
    for path in paths:
        log_file = str(path)  # the name the lake gives the file: the path ingested
        for groups in regex_serde_rows(path.read_bytes(), str(path)):
            for name, value in zip(ddl.ACCESS_RAW_COLUMNS, groups, strict=True):
                columns[name].append(value)
            columns["$path"].append(log_file)
            columns["log_day"].append("/".join(path.name.split("-")[:3]))  # the delivery day
    access_log_raw = pa.table(columns)  # noqa: F841 (read by DuckDB's replacement scan)
    connection = serde_connection()
    connection.execute("CREATE TABLE s3logq.access_log_raw AS SELECT * FROM access_log_raw")
    connection.execute(duckdb_view(ddl.access_view("s3logq", ACCESS_LOCATION)))
    return connection.sql("SELECT * EXCLUDE (log_day) FROM s3logq.access_log").to_arrow_table()


# log_line: Athena does not number lines (the view gives NULL). log_file is $path, given here as the lake's name.
ACCESS_NOT_COMPARED = ("log_line",)


def test_the_access_view_over_regex_serde_rows_gives_the_lakes_rows(tmp_path: Path) -> None:
    paths = access_log_paths()
    lake = lake_of(tmp_path / "lake", paths)
    lake_rows = lake_table(DuckDBEngine(lake), "access_log")
    view_rows = access_view_rows(paths)
    assert view_rows.column_names == lake_rows.column_names
    assert rows_without(view_rows, *ACCESS_NOT_COMPARED) == rows_without(lake_rows, *ACCESS_NOT_COMPARED)


@pytest.fixture(scope="module")
def demo_access_lake(demo_logs: Path) -> Lake:
    return lake_of(demo_logs / "access-lake", sorted((demo_logs / "access").iterdir()))


def test_the_access_view_over_the_demo_logs_gives_the_lakes_rows(demo_logs: Path, demo_access_lake: Lake) -> None:
    """The demo's week: 21,947 lines with malformed ones (rejects in the lake, all-NULL rows left out by the view)."""
    paths = sorted((demo_logs / "access").iterdir())
    lake_rows = lake_table(DuckDBEngine(demo_access_lake), "access_log")
    assert rows_without(access_view_rows(paths), *ACCESS_NOT_COMPARED) == rows_without(
        lake_rows, *ACCESS_NOT_COMPARED)


def test_java_url_decode_is_javas() -> None:
    assert java_url_decode("reports/Q1%20results.pdf") == "reports/Q1 results.pdf"
    assert java_url_decode("a+b%2Bc") == "a b+c"
    assert java_url_decode("%C3%A9t%C3%A9") == "été"
    assert java_url_decode("bad%FFbyte") == "bad\ufffdbyte"
    for bad in ("100%", "%zz", "a%2", "%-1"):
        with pytest.raises(ValueError):
            java_url_decode(bad)


EDGE_KEYS = ["a%zz%20b", "100%", "ends%2", "%%41", "%4%20x", "bad%FFbyte", "a+b%2Bc", "plain", "-"]


def test_the_access_view_decodes_keys_as_the_lake_does(tmp_path: Path) -> None:
    """Keys with escapes Java's URLDecoder refuses: the lake decodes the valid ones and keeps the rest as
    written; url_decode alone fails on the whole key (and try() then kept it all undecoded)."""
    line = ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be acme-data '
            '[01/Mar/2024:10:00:{second:02d} +0000] 192.0.2.10 - R{second:02d} REST.GET.OBJECT {key} '
            '"GET /x HTTP/1.1" 200 - 1 1 1 1 "-" "curl/8.0" - hostR= SigV4 - AuthHeader e TLSv1.3 - - us-east-1')
    path = tmp_path / "logs" / "2024-03-01-10-15-00-0A1B2C3D4E5F6071"
    path.parent.mkdir()
    path.write_text("\r\n".join(line.format(second=n, key=key) for n, key in enumerate(EDGE_KEYS)) + "\r\n")
    lake = lake_of(tmp_path / "lake", [path])
    lake_keys = DuckDBEngine(lake).query("SELECT requestid, key FROM access_log ORDER BY requestid").to_pylist()
    view_keys = access_view_rows([path]).select(["requestid", "key"]).sort_by("requestid").to_pylist()
    assert len(lake_keys) == len(EDGE_KEYS) and view_keys == lake_keys


def json_serde_value(value: object, arrow_type: pa.DataType) -> object:
    """A record's value as the JSON SerDe gives it to a column of this type: keys matched without regard to
    case, a non-text value in a string column as its JSON text (true/false for flags), a value of the wrong
    shape for a struct, array or map as NULL."""
    if value is None:
        return None
    if pa.types.is_struct(arrow_type):
        if not isinstance(value, dict):
            return None
        lowered = {k.lower(): v for k, v in value.items()}
        return {f.name: json_serde_value(lowered.get(f.name), f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type):
        return [json_serde_value(v, arrow_type.value_type) for v in value] if isinstance(value, list) else None
    if pa.types.is_map(arrow_type):
        return ([(k, json_serde_value(v, arrow_type.item_type)) for k, v in value.items()]
                if isinstance(value, dict) else None)
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def cloudtrail_raw_table(paths: list[Path]) -> pa.Table:
    """The raw CloudTrail table's rows (ddl.cloudtrail_raw_columns): one per record, `$path` the lake's name
    for the file, log_day its day folder."""
    lake_types = {f.name: f.type for f in CLOUDTRAIL_SCHEMA}
    types = {name: pa.string() if kind == "string" else lake_types[name] for name, kind in ddl.cloudtrail_raw_columns()}
    rows = []
    for path in paths:
        data = path.read_bytes()
        records = orjson.loads(gzip.decompress(data) if path.name.endswith(".gz") else data).get("Records", [])
        log_file = str(path)
        day = "/".join(path.parts[-4:-1])
        for record in records:
            lowered = {k.lower(): v for k, v in record.items()}
            rows.append({**{name: json_serde_value(lowered.get(name), kind) for name, kind in types.items()},
                         "$path": log_file, "log_day": day})
    return pa.Table.from_pylist(rows, schema=pa.schema([*types.items(), ("$path", pa.string()),
                                                         ("log_day", pa.string())]))


def trail_paths(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*_CloudTrail_*.json*"))


# unmapped: the lake keeps there what its columns cannot hold; the JSON SerDe has nowhere to put it (NULL).
CLOUDTRAIL_NOT_COMPARED = ("unmapped",)


def cloudtrail_view_rows(paths: list[Path]) -> pa.Table:
    cloudtrail_raw = cloudtrail_raw_table(paths)  # noqa: F841 (read by DuckDB's replacement scan)
    connection = serde_connection()
    connection.execute("CREATE TABLE s3logq.cloudtrail_raw AS SELECT * FROM cloudtrail_raw")
    connection.execute(duckdb_view(ddl.cloudtrail_view("s3logq", TRAIL_LOCATION)))
    return connection.sql("SELECT * EXCLUDE (log_day) FROM s3logq.cloudtrail").to_arrow_table()


@pytest.mark.parametrize("source", ["fixtures", "demo"])
def test_the_cloudtrail_view_over_json_serde_rows_gives_the_lakes_rows(tmp_path: Path, demo_logs: Path,
                                                                       source: str) -> None:
    """Including the event delivered twice (tests/fixtures/cloudtrail, 2024/03/02) kept once."""
    paths = (trail_paths(FIXTURES / "cloudtrail") + trail_paths(FIXTURES / "access-trail")
             + trail_paths(FIXTURES / "filters") if source == "fixtures" else trail_paths(demo_logs / "trail"))
    lake = lake_of(tmp_path / "lake", paths)
    lake_rows = lake_table(DuckDBEngine(lake), "cloudtrail")
    view_rows = cloudtrail_view_rows(paths)
    assert view_rows.column_names == lake_rows.column_names
    assert rows_without(view_rows, *CLOUDTRAIL_NOT_COMPARED) == rows_without(lake_rows, *CLOUDTRAIL_NOT_COMPARED)


# --- what the README says -------------------------------------------------------------------------------------

def regex_counts(paths: list[Path]) -> tuple[int, int, int]:
    """(lines, lines AWS's documented regex reads, lines ours reads): a line not read is an all-NULL row."""
    lines = aws = ours = 0
    for path in paths:
        data = path.read_bytes()
        ours_rows = regex_serde_rows(data, str(path))
        aws_rows = regex_serde_rows(data, str(path), ddl.AWS_ACCESS_REGEX)
        lines += len(ours_rows)
        ours += sum(row[2] is not None for row in ours_rows)  # requestdatetime: set in every matched line
        aws += sum(row[2] is not None for row in aws_rows)
    return lines, aws, ours


def test_the_readme_states_the_lines_each_regex_reads(demo_logs: Path, demo_access_lake: Lake) -> None:
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    lines, aws, ours = regex_counts(access_log_paths())
    assert ours == lines > aws  # every fixture line read; AWS's loses the escaped user agent
    assert (f"of the {lines:,} access-log lines in the test fixtures, AWS's regex reads {aws:,} and ours all "
            f"{ours:,}") in readme
    demo_paths = sorted((demo_logs / "access").iterdir())
    lines, aws, ours = regex_counts(demo_paths)
    rejects = DuckDBEngine(demo_access_lake).query("SELECT count(*) AS n FROM rejects").column("n")[0].as_py()
    assert rejects == lines - ours
    assert (f"of the demo's {lines:,} lines, AWS's reads {aws:,} and ours {ours:,} (the other {lines - ours:,} are "
            "the demo's malformed lines, which the lake rejects too)") in readme


ODD_USER_AGENTS = [b"curl/8.0", b"cr\rinside", b"bad\xffbyte", b"nul\x00byte", b'quote\\"esc', b'raw"quote', b"tab\tua",
                   b"trailing\\\\", b'end""']


def test_the_access_view_reads_odd_lines_as_the_lake_does(tmp_path: Path) -> None:
    """A CR inside a line ends it for both (two broken lines: rejects in the lake, all-NULL rows in Athena);
    a bad UTF-8 byte is U+FFFD for both; escaped and raw quotes, a NUL, a tab and a trailing '\\\\' are read."""
    line = (b'79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be acme-data [01/Mar/2024:10:00:%02d '
            b'+0000] 192.0.2.10 - R%02d REST.GET.OBJECT k "GET /x HTTP/1.1" 200 - 1 1 1 1 "-" "%s" - hostR= SigV4 - '
            b'AuthHeader e TLSv1.3 - - us-east-1')
    path = tmp_path / "logs" / "2024-03-01-10-15-00-0A1B2C3D4E5F6071"
    path.parent.mkdir()
    path.write_bytes(b"\n".join(line % (n, n, agent) for n, agent in enumerate(ODD_USER_AGENTS)) + b"\n")
    lake = lake_of(tmp_path / "lake", [path])
    lake_rows = lake_table(DuckDBEngine(lake), "access_log")
    assert lake_rows.num_rows == len(ODD_USER_AGENTS) - 1  # the CR's line: two rejects
    assert rows_without(access_view_rows([path]), *ACCESS_NOT_COMPARED) == rows_without(lake_rows,
                                                                                      *ACCESS_NOT_COMPARED)


def test_the_cloudtrail_view_reads_odd_records_as_the_lake_does(tmp_path: Path) -> None:
    """A flag given as text, no eventID, null parameters, nested JSON with a float and a non-ASCII text,
    milliseconds, resources, a key the table does not name: the lake's rows. The one difference the README
    states: an event delivered again in the next day's folder stays twice (the view removes copies per day
    folder, so that a day filter still prunes)."""
    base = {"eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a",
                                                     "accountId": "111122223333"},
            "eventTime": "2024-03-01T10:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "x",
            "requestParameters": {"bucketName": "b", "key": "k"}, "responseElements": None, "requestID": "r",
            "readOnly": True, "eventType": "AwsApiCall", "managementEvent": False,
            "recipientAccountId": "111122223333", "eventCategory": "Data"}
    records = [{**base, "eventID": "e1"}, {**base, "eventID": "e2", "readOnly": "true"}, {**base, "eventID": None},
               {**base, "eventID": "e4", "requestParameters": None},
               {**base, "eventID": "e5", "additionalEventData": {"x": [1, 2.5, "é"]}},
               {**base, "eventID": "e6", "eventTime": "2024-03-01T10:00:00.123Z"},
               {**base, "eventID": "e7", "resources": [{"ARN": "arn:aws:s3:::b/k", "type": "AWS::S3::Object"}]},
               {**base, "eventID": "e8", "newKey": {"a": 1}}]
    folder = tmp_path / "AWSLogs" / "111122223333" / "CloudTrail" / "us-east-1" / "2024" / "03"
    first = folder / "01" / "111122223333_CloudTrail_us-east-1_20240301T1005Z_AAAA.json"
    again = folder / "02" / "111122223333_CloudTrail_us-east-1_20240302T0005Z_BBBB.json"
    for path, batch in ((first, records), (again, [records[0]])):
        path.parent.mkdir(parents=True)
        path.write_bytes(orjson.dumps({"Records": batch}))
    lake = lake_of(tmp_path / "lake", [first, again])
    lake_rows = lake_table(DuckDBEngine(lake), "cloudtrail")
    view_rows = cloudtrail_view_rows([first, again])
    assert lake_rows.num_rows == len(records)
    delivered_again = view_rows.filter(pc.equal(view_rows.column("log_file"), str(again)))
    assert delivered_again.column("eventid").to_pylist() == ["e1"]
    without_it = view_rows.filter(pc.not_equal(view_rows.column("log_file"), str(again)))
    assert rows_without(without_it, *CLOUDTRAIL_NOT_COMPARED) == rows_without(lake_rows, *CLOUDTRAIL_NOT_COMPARED)
