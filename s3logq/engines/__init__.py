"""Query engines. Each runs DuckDB-dialect SQL (transpiled with sqlglot where it speaks another dialect)
over the lake's tables `access_log`, `cloudtrail` and `rejects`, and returns an Arrow table.

An engine's differences are data (its sqlglot dialect, how it binds parameters), so adding Spark or
Athena means adding a module here, not touching the analyses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from s3logq.lake import Lake

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlglot import exp


class QueryError(Exception):
    """A query that the engine refused (syntax, unknown column, ...): one clear line for the user."""


class Engine(Protocol):
    name: str
    dialect: str  # sqlglot dialect name

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        """Run DuckDB-dialect SQL with bound `$name` parameters over the lake rows that can fall in [since, until)."""
        ...


ENGINES = ("duckdb", "spark", "athena")


def get_engine(name: str, lake: Lake) -> Engine:
    """The engine called `name` over a lake; its driver is imported only now (pyspark takes a while)."""
    if name == "duckdb":
        from s3logq.engines.duckdb import DuckDBEngine

        return DuckDBEngine(lake)
    if name == "spark":
        from s3logq.engines.spark import SparkEngine

        return SparkEngine(lake)
    if name == "athena":  # the tables are in Athena's catalog (`s3logq athena setup`), not in the lake
        from s3logq.engines.athena import AthenaEngine

        return AthenaEngine()
    raise QueryError(f"unknown engine {name!r} (available: {', '.join(ENGINES)})")


def _spark_json_null(node: exp.Expression) -> exp.Expression:
    """DuckDB's json_extract gives the text 'null' for a JSON null and SQL NULL only for a missing path;
    Spark's get_json_object gives NULL for both, so `json_extract(...) IS NULL` would change meaning."""
    from sqlglot import exp

    if not isinstance(node, exp.JSONExtract):
        return node
    path = exp.Literal.string(node.expression.sql(dialect="spark").strip("'"))
    value = exp.func("variant_get", exp.func("try_parse_json", node.this.copy()), path)
    return exp.Coalesce(this=node, expressions=[
        exp.Case(ifs=[exp.If(this=exp.func("is_variant_null", value), true=exp.Literal.string("null"))])])


def _spark_percentile(node: exp.Expression) -> exp.Expression:
    """DuckDB's quantile_cont (exact, interpolated) is Spark's percentile; sqlglot writes percentile_cont(x, p),
    which Spark reads only as an ordered-set aggregate (WITHIN GROUP)."""
    from sqlglot import exp

    if isinstance(node, exp.PercentileCont) and node.expression is not None:
        return exp.Anonymous(this="percentile", expressions=[node.this.copy(), node.expression.copy()])
    return node


def _by_skips_nulls(node: exp.Expression) -> exp.Expression:
    """DuckDB's arg_min/arg_max skip the rows whose value is NULL; Spark's and Trino's min_by/max_by keep them (a
    listing's NULL key would be the answer): the FILTER makes them DuckDB's."""
    from sqlglot import exp

    if isinstance(node, exp.ArgMax | exp.ArgMin) and not isinstance(node.parent, exp.Filter):
        not_null = exp.Not(this=exp.Is(this=node.this.copy(), expression=exp.Null()))
        return exp.Filter(this=node.copy(), expression=exp.Where(this=not_null))
    return node


# the name a positional placeholder has until the SQL is written (no analysis names a parameter like it)
_MARKER = "s3logq_parameter_"


def _spark_json_list(node: exp.Expression) -> exp.Expression:
    """DuckDB's CAST(json AS JSON[]) (a JSON array as a list of its elements' JSON texts) is Spark's
    from_json(json, 'array<string>'), which has TRY_CAST's NULL for text that is no array: Spark has no JSON type."""
    from sqlglot import exp

    if (isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.ARRAY)
            and [e.this for e in node.to.expressions] == [exp.DataType.Type.JSON]):
        return exp.Anonymous(this="from_json", expressions=[node.this.copy(), exp.Literal.string("array<string>")])
    return node


@dataclass(frozen=True)
class Dialect:
    """How an engine differs in SQL: its sqlglot dialect, and how it takes bound parameters."""

    name: str  # sqlglot dialect
    positional: bool  # True: `?` in order (Athena/Trino); False: `:name` (Spark SQL)
    # sqlglot transforms for what the dialect translation gets wrong (same syntax, other meaning)
    rewrites: tuple[Callable[[exp.Expression], exp.Expression], ...] = ()
    # False: only approximate percentiles (Trino's approx_percentile), so exact ones are left out, not guessed
    exact_percentiles: bool = True


DIALECTS = {"trino": Dialect("trino", positional=True, rewrites=(_by_skips_nulls,), exact_percentiles=False),
            "athena": Dialect("athena", positional=True, rewrites=(_by_skips_nulls,), exact_percentiles=False),
            "spark": Dialect("spark", positional=False,
                             rewrites=(_spark_json_null, _spark_percentile, _spark_json_list, _by_skips_nulls)),
            "duckdb": Dialect("duckdb", positional=False)}


def render(sql: str | exp.Expression, params: dict[str, object],
           dialect: str) -> tuple[str, list[object] | dict[str, object]]:
    """An analysis (DuckDB SQL, `$name` parameters, or its parsed tree) for another engine: its SQL and its
    bound values.

    Positional dialects get `?` and the values in order of appearance; the others keep named parameters.
    """
    import sqlglot  # only rendering for another engine needs it (a tenth of a second to import)
    from sqlglot import exp

    target = DIALECTS[dialect]
    names: list[str] = []

    def placeholder(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.name:
            names.append(node.name)
            # sqlglot visits a WITH after the query that uses it: a marker per placeholder, put in text order below
            return exp.Placeholder(this=f"{_MARKER}{len(names) - 1}") if target.positional else node
        return node

    # a tree is taken as is: DuckDB text written by sqlglot does not always read back the same (json_extract
    # inside a call is written `a -> 'path'`, read again as a lambda)
    tree = (sqlglot.parse_one(sql, read="duckdb") if isinstance(sql, str) else sql).transform(placeholder)
    for rewrite in target.rewrites:
        tree = tree.transform(rewrite)
    text = tree.sql(dialect=target.name)
    if target.positional:
        in_text_order = [names[int(number)] for number in re.findall(rf":{_MARKER}(\d+)\b", text)]
        return re.sub(rf":{_MARKER}\d+\b", "?", text), [params[name] for name in in_text_order]
    return text, {name: params[name] for name in names}
