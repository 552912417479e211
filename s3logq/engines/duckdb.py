"""The embedded engine: DuckDB over the lake's Parquet parts, reading only the days a query needs.

Queries run read-only: external access is off except for the lake's part files (and files the user allows),
the configuration is locked, and only SELECT statements run, so SQL cannot read, write or attach other files,
load extensions, or change the lake.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from s3logq.engines import QueryError
from s3logq.formats.access_log import ACCESS_SCHEMA
from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA
from s3logq.lake import TABLES, Lake, LakeError
from s3logq.writer import REJECTS_SCHEMA


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, lake: Lake, readable: Iterable[str | os.PathLike[str]] = ()) -> None:
        """`readable`: files and folders of the user's own that queries may read besides the lake."""
        self.lake = lake
        self.readable = tuple(Path(p).absolute() for p in readable)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._allowed: frozenset[str] = frozenset()

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        if not sql.strip(" \t\r\n;"):
            raise QueryError("no SQL given")  # DuckDB runs nothing and returns no result: not "0 rows"
        _check_read_only(sql)
        files = {table_name: self.lake.part_files(table_name, since, until) for table_name in TABLES}
        # One in-memory database for the engine's queries: starting one costs ~30 ms, a run asks two queries.
        # Its allowed files are locked, so a part written since it started needs a new one.
        if self._database is None or not self._allowed.issuperset(f for fs in files.values() for f in fs):
            if self._database is not None:
                self._database.close()
            self._database, self._allowed = self._locked_database()
        broken = _point_views(self._database, files)
        # A damaged part fails only the queries that name its table; the others still answer.
        named = _identifiers(sql)
        if "findings" in named:  # the findings `s3logq watch` stored (findings.sqlite beside the manifest)
            from s3logq.watch import FindingStore

            self._database.register("findings", FindingStore(self.lake).table())
        for table_name, message in broken.items():
            if table_name in named:
                raise LakeError(message)
        try:
            return _to_arrow(self._database.sql(sql, params=params or None))
        except duckdb.PermissionException as error:
            raise QueryError(f"{_first_line(error)} (s3logq sql reads only the lake; --allow-files PATH lets it "
                             "read PATH)") from None
        except _QUERY_ERRORS as error:
            raise QueryError(_first_line(error)) from None
        except duckdb.Error as error:  # a part damaged past its footer fails only as it is read
            damage = _damaged_part({t: fs for t, fs in files.items() if t in named})
            if damage:
                raise LakeError(damage) from None
            raise QueryError(_first_line(error)) from None

    def connect(self, since: datetime | None = None, until: datetime | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of its own, with the lake's tables as views over the parts that may hold rows in
        [since, until); LakeError naming the part when one of them cannot be read."""
        connection, _ = self._locked_database()
        files = {table_name: self.lake.part_files(table_name, since, until) for table_name in TABLES}
        broken = _point_views(connection, files)
        if broken:
            connection.close()
            raise LakeError(next(iter(broken.values())))
        return connection

    def _locked_database(self) -> tuple[duckdb.DuckDBPyConnection, frozenset[str]]:
        """An in-memory database that can read the lake's parts and the user's `readable` files, and nothing
        else, with its configuration locked."""
        parts = frozenset(f for table_name in TABLES for f in self.lake.part_files(table_name))
        folders = [str(p) + "/" for p in self.readable if p.is_dir()]
        paths = sorted(parts) + [str(p) for p in self.readable if not p.is_dir()]
        connection = duckdb.connect()
        # allowed_* cannot change once external access is off: set first, then switch it off, then lock
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET allowed_paths = $1", [paths])
        connection.execute("SET allowed_directories = $1", [folders])
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("SET autoload_known_extensions = false")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        for table_name in TABLES:
            connection.register(f"_empty_{table_name}", empty_table(table_name))
        return connection, parts


def _point_views(connection: duckdb.DuckDBPyConnection, files: dict[str, list[str]]) -> dict[str, str]:
    """(Re)create the views `access_log`, `cloudtrail` and `rejects` over their part files. A table with a part
    that cannot be read gets no view, so nothing reads it as empty; returns table -> one line naming the part."""
    broken: dict[str, str] = {}
    for table_name, paths in files.items():
        if not paths:
            connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS SELECT * FROM _empty_{table_name}")
            continue
        try:
            connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS {read_parts_sql(paths)}")
        except duckdb.Error as error:  # a part the manifest lists is missing, truncated or not Parquet
            broken[table_name] = _broken_part(table_name, paths, error)
            connection.execute(f"DROP VIEW IF EXISTS {table_name}")
    return broken


def _broken_part(table_name: str, paths: list[str], error: duckdb.Error) -> str:
    """One line naming the first part that cannot be read, and why."""
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
    import pyarrow.parquet as pq

    for table_name, paths in files.items():
        for path in paths:
            try:
                pq.read_table(path)
            except (OSError, pa.ArrowException) as error:
                return f"the lake's {table_name} part {path} cannot be read ({_first_line(error)})"
    return None


def _check_read_only(sql: str) -> None:
    """Only queries run: COPY, EXPORT, ATTACH, INSTALL, LOAD, SET, CREATE, PIVOT's hidden statements... are refused."""
    try:
        statements = duckdb.extract_statements(sql)
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


def read_parts_sql(paths: list[str]) -> str:
    """SELECT of the rows of Parquet parts, by column name: one read_parquet per schema, joined by UNION ALL BY NAME.

    One read_parquet with union_by_name over parts of two schemas is an internal error in DuckDB 2.0 when a
    struct gained a struct field (CloudTrail's useridentity.onbehalfof) and is NULL in a row of an older part.
    """
    import pyarrow.parquet as pq

    by_schema: dict[object, list[str]] = {}
    for path in paths:
        try:
            schema: object = pq.read_schema(path).remove_metadata()
        except (OSError, pa.ArrowException):
            schema = path  # read alone: DuckDB names the part it cannot read
        by_schema.setdefault(schema, []).append(path)
    # A view cannot take parameters; the paths are the lake's own, quoted as SQL strings.
    return " UNION ALL BY NAME ".join(
        "SELECT * FROM read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in group) + "], "
        "union_by_name = true)" for group in by_schema.values())


def empty_table(table_name: str) -> pa.Table:
    """A table's columns with no rows, for a lake that has none of it yet."""
    schemas = {"access_log": ACCESS_SCHEMA, "cloudtrail": CLOUDTRAIL_SCHEMA, "rejects": REJECTS_SCHEMA}
    return schemas[table_name].empty_table()


def _to_arrow(relation: duckdb.DuckDBPyRelation | None) -> pa.Table:
    """Rows of a statement; statements with no result (SET, CREATE) give an empty table."""
    return relation.to_arrow_table() if relation is not None else pa.table({})


def _first_line(error: Exception) -> str:
    return _first_line_of(str(error))


def _first_line_of(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unreadable"
