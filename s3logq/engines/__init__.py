"""Query engines. Each runs DuckDB-dialect SQL (transpiled with sqlglot where it speaks another dialect)
over the lake's tables `access_log`, `cloudtrail` and `rejects`, and returns an Arrow table.

An engine's differences are data (its sqlglot dialect, how it binds parameters), so adding Spark or
Athena means adding a module here, not touching the analyses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import pyarrow as pa

from s3logq.lake import Lake


class QueryError(Exception):
    """A query that the engine refused (syntax, unknown column, ...): one clear line for the user."""


class Engine(Protocol):
    name: str
    dialect: str  # sqlglot dialect name

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        """Run DuckDB-dialect SQL with bound `$name` parameters over the lake rows that can fall in [since, until)."""
        ...


def get_engine(name: str, lake: Lake) -> Engine:
    if name == "duckdb":
        from s3logq.engines.duckdb import DuckDBEngine

        return DuckDBEngine(lake)
    raise QueryError(f"unknown engine {name!r} (available: duckdb)")
