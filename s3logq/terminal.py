"""Rows on a terminal: the most important columns first and whole, the least important left out when the
terminal is too narrow (and said so), or every column (--wide), or one record per block (--vertical)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3logq.output import CELL_WIDTH, readable

if TYPE_CHECKING:
    import pyarrow as pa

# A rich table with a box and one space of padding each side: 3 cells per column and one for the last line.
_BORDER_PER_COLUMN = 3


@dataclass
class TerminalView:
    """A rich table to print, the columns it leaves out, and the console width it needs."""

    table: Any  # rich.table.Table
    width: int
    left_out: list[str] = field(default_factory=list)


def choose_columns(table: pa.Table, wanted: Sequence[str]) -> pa.Table:
    """The columns --columns names, in its order; an unknown name is an error that names the columns there are."""
    unknown = [name for name in wanted if name not in table.column_names]
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, table.column_names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"no column {name!r} in these rows; {hint}columns: {', '.join(table.column_names)}")
    return table.select(list(wanted))


def ordered_names(names: Sequence[str], key_columns: Sequence[str]) -> list[str]:
    """The key columns first, in their order of importance, then the others as the rows have them."""
    first = [name for name in key_columns if name in names]
    return first + [name for name in names if name not in first]


def cells(table: pa.Table, limit: int, whole: Sequence[str] | bool = ()) -> dict[str, list[str]]:
    """Each column's terminal text: numbers with thousands separators, times in full, text on one line, cut
    at CELL_WIDTH but in the `whole` columns (True: every column; csv/json/parquet carry the whole value)."""
    import pyarrow as pa

    shown = readable(table.slice(0, limit))
    texts: dict[str, list[str]] = {}
    for name, original, column in zip(table.column_names, table.columns, shown.columns, strict=True):
        numeric = pa.types.is_integer(original.type) or pa.types.is_floating(original.type) \
            or pa.types.is_decimal(original.type)
        cut = not (whole is True or (whole and name in whole))
        texts[name] = [_cell(value, numeric, cut) for value in column.to_pylist()]
    return texts


def _cell(value: object, numeric: bool, cut: bool) -> str:
    if value is None:
        return ""
    if numeric:
        return f"{value:,}"  # never cut: a number shown in part is a wrong number
    text = str(value).replace("\n", " ")
    return text[: CELL_WIDTH - 1] + "…" if cut and len(text) > CELL_WIDTH else text


def terminal_view(table: pa.Table, width: int, title: str | None = None, key_columns: Sequence[str] = (),
                  limit: int = 50, wide: bool = False) -> TerminalView:
    """The first `limit` rows as a rich table `width` cells wide at most: the key columns first and whole, the
    others cut at CELL_WIDTH, and the least important left out until the rest fit (never the first one).
    With `wide`, every column and every value whole, however wide that is."""
    import pyarrow as pa
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    texts = cells(table, limit, whole=True if wide else tuple(key_columns))
    names = ordered_names(table.column_names, key_columns)
    natural = {name: max([cell_len(name), *(cell_len(t) for t in texts[name])]) for name in names}
    kept: list[str] = []
    used = 1
    for name in names:
        cost = natural[name] + _BORDER_PER_COLUMN
        if kept and not wide and used + cost > width:
            break
        kept.append(name)
        used += cost
    # Values, names and title as Text, not str: rich would read "[/b]" in a key as markup, ":x:" as emoji
    view = Table(title=Text(title) if title else None, header_style="bold")
    for name in kept:
        numeric = pa.types.is_integer(table.schema.field(name).type) or pa.types.is_floating(
            table.schema.field(name).type) or pa.types.is_decimal(table.schema.field(name).type)
        view.add_column(Text(name), no_wrap=True, min_width=natural[name], max_width=natural[name],
                        justify="right" if numeric else "left")
    for row in range(min(limit, table.num_rows)):
        view.add_row(*(Text(texts[name][row]) for name in kept))
    return TerminalView(view, used, [name for name in names if name not in kept])


def left_out_note(left_out: Sequence[str], kept: Sequence[str], width: int) -> str:
    """What a narrow terminal left out, and the options that show it."""
    some = ",".join([*kept[:2], left_out[0]])
    return (f"{len(left_out)} column{'s' if len(left_out) != 1 else ''} left out to fit {width} columns: "
            f"{', '.join(left_out)} (see them: add --vertical, --wide, or --columns {some})")


def vertical_lines(table: pa.Table, key_columns: Sequence[str] = (), limit: int = 50) -> list[str]:
    """One block per record, one `name | value` line per column, as psql's expanded display: every value whole."""
    texts = cells(table, limit, whole=True)
    names = ordered_names(table.column_names, key_columns)
    pad = max((len(name) for name in names), default=0)
    lines: list[str] = []
    for row in range(min(limit, table.num_rows)):
        lines.append(f"-[ RECORD {row + 1} ]" + "-" * max(0, pad - 8))
        lines += [f"{name.ljust(pad)} | {texts[name][row]}" for name in names]
    return lines
