"""Apache Spark (pyspark, local mode): the analyses transpiled to Spark SQL, over the lake's Parquet parts.

pyspark and a JVM are needed only here; nothing imports this module until the spark engine is asked for.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from s3logq.engines import QueryError, render
from s3logq.engines.duckdb import empty_table
from s3logq.lake import TABLES, Lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_LOG_CONFIG = Path(__file__).with_name("spark-log4j2.properties")
SPARK_CONFIG = {
    "spark.master": "local[2]",
    "spark.app.name": "s3logq",
    "spark.sql.session.timeZone": "UTC",  # the lake, the filters and the output are all UTC
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "2",  # the default 200 tasks per shuffle cost more than a laptop's data
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={_LOG_CONFIG.as_uri()}",
}

# One JVM per process: Spark takes seconds to start, so every SparkEngine shares one session.
_session: SparkSession | None = None
_session_lock = threading.Lock()


def spark_session() -> SparkSession:
    """The process's local SparkSession, started on first use; QueryError when pyspark or Java is missing."""
    global _session
    with _session_lock:
        if _session is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError:
                raise QueryError("the spark engine needs pyspark: pip install 's3logq[spark]'") from None
            builder = SparkSession.builder
            for key, value in SPARK_CONFIG.items():
                builder = builder.config(key, value)
            try:
                _session = builder.getOrCreate()
            except Exception as error:  # no Java or too old a one: pyspark raises several kinds
                raise QueryError(f"Spark could not start (it needs Java 17+): {_first_line(error)}") from None
            from pyspark.logger import PySparkLogger

            # pyspark logs every failed query with its JVM stack trace; the failure is raised as one line instead
            for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
                PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
        return _session


def stop_spark() -> None:
    """Stop the process's SparkSession, if one was started (the next query starts another)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.stop()
            _session = None


class SparkEngine:
    name = "spark"
    dialect = "spark"

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        """Run DuckDB-dialect SQL, transpiled to Spark SQL with named parameters bound, over the lake rows
        that can fall in [since, until)."""
        from py4j.protocol import Py4JJavaError
        from pyspark.errors import PySparkException

        check_read_only(sql)
        text, bound = render(sql, params or {}, self.dialect)
        assert isinstance(bound, dict)  # Spark takes named parameters
        spark = spark_session()
        try:
            for table_name in TABLES:
                self.table(spark, table_name, since, until).createOrReplaceTempView(table_name)
            return spark.sql(text, args={k: _bindable(v) for k, v in bound.items()} or None).toArrow()
        except PySparkException as error:
            raise QueryError(_first_line(error)) from None
        except Py4JJavaError as error:  # a failure in a task (a damaged part) comes as the JVM's exception
            raise QueryError(_root_cause(error)) from None

    def table(self, spark: SparkSession, table_name: str, since: datetime | None = None,
              until: datetime | None = None) -> DataFrame:
        """A table over the parts that may hold rows in [since, until), or no rows when there are none."""
        from pyspark.sql.pandas.types import from_arrow_schema

        # The schema is given, not read from the files: no Spark job to merge the parts' footers, and a
        # column an older part lacks reads as NULL (DuckDB's union_by_name).
        schema = from_arrow_schema(empty_table(table_name).schema)
        files = self.lake.part_files(table_name, since, until)
        if files:
            return spark.read.schema(schema).parquet(*files)
        return spark.createDataFrame([], schema)


# Table functions that only make rows; others (read_files, ...) read files.
_ROW_MAKERS = frozenset({"range", "unnest", "explode", "generate_series"})
# Scalar functions that call any static Java method.
_JAVA_CALLS = frozenset({"reflect", "java_method", "try_reflect"})


def check_read_only(sql: str) -> None:
    """Spark reads a file named as a table (text.`/etc/passwd`) and runs INSERT, CREATE, SET...: only queries
    over the lake's tables and their own WITH names run (QueryError otherwise), as on DuckDB."""
    import sqlglot
    from sqlglot import exp

    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as error:
        raise QueryError(_first_line(error)) from None
    for statement in statements:
        if not isinstance(statement, exp.Query):
            raise QueryError(f"s3logq sql runs queries only (SELECT, WITH...), not {statement.key.upper()}: it "
                             "does not change files or settings; write results with --output")
        named = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        for table in statement.find_all(exp.Table):
            if isinstance(table.this, exp.Identifier):
                if table.db or table.catalog or table.name.lower() not in {*TABLES, *named}:
                    raise QueryError(f"{table.sql('duckdb')}: on --engine spark, queries read the tables "
                                     f"{', '.join(TABLES)} only")
            else:  # a table function
                function = table.this.name if isinstance(table.this, exp.Anonymous) else table.this.sql_name()
                if function.lower() not in _ROW_MAKERS:
                    raise QueryError(f"{function}(): on --engine spark, queries read the lake's tables only")
        for call in statement.find_all(exp.Anonymous):
            if call.name.lower() in _JAVA_CALLS:
                raise QueryError(f"{call.name}() is not allowed: it calls Java")


def _bindable(value: object) -> object:
    """A parameter as Spark should see it: a time without a zone is UTC, as on DuckDB (pyspark would read it
    in the process's local zone)."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _root_cause(error: Exception) -> str:
    """The innermost 'Caused by' of a JVM exception, without its class: what went wrong, in one line."""
    causes = [line for line in str(error).splitlines() if line.startswith("Caused by: ")]
    if not causes:
        return _first_line(error)
    return causes[-1].removeprefix("Caused by: ").split(": ", 1)[-1].split(" SQLSTATE: ")[0].strip()


def _first_line(error: Exception) -> str:
    """The message without the JVM trace, nor the SQLSTATE and position (in SQL the user did not write)."""
    text = str(error).strip()
    return text.splitlines()[0].split(" SQLSTATE: ")[0] if text else type(error).__name__
