"""CloudTrail log files ({"Records": [...]}) -> typed Arrow rows named like AWS's Athena CloudTrail table.

No part of a record is dropped: the keys the table names fill their typed columns, and everything else, at any
depth (a key AWS adds next year, a value of a type its column cannot hold, a key given as null), is kept in one
JSON column, `unmapped`, so that `rebuild_record(row)` gives back the record as delivered. A record that cannot
be read at all (a time outside 1970-2199, nesting too deep for the JSON parser, an integer beyond 64 bits) is a
Reject with its number in Records, and costs no other record.

A native reader (`_cloudtrail_records.c`) fills the columns without the GIL. A record it cannot read exactly as
the Python parser would (orjson and Python objects) is read by the Python parser, in its place among the others;
a file it cannot read at all (not JSON, invalid UTF-8, another shape) is left whole to the Python parser.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from s3logq.formats._cloudtrail_records import read_cloudtrail
from s3logq.formats.access_log import Reject

# Event times the lake can place in a day (as for access logs): later ones break the writer's day split and
# nanosecond timestamps (which end in 2262) downstream, so such a record is a reject, with the reason.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2200, 1, 1, tzinfo=UTC)


class NotCloudTrail(ValueError):
    """The file is not a CloudTrail log file (not JSON, or JSON of another shape)."""


class Node(NamedTuple):
    """A column or struct field: its name in the table, CloudTrail's key for it, its kind (text, flag, json,
    struct, list, map) and its fields (a struct's; a list's item; a map's key and value; the keys a json
    column's object is searched for)."""

    name: str
    key: str
    kind: str
    fields: tuple[Node, ...] = ()


def _node(key: str, kind: str = "text", *fields: Node) -> Node:
    return Node(key.lower(), key, kind, fields)


def _struct(key: str, *fields: Node | str) -> Node:
    return _node(key, "struct", *(f if isinstance(f, Node) else _node(f) for f in fields))


# Athena's documented CloudTrail table, in its order and nesting, plus sessionContext.sourceIdentity,
# credentialId and identityProvider from the userIdentity element, ARNPrefix in resources (DeleteObjects),
# managementEvent and insightDetails.
# `eventtime` is the text as delivered; `event_time` (derived) is that time typed.
RECORD_LAYOUT: tuple[Node, ...] = (
    _node("eventVersion"),
    _struct("userIdentity", "type", "principalId", "arn", "accountId", "invokedBy", "accessKeyId", "userName",
            _struct("onBehalfOf", "userId", "identityStoreArn"),
            _struct("sessionContext",
                    _struct("attributes", "mfaAuthenticated", "creationDate"),
                    _struct("sessionIssuer", "type", "principalId", "arn", "accountId", "userName"),
                    _node("ec2RoleDelivery"),
                    _struct("webIdFederationData", "federatedProvider",
                            _node("attributes", "map", Node("key", "", "text"), Node("value", "", "text"))),
                    _node("sourceIdentity")),
            _node("credentialId"), _node("identityProvider")),
    _node("eventTime"), _node("eventSource"), _node("eventName"), _node("awsRegion"), _node("sourceIPAddress"),
    _node("userAgent"), _node("errorCode"), _node("errorMessage"),
    Node("requestparameters", "requestParameters", "json",
         (Node("bucket_name", "bucketName", "text"), Node("object_key", "key", "text"))),
    _node("responseElements", "json"), _node("additionalEventData", "json"),
    _node("requestID"), _node("eventID"), _node("readOnly", "flag"),
    _node("resources", "list", _struct("", "ARN", "accountId", "type", "ARNPrefix")),
    _node("eventType"), _node("apiVersion"), _node("managementEvent", "flag"), _node("recipientAccountId"),
    _node("serviceEventDetails", "json"), _node("sharedEventID"), _node("vpcEndpointId"),
    _node("vpcEndpointAccountId"), _node("eventCategory"),
    _struct("addendum", "reason", "updatedFields", "originalRequestID", "originalEventID"),
    _node("sessionCredentialFromConsole"), _node("edgeDeviceDetails", "json"),
    _struct("tlsDetails", "tlsVersion", "cipherSuite", "clientProvidedHostHeader"),
    _node("insightDetails", "json"),
)  # fmt: skip


_ARROW_TYPES: dict[int, pa.DataType] = {}  # by id of the layout's nodes (they live as long as the module)


def _arrow_type(node: Node) -> pa.DataType:
    """The Arrow type of a layout node, built once: every file's columns ask for it."""
    found = _ARROW_TYPES.get(id(node))
    if found is None:
        found = _ARROW_TYPES[id(node)] = _new_arrow_type(node)
    return found


def _new_arrow_type(node: Node) -> pa.DataType:
    if node.kind == "struct":
        return pa.struct([(f.name, _arrow_type(f)) for f in node.fields])
    if node.kind == "list":
        return pa.list_(_arrow_type(node.fields[0]))
    if node.kind == "map":
        return pa.map_(pa.string(), pa.string())
    return pa.bool_() if node.kind == "flag" else pa.string()


_EVENT_TIME = pa.timestamp("ms", tz="UTC")
_DERIVED = [("bucket_name", pa.string()), ("object_key", pa.string()), ("user_arn", pa.string()),
            ("account_id", pa.string()), ("log_file", pa.string())]
SCHEMA = pa.schema([
    *[(node.name, _arrow_type(node)) for node in RECORD_LAYOUT[:2]], ("event_time", _EVENT_TIME),
    *[(node.name, _arrow_type(node)) for node in RECORD_LAYOUT[2:]], ("unmapped", pa.string()), *_DERIVED,
])  # fmt: skip
USER_IDENTITY = SCHEMA.field("useridentity").type


@dataclass
class CloudTrailFile:
    """What one CloudTrail file held: its rows, or why it holds none (a digest, no Records), and the records
    that could not be read, numbered from 1 in Records; `records_fallback` were read by the Python parser."""

    table: pa.Table
    skipped_reason: str | None = None
    rejects: list[Reject] = field(default_factory=list)
    records_fallback: int = 0


def parse_cloudtrail(data: bytes, log_file: str) -> CloudTrailFile:
    """Parse one CloudTrail file; digest files and files without Records come back empty with a reason.

    Raises only NotCloudTrail, for a file that is not a CloudTrail document at all."""
    parsed = read_natively(data, log_file)
    return parsed if parsed is not None else parse_cloudtrail_in_python(data, log_file)


def read_natively(data: bytes, log_file: str) -> CloudTrailFile | None:
    """A CloudTrail file read without the GIL, the records it cannot read exactly read by the Python parser in
    their places; None when the file needs the Python parser whole."""
    data = _without_bom(data)
    read = read_cloudtrail(data, RECORD_LAYOUT)
    if read is None:
        return None
    rows, buffers, spans, left = read
    table = _native_table(rows, buffers, log_file)
    if not left and table.column("event_time").null_count == 0:
        return CloudTrailFile(table)
    bounds = array("q", spans)
    records = len(bounds) // 2

    def text_of(number: int) -> bytes:
        return data[bounds[2 * number - 2]:bounds[2 * number - 1]]

    left_numbers = array("i", left)
    left_set = set(left_numbers)
    row_numbers = [n for n in range(1, records + 1) if n not in left_set]
    numbered, rejects = _objects_and_rejects([(n, _entry(text_of(n))) for n in left_numbers], log_file)
    if numbered:  # rows in the order of their records, as the Python parser gives them
        table = _interleaved(table, row_numbers, records_to_table([r for _, r in numbered], log_file),
                             [number for number, _ in numbered])
        row_numbers = sorted(row_numbers + [number for number, _ in numbered])
    timeless = table.column("event_time").is_null()
    if pc.any(timeless).as_py():  # each such record is a reject, as the Python parser makes it
        parsed = dict(numbered)
        rejects += [Reject(log_file, number, *_timeless(parsed[number] if number in parsed else orjson.loads(text_of(number))))
                    for number, missing in zip(row_numbers, timeless.to_pylist(), strict=True) if missing]
        table = table.filter(pc.invert(timeless))
    return CloudTrailFile(table, rejects=sorted(rejects, key=lambda r: r.log_line), records_fallback=len(left_numbers))


def _interleaved(native: pa.Table, native_numbers: list[int], parsed: pa.Table, parsed_numbers: list[int]) -> pa.Table:
    """The rows of both tables in the order of their record numbers: slices, not copies (a take of the nested
    columns cost ~5 ms a file); event_time computed again over all rows, as the Python parser does."""
    pieces, start = [], 0
    for row, number in enumerate(parsed_numbers):
        end = bisect_left(native_numbers, number)
        pieces += [native.slice(start, end - start), parsed.slice(row, 1)]
        start = end
    table = pa.concat_tables([*pieces, native.slice(start)])
    if len(pieces) > 64:  # many small chunks cost more downstream than one copy
        table = table.combine_chunks()
    return table.set_column(SCHEMA.get_field_index("event_time"), "event_time",
                            _event_times(table.column("eventtime").combine_chunks()))


def _native_table(rows: int, buffers: list[NativeColumn], log_file: str) -> pa.Table:
    """The native reader's column buffers as a table."""
    if rows == 0:
        return SCHEMA.empty_table()
    columns = iter(buffers)
    column = dict(pair for node in RECORD_LAYOUT for pair in _native_arrays(node, columns))
    length, validity, offsets, text = next(columns)  # the unmapped keys, after the layout's columns
    column["unmapped"] = pa.Array.from_buffers(pa.string(), length, [pa.py_buffer(b) for b in (validity, offsets, text)])
    return _table(column, log_file, rows)


def parse_cloudtrail_in_python(data: bytes, log_file: str) -> CloudTrailFile:
    """parse_cloudtrail with orjson and Python objects: slower, but reads any file, or says why it cannot."""
    data = _without_bom(data)
    try:
        document, problem = orjson.loads(data), ""
    except orjson.JSONDecodeError as error:
        document, problem = None, error.args[0].split(":")[0]
    if document is not None:
        if not isinstance(document, dict):
            raise NotCloudTrail("JSON but not a CloudTrail document (not an object)")
        records = document.get("Records")
        if records is None:
            reason = "digest file" if "logFiles" in document or "digestStartTime" in document else "no Records"
            return CloudTrailFile(SCHEMA.empty_table(), reason)
        if not isinstance(records, list):
            raise NotCloudTrail("Records is not a list")
    spans = _record_spans(data) if document is None or _LONG_DIGITS.search(data) else None
    if spans is None and document is None:
        raise NotCloudTrail(f"not JSON ({problem})")
    # One record that orjson cannot read (nesting too deep, an integer beyond 64 bits, invalid UTF-8) costs
    # only itself: the file is then read record by record.
    entries = ([(number, _entry(span)) for number, span in enumerate(spans, 1)] if spans is not None
               else [(number, (record, "")) for number, record in enumerate(document["Records"], 1)])
    numbered, rejects = _objects_and_rejects(entries, log_file)
    table = records_to_table([r for _, r in numbered], log_file)
    timeless = table.column("event_time").is_null()
    if pc.any(timeless).as_py():
        # Rows are placed by their time: one without a time would be in no day of the lake and match no range.
        rejects += [Reject(log_file, number, *_timeless(record))
                    for (number, record), missing in zip(numbered, timeless.to_pylist(), strict=True) if missing]
        table = table.filter(pc.invert(timeless))
    return CloudTrailFile(table, rejects=sorted(rejects, key=lambda r: r.log_line), records_fallback=len(entries))


def _objects_and_rejects(entries: list[tuple[int, tuple[object, str]]],
                         log_file: str) -> tuple[list[tuple[int, dict]], list[Reject]]:
    """Numbered entries of Records as the numbered objects (rows to be) and the rejects of the others."""
    numbered: list[tuple[int, dict]] = []
    rejects: list[Reject] = []
    for number, (record, problem) in entries:
        if isinstance(record, dict):
            numbered.append((number, record))
        elif problem:
            rejects.append(Reject(log_file, number, problem, str(record)))  # _entry gave its raw text
        else:
            rejects.append(Reject(log_file, number, "record is not a JSON object", orjson.dumps(record).decode()))
    return numbered, rejects


def _timeless(record: dict) -> tuple[str, str]:
    """The reason and raw text of the reject of a record without a usable time."""
    return _time_problem(record), orjson.dumps(record).decode()


def _without_bom(data: bytes) -> bytes:
    """A UTF-8 byte order mark is not data."""
    return data[3:] if data[:3] == b"\xef\xbb\xbf" else data


# --- reading a damaged file record by record ------------------------------------------------------------

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]', re.DOTALL)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NUMBER = re.compile(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?")
# orjson reads integers beyond 64 bits as floats, a changed value. A number follows one of `:[,` (looking
# only there is ten times faster than at every digit).
_LONG_DIGITS = re.compile(rb"[:\[,]\s*-?\d{19}")


def _record_spans(data: bytes) -> list[bytes] | None:
    """The raw text of each entry of the document's one Records array, or None when the document around the
    entries is not well-formed JSON (or has no such array)."""
    depth, key, opens_records, inside, start, begin = 0, b"", False, False, 0, 0
    spans: list[bytes] = []
    arrays: list[tuple[int, int]] = []
    for match in _TOKENS.finditer(data):
        token = match.group()[:1]
        follows_colon, opens_records = opens_records, False
        if inside and depth == 2 and token in b",]":
            spans.append(data[start:match.start()])
            start = match.end()
            if token == b"]":
                inside, depth = False, 1
                arrays.append((begin, match.start()))
        elif token == b'"':
            key = match.group() if depth == 1 else key
        elif token == b":":
            opens_records = depth == 1 and key == b'"Records"'
        elif token in b"[{":
            if follows_colon and token == b"[":
                inside, begin, start = True, match.end(), match.end()
            depth += 1
        elif token in b"]}":
            depth -= 1
    if len(arrays) != 1:
        return None
    if len(spans) == 1 and not spans[0].strip():
        spans = []  # Records: []
    begin, end = arrays[0]
    skeleton = data[:begin] + b",".join(b"0" if span.strip() else b"" for span in spans) + data[end:]
    try:
        orjson.loads(skeleton)
    except orjson.JSONDecodeError:
        return None
    return spans


def _entry(span: bytes) -> tuple[object, str]:
    """One entry of Records as (its value, "") or (its raw text, why it cannot be read)."""
    raw = span.strip().decode("utf-8", "replace")
    try:
        value = orjson.loads(span)
    except orjson.JSONDecodeError as error:
        return raw, f"record is not readable JSON ({error.args[0].split(':')[0]})"
    for number in _NUMBER.finditer(_STRING.sub(b'""', span)):
        if not number.group(1) and not number.group(2) and not -(2**63) <= int(number.group()) < 2**64:
            return raw, f"number out of range: {number.group().decode()[:60]}"
    return value, ""


def _time_problem(record: dict) -> str:
    value = record.get("eventTime")
    if value is None:
        return "record without eventTime"
    if isinstance(value, str) and re.match(_ISO_START, value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:  # a time, but one the lake cannot place in a day (year 2300, or past 9999 once in UTC)
            return f"eventTime is outside the years {EARLIEST_TIME.year}-{END_OF_TIME.year - 1}: {value[:60]}"
    return f"eventTime is not an ISO-8601 time: {orjson.dumps(value).decode()[:60]}"


# --- records -> rows, in Python ---------------------------------------------------------------------------


class _Same:
    """The typed value holds the record's value exactly: nothing goes to `unmapped`."""


_SAME = _Same()
_RECORD_KEYS = {node.key: node for node in RECORD_LAYOUT}


def records_to_table(records: list[dict], log_file: str) -> pa.Table:
    """Typed table of CloudTrail records; what the typed columns cannot hold goes to `unmapped`."""
    typed_records, unmapped, bucket_names, object_keys = [], [], [], []
    for record in records:
        typed, extra = _split_struct(_RECORD_KEYS, record)
        typed_records.append(typed)
        unmapped.append(orjson.dumps(extra).decode() if extra else None)
        params = record.get("requestParameters")
        params = params if isinstance(params, dict) else {}
        bucket_names.append(_text(params.get("bucketName")))
        object_keys.append(_text(params.get("key")))
    column = {node.name: pa.array([typed.get(node.name) for typed in typed_records], _arrow_type(node))
              for node in RECORD_LAYOUT}
    column["unmapped"] = pa.array(unmapped, pa.string())
    column["bucket_name"] = pa.array(bucket_names, pa.string())
    column["object_key"] = pa.array(object_keys, pa.string())
    return _table(column, log_file, len(records))


def _split_struct(fields: Mapping[str, Node], value: dict) -> tuple[dict, dict]:
    """An object as (its typed fields by column name, what they cannot hold by CloudTrail key)."""
    typed: dict[str, object] = {}
    extra: dict[str, object] = {}
    for key, item in value.items():
        node = fields.get(key)
        if node is None or item is None:  # a key the schema does not name; a key given as null
            extra[key] = item
            continue
        if item.__class__ is str and node.kind == "text":  # most values: checked here for speed
            typed[node.name] = item
            continue
        typed[node.name], kept = _split(node, item)
        if kept is not _SAME:
            extra[key] = kept
    return typed, extra


def _split(node: Node, value: object) -> tuple[object, object]:
    """A value (not None) as (what its column holds, and what `unmapped` must keep of it or _SAME)."""
    kind = node.kind
    if kind == "text":
        return (value, _SAME) if isinstance(value, str) else (_text(value), value)
    if kind == "flag":
        if isinstance(value, bool):
            return value, _SAME
        return (value.lower() == "true" if isinstance(value, str) else None), value
    if kind == "json":
        return orjson.dumps(value).decode(), _SAME
    if kind == "struct":
        if not isinstance(value, dict):
            return None, value
        typed, extra = _split_struct(_keys(node), value)
        return typed, (extra or _SAME)
    if kind == "list":
        if not isinstance(value, list):
            return None, value
        items = [_split_struct(_keys(node.fields[0]), item) if isinstance(item, dict) else None for item in value]
        exact = all(item is not None and not item[1] for item in items)
        return [item[0] for item in items if item is not None], (_SAME if exact else value)
    # a map of text
    if not isinstance(value, dict):
        return None, value
    exact = all(v is None or isinstance(v, str) for v in value.values())
    return [(k, _text(v)) for k, v in value.items()], (_SAME if exact else value)


_FIELD_KEYS: dict[int, dict[str, Node]] = {}


def _keys(node: Node) -> dict[str, Node]:
    found = _FIELD_KEYS.get(id(node))
    if found is None:
        found = _FIELD_KEYS[id(node)] = {f.key: f for f in node.fields}
    return found


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


# --- rows -> records ------------------------------------------------------------------------------------


def rebuild_record(row: Mapping[str, Any]) -> dict:
    """The CloudTrail record a row of the table was read from, equal to it as delivered (a row as pyarrow's
    `to_pylist` gives it)."""
    record = _join_struct(RECORD_LAYOUT, row)
    unmapped = row.get("unmapped")
    return _merge(record, orjson.loads(unmapped)) if unmapped else record


def _join_struct(fields: tuple[Node, ...], value: Mapping[str, Any]) -> dict:
    return {f.key: _join(f, value[f.name]) for f in fields if value.get(f.name) is not None}


def _join(node: Node, value: Any) -> object:
    if node.kind == "json":
        return orjson.loads(value)
    if node.kind == "struct":
        return _join_struct(node.fields, value)
    if node.kind == "list":
        return [_join_struct(node.fields[0].fields, item) for item in value]
    if node.kind == "map":
        return dict(value)
    return value


def _merge(record: dict, extra: dict) -> dict:
    """The typed part of a record with what `unmapped` kept: objects are merged, anything else replaces."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(record.get(key), dict):
            _merge(record[key], value)
        else:
            record[key] = value
    return record


# --- the native reader's buffers ------------------------------------------------------------------------

# What the native reader returns per node, fields after their node: (length, validity bitmap, offsets, data
# or flag bits).
NativeColumn = tuple[int, bytes, bytes | None, bytes | None]


def _native_arrays(node: Node, columns: Iterator[NativeColumn]) -> Iterator[tuple[str, pa.Array]]:
    """The named array of one layout node from the native reader's buffers, then those picked from it."""
    length, validity, offsets, data = next(columns)
    buffers = [pa.py_buffer(b) for b in (validity, offsets, data) if b is not None]
    if node.kind == "struct":
        children = [array for f in node.fields for _, array in _native_arrays(f, columns)]
        yield node.name, pa.Array.from_buffers(_arrow_type(node), length, buffers, children=children)
    elif node.kind == "list":
        ((_, item),) = _native_arrays(node.fields[0], columns)
        yield node.name, pa.Array.from_buffers(_arrow_type(node), length, buffers, children=[item])
    elif node.kind == "map":
        map_type = _arrow_type(node)
        keys, values = (array for f in node.fields for _, array in _native_arrays(f, columns))
        entries = pa.StructArray.from_arrays([keys, values], fields=[map_type.key_field, map_type.item_field])
        yield node.name, pa.Array.from_buffers(map_type, length, buffers, children=[entries])
    else:
        yield node.name, pa.Array.from_buffers(_arrow_type(node), length, buffers)
        for picked in node.fields:  # the keys picked from a JSON text column
            yield from _native_arrays(picked, columns)


# --- both readers ---------------------------------------------------------------------------------------


def _table(column: dict[str, pa.Array], log_file: str, rows: int) -> pa.Table:
    """The table, with event_time, user_arn, account_id and log_file added to the columns read."""
    column["event_time"] = _event_times(column["eventtime"])
    identity = column["useridentity"]
    column["user_arn"] = pc.struct_field(identity, "arn")
    column["account_id"] = pc.coalesce(pc.struct_field(identity, "accountid"), column["recipientaccountid"])
    column["log_file"] = pa.repeat(pa.scalar(log_file, pa.string()), rows)
    return pa.Table.from_arrays([column[f.name] for f in SCHEMA], schema=SCHEMA)


_ISO_START = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"


def _event_times(text: pa.Array) -> pa.Array:
    """eventTime typed; NULL where it is not an ISO-8601 time, or is outside the years the lake can place."""
    text = pc.if_else(pc.match_substring_regex(text, _ISO_START), text, pa.scalar(None, pa.string()))
    try:
        times = text.cast(_EVENT_TIME)
    except (pa.ArrowInvalid, OverflowError):  # one odd eventTime must not sink the file: it becomes NULL
        times = pa.array([_parse_time(v) for v in text.to_pylist()], _EVENT_TIME)
    placeable = pc.and_(pc.greater_equal(times, pa.scalar(EARLIEST_TIME, _EVENT_TIME)),
                        pc.less(times, pa.scalar(END_OF_TIME, _EVENT_TIME)))
    return pc.if_else(placeable, times, pa.scalar(None, _EVENT_TIME))


def _parse_time(value: str | None) -> datetime | None:
    if not value or not re.match(_ISO_START, value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
