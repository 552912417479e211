"""S3 server access log lines -> typed `access_log` rows, with every line that could not be read kept aside.

The native tokenizer (`_access_tokenizer.c`) reads, checks and types each line in one pass, outside the GIL.
The rare line it cannot vouch for (a raw quote inside a quoted field, another time zone, a cut line) is
read here by a careful per-line parser, or becomes a Reject with its file, line number and reason.
Both agree on what a line is: LF, CRLF and a lone CR end one, and a UTF-8 byte order mark starting it is not data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import numpy as np
import pyarrow as pa

from s3logq.formats._access_tokenizer import count_line_ends, tokenize

# Field names in log order, as in AWS's Athena table; the bracketed time is two tokens when split on spaces.
FIELDS = [
    "bucketowner", "bucket_name", "time_part", "tz_part", "remoteip", "requester", "requestid", "operation",
    "key", "request_uri", "httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime",
    "referrer", "useragent", "versionid", "hostid", "sigv", "ciphersuite", "authtype", "endpoint",
    "tlsversion", "accesspointarn", "aclrequired", "source_region",
]  # fmt: skip
MIN_FIELDS = 18  # the oldest documented lines end after the version ID (field 18)
MIN_TOKENS = MIN_FIELDS + 1
_TIME_FORMAT = "[%d/%b/%Y:%H:%M:%S"
# Request times outside these are damaged lines (the tokenizer's MIN_YEAR/MAX_YEAR): they would break the
# day split and nanosecond timestamps (which end in 2262) downstream, so they are rejected, with the reason.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2200, 1, 1, tzinfo=UTC)
_LARGEST_INT64 = 2**63 - 1
UNREADABLE = "the careful parser failed on this line"
_NUMBER_COLUMNS = ("bytessent", "objectsize", "totaltime", "turnaroundtime")  # in the tokenizer's order
# The tokenizer's text columns, in its order (http_method is derived from the request-URI).
_TEXT_COLUMNS = ("bucketowner", "bucket_name", "remoteip", "requester", "requestid", "operation", "key",
                 "request_uri", "errorcode", "referrer", "useragent", "versionid", "hostid", "sigv", "ciphersuite",
                 "authtype", "endpoint", "tlsversion", "accesspointarn", "aclrequired", "source_region",
                 "http_method")

ACCESS_SCHEMA = pa.schema([
    ("bucketowner", pa.string()), ("bucket_name", pa.string()), ("request_time", pa.timestamp("us", tz="UTC")),
    ("remoteip", pa.string()), ("requester", pa.string()), ("requestid", pa.string()), ("operation", pa.string()),
    ("key", pa.string()), ("request_uri", pa.string()), ("httpstatus", pa.int16()), ("errorcode", pa.string()),
    ("bytessent", pa.int64()), ("objectsize", pa.int64()), ("totaltime", pa.int64()),
    ("turnaroundtime", pa.int64()), ("referrer", pa.string()), ("useragent", pa.string()),
    ("versionid", pa.string()), ("hostid", pa.string()), ("sigv", pa.string()), ("ciphersuite", pa.string()),
    ("authtype", pa.string()), ("endpoint", pa.string()), ("tlsversion", pa.string()),
    ("accesspointarn", pa.string()), ("aclrequired", pa.string()), ("source_region", pa.string()),
    ("http_method", pa.string()), ("log_file", pa.string()), ("log_line", pa.int32()),
])  # fmt: skip
# As parsed, before the lake: the file name is stored once per file, each row pointing at it.
PARSED_SCHEMA = ACCESS_SCHEMA.set(ACCESS_SCHEMA.get_field_index("log_file"),
                                  pa.field("log_file", pa.dictionary(pa.int32(), pa.string())))
_TYPES = {field.name: field.type for field in ACCESS_SCHEMA} | {"file_number": pa.int32()}


@dataclass(frozen=True)
class Reject:
    """A line that could not be read, kept aside with where it came from."""

    log_file: str
    log_line: int
    reason: str
    raw_line: str


# One file, or a slice of one cut at a line end: (data, file name) or (data, file name, number of its first line).
Slice = tuple[bytes | memoryview, str] | tuple[bytes | memoryview, str, int]


def parse_access_log(data: bytes, log_file: str) -> tuple[pa.Table, list[Reject]]:
    """One access-log file as typed rows (PARSED_SCHEMA) and the lines that could not be read."""
    return parse_access_logs([(data, log_file)])


def parse_access_logs(files: Sequence[Slice]) -> tuple[pa.Table, list[Reject]]:
    """Several access-log files, or slices of them, read in one call (small files cost one call, not one each).

    A slice `(data, name, first_line)` numbers its lines from `first_line`, so its rows and rejects carry the
    file's own line numbers; it must start where a line starts (never between the CR and LF of a CRLF). Rows
    keep the file and line they came from; rows read carefully follow the others, as a second chunk.
    `log_file` is dictionary-encoded here (one name per file, not per row); the lake stores it as plain text.
    """
    slices = [(item[0], item[1], item[2] if len(item) == 3 else 1) for item in files if len(item[0])]
    if not slices:
        return PARSED_SCHEMA.empty_table(), []
    name_numbers = {name: number for number, name in enumerate(dict.fromkeys(name for _, name, _ in slices))}
    names = list(name_numbers)
    file_of_slice = [name_numbers[name] for _, name, _ in slices] if len(names) < len(slices) else None
    tokens = tokenize([data for data, _, _ in slices], [first for _, _, first in slices])
    columns = _native_columns(tokens)
    careful_rows, rejects = _read_declined_lines(slices, tokens)
    dictionary = pa.array(names, pa.string())
    batches = [_batch(columns, dictionary, file_of_slice)]
    if careful_rows:
        batches.append(_batch(_careful_columns(careful_rows), dictionary, file_of_slice))
    return pa.Table.from_batches(batches, schema=PARSED_SCHEMA), rejects


def _batch(columns: dict[str, pa.Array], names: pa.Array, file_of_slice: list[int] | None) -> pa.RecordBatch:
    """Columns as a batch of PARSED_SCHEMA, `log_file` pointing into the names (several slices may share one)."""
    file_numbers = columns.pop("file_number")
    if file_of_slice is not None:
        file_numbers = pa.array(np.asarray(file_of_slice, np.int32)[file_numbers.to_numpy(zero_copy_only=False)])
    columns["log_file"] = pa.DictionaryArray.from_arrays(file_numbers, names)
    return pa.RecordBatch.from_arrays([columns[field.name] for field in PARSED_SCHEMA], schema=PARSED_SCHEMA)


def _read_declined_lines(slices: list[tuple[bytes | memoryview, str, int]],
                         tokens: dict) -> tuple[list[list], list[Reject]]:
    """The lines the tokenizer declined, each cut from its buffer by its byte range and read carefully alone."""
    careful_rows: list[list] = []
    rejects: list[Reject] = []
    declined = zip(np.frombuffer(tokens["bad_files"], np.int32).tolist(),
                   np.frombuffer(tokens["bad_lines"], np.int32).tolist(),
                   np.frombuffer(tokens["bad_starts"], np.int64).tolist(),
                   np.frombuffer(tokens["bad_ends"], np.int64).tolist(), strict=True)
    for file_number, line_number, start, end in declined:
        data, name, _ = slices[file_number]
        text = bytes(data[start:end]).decode("utf-8", "replace")
        try:
            fields = read_line(text)
        except Exception as error:  # noqa: BLE001 - a parser bug costs its line, not the file (the fuzz test hunts these)
            fields = f"{UNREADABLE}: {type(error).__name__}: {error}"
        if isinstance(fields, str):
            rejects.append(Reject(name, line_number, fields, text))
        else:
            careful_rows.append([*fields, line_number, file_number])
    return careful_rows, rejects


def line_slices(pieces: Iterable[bytes], slice_bytes: int = 8 << 20,
                longest_line: int | None = None) -> Iterator[tuple[bytes, int]]:
    """A stream of bytes (a decompressor's output) cut at line ends into slices of about `slice_bytes`.

    Yields each slice with the number of its first line, counted as the tokenizer counts (LF, CRLF, lone CR):
    `parse_access_logs` of the slices reads what the whole text reads. A slice never ends on a CR whose LF may
    be in the next piece. With `longest_line`, text without a line end that grows past it is cut anyway (the
    parser rejects the pieces), so that memory stays bounded.
    """
    pending = bytearray()
    first_line = 1
    for piece in pieces:
        pending += piece
        if len(pending) < slice_bytes:
            continue
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1)) + 1
        if cut == 0 and longest_line is not None and len(pending) >= longest_line:
            cut = len(pending)
        if cut == 0:
            continue  # one line longer than a slice: wait for its end
        chunk = bytes(pending[:cut])
        del pending[:cut]
        yield chunk, first_line
        first_line += count_line_ends(chunk)
    if pending:
        yield bytes(pending), first_line


def _native_columns(tokens: dict) -> dict[str, pa.Array]:
    """The tokenizer's buffers wrapped as Arrow arrays (no copy)."""
    rows = tokens["rows"]
    columns = {"file_number": pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(tokens["file_numbers"])]),
               "log_line": pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(tokens["line_numbers"])]),
               "request_time": pa.Array.from_buffers(_TYPES["request_time"], rows,
                                                     [None, pa.py_buffer(tokens["times"])])}
    values, valid = tokens["status"]
    columns["httpstatus"] = pa.Array.from_buffers(pa.int16(), rows, [pa.py_buffer(valid), pa.py_buffer(values)])
    for name, (values, valid) in zip(_NUMBER_COLUMNS, tokens["numbers"], strict=True):
        columns[name] = pa.Array.from_buffers(pa.int64(), rows, [pa.py_buffer(valid), pa.py_buffer(values)])
    for name, (offsets, data, valid) in zip(_TEXT_COLUMNS, tokens["text"], strict=True):
        columns[name] = pa.Array.from_buffers(pa.string(), rows, [pa.py_buffer(valid), pa.py_buffer(offsets),
                                                                   pa.py_buffer(data)])
    return columns


def _careful_columns(rows: list[list]) -> dict[str, pa.Array]:
    """Typed columns of lines read carefully (FIELDS tokens, line and file number): '-' is NULL."""
    by_name: dict[str, Sequence] = dict(zip([*FIELDS, "log_line", "file_number"], zip(*rows, strict=True),
                                            strict=True))
    values: dict[str, list] = {name: [None if v == "-" else v for v in by_name[name]]
                               for name in FIELDS if name in _TYPES}
    for name in ("httpstatus", *_NUMBER_COLUMNS):  # read_line checked each fits its type
        values[name] = [None if v is None else int(v) for v in values[name]]
    values["key"] = [None if k is None else unquote(k, errors="replace") for k in values["key"]]
    values["http_method"] = [u.split(" ", 1)[0] if u and " " in u else None for u in values["request_uri"]]
    values["request_time"] = [_utc_time(t, z) for t, z in zip(by_name["time_part"], by_name["tz_part"], strict=True)]
    values["log_line"] = list(by_name["log_line"])
    values["file_number"] = list(by_name["file_number"])
    return {name: pa.array(column, _TYPES[name]) for name, column in values.items()}


# --- the careful per-line parser -------------------------------------------------------------------------
_TOKEN = r"([^ ]+)"  # fields are separated by single spaces; a stray tab is part of its field
_HEAD = r"^" + " ".join([_TOKEN, _TOKEN]) + r" (\[[^\]]*) ([+-][0-9]{4}\]) " + " ".join([_TOKEN] * 5)
_NUMBERS = r" ([0-9]{3}|-) " + _TOKEN + r" ([0-9]+|-) ([0-9]+|-) ([0-9]+|-) ([0-9]+|-)"
_TAIL_WITHOUT_QUOTES = r'((?: [^ "]+)*) ?$'  # version ID, host ID, ... never hold a quote
_TAIL_ANY = r"((?: [^ ]+)*) ?$"


def _line_pattern(quoted: str, tail: str) -> re.Pattern[str]:
    field = f'(?:"({quoted})"|(-))'
    return re.compile(_HEAD + " " + field + _NUMBERS + " " + field + " " + field + tail)


# Escape-aware first; then lenient (lazy, backtracking) for raw unescaped quotes inside a quoted field;
# the lenient form ends the user agent where the fields after it hold no quote, so nothing shifts.
_LINE_PATTERNS = (
    _line_pattern(r'(?:[^"\\]|\\.)*', _TAIL_WITHOUT_QUOTES),
    _line_pattern(r".*?", _TAIL_WITHOUT_QUOTES),
    _line_pattern(r'(?:[^"\\]|\\.)*', _TAIL_ANY),
)
_UNESCAPE = re.compile(r"\\(.)")


# The time of a record, in any zone (the tokenizer's is_record_time): two in a line are two records whose line
# end was lost (`cat` of a file without its final newline). Read as one, the second would land in a field.
_RECORD_TIME = re.compile(r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\]")


def read_line(text: str) -> list[str | None] | str:
    """Raw string fields (FIELDS order) of one line read carefully, or the reason it is not a record."""
    if len(_RECORD_TIME.findall(text)) > 1:
        return "two records on one line (a line end is missing)"
    for pattern in _LINE_PATTERNS:
        match = pattern.match(text)
        if match:
            return _checked(_tokens_from_match(match.groups()))
    return _reject_reason(text)


def parse_line(text: str) -> list[str | None] | None:
    """Raw string fields (FIELDS order) of one line read carefully, or None when it is not a record."""
    fields = read_line(text)
    return None if isinstance(fields, str) else fields


def _checked(fields: list[str | None]) -> list[str | None] | str:
    """The fields when each value fits its column, else why not."""
    moment = _utc_time(fields[2], fields[3])
    if isinstance(moment, str):
        return moment
    for name in _NUMBER_COLUMNS:
        value = fields[FIELDS.index(name)] or "-"
        digits = value.lstrip("0")  # leading zeros are allowed; a long number is refused before int() reads it
        if value != "-" and (len(digits) > 19 or int(digits or "0") > _LARGEST_INT64):
            return f"{name} {value} does not fit a 64-bit integer"
    return fields


def _utc_time(time_part: str | None, tz_part: str | None) -> datetime | str:
    """`[06/Feb/2019:00:00:38` + `+0000]` as an aware UTC datetime (from whatever zone), else why not."""
    try:
        local = _strict_time(time_part, tz_part) or datetime.strptime(f"{time_part} {tz_part}", _TIME_FORMAT + " %z]")
    except (ValueError, TypeError):
        return "request time is not a date"
    try:
        moment = local.astimezone(UTC)
    except OverflowError:  # the zone moves it past year 9999 or before year 1
        moment = None
    if moment is None or not EARLIEST_TIME <= moment < END_OF_TIME:
        return f"request time {time_part[1:]} {tz_part[:-1]} out of range (years {EARLIEST_TIME.year} to {END_OF_TIME.year - 1})"  # type: ignore[index]
    return moment


_STRICT_TIME = re.compile(r"\[([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2})")
_STRICT_ZONE = re.compile(r"([+-])([01][0-9]|2[0-3])([0-5][0-9])\]")
_MONTH_NUMBERS = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}


def _strict_time(time_part: str | None, tz_part: str | None) -> datetime | None:
    """The usual `[06/Feb/2019:00:00:38` `+0000]` without strptime (a tenth of its cost); None: ask strptime.

    Raises ValueError where strptime would (no such day, hour 24): both read the same forms the same way.
    """
    time = _STRICT_TIME.fullmatch(time_part or "")
    zone = _STRICT_ZONE.fullmatch(tz_part or "")
    month = _MONTH_NUMBERS.get(time.group(2).lower(), 0) if time else 0
    if not (time and zone and month):
        return None
    day, _, year, hour, minute, second = time.groups()
    offset = timedelta(hours=int(zone.group(2)), minutes=int(zone.group(3))) * (-1 if zone.group(1) == "-" else 1)
    return datetime(int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=timezone(offset))


def _tokens_from_match(groups: tuple) -> list[str | None]:
    head = list(groups[:9])
    uri = _unquote_group(groups[9], groups[10])
    numbers = list(groups[11:17])
    referrer = _unquote_group(groups[17], groups[18])
    useragent = _unquote_group(groups[19], groups[20])
    trailing = groups[21][1:].split(" ") if groups[21] else []  # the tail starts with its space
    tokens = head + [uri] + numbers + [referrer, useragent] + trailing
    tokens = tokens[: len(FIELDS)]
    return tokens + [None] * (len(FIELDS) - len(tokens))


def _unquote_group(quoted: str | None, bare: str | None) -> str:
    if quoted is None:
        return bare or "-"
    return _UNESCAPE.sub(r"\1", quoted)


def _reject_reason(text: str) -> str:
    """Why a line no pattern matched is not a record."""
    tokens = text.split(" ")
    if len(tokens) < MIN_TOKENS:
        return f"too few fields ({len(tokens)} tokens, a record has at least {MIN_TOKENS})"
    if not re.match(r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:", tokens[2]):
        return "no request time in field 3"
    return "fields do not parse (status, sizes or times are not numbers)"
