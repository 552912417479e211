"""S3 server access log lines -> typed `access_log` rows, with every line that could not be read kept aside.

The native tokenizer (`_access_tokenizer.c`) reads, checks and types each line in one pass, outside the GIL.
The rare line it cannot vouch for (a raw quote inside a quoted field, another time zone, a cut line) is
read here by a careful per-line parser, or becomes a Reject with its file, line number and reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

import numpy as np
import pyarrow as pa

from s3logq.formats._access_tokenizer import tokenize

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


def parse_access_log(data: bytes, log_file: str) -> tuple[pa.Table, list[Reject]]:
    """One access-log file as typed rows (PARSED_SCHEMA) and the lines that could not be read."""
    return parse_access_logs([(data, log_file)])


def parse_access_logs(files: list[tuple[bytes, str]]) -> tuple[pa.Table, list[Reject]]:
    """Several access-log files read in one call (small files cost one call, not one each).

    Rows keep the file and line they came from; rows read carefully follow the others. `log_file` is
    dictionary-encoded here (one name per file, not per row); the lake stores it as plain text.
    """
    files = [(data, name) for data, name in files if data]
    if not files:
        return PARSED_SCHEMA.empty_table(), []
    tokens = tokenize([data for data, _ in files])
    columns = _native_columns(tokens)
    retried: list[list] = []
    rejects: list[Reject] = []
    bad_files = np.frombuffer(tokens["bad_files"], np.int32)
    bad_lines = np.frombuffer(tokens["bad_lines"], np.int32)
    for index in np.unique(bad_files).tolist():
        data, name = files[index]
        rows, file_rejects = _read_carefully(data, bad_lines[bad_files == index].tolist(), name)
        retried += [row + [index] for row in rows]
        rejects += file_rejects
    if retried:
        careful = _careful_columns(retried)
        columns = {name: pa.concat_arrays([columns[name], careful[name]]) for name in columns}
    names = pa.array([name for _, name in files], pa.string())
    columns["log_file"] = pa.DictionaryArray.from_arrays(columns.pop("file_number"), names)
    return pa.Table.from_arrays([columns[field.name] for field in PARSED_SCHEMA], schema=PARSED_SCHEMA), rejects


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


def _read_carefully(data: bytes, numbers: list[int], log_file: str) -> tuple[list[list], list[Reject]]:
    """Lines the tokenizer could not vouch for, read one by one: rows, or rejects with the reason."""
    if not numbers:
        return [], []
    lines = data.split(b"\n")
    retried, rejects = [], []
    for number in numbers:
        text = lines[number - 1].rstrip(b"\r").decode("utf-8", "replace")
        tokens = parse_line(text)
        if tokens is None:
            rejects.append(Reject(log_file, number, _reject_reason(text), text))
        else:
            retried.append(tokens + [number])
    return retried, rejects


def _careful_columns(rows: list[list]) -> dict[str, pa.Array]:
    """Typed columns of lines read carefully (FIELDS tokens, line and file number): '-' is NULL."""
    by_name: dict[str, Sequence] = dict(zip([*FIELDS, "log_line", "file_number"], zip(*rows, strict=True),
                                            strict=True))
    values: dict[str, list] = {name: [None if v == "-" else v for v in by_name[name]]
                               for name in FIELDS if name in _TYPES}
    for name in ("httpstatus", *_NUMBER_COLUMNS):
        values[name] = [None if v is None else int(v) for v in values[name]]
    values["key"] = [None if k is None else unquote(k, errors="replace") for k in values["key"]]
    values["http_method"] = [u.split(" ", 1)[0] if u and " " in u else None for u in values["request_uri"]]
    values["request_time"] = [_utc_time(t, z) for t, z in zip(by_name["time_part"], by_name["tz_part"], strict=True)]
    values["log_line"] = list(by_name["log_line"])
    values["file_number"] = list(by_name["file_number"])
    return {name: pa.array(column, _TYPES[name]) for name, column in values.items()}


# --- the careful per-line parser -------------------------------------------------------------------------
_TOKEN = r"([^ ]+)"  # fields are separated by single spaces; a stray tab is part of its field
_HEAD = r"^" + " ".join([_TOKEN, _TOKEN]) + r" (\[[^\]]*) ([+-]\d{4}\]) " + " ".join([_TOKEN] * 5)
_NUMBERS = r" (\d{3}|-) " + _TOKEN + r" (\d+|-) (\d+|-) (\d+|-) (\d+|-)"
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


def parse_line(text: str) -> list[str | None] | None:
    """Raw string fields (FIELDS order) of one line read carefully, or None when it is not a record."""
    for pattern in _LINE_PATTERNS:
        match = pattern.match(text)
        if match:
            tokens = _tokens_from_match(match.groups())
            return tokens if _utc_time(tokens[2], tokens[3]) is not None else None
    return None


def _utc_time(time_part: str | None, tz_part: str | None) -> datetime | None:
    """`[06/Feb/2019:00:00:38` + `+0000]` as an aware datetime, in whatever zone the line gives."""
    try:
        return datetime.strptime(f"{time_part} {tz_part}", _TIME_FORMAT + " %z]").astimezone(UTC)
    except (ValueError, TypeError):
        return None


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
    tokens = text.split(" ")
    if len(tokens) < MIN_TOKENS:
        return f"too few fields ({len(tokens)} tokens, a record has at least {MIN_TOKENS})"
    if not re.match(r"\[\d{2}/\w{3}/\d{4}:", tokens[2]):
        return "no request time in field 3"
    return "fields do not parse (status, sizes or times are not numbers)"
