"""The analysis catalog: one SQL file per analysis under analyses/<log type>/, with a header.

    -- name: object-access
    -- aliases: ObjectAccess
    -- title: Who read an object
    -- description: Every REST.GET.OBJECT request, newest first.
    -- parameters: since, until, bucket, key, prefix, requester
    -- columns: request_time, requester, ...
    SELECT ... WHERE ($bucket IS NULL OR bucket_name = $bucket) ...

Parameters are DuckDB `$name` placeholders, always bound, never formatted in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from s3logq.engines import Engine
from s3logq.formats import LOG_TYPES
from s3logq.rows import Rows

if TYPE_CHECKING:  # pyarrow costs ~0.15 s to import: only the commands that touch rows pay it
    import pyarrow as pa

# Every filter an analysis may take, with the command-line help for it.
PARAMETERS = {
    "since": "events at or after this time (YYYY-MM-DD or ISO-8601, UTC)",
    "until": "events before this time (exclusive)",
    "bucket": "bucket name",
    "key": "exact object key, as the user typed it (decoded)",
    "prefix": "object key prefix",
    "requester": "requester: IAM ARN, canonical ID, or a substring of it",
    "operation": "operation (access logs, e.g. REST.GET.OBJECT) or event name (CloudTrail)",
    "status": "HTTP status code",
    "ip": "remote IP address",
    "request_id": "request ID or host ID (x-amz-id-2)",
    "by": "group by 'operation', 'requester' or 'ip'",
}
_HEADER_LINE = re.compile(r"^--\s*(\w+)\s*:\s*(.*)$")
_PLACEHOLDER = re.compile(r"\$([a-z_]+)")


class CatalogError(Exception):
    """An unknown analysis or a filter it does not take: one clear line for the user."""


@dataclass(frozen=True)
class Analysis:
    """One predefined question: its SQL and what the header says about it."""

    name: str
    log_type: str
    title: str
    description: str
    sql: str
    parameters: tuple[str, ...]
    columns: tuple[str, ...]
    aliases: tuple[str, ...] = field(default=())
    key_columns: tuple[str, ...] = field(default=())  # the terminal shows these first and whole, in this order

    @property
    def table(self) -> str:
        return "access_log" if self.log_type == "access" else "cloudtrail"

    def bind(self, values: dict[str, object]) -> dict[str, object]:
        """The bound parameters for this SQL: the given values, NULL for the filters not given."""
        unknown = sorted(k for k, v in values.items() if v is not None and k not in self.parameters)
        if unknown:
            flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
            raise CatalogError(f"{self.name} ({self.log_type}) does not take {flags}; "
                               f"it takes: {', '.join(self.parameters) or 'no filters'}")
        return {name: values.get(name) for name in sorted(set(_PLACEHOLDER.findall(self.sql)))}

    @property
    def unordered_sql(self) -> str:
        """The SQL without its final ORDER BY line (every analysis ends with one): order cannot change a
        count, and DuckDB sorts every row of an ordered subquery before counting them."""
        head, found, last_line = self.sql.rpartition("\nORDER BY ")
        return head if found and "\n" not in last_line else self.sql

    def run(self, engine: Engine, values: dict[str, object], limit: int | None = None,
            as_rows: bool = False) -> pa.Table | Rows:
        """Rows of this analysis on an engine, reading only the days in [since, until); `as_rows`: as Python
        values (Rows) when the engine can give them so (DuckDB), for output that needs no Arrow."""
        sql = self.sql if limit is None else f"SELECT * FROM ({self.sql}) LIMIT {int(limit)}"
        query = getattr(engine, "query_rows", engine.query) if as_rows else engine.query
        return query(sql, self.bind(values), *_time_range(values))

    def preview(self, engine: Engine, values: dict[str, object], rows: int,
                limit: int | None = None, as_rows: bool = False) -> tuple[pa.Table | Rows, int]:
        """The first `rows` rows and how many there are in all (at most `limit`), without fetching them all."""
        table = self.run(engine, values, min(rows, limit) if limit else rows, as_rows)
        if table.num_rows < rows:
            return table, table.num_rows
        total = self.count(engine, values)
        return table, min(total, limit) if limit else total

    def count(self, engine: Engine, values: dict[str, object]) -> int:
        """How many rows this analysis has (unordered: cheap next to fetching them)."""
        counted = self.run_sql(engine, f"SELECT count(*) AS n FROM ({self.unordered_sql})", values)
        return counted.records[0][0] if isinstance(counted, Rows) else counted.column("n")[0].as_py()

    def run_small(self, engine: Engine, values: dict[str, object], most: int, limit: int | None = None) -> Rows | None:
        """Every row as Python values when there are at most `most` (and the engine gives Python values), else
        None: a big answer is faster written from Arrow, a small one is not worth importing it. Counted first:
        a LIMIT probe of a big answer would sort it all (2 s for 1.7 M rows), the count takes milliseconds."""
        if not hasattr(engine, "query_rows"):
            return None
        total = self.count(engine, values)
        if (total if limit is None else min(total, limit)) > most:
            return None
        rows = self.run(engine, values, limit, as_rows=True)
        return rows if isinstance(rows, Rows) else None

    def run_sql(self, engine: Engine, sql: str, values: dict[str, object]) -> pa.Table | Rows:
        """SQL over this analysis's parameters (bound) and days, as Python values when the engine can."""
        return getattr(engine, "query_rows", engine.query)(sql, self.bind(values), *_time_range(values))


def _time_range(values: dict[str, object]) -> tuple[datetime | None, datetime | None]:
    """[since, until) of the filters, so that the engine reads only the days they cover."""
    since, until = values.get("since"), values.get("until")
    return (since if isinstance(since, datetime) else None, until if isinstance(until, datetime) else None)


def split_header(text: str, keys: tuple[str, ...]) -> tuple[dict[str, list[str]], str]:
    """A catalog SQL file's header lines (`-- key: value`, each key's lines in order) and its SQL body."""
    header: dict[str, list[str]] = {}
    body: list[str] = []
    for line in text.splitlines():
        match = _HEADER_LINE.match(line) if not body else None
        if match and match.group(1) in keys:
            header.setdefault(match.group(1), []).append(match.group(2).strip())
        elif line.startswith("--") and not body:
            continue
        else:
            body.append(line)
    return header, "\n".join(body).strip().rstrip(";")


def parse_analysis(text: str, log_type: str) -> Analysis:
    """An Analysis from a SQL file's text; ValueError names what the header lacks."""
    lines, sql = split_header(text, ("name", "aliases", "title", "description", "parameters", "columns",
                                     "key_columns"))
    header = {key: " ".join(values).strip() for key, values in lines.items()}
    missing = [k for k in ("name", "title", "description", "columns") if not header.get(k)]
    if missing:
        raise ValueError(f"analysis header lacks {', '.join(missing)}")
    parameters = _split(header.get("parameters", ""))
    unknown = [p for p in parameters if p not in PARAMETERS]
    if unknown:
        raise ValueError(f"{header['name']}: unknown parameters {unknown}")
    key_columns = _split(header.get("key_columns", ""))
    if set(key_columns) - set(_split(header["columns"])):
        raise ValueError(f"{header['name']}: key_columns not in columns: {sorted(set(key_columns) - set(_split(header['columns'])))}")
    return Analysis(name=header["name"], log_type=log_type, title=header["title"],
                    description=header["description"], sql=sql,
                    parameters=parameters, columns=_split(header["columns"]),
                    aliases=_split(header.get("aliases", "")), key_columns=key_columns)


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def load_catalog() -> list[Analysis]:
    """Every analysis shipped in the package, sorted by log type and name."""
    analyses = []
    root = Path(__file__).with_name("analyses")  # package data lies beside the module
    for log_type in LOG_TYPES:
        folder = root / log_type
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                analyses.append(parse_analysis(entry.read_text(encoding="utf-8"), log_type))
    return analyses


def find_analysis(name: str, log_type: str | None = None, available: tuple[str, ...] = ()) -> Analysis:
    """The analysis called `name` (or one of its aliases, any case) for a log type.

    Without `log_type`, a name that exists for both log types picks the one whose table has data
    (`available`), and access logs when both do.
    """
    wanted = name.strip().lower()
    matches = [a for a in load_catalog()
               if wanted == a.name or wanted in (alias.lower() for alias in a.aliases)]
    if log_type:
        matches = [a for a in matches if a.log_type == log_type]
    if not matches:
        raise CatalogError(f"no analysis called {name!r}{f' for {log_type} logs' if log_type else ''}; "
                           "`s3logq analyses` lists them")
    if len(matches) > 1:
        with_data = [a for a in matches if a.log_type in available] or matches
        matches = sorted(with_data, key=lambda a: LOG_TYPES.index(a.log_type))
    return matches[0]
