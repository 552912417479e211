"""The embedded engine: DuckDB over the lake's Parquet parts, reading only the days a query needs."""

from __future__ import annotations

from datetime import datetime

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

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._database: duckdb.DuckDBPyConnection | None = None

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        if not sql.strip(" \t\r\n;"):
            raise QueryError("no SQL given")  # DuckDB runs nothing and returns no result: not "0 rows"
        # One in-memory database for the engine's queries: starting one costs ~30 ms, a run asks two queries
        if self._database is None:
            self._database = self.connect()
        connection = self._point_views(self._database, since, until)
        try:
            return _to_arrow(connection.sql(sql, params=params or None))
        except duckdb.Error as error:
            raise QueryError(_first_line(error)) from None

    def connect(self, since: datetime | None = None, until: datetime | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of its own, with the lake's tables as views over the parts that may hold rows in
        [since, until)."""
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'").fetchall()
        return self._point_views(connection, since, until)

    def _point_views(self, connection: duckdb.DuckDBPyConnection, since: datetime | None,
                     until: datetime | None) -> duckdb.DuckDBPyConnection:
        """(Re)create the views `access_log`, `cloudtrail` and `rejects` over the parts for [since, until)."""
        for table_name in TABLES:
            files = self.lake.part_files(table_name, since, until)
            if files:
                try:
                    connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS {read_parts_sql(files)}").fetchall()
                except duckdb.Error as error:  # a part the manifest lists is missing, truncated or not Parquet
                    raise LakeError(f"the lake's {table_name} parts cannot be read: {_first_line(error)}") from None
            else:
                connection.register(f"_empty_{table_name}", empty_table(table_name))
                connection.execute(f"CREATE OR REPLACE VIEW {table_name} AS SELECT * FROM _empty_{table_name}"
                                   ).fetchall()
        return connection


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
    return str(error).strip().splitlines()[0]
