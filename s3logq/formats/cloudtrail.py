"""CloudTrail log files ({"Records": [...]}) -> typed Arrow rows named like AWS's Athena CloudTrail table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import pyarrow as pa


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


@dataclass
class CloudTrailFile:
    """What one CloudTrail file held: its rows, or why it holds none (a digest, no Records)."""

    table: pa.Table
    skipped_reason: str | None = None


def parse_cloudtrail(data: bytes, log_file: str) -> CloudTrailFile:
    """Parse one CloudTrail file; digest files and files without Records come back empty with a reason."""
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
    return CloudTrailFile(records_to_table([r for r in records if isinstance(r, dict)], log_file))


def records_to_table(records: list[dict], log_file: str) -> pa.Table:
    """Typed table of CloudTrail records; unknown keys are ignored, missing ones NULL."""
    columns: dict[str, list] = {field.name: [] for field in SCHEMA}
    for record in records:
        _append_record(columns, record, log_file)
    arrays = [_to_array(columns[field.name], field) for field in SCHEMA]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _to_array(values: list, field: pa.Field) -> pa.Array:
    if field.name == "event_time":
        text = pa.array(values, pa.string())
        try:
            return text.cast(field.type)
        except pa.ArrowInvalid:  # one odd eventTime must not sink the file: it becomes NULL
            return pa.array([_parse_time(v) for v in values], field.type)
    return pa.array(values, field.type)


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
    params = record.get("requestParameters") if isinstance(record.get("requestParameters"), dict) else {}
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
