"""`s3logq athena setup`: send the DDL to Athena, one statement at a time, in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from s3logq.athena.client import AthenaClient, AthenaError, AthenaOptions, QueryStats
from s3logq.athena.ddl import FIRST_DAY, LogLocation, Statement


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


def setup_record(options: AthenaOptions, access: LogLocation | None = None, cloudtrail: LogLocation | None = None,
                 first_day: date | None = None, lake: str | None = None) -> dict[str, Any]:
    """What `setup` made, as the config file's [athena] table: where queries run, and where each table's data
    lies (the raw log locations with their projection values, or the pushed lake), for --max-scan-gb."""
    record: dict[str, Any] = {"database": options.database, "workgroup": options.workgroup,
                              "results": options.results, "region": options.region, "profile": options.profile,
                              "endpoint_url": options.endpoint_url}
    if lake:
        record["lake"] = {"location": lake}
    for location in (access, cloudtrail):
        if location is not None:
            record[location.table] = {"location": location.location, "template": location.template,
                                      "first_day": f"{first_day or FIRST_DAY:%Y-%m-%d}",
                                      "projection": {k: list(v) for k, v in location.enums.items()}}
    return record
