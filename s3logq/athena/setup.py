"""`s3logq athena setup`: send the DDL to Athena, one statement at a time, in order."""

from __future__ import annotations

from collections.abc import Callable

from s3logq.athena.client import AthenaClient, AthenaError, QueryStats
from s3logq.athena.ddl import Statement


def run_statements(client: AthenaClient, statements: list[Statement],
                   on_done: Callable[[Statement, QueryStats], None] | None = None) -> list[QueryStats]:
    """Execute each statement (CREATE DATABASE without a database context: it may not exist yet); stop at the
    first that fails, with which one it was."""
    done = []
    for statement in statements:
        database = "default" if statement.sql.startswith("CREATE DATABASE") else None
        try:
            stats = client.execute(statement.sql, database=database)
        except AthenaError as error:
            raise AthenaError(f"{statement.purpose}: {error}") from None
        done.append(stats)
        if on_done is not None:
            on_done(statement, stats)
    return done
