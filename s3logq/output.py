"""Output formats: a registry of small functions, each writing an Arrow table somewhere."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from s3logq.rows import Rows, write_rows_csv

if TYPE_CHECKING:  # pyarrow costs ~0.15 s to import: imported by the writers, not by every command
    import pyarrow as pa

TABLE_PREVIEW_ROWS = 50
CELL_WIDTH = 48
FORMATS = ("table", "csv", "json", "parquet")
JSON_BATCH_ROWS = 10_000  # rows turned into Python objects at once: memory stays flat for a million


class OutputError(Exception):
    """The output cannot be written (bad format, unwritable path)."""


def readable(table: pa.Table | Rows) -> pa.Table | Rows:
    """Times as ISO-8601 UTC text and nested values as JSON text, for csv, json and the terminal."""
    if isinstance(table, Rows):
        return table.readable()
    import pyarrow as pa

    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            columns.append(_iso_utc(column))
        elif pa.types.is_nested(column.type):
            columns.append(pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
                                    pa.string()))
        elif pa.types.is_date(column.type):
            columns.append(column.cast(pa.string()))
        elif pa.types.is_interval(column.type):  # Arrow has no cast of intervals to text
            columns.append(pa.array([None if v is None else _iso_duration(v) for v in column.to_pylist()],
                                    pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


def _iso_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Times as "2024-03-01T10:00:00Z", with milliseconds only when there are some."""
    # Without a zone, Arrow formats the UTC instant as it is; with one, it looks the zone up for every value
    # (20x slower: 3.7 s for 1.7 M times).
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = column.cast(pa.timestamp("ms")).cast(pa.string())  # "2024-03-01 10:00:00.000"
    except pa.ArrowInvalid:  # finer than milliseconds (now(), your own SQL): cut to them, as the row writer does
        floored = pc.floor_temporal(column.cast(pa.timestamp(column.type.unit)), unit="millisecond")
        text = floored.cast(pa.timestamp("ms")).cast(pa.string())
    text = pc.replace_substring(pc.replace_substring(text, " ", "T", max_replacements=1), ".000", "")
    return pc.binary_join_element_wise(text, "Z", "")


def _iso_duration(value: pa.MonthDayNano) -> str:
    """An interval as ISO-8601: P1M2DT3.5S, PT0S when empty."""
    months, days, nanoseconds = value
    seconds = f"{nanoseconds / 1e9:f}".rstrip("0").rstrip(".") if nanoseconds else ""
    text = "P" + (f"{months}M" if months else "") + (f"{days}D" if days else "")
    return text + (f"T{seconds}S" if seconds else "") if (months or days or seconds) else "PT0S"


def numeric_names(table: pa.Table | Rows) -> set[str]:
    """The columns of numbers (the terminal right-aligns them and writes them with thousands separators)."""
    if isinstance(table, Rows):
        return table.numeric_names()
    import pyarrow as pa

    return {field.name for field in table.schema if pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type) or pa.types.is_decimal(field.type)}


def column_values(table: pa.Table | Rows) -> list[list[object]]:
    """Each column's values as Python objects, in order."""
    return table.columns() if isinstance(table, Rows) else [column.to_pylist() for column in table.columns]


def write_csv(table: pa.Table | Rows, sink: BinaryIO) -> None:
    if isinstance(table, Rows):  # the same text as Arrow's writer, without importing it
        write_rows_csv(table, sink)
        return
    import pyarrow.csv as pcsv

    pcsv.write_csv(readable(table), sink, pcsv.WriteOptions(quoting_style="needed"))


def write_json(table: pa.Table | Rows, sink: BinaryIO) -> None:
    """A JSON array of objects, one per row: json.dumps(rows, indent=1)'s text, JSON_BATCH_ROWS rows at a time."""
    opened = False
    shown = readable(table)
    batches = ([shown] if isinstance(shown, Rows) else shown.to_batches(max_chunksize=JSON_BATCH_ROWS))
    for batch in batches:
        rows = [_row_in_array(row) for row in batch.to_pylist()]
        if rows:
            sink.write(((",\n " if opened else "[\n ") + ",\n ".join(rows)).encode())
            opened = True
    sink.write(b"\n]\n" if opened else b"[]\n")


def _row_in_array(row: dict[str, object]) -> str:
    """A row as json.dumps writes it inside an array with indent=1: every line one space further in."""
    return json.dumps(row, ensure_ascii=False, indent=1, default=str).replace("\n", "\n ")


def write_parquet(table: pa.Table | Rows, sink: BinaryIO) -> None:
    if isinstance(table, Rows):
        raise OutputError("parquet is written from Arrow rows: fetch them with Analysis.run")  # a bug, not the user's
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(table, sink, compression="zstd")
    except pa.ArrowNotImplementedError as error:  # a type Parquet has no place for (INTERVAL, UNION)
        odd = [f"{f.name} ({f.type})" for f in table.schema if pa.types.is_interval(f.type) or pa.types.is_union(f.type)]
        what = f"column {', '.join(odd)}" if odd else str(error).splitlines()[0]
        raise OutputError(f"parquet cannot hold {what}; cast it to text in the SQL, or use csv or json") from None


WRITERS: dict[str, Callable[[pa.Table, BinaryIO], None]] = {"csv": write_csv, "json": write_json,
                                                            "parquet": write_parquet}


def serialize(table: pa.Table, fmt: str) -> bytes:
    """The rows in a format, in memory (for an upload)."""
    sink = io.BytesIO()
    WRITERS[fmt](table, sink)
    return sink.getvalue()


def format_for(path: str | None, requested: str | None) -> str:
    """The format asked for, else the one the output file's extension names, else a terminal table."""
    suffix = Path(path.rstrip("/")).suffix.lower().lstrip(".") if path else ""
    if requested in WRITERS and suffix in WRITERS and suffix != requested:
        raise ValueError(f"--format {requested} does not match --output {path}; drop one, or name the file .{requested}")
    if requested:
        return requested
    if path:
        if suffix in WRITERS:
            return suffix
        if suffix:
            raise ValueError(f"cannot tell the format of {path!r} from its extension; use --format")
        return "csv"
    return "table"


def write_table(table: pa.Table, fmt: str, target: str) -> str:
    """Write rows in a format to a local path, straight into the file, or to an s3:// URI; returns where."""
    if target.startswith("s3://"):
        return write_bytes(serialize(table, fmt), target)
    return _write_file(target, lambda sink: WRITERS[fmt](table, sink))


def check_target(target: str) -> None:
    """Fail now, before any work, on a target that cannot be written: an s3:// URI without a bucket."""
    if target.startswith("s3://"):
        from s3logq.sources.s3 import split_uri

        try:
            split_uri(target)
        except ValueError as error:
            raise OutputError(str(error)) from None


def write_bytes(data: bytes, target: str) -> str:
    """Write to a local path or an s3:// URI; returns the final location."""
    if target.startswith("s3://"):
        from s3logq.sources.s3 import upload_bytes

        return upload_bytes(data, target)
    return _write_file(target, lambda sink: sink.write(data))


def _write_file(target: str, write: Callable[[BinaryIO], object]) -> str:
    """Write a local file under a temporary name, then rename it: readers never see half a file, and a
    failed write leaves none."""
    path = Path(target)
    temporary = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as sink:
            write(sink)
        os.replace(temporary, path)
    except FileExistsError as error:  # from mkdir: a file stands where a folder of the path should be
        raise OutputError(f"cannot write {target}: {error.filename} is a file, not a folder") from None
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
    return str(path.resolve())


def footer(total: int, limit: int = TABLE_PREVIEW_ROWS) -> str:
    """The line under a terminal table: how many rows there are, and how to get them all."""
    text = f"{total:,} row{'s' if total != 1 else ''}"
    if total > limit:
        text += f" (first {limit} shown; --format csv|json|parquet --output FILE gives all)"
    return text


def rich_table(table: pa.Table, title: str | None = None, limit: int = TABLE_PREVIEW_ROWS):  # -> rich Table
    """The first `limit` rows as a rich table."""
    from rich.table import Table
    from rich.text import Text

    # Values, names and title as Text, not str: rich would read "[/b]" in a key as markup (and fail), ":x:" as emoji
    shown = readable(table.slice(0, limit))
    view = Table(title=Text(title) if title else None, show_lines=False, header_style="bold")
    for name in shown.column_names:
        view.add_column(Text(name), no_wrap=True, overflow="ellipsis", max_width=CELL_WIDTH,
                        min_width=min(len(name), 10))
    for row in shown.to_pylist():
        view.add_row(*(Text(_cell(v)) for v in row.values()))
    return view


def _cell(value: object) -> str:
    """A terminal cell: one line, cut at CELL_WIDTH (csv/json/parquet carry the whole value)."""
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"
