"""CloudTrail log files ({"Records": [...]}) -> typed Arrow rows named like AWS's Athena CloudTrail table.

A native reader (`_cloudtrail_records.c`) fills the columns without the GIL. A file it cannot read exactly as
the Python parser would (orjson and Python objects) is left to the Python parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from s3logq.formats._cloudtrail_records import read_cloudtrail
from s3logq.formats.access_log import Reject


class NotCloudTrail(ValueError):
    """The file is not a CloudTrail log file (not JSON, or JSON of another shape)."""


_SESSION_ISSUER = pa.struct([(n, pa.string()) for n in ("type", "principalid", "arn", "accountid", "username")])
USER_IDENTITY = pa.struct([
    ("type", pa.string()), ("principalid", pa.string()), ("arn", pa.string()), ("accountid", pa.string()),
    ("invokedby", pa.string()), ("accesskeyid", pa.string()), ("username", pa.string()),
    ("sessioncontext", pa.struct([
        ("attributes", pa.struct([("mfaauthenticated", pa.string()), ("creationdate", pa.string())])),
        ("sessionissuer", _SESSION_ISSUER),
    ])),
])  # fmt: skip
RESOURCE = pa.struct([("arn", pa.string()), ("accountid", pa.string()), ("type", pa.string())])
TLS_DETAILS = pa.struct([(n, pa.string()) for n in ("tlsversion", "ciphersuite", "clientprovidedhostheader")])

SCHEMA = pa.schema([
    ("eventversion", pa.string()), ("useridentity", USER_IDENTITY),
    ("event_time", pa.timestamp("ms", tz="UTC")), ("eventsource", pa.string()), ("eventname", pa.string()),
    ("awsregion", pa.string()), ("sourceipaddress", pa.string()), ("useragent", pa.string()),
    ("errorcode", pa.string()), ("errormessage", pa.string()), ("requestparameters", pa.string()),
    ("responseelements", pa.string()), ("additionaleventdata", pa.string()), ("requestid", pa.string()),
    ("eventid", pa.string()), ("readonly", pa.bool_()), ("resources", pa.list_(RESOURCE)),
    ("eventtype", pa.string()), ("managementevent", pa.bool_()), ("recipientaccountid", pa.string()),
    ("eventcategory", pa.string()), ("vpcendpointid", pa.string()), ("tlsdetails", TLS_DETAILS),
    ("bucket_name", pa.string()), ("object_key", pa.string()), ("user_arn", pa.string()),
    ("account_id", pa.string()), ("log_file", pa.string()),
])  # fmt: skip

# Top-level keys copied as they are (lower-cased name in the table).
_PLAIN_KEYS = [
    "eventVersion", "eventSource", "eventName", "awsRegion", "sourceIPAddress", "userAgent", "errorCode",
    "errorMessage", "requestID", "eventID", "eventType", "recipientAccountId", "eventCategory", "vpcEndpointId",
]  # fmt: skip
_JSON_KEYS = ["requestParameters", "responseElements", "additionalEventData"]
# Struct columns, and the CloudTrail key each is read from.
_NESTED_KEYS = [("useridentity", "userIdentity"), ("resources", "resources"), ("tlsdetails", "tlsDetails")]


@dataclass
class CloudTrailFile:
    """What one CloudTrail file held: its rows, or why it holds none (a digest, no Records), and the records
    that could not be read (no eventTime that is a time), numbered from 1 in Records."""

    table: pa.Table
    skipped_reason: str | None = None
    rejects: list[Reject] = field(default_factory=list)


def parse_cloudtrail(data: bytes, log_file: str) -> CloudTrailFile:
    """Parse one CloudTrail file; digest files and files without Records come back empty with a reason."""
    table = read_natively(data, log_file)
    if table is not None and table.column("event_time").null_count == 0:
        return CloudTrailFile(table)
    # a record without a readable time: the Python parser says which one it is and keeps it as a reject
    return parse_cloudtrail_in_python(data, log_file)


def read_natively(data: bytes, log_file: str) -> pa.Table | None:
    """The rows of a CloudTrail file read without the GIL, or None if it needs the Python parser."""
    read = read_cloudtrail(data, _NATIVE_LAYOUT)
    if read is None:
        return None
    rows, buffers = read
    if rows == 0:
        return SCHEMA.empty_table()
    columns = iter(buffers)
    column = dict(pair for node in _NATIVE_LAYOUT for pair in _native_arrays(node, columns))
    column["event_time"] = _event_times(column["event_time"])
    return _with_derived_columns(column, log_file, rows)


def parse_cloudtrail_in_python(data: bytes, log_file: str) -> CloudTrailFile:
    """parse_cloudtrail with orjson and Python objects: slower, but reads any file, or says why it cannot."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise NotCloudTrail(f"not JSON ({error.args[0].split(':')[0]})") from None
    if not isinstance(document, dict):
        raise NotCloudTrail("JSON but not a CloudTrail document (not an object)")
    records = document.get("Records")
    if records is None:
        reason = "digest file" if "logFiles" in document or "digestStartTime" in document else "no Records"
        return CloudTrailFile(SCHEMA.empty_table(), reason)
    if not isinstance(records, list):
        raise NotCloudTrail("Records is not a list")
    numbered = [(number, r) for number, r in enumerate(records, 1) if isinstance(r, dict)]
    rejects = [Reject(log_file, number, "record is not a JSON object", orjson.dumps(r).decode())
               for number, r in enumerate(records, 1) if not isinstance(r, dict)]
    table = records_to_table([r for _, r in numbered], log_file)
    timeless = table.column("event_time").is_null()
    if pc.any(timeless).as_py():
        # Rows are placed by their time: one without a time would be in no day of the lake and match no range.
        rejects += [Reject(log_file, number, _time_problem(record), orjson.dumps(record).decode())
                    for (number, record), missing in zip(numbered, timeless.to_pylist(), strict=True) if missing]
        table = table.filter(pc.invert(timeless))
    return CloudTrailFile(table, rejects=sorted(rejects, key=lambda r: r.log_line))


def _time_problem(record: dict) -> str:
    value = record.get("eventTime")
    if value is None:
        return "record without eventTime"
    return f"eventTime is not an ISO-8601 time: {orjson.dumps(value).decode()[:60]}"


def records_to_table(records: list[dict], log_file: str) -> pa.Table:
    """Typed table of CloudTrail records; unknown keys are ignored, missing ones NULL."""
    try:
        return _records_by_column(records, log_file)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError):
        # A record whose values have unexpected types: the slower per-record path normalises each value.
        columns: dict[str, list] = {field.name: [] for field in SCHEMA}
        for record in records:
            _append_record(columns, record, log_file)
        return pa.Table.from_arrays([_to_array(columns[f.name], f) for f in SCHEMA], schema=SCHEMA)


def _records_by_column(records: list[dict], log_file: str) -> pa.Table:
    """The fast path: one list comprehension and one Arrow conversion per column."""
    column: dict[str, pa.Array] = {}
    for key in _PLAIN_KEYS:
        column[key.lower()] = pa.array([r.get(key) for r in records], pa.string())
    for key in _JSON_KEYS:
        column[key.lower()] = pa.array([_json_text(r.get(key)) for r in records], pa.binary()).cast(pa.string())
    for name, key in _NESTED_KEYS:
        target = SCHEMA.field(name).type
        column[name] = _renamed(pa.array([r.get(key) for r in records], _camel_case(target)), target)
    column["event_time"] = _to_array([r.get("eventTime") for r in records], SCHEMA.field("event_time"))
    column["readonly"] = pa.array([_flag(r.get("readOnly")) for r in records], pa.bool_())
    column["managementevent"] = pa.array([_flag(r.get("managementEvent")) for r in records], pa.bool_())
    params = [p if isinstance(p := r.get("requestParameters"), dict) else {} for r in records]
    column["bucket_name"] = pa.array([p.get("bucketName") for p in params], pa.string())
    column["object_key"] = pa.array([p.get("key") for p in params], pa.string())
    return _with_derived_columns(column, log_file, len(records))


def _native_arrays(node: LayoutNode, columns: Iterator[NativeColumn]) -> Iterator[tuple[str, pa.Array]]:
    """The named array of one layout node from the native reader's buffers, then those picked from it."""
    name, _, kind, fields = node
    length, validity, offsets, data = next(columns)
    buffers = [pa.py_buffer(b) for b in (validity, offsets, data) if b is not None]
    if kind == "struct":
        children = [array for field in fields for _, array in _native_arrays(field, columns)]
        struct = pa.struct([(field[0], array.type) for field, array in zip(fields, children, strict=True)])
        yield name, pa.Array.from_buffers(struct, length, buffers, children=children)
    elif kind == "list":
        ((_, item),) = _native_arrays(fields[0], columns)
        yield name, pa.Array.from_buffers(pa.list_(item.type), length, buffers, children=[item])
    else:
        yield name, pa.Array.from_buffers(pa.bool_() if kind == "flag" else pa.string(), length, buffers)
        for field in fields:  # the keys picked from a JSON text column
            yield from _native_arrays(field, columns)


def _with_derived_columns(column: dict[str, pa.Array], log_file: str, rows: int) -> pa.Table:
    """The table, with user_arn, account_id and log_file added to the columns read."""
    identity = column["useridentity"]
    column["user_arn"] = pc.struct_field(identity, "arn")
    column["account_id"] = pc.coalesce(pc.struct_field(identity, "accountid"), column["recipientaccountid"])
    column["log_file"] = pa.repeat(pa.scalar(log_file, pa.string()), rows)
    return pa.Table.from_arrays([column[f.name] for f in SCHEMA], schema=SCHEMA)


def _json_text(value: object) -> bytes | None:
    return None if value is None else orjson.dumps(value)


# CloudTrail's own key names for the nested columns, in the order of the lower-case table columns.
_CAMEL = {"principalid": "principalId", "accountid": "accountId", "invokedby": "invokedBy",
          "accesskeyid": "accessKeyId", "username": "userName", "sessioncontext": "sessionContext",
          "mfaauthenticated": "mfaAuthenticated", "creationdate": "creationDate", "sessionissuer": "sessionIssuer",
          "arn": "arn", "tlsversion": "tlsVersion", "ciphersuite": "cipherSuite",
          "clientprovidedhostheader": "clientProvidedHostHeader"}


def _camel_case(target: pa.DataType, in_resources: bool = False) -> pa.DataType:
    if pa.types.is_list(target):
        return pa.list_(_camel_case(target.value_type, in_resources=True))
    if pa.types.is_struct(target):
        names = [("ARN" if in_resources and f.name == "arn" else _CAMEL.get(f.name, f.name)) for f in target]
        return pa.struct([pa.field(n, _camel_case(f.type, in_resources)) for n, f in zip(names, target, strict=True)])
    return target


# What the native reader fills from a record: (column or field name, CloudTrail key, kind, fields). A struct
# or list holds its fields (a list: its one item), and requestParameters' JSON text its bucketName and key.
LayoutNode = tuple[str, str, str, tuple["LayoutNode", ...]]
# What it returns per node, fields after their node: (length, validity bitmap, offsets, data or flag bits).
NativeColumn = tuple[int, bytes, bytes | None, bytes | None]


def _layout(name: str, key: str, target: pa.DataType, camel: pa.DataType) -> LayoutNode:
    """How the native reader fills a `target` column from `key`; `camel` is the type in CloudTrail's names."""
    if pa.types.is_struct(target):
        fields = zip(target, camel, strict=True)
        return name, key, "struct", tuple(_layout(t.name, c.name, t.type, c.type) for t, c in fields)
    if pa.types.is_list(target):
        return name, key, "list", (_layout("item", "", target.value_type, camel.value_type),)
    return name, key, "flag" if pa.types.is_boolean(target) else "text", ()


_NATIVE_LAYOUT: tuple[LayoutNode, ...] = (
    *[(key.lower(), key, "text", ()) for key in _PLAIN_KEYS],
    ("event_time", "eventTime", "text", ()),  # typed after reading, see _event_times
    ("requestparameters", "requestParameters", "json",
     (("bucket_name", "bucketName", "text", ()), ("object_key", "key", "text", ()))),
    ("responseelements", "responseElements", "json", ()),
    ("additionaleventdata", "additionalEventData", "json", ()),
    ("readonly", "readOnly", "flag", ()), ("managementevent", "managementEvent", "flag", ()),
    *[_layout(name, key, (t := SCHEMA.field(name).type), _camel_case(t)) for name, key in _NESTED_KEYS],
)  # fmt: skip


def _renamed(array: pa.Array, target: pa.DataType) -> pa.Array:
    """The same values under the lower-case field names of `target`."""
    if pa.types.is_list(target):
        values = _renamed(array.values, target.value_type)
        return pa.ListArray.from_arrays(array.offsets, values, type=target, mask=array.is_null())
    if pa.types.is_struct(target):
        children = [_renamed(array.field(i), f.type) for i, f in enumerate(target)]
        return pa.StructArray.from_arrays(children, fields=list(target), mask=array.is_null())
    return array


def _to_array(values: list, field: pa.Field) -> pa.Array:
    if field.name == "event_time":
        return _event_times(pa.array(values, pa.string()))
    return pa.array(values, field.type)


def _event_times(text: pa.Array) -> pa.Array:
    event_time = SCHEMA.field("event_time").type
    try:
        return text.cast(event_time)
    except pa.ArrowInvalid:  # one odd eventTime must not sink the file: it becomes NULL
        return pa.array([_parse_time(v) for v in text.to_pylist()], event_time)


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _append_record(columns: dict[str, list], record: dict, log_file: str) -> None:
    for key in _PLAIN_KEYS:
        columns[key.lower()].append(_text(record.get(key)))
    for key in _JSON_KEYS:
        value = record.get(key)
        columns[key.lower()].append(None if value is None else orjson.dumps(value).decode())
    identity = record.get("userIdentity")
    columns["useridentity"].append(_lower_keys(identity))
    columns["event_time"].append(_iso_time(record.get("eventTime")))
    columns["readonly"].append(_flag(record.get("readOnly")))
    columns["managementevent"].append(_flag(record.get("managementEvent")))
    columns["resources"].append(_resources(record.get("resources")))
    columns["tlsdetails"].append(_lower_keys(record.get("tlsDetails")))
    params = record.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    columns["bucket_name"].append(_text(params.get("bucketName")))
    columns["object_key"].append(_text(params.get("key")))
    columns["user_arn"].append(_text(identity.get("arn")) if isinstance(identity, dict) else None)
    account = identity.get("accountId") if isinstance(identity, dict) else None
    columns["account_id"].append(_text(account or record.get("recipientAccountId")))
    columns["log_file"].append(log_file)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    return None


def _iso_time(value: object) -> str | None:
    # Arrow parses ISO-8601 with a trailing Z; a value it cannot read must not sink the file.
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-":
        return None
    return value


def _lower_keys(value: object) -> dict | None:
    if not isinstance(value, dict):
        return None
    return {k.lower(): (_lower_keys(v) if isinstance(v, dict) else _text(v)) for k, v in value.items()}


def _resources(value: object) -> list | None:
    if not isinstance(value, list):
        return None
    return [_lower_keys(item) for item in value if isinstance(item, dict)]
