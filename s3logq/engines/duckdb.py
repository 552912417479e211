"""The embedded engine: DuckDB over the lake's Parquet parts, reading only the days a query needs.

Queries run read-only: external access is off except for the lake's part files (and files the user allows),
the configuration is locked, and only SELECT statements run, so SQL cannot read, write or attach other files,
load extensions, or change the lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb

from s3logq.engines import QueryError
from s3logq.lake import TABLES, Lake, LakeError
from s3logq.rows import Rows, kind_of

if TYPE_CHECKING:  # pyarrow and numpy cost ~0.15 s to import: `run` to a terminal, csv or json does without
    import pyarrow as pa

T = TypeVar("T")


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, lake: Lake, readable: Iterable[str | os.PathLike[str]] = ()) -> None:
        """`readable`: files and folders of the user's own that queries may read besides the lake."""
        self.lake = lake
        self.readable = tuple(Path(p).absolute() for p in readable)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._allowed: frozenset[str] = frozenset()
        self._locked = False
        self._views: dict[str, tuple[str, ...]] = {}  # table -> the parts its view reads now

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        import pyarrow as pa

        relation = self._run(sql, params, since, until, lambda db: db.sql(sql, params=params or None))
        # statements with no result (SET, CREATE) give an empty table
        return self._fetch(lambda: relation.to_arrow_table() if relation is not None else pa.table({}))

    def query_rows(self, sql: str, params: dict[str, object] | None = None,
                   since: datetime | None = None, until: datetime | None = None) -> Rows:
        """As `query`, the rows as Python values: for a small answer printed or written as csv or json."""
        cursor = self._run(sql, params, since, until, lambda db: db.execute(sql, params or None))
        description = cursor.description or []
        records = self._fetch(cursor.fetchall) if description else []
        return Rows([d[0] for d in description], [kind_of(str(d[1])) for d in description], records)

    def _run(self, sql: str, params: dict[str, object] | None, since: datetime | None, until: datetime | None,
             start: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Check the SQL, point the views it names at the parts of [since, until), and start it."""
        if not sql.strip(" \t\r\n;"):
            raise QueryError("no SQL given")  # DuckDB runs nothing and returns no result: not "0 rows"
        # One in-memory database for the engine's queries: starting one costs 20-40 ms, a run asks two queries.
        # It parses the SQL too (duckdb.extract_statements would start a second, default database).
        if self._database is None:
            self._database = _open_database()
        _check_read_only(sql, self._database)
        named = _identifiers(sql)
        # Only the tables the SQL names get a view: listing and opening the others' parts is wasted start-up.
        self._files = {table_name: self.lake.part_files(table_name, since, until)
                       for table_name in TABLES if table_name in named}
        # Its allowed files are locked, so a part not allowed yet (written since, or of another table) needs a
        # new one.
        wanted = frozenset(f for fs in self._files.values() for f in fs)
        if self._locked and not self._allowed.issuperset(wanted):
            self._database.close()
            self._database, self._locked, self._views = _open_database(), False, {}
        if not self._locked:
            self._allowed |= wanted
            self._lock(self._database, self._allowed)
            self._locked = True
        changed = {t: fs for t, fs in self._files.items() if self._views.get(t) != tuple(fs)}
        broken = _point_views(self._database, changed)
        self._views.update({t: tuple(fs) for t, fs in changed.items() if t not in broken})
        for table_name in broken:
            self._views.pop(table_name, None)
        if "findings" in named:  # the findings `s3logq watch` stored (findings.sqlite beside the manifest)
            from s3logq.watch import FindingStore

            self._database.register("findings", FindingStore(self.lake).table())
        # A damaged part fails only the queries that name its table; the others still answer.
        for message in broken.values():
            raise LakeError(message)
        database = self._database
        return self._fetch(lambda: start(database))

    def _fetch(self, fetch: Callable[[], T]) -> T:
        """Run or fetch, turning DuckDB's errors into one line for the user (or naming a damaged part)."""
        try:
            return fetch()
        except duckdb.PermissionException as error:
            raise QueryError(f"{_first_line(error)} (s3logq sql reads only the lake; --allow-files PATH lets it "
                             "read PATH)") from None
        except _QUERY_ERRORS as error:
            raise QueryError(_first_line(error)) from None
        except duckdb.Error as error:  # a part damaged past its footer fails only as it is read
            damage = _damaged_part(self._files)
            if damage:
                raise LakeError(damage) from None
            raise QueryError(_first_line(error)) from None

    def connect(self, since: datetime | None = None, until: datetime | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of its own, with the lake's tables as views over the parts that may hold rows in
        [since, until); LakeError naming the part when one of them cannot be read."""
        connection = _open_database()
        self._lock(connection, frozenset(f for table_name in TABLES for f in self.lake.part_files(table_name)))
        files = {table_name: self.lake.part_files(table_name, since, until) for table_name in TABLES}
        broken = _point_views(connection, files)
        if broken:
            connection.close()
            raise LakeError(next(iter(broken.values())))
        return connection

    def _lock(self, connection: duckdb.DuckDBPyConnection, parts: frozenset[str]) -> None:
        """Let the database read these parts and the user's `readable` files, and nothing else; lock that."""
        folders = [str(p) + "/" for p in self.readable if p.is_dir()]
        paths = sorted(parts) + [str(p) for p in self.readable if not p.is_dir()]
        # allowed_* cannot change once external access is off (nor be given to connect): set, switch off, lock
        connection.execute("SET allowed_paths = $1", [paths])
        connection.execute("SET allowed_directories = $1", [folders])
        connection.execute("SET enable_external_access = false; SET lock_configuration = true")


def _open_database() -> duckdb.DuckDBPyConnection:
    """An in-memory database in UTC that installs and loads no extension (not locked yet: see _lock)."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    # no progress bar: execute() draws one on the terminal for a long query, in the middle of the output
    connection.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")
    return connection


def _point_views(connection: duckdb.DuckDBPyConnection, files: dict[str, list[str]]) -> dict[str, str]:
    """(Re)create the views `access_log`, `cloudtrail` and `rejects` over their part files. A table with a part
    that cannot be read gets no view, so nothing reads it as empty; returns table -> one line naming the part."""
    broken: dict[str, str] = {}
    for table_name, paths in files.items():
        if not paths:
            connection.register(f"_empty_{table_name}", empty_table(table_name))  # pyarrow: only a lake without it
            connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS SELECT * FROM _empty_{table_name}")
            continue
        try:
            connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS {read_parts_sql(paths, connection)}")
        except duckdb.Error as error:  # a part the manifest lists is missing, truncated or not Parquet
            broken[table_name] = _broken_part(table_name, paths, error)
            connection.execute(f"DROP VIEW IF EXISTS {table_name}")
    return broken


def _broken_part(table_name: str, paths: list[str], error: duckdb.Error) -> str:
    """One line naming the first part that cannot be read, and why."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in paths:
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException) as part_error:
            reason = (part_error.strerror if isinstance(part_error, FileNotFoundError) else None) or str(part_error)
            return f"the lake's {table_name} part {path} cannot be read ({_first_line_of(reason)})"
    return f"the lake's {table_name} parts cannot be read: {_first_line(error)}"


# Errors of the query itself; any other failure is checked against the lake's parts (it may be damage).
_QUERY_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException,
                 duckdb.ConversionException, duckdb.OutOfRangeException, duckdb.NotImplementedException)


def _damaged_part(files: dict[str, list[str]]) -> str | None:
    """One line naming the first part of these tables that cannot be read whole, or None when all can."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for table_name, paths in files.items():
        for path in paths:
            try:
                pq.read_table(path)
            except (OSError, pa.ArrowException) as error:
                return f"the lake's {table_name} part {path} cannot be read ({_first_line(error)})"
    return None


def _check_read_only(sql: str, connection: duckdb.DuckDBPyConnection) -> None:
    """Only queries run: COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, CREATE, PIVOT's hidden statements... are refused."""
    try:
        statements = connection.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryError(_first_line(error)) from None
    for statement in statements:
        if statement.type != duckdb.StatementType.SELECT:
            kind = statement.type.name
            hint = " (give PIVOT its values: PIVOT ... ON col IN (...))" if kind == "MULTI" else ""
            raise QueryError(f"s3logq sql runs queries only (SELECT, WITH, DESCRIBE...), not {kind}: it does not "
                             f"change files or settings{hint}; write results with --output")


def _identifiers(sql: str) -> set[str]:
    """Every identifier the SQL names, lower-cased and unquoted (DuckDB's own tokenizer, no binding)."""
    tokens = duckdb.tokenize(sql)
    names = set()
    for index, (start, kind) in enumerate(tokens):
        if kind == duckdb.token_type.identifier:
            end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
            names.add(sql[start:end].strip().strip('"').lower())
    return names


def read_parts_sql(paths: list[str], connection: duckdb.DuckDBPyConnection) -> str:
    """SELECT of the rows of Parquet parts, by column name: one read_parquet per schema, joined by UNION ALL BY NAME.

    One read_parquet with union_by_name over parts of two schemas is an internal error in DuckDB 2.0 when a
    struct gained a struct field (CloudTrail's useridentity.onbehalfof) and is NULL in a row of an older part.
    The schemas are read by DuckDB from the footers (pyarrow would cost ~0.15 s to import); duckdb.Error when
    a part cannot be read.
    """
    schemas = dict(connection.execute(
        "SELECT file_name, list(concat_ws(' ', name, type, type_length, repetition_type, num_children, "
        "converted_type, scale, precision, logical_type) ORDER BY column_id) FROM parquet_schema($1) "
        "GROUP BY file_name", [paths]).fetchall())
    by_schema: dict[object, list[str]] = {}
    for path in paths:
        by_schema.setdefault(tuple(schemas.get(path, [path])), []).append(path)
    # A view cannot take parameters; the paths are the lake's own, quoted as SQL strings. No hive partitioning:
    # the `day=` folders are the lake's layout, not a column of its tables (Spark and Athena have none).
    return " UNION ALL BY NAME ".join(
        "SELECT * FROM read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in group) + "], "
        "union_by_name = true, hive_partitioning = false)" for group in by_schema.values())


def empty_table(table_name: str) -> pa.Table:
    """A table's columns with no rows, for a lake that has none of it yet."""
    from s3logq.formats.access_log import ACCESS_SCHEMA
    from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA
    from s3logq.writer import REJECTS_SCHEMA

    schemas = {"access_log": ACCESS_SCHEMA, "cloudtrail": CLOUDTRAIL_SCHEMA, "rejects": REJECTS_SCHEMA}
    return schemas[table_name].empty_table()


def _first_line(error: Exception) -> str:
    return _first_line_of(str(error))


def _first_line_of(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unreadable"
