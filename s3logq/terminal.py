"""Rows on a terminal: the most important columns first and whole, the least important left out when the
terminal is too narrow (and said so), or every column (--wide), or one record per block (--vertical)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3logq.output import CELL_WIDTH, column_values, numeric_names, readable

if TYPE_CHECKING:
    import pyarrow as pa

    from s3logq.rows import Rows

# A rich table with a box and one space of padding each side: 3 cells per column and one for the last line.
_BORDER_PER_COLUMN = 3


@dataclass
class TerminalView:
    """A table to print: its title, the columns kept (names, widths, which are right-aligned), the cell texts,
    the columns it leaves out, and the console width it needs."""

    title: str | None
    names: list[str]
    widths: list[int]
    right: list[bool]
    rows: list[list[str]]
    width: int
    left_out: list[str] = field(default_factory=list)

    @property
    def table(self) -> Any:  # rich.table.Table
        """The rich table, for what plain_lines cannot draw exactly."""
        from rich.table import Table
        from rich.text import Text

        # Values, names and title as Text, not str: rich would read "[/b]" in a key as markup, ":x:" as emoji
        view = Table(title=Text(self.title) if self.title else None, header_style="bold")
        for name, width, right in zip(self.names, self.widths, self.right, strict=True):
            view.add_column(Text(name), no_wrap=True, min_width=width, max_width=width,
                            justify="right" if right else "left")
        for row in self.rows:
            view.add_row(*(Text(text) for text in row))
        return view

    def plain_lines(self, bold_header: bool = False) -> list[str] | None:
        """The lines rich prints for `table`, drawn here: importing rich and letting it lay out 50 rows takes
        ~50 ms of a command's start. With `bold_header`, the header styled as rich styles it on a terminal.
        None when rich must draw it: a text that is not plain ASCII (wide characters, control codes, tabs)
        or a title that needs more than one line."""
        texts = [self.title or "", *self.names, *(t for row in self.rows for t in row)]
        if not all(t.isascii() and t.isprintable() for t in texts) or len(self.title or "") > self.width:
            return None
        lines = []
        title = (self.title or "").rstrip()  # as rich centres it
        if self.title:
            space = self.width - len(title)
            lines.append(" " * (space // 2) + title + " " * (space - space // 2))
        lines.append("┏" + "┳".join("━" * (w + 2) for w in self.widths) + "┓")
        header = [_justified(name, w, r) for name, w, r in zip(self.names, self.widths, self.right, strict=True)]
        if bold_header:  # rich's segments exactly: the padding and the text styled apart
            lines.append("┃" + "┃".join(f"{_BOLD} {_RESET}{_BOLD}{h}{_RESET}{_BOLD} {_RESET}" for h in header) + "┃")
        else:
            lines.append("┃" + "┃".join(f" {h} " for h in header) + "┃")
        lines.append("┡" + "╇".join("━" * (w + 2) for w in self.widths) + "┩")
        lines += ["│" + "│".join(f" {_justified(t, w, r)} " for t, w, r in zip(row, self.widths, self.right,
                                                                               strict=True)) + "│"
                  for row in self.rows]
        lines.append("└" + "┴".join("─" * (w + 2) for w in self.widths) + "┘")
        return lines


_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def _justified(text: str, width: int, right: bool) -> str:
    return text.rstrip().rjust(width) if right else text.ljust(width)  # rich drops trailing spaces to right-align


def choose_columns(table: pa.Table | Rows, wanted: Sequence[str]) -> pa.Table | Rows:
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


def cells(table: pa.Table | Rows, limit: int, whole: Sequence[str] | bool = ()) -> dict[str, list[str]]:
    """Each column's terminal text: numbers with thousands separators, times in full, text on one line, cut
    at CELL_WIDTH but in the `whole` columns (True: every column; csv/json/parquet carry the whole value)."""
    shown = readable(table.slice(0, limit))
    numeric = numeric_names(table)
    texts: dict[str, list[str]] = {}
    for name, values in zip(table.column_names, column_values(shown), strict=True):
        cut = not (whole is True or (whole and name in whole))
        texts[name] = [_cell(value, name in numeric, cut) for value in values]
    return texts


def _cell(value: object, numeric: bool, cut: bool) -> str:
    if value is None:
        return ""
    if numeric:
        return f"{value:,}"  # never cut: a number shown in part is a wrong number
    text = str(value).replace("\n", " ")
    return text[: CELL_WIDTH - 1] + "…" if cut and len(text) > CELL_WIDTH else text


def terminal_view(table: pa.Table | Rows, width: int, title: str | None = None, key_columns: Sequence[str] = (),
                  limit: int = 50, wide: bool = False) -> TerminalView:
    """The first `limit` rows as a table `width` cells wide at most: the key columns first and whole, the
    others cut at CELL_WIDTH, and the least important left out until the rest fit (never the first one).
    With `wide`, every column and every value whole, however wide that is."""
    texts = cells(table, limit, whole=True if wide else tuple(key_columns))
    names = ordered_names(table.column_names, key_columns)
    cell_len: Callable[[str], int] = len  # one cell per character; rich.cells is imported only for other text
    if not all(name.isascii() and all(t.isascii() for t in texts[name]) for name in names):
        from rich.cells import cell_len as rich_cell_len

        cell_len = rich_cell_len
    natural = {name: max([cell_len(name), *(cell_len(t) for t in texts[name])]) for name in names}
    kept: list[str] = []
    used = 1
    for name in names:
        cost = natural[name] + _BORDER_PER_COLUMN
        if kept and not wide and used + cost > width:
            break
        kept.append(name)
        used += cost
    numeric = numeric_names(table)
    rows = [[texts[name][row] for name in kept] for row in range(min(limit, table.num_rows))]
    return TerminalView(title, kept, [natural[name] for name in kept], [name in numeric for name in kept], rows,
                        used, [name for name in names if name not in kept])


def left_out_note(left_out: Sequence[str], kept: Sequence[str], width: int) -> str:
    """What a narrow terminal left out, and the options that show it."""
    some = ",".join([*kept[:2], left_out[0]])
    return (f"{len(left_out)} column{'s' if len(left_out) != 1 else ''} left out to fit {width} columns: "
            f"{', '.join(left_out)} (see them: add --vertical, --wide, or --columns {some})")


def vertical_lines(table: pa.Table | Rows, key_columns: Sequence[str] = (), limit: int = 50) -> list[str]:
    """One block per record, one `name | value` line per column, as psql's expanded display: every value whole."""
    texts = cells(table, limit, whole=True)
    names = ordered_names(table.column_names, key_columns)
    pad = max((len(name) for name in names), default=0)
    lines: list[str] = []
    for row in range(min(limit, table.num_rows)):
        lines.append(f"-[ RECORD {row + 1} ]" + "-" * max(0, pad - 8))
        lines += [f"{name.ljust(pad)} | {texts[name][row]}" for name in names]
    return lines
