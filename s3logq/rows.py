"""Query rows as Python values, for the outputs that print them (terminal, csv, json) when the answer is small:
fetched from DuckDB without Arrow, so that `s3logq run` does not pay pyarrow's and numpy's import (issue 12).

Rows print exactly as the same rows in an Arrow table do (output.readable, output.write_csv): csv, json and
the terminal cannot tell which one they were given.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, BinaryIO

# What a column holds, from its DuckDB type: how it is printed.
INTEGER, HUGE, FLOAT, DECIMAL, BOOLEAN, TIME, DATE, INTERVAL, NESTED, TEXT = (
    "integer", "huge", "float", "decimal", "boolean", "time", "date", "interval", "nested", "text")
NUMERIC = (INTEGER, HUGE, FLOAT, DECIMAL)
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}


def kind_of(duckdb_type: str) -> str:
    """The kind of a column from its DuckDB type's text (`BIGINT`, `STRUCT(a INTEGER)`, `VARCHAR[]`, ...)."""
    if duckdb_type in _INTEGER_TYPES:
        return INTEGER
    if duckdb_type in ("HUGEINT", "UHUGEINT"):  # sum() of BIGINT: Arrow has it as decimal128(38, 0)
        return HUGE
    if duckdb_type in ("DOUBLE", "FLOAT"):
        return FLOAT
    if duckdb_type.startswith("DECIMAL"):
        return DECIMAL
    if duckdb_type == "BOOLEAN":
        return BOOLEAN
    if duckdb_type.startswith("TIMESTAMP"):
        return TIME
    if duckdb_type == "DATE":
        return DATE
    if duckdb_type == "INTERVAL":
        return INTERVAL
    if duckdb_type.startswith(("STRUCT(", "MAP(", "UNION(")) or duckdb_type.endswith("]"):
        return NESTED
    return TEXT


@dataclass(frozen=True)
class Rows:
    """Rows of a query: column names, each column's kind, and one tuple per row."""

    column_names: list[str]
    kinds: list[str]
    records: list[tuple]

    @property
    def num_rows(self) -> int:
        return len(self.records)

    def slice(self, offset: int = 0, length: int | None = None) -> Rows:
        end = None if length is None else offset + length
        return Rows(self.column_names, self.kinds, self.records[offset:end])

    def select(self, names: Sequence[str]) -> Rows:
        positions = [self.column_names.index(name) for name in names]
        return Rows(list(names), [self.kinds[p] for p in positions],
                    [tuple(record[p] for p in positions) for record in self.records])

    def to_pylist(self) -> list[dict[str, object]]:
        return [dict(zip(self.column_names, record, strict=True)) for record in self.records]

    def columns(self) -> list[list[object]]:
        """Each column's values, in order."""
        return [[record[p] for record in self.records] for p in range(len(self.column_names))]

    def numeric_names(self) -> set[str]:
        return {name for name, kind in zip(self.column_names, self.kinds, strict=True) if kind in NUMERIC}

    def readable(self) -> Rows:
        """Times as ISO-8601 UTC text, dates as text, nested values as JSON text (as output.readable does), and
        128-bit integers as the Decimal Arrow gives (json writes it as a string)."""
        from decimal import Decimal  # not at import: every command imports this module, few print a HUGEINT

        shown: dict[str, Callable[[Any], object]] = {TIME: _iso_utc, DATE: date.isoformat, INTERVAL: _iso_duration,
                                                     NESTED: _json_text, HUGE: Decimal}
        converters = [shown.get(kind) for kind in self.kinds]
        if not any(converters):
            return self
        records = [tuple(v if convert is None or v is None else convert(v)
                         for v, convert in zip(record, converters, strict=True)) for record in self.records]
        kinds = [DECIMAL if kind == HUGE else TEXT if convert else kind
                 for kind, convert in zip(self.kinds, converters, strict=True)]
        return Rows(self.column_names, kinds, records)


def _iso_utc(moment: datetime) -> str:
    """"2024-03-01T10:00:00Z", with milliseconds only when there are some (times are cut to milliseconds)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    milliseconds = moment.microsecond // 1000
    return f"{text}.{milliseconds:03d}Z" if milliseconds else text + "Z"


def _iso_duration(value: timedelta) -> str:
    """An interval as ISO-8601 (DuckDB gives Python a month as 30 days): P1DT3.5S, PT0S when empty."""
    seconds = value.seconds + value.microseconds / 1e6
    text = f"{seconds:f}".rstrip("0").rstrip(".") if seconds else ""
    days = f"{value.days}D" if value.days else ""
    return "P" + days + (f"T{text}S" if text else "") if (days or text) else "PT0S"


def _json_text(value: object) -> str:
    return json.dumps(_as_arrow_gives(value), default=str)


def _as_arrow_gives(value: object) -> object:
    """A nested value as Arrow's to_pylist has it: a MAP as a list of (key, value) pairs, not a dict."""
    if isinstance(value, dict):
        if set(value) == {"key", "value"} and isinstance(value["key"], list):  # an older DuckDB's MAP
            return [(k, _as_arrow_gives(v)) for k, v in zip(value["key"], value["value"], strict=True)]
        return {k: _as_arrow_gives(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_arrow_gives(v) for v in value]
    return value


def write_rows_csv(rows: Rows, sink: BinaryIO) -> None:
    """CSV as pyarrow.csv writes it with quoting_style="needed": names and text quoted, numbers not, NULL empty."""
    shown = rows.readable()
    formats = [_CSV_CELL.get(kind, _csv_text) for kind in shown.kinds]
    lines = [",".join(_csv_text(name) for name in shown.column_names)]
    lines += [",".join("" if v is None else write(v) for v, write in zip(record, formats, strict=True))
              for record in shown.records]
    sink.write(("\n".join(lines) + "\n").encode())


def _csv_text(value: object) -> str:
    return '"' + str(value).replace('"', '""') + '"'


def arrow_float(value: float) -> str:
    """A double as Arrow's formatter writes it: the shortest digits, plain from 1e-6 to below 1e10, else
    d.ddde+N (e.g. 100, 0.000001, 1e-7, 1.5e+10, nan, inf)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    from decimal import Decimal

    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits_tuple, exponent = Decimal(repr(abs(value))).as_tuple()[1:]
    digits = "".join(map(str, digits_tuple)).rstrip("0")
    exponent = int(exponent) + len(digits_tuple) - len(digits)  # value = int(digits) * 10**exponent
    point = len(digits) + exponent  # digits before the decimal point (negative: zeros after it)
    if -6 <= point - 1 < 10:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    power = point - 1
    return f"{sign}{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


_CSV_CELL: dict[str, Callable[[Any], str]] = {INTEGER: str, FLOAT: arrow_float, DECIMAL: lambda v: format(v, "f"),
             BOOLEAN: lambda v: "true" if v else "false"}
