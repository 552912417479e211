"""Differential tests: the native CloudTrail reader gives exactly the Python parser's table (the records it
cannot read exactly read by the Python parser in their places), or declines the file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3logq.demo import generate, write_cloudtrail_logs
from s3logq.formats.cloudtrail import (
    CloudTrailFile,
    parse_cloudtrail,
    parse_cloudtrail_in_python,
    read_natively,
)

GET_OBJECT = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:dave", "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/Reader/dave", "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "userName": "Reader",
                                             "arn": "arn:aws:iam::111122223333:role/Reader",
                                             "accountId": "111122223333"},
                           "attributes": {"creationDate": "2024-03-01T09:00:00Z", "mfaAuthenticated": "false"}},
    },
    "eventTime": "2024-03-01T10:15:30Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
    "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.24", "userAgent": "[aws-cli/2.15.10]",
    "requestParameters": {"bucketName": "acme-prod-data", "Host": "acme-prod-data.s3.amazonaws.com",
                          "key": "reports/Q1 results.pdf"},
    "responseElements": None,
    "additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": 0, "bytesTransferredOut": 5120},
    "requestID": "REQ123", "eventID": "0b1c2d3e-0000-4000-8000-000000000001", "readOnly": True,
    "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::acme-prod-data/reports/Q1 results.pdf"},
                  {"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-prod-data"}],
    "eventType": "AwsApiCall", "managementEvent": False, "recipientAccountId": "111122223333",
    "eventCategory": "Data", "vpcEndpointId": "vpce-0a1b2c3d",
    "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                   "clientProvidedHostHeader": "acme-prod-data.s3.amazonaws.com"},
}  # fmt: skip


def assert_same_outcome(data: bytes) -> None:
    """parse_cloudtrail (native first) and the Python parser agree: same table and reason, or same error."""
    new, old = _outcome(data, parse_cloudtrail), _outcome(data, parse_cloudtrail_in_python)
    if isinstance(old, CloudTrailFile):
        assert isinstance(new, CloudTrailFile) and new.skipped_reason == old.skipped_reason
        assert new.rejects == old.rejects
        assert new.table.schema == old.table.schema
        assert new.table.equals(old.table), (new.table.to_pylist(), old.table.to_pylist())
    else:
        assert new == old


def _outcome(data: bytes, parse) -> CloudTrailFile | str:
    try:
        return parse(data, "trail.json.gz")
    except Exception as error:  # noqa: BLE001 - the error itself is the outcome compared
        return f"{type(error).__name__}: {error}"


def records(*items: object) -> bytes:
    return orjson.dumps({"Records": list(items)})


def changed(**values: object) -> dict:
    return {**GET_OBJECT, **values}


def test_generated_logs_are_read_natively_and_identically(tmp_path: Path) -> None:
    write_cloudtrail_logs(tmp_path / "bench", 2_000_000, 8)
    generate(tmp_path / "demo", days=1)  # config changes, anonymous and denied calls, digests
    files = sorted((tmp_path / "bench").rglob("*.json.gz")) + sorted((tmp_path / "demo" / "trail").rglob("*.json.gz"))
    trail = [path for path in files if "CloudTrail-Digest" not in str(path)]
    assert len(trail) > 50
    for path in files:
        data = gzip.decompress(path.read_bytes())
        native = read_natively(data, "f")
        assert (native is not None) == (path in trail), path
        assert native is None or native.records_fallback == 0, path
        assert_same_outcome(data)


ODD_BUT_NATIVE = {
    "missing keys": records({"eventName": "GetObject"}, {}),
    "nulls": records({key: None for key in GET_OBJECT}),
    "nested nulls and empties": records(changed(
        userIdentity={"type": "Root", "sessionContext": {"attributes": {}, "sessionIssuer": None}},
        resources=[{}], tlsDetails={}), changed(resources=[], userIdentity={})),
    "unicode": records(changed(userAgent="naïve 日本 😀", requestParameters={"bucketName": "b", "key": "résumé/😀.pdf"})),
    "escaped quotes and backslashes": records(changed(
        requestParameters={"bucketName": 'a"b', "key": 'dir\\sub\\"q".txt', 'we"ird\\': ["\\", '"']},
        userAgent='say "hi" \\ bye')),
    "control characters": records(changed(requestParameters={"key": "a\nb\tc\x01\x1f\x7f\x08\x0c\r"})),
    "escapes orjson does not write, in a text column": b'{"Records":[{"userAgent":"caf\\u00e9 \\/ \\u0041"}]}',
    "nested arrays": records(changed(requestParameters={"a": [[1, [2, []]], {}], "b": [True, False, None]})),
    "numbers": records(changed(additionalEventData={"ints": [0, -1, 123456789012345678, -99],
                                                    "floats": [0.5, 1.0, -0.0, 123.456, 0.0001, 99999.25]})),
    "empty Records": b'{"Records":[]}',
    "other top-level keys": b'{"before":{"a":[1,2]},"Records":[' + orjson.dumps(GET_OBJECT) + b'],"after":null}',
    "pretty-printed": json.dumps({"Records": [GET_OBJECT, GET_OBJECT]}, indent=2).encode(),
    "unknown keys": records(changed(newField={"x": [1.5, "y"]}, userIdentity={"type": "IAMUser", "extra": {"a": 1}})),
    "odd eventTime": records(changed(eventTime="not a time"), changed(eventTime="2024-03-01T00:00:00.5Z")),
    "JSON text of other shapes": records(changed(requestParameters="a string", responseElements=[1, "x"],
                                                 additionalEventData=7), changed(requestParameters=True)),
    "bucketName null, key missing": records(changed(requestParameters={"bucketName": None})),
    "CloudTrail's ARN is upper-case only in resources": records(changed(resources=[{"arn": "lower"}])),
    "flags": records(changed(readOnly=False, managementEvent=True), changed(readOnly=None)),
    "a byte order mark (not data)": b"\xef\xbb\xbf" + records(GET_OBJECT),
    "a slash escaped in JSON text": b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","requestParameters":{"key":"a\\/b"}}]}',
    "non-ASCII escaped in JSON text": b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","requestParameters":{"key":"caf\\u00e9"}}]}',
    "upper-case hex escape in JSON text": b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","requestParameters":{"key":"\\u001F"}}]}',
    "an escaped surrogate pair": b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","userAgent":"\\ud83d\\ude00"}]}',
    # What json.dumps writes (ensure_ascii): decoded natively, then written as orjson writes the characters.
    # Each has an eventTime: a record without one goes to the Python parser, which would compare it to itself.
    "escapes orjson writes otherwise, in JSON text": (
        b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","requestParameters":{"key":"\\u0022q\\u005c \\u0008\\u000c\\u000a\\u000d\\u0009 \\u0001\\u007f'
        b'\\u00e9\\u20ac\\ud83d\\ude00 \\ud800\\udc00\\udbff\\udfff"},"userAgent":"\\udbff\\udfff"}]}'),
    "a surrogate pair inside picked bucketName": b'{"Records":[{"eventTime":"2024-03-01T00:00:00Z","requestParameters":{"bucketName":"b\\ud83d\\ude00"}}]}',
}

# Records the native reader leaves to the Python parser, with how many there are; the others are read natively.
RECORDS_LEFT_TO_PYTHON = {
    "records that are not objects (kept aside as rejects)": records(1, "x", None, [], GET_OBJECT, True),
    "readOnly as a string": records(changed(readOnly="true"), changed(managementEvent="FALSE")),
    "readOnly as a number": records(changed(readOnly=1)),
    "a number in a text column": records(changed(eventName=5)),
    "an object in a text column": records(changed(userAgent={"a": 1})),
    "bucketName not a string": records(changed(requestParameters={"bucketName": 5, "key": "k"})),
    "a key twice in a record": b'{"Records":[{"eventName":"A","eventName":"B"}]}',
    "a key twice in requestParameters": b'{"Records":[{"requestParameters":{"key":"a","key":"b"}}]}',
    "a key twice in userIdentity": b'{"Records":[{"userIdentity":{"arn":"a","arn":"b"}}]}',
    "an exponent": b'{"Records":[{"additionalEventData":{"n":1e5}}]}',
    "a trailing zero": b'{"Records":[{"additionalEventData":{"n":1.50}}]}',
    "a long integer": b'{"Records":[{"additionalEventData":{"n":12345678901234567890}}]}',
    "minus zero": b'{"Records":[{"additionalEventData":{"n":-0}}]}',
    "a small decimal orjson writes with an exponent": b'{"Records":[{"additionalEventData":{"n":0.000001}}]}',
    "a decimal longer than its shortest form": b'{"Records":[{"additionalEventData":{"n":0.10000000000000001}}]}',
    "an escaped key name": b'{"Records":[{"event\\u004eame":"GetObject"}]}',
    "userIdentity not an object": records(changed(userIdentity="root")),
    "a resource not an object": records(changed(resources=["arn:aws:s3:::b"]), changed(resources=[None])),
    "resources not a list": records(changed(resources={"ARN": "x"})),
    "deep nesting": b'{"Records":[{"requestParameters":' + b'[' * 100 + b']' * 100 + b'}]}',
    "a lone surrogate": b'{"Records":[{"userAgent":"\\ud800"}]}',
    "a lone surrogate in JSON text": b'{"Records":[{"requestParameters":{"key":"\\ud83d"}}]}',
    "a high surrogate then a second high one": b'{"Records":[{"userAgent":"\\ud83d\\ud83d"}]}',
    "a low surrogate first": b'{"Records":[{"userAgent":"\\ude00\\ud83d"}]}',
    "a record without eventTime among others": records(GET_OBJECT, changed(eventTime=None), {"eventName": "x"}),
    "every other record (the rows then put in one chunk)": records(
        *[changed(eventID=f"e{n}", readOnly="true" if n % 2 else True) for n in range(160)]),
}
FALLBACK_COUNT = {"records that are not objects (kept aside as rejects)": 5, "readOnly as a string": 2,
                  "a resource not an object": 2, "a record without eventTime among others": 0,
                  "every other record (the rows then put in one chunk)": 80}

FILES_LEFT_TO_PYTHON = {
    "digest": orjson.dumps({"awsAccountId": "111122223333", "digestStartTime": "2024-03-01T00:00:00Z",
                            "logFiles": []}),
    "no Records": b'{"something":1}',
    "Records null": b'{"Records":null}',
    "Records twice": b'{"Records":[],"Records":[{"eventName":"A"}]}',
    "Records not a list": b'{"Records":"nope"}',
    "not JSON": b"{not json",
    "a list": b"[1,2,3]",
    "trailing garbage": b'{"Records":[]} x',
    "invalid UTF-8": b'{"Records":[{"userAgent":"\xff\xfe"}]}',
    "a raw control character (not JSON)": b'{"Records":[{"userAgent":"a\x01b"}]}',
    "a truncated file": records(GET_OBJECT)[:-10],
    "empty": b"",
}


@pytest.mark.parametrize("data", ODD_BUT_NATIVE.values(), ids=ODD_BUT_NATIVE.keys())
def test_odd_records_read_natively_give_the_same_table(data: bytes) -> None:
    assert read_natively(data, "f") is not None
    assert_same_outcome(data)


@pytest.mark.parametrize("name", RECORDS_LEFT_TO_PYTHON.keys())
def test_records_the_native_reader_leaves_to_python_give_the_same_table(name: str) -> None:
    native = read_natively(RECORDS_LEFT_TO_PYTHON[name], "f")
    assert native is not None and native.records_fallback == FALLBACK_COUNT.get(name, 1)
    assert_same_outcome(RECORDS_LEFT_TO_PYTHON[name])


@pytest.mark.parametrize("data", FILES_LEFT_TO_PYTHON.values(), ids=FILES_LEFT_TO_PYTHON.keys())
def test_files_the_native_reader_declines_get_the_python_outcome(data: bytes) -> None:
    assert read_natively(data, "f") is None
    assert_same_outcome(data)


def test_one_record_left_to_python_costs_only_itself_and_keeps_its_place() -> None:
    """Among 200 records, the 101st (readOnly as a string) is read by the Python parser; the others natively.

    Same rows in the same order, and the same rejects, as the Python parser gives the whole file."""
    events = [changed(eventID=f"event-{n}", eventName=f"Op{n}") for n in range(1, 201)]
    events[100] = changed(eventID="event-101", eventName="Odd", readOnly="true")  # a flag as a string
    # the next record has none of the fields the odd one had filled before it was taken back out
    events[101] = {"eventTime": "2024-03-01T10:15:30Z", "eventName": "Op102", "eventID": "event-102"}
    events[150] = changed(eventID="event-151", eventTime="no time")  # a reject, read natively
    data = json.dumps({"Records": [*events, 7]}).encode()  # the 201st is not an object: a reject
    native = read_natively(data, "trail.json")
    python = parse_cloudtrail_in_python(data, "trail.json")
    assert native is not None and python.records_fallback == 201
    assert native.records_fallback == 2  # record 101 and the 7
    names = native.table.column("eventname").to_pylist()
    assert len(names) == 199 and names[100] == "Odd" and names[99] == "Op100" and names[101] == "Op102"
    assert native.table.column("readonly")[100].as_py() is True
    assert native.table.column("useragent")[101].as_py() is None and native.table.column("useridentity")[101].as_py() is None
    assert [(r.log_line, r.reason) for r in native.rejects] == [(151, "eventTime is not an ISO-8601 time: \"no time\""),
                                                             (201, "record is not a JSON object")]
    assert native.rejects == python.rejects
    assert native.table.equals(python.table)


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=12,
)
_PARAMETERS = st.builds(lambda picked, more: {**picked, **more},
                        st.fixed_dictionaries({}, optional={"bucketName": _TEXT | st.none(), "key": _TEXT}),
                        st.dictionaries(_TEXT, _JSON, max_size=3))
_JSON_TEXT = st.fixed_dictionaries({}, optional={"requestParameters": _PARAMETERS | _JSON,
                                                 "responseElements": _JSON, "additionalEventData": _JSON})
_ANY_KEY = st.sampled_from(["userAgent", "readOnly", "resources", "eventTime", "userIdentity", "requestParameters"])


@settings(max_examples=300, deadline=None)
@given(values=_JSON_TEXT, pretty=st.booleans(), ensure_ascii=st.booleans())
def test_any_json_text_gives_the_same_table(values: dict, pretty: bool, ensure_ascii: bool) -> None:
    """Values of every JSON type kept as text, raw or \\u-escaped; mostly read natively (floats and long
    integers may decline)."""
    document = {"Records": [changed(**values), values]}
    assert_same_outcome(json.dumps(document, indent=1 if pretty else None, separators=None if pretty else (",", ":"),
                                   ensure_ascii=ensure_ascii).encode())


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(_ANY_KEY, _JSON), ensure_ascii=st.booleans())
def test_any_values_anywhere_give_the_same_outcome(values: dict, ensure_ascii: bool) -> None:
    """Values of any type in typed columns too (such records mostly left to Python), written with every escape."""
    assert_same_outcome(json.dumps({"Records": [changed(**values)]}, ensure_ascii=ensure_ascii).encode())


@settings(max_examples=300, deadline=None)
@given(number=st.from_regex(r"-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,20})?", fullmatch=True))
def test_numbers_in_any_form_give_the_same_json_text(number: str) -> None:
    """Numbers as any writer may format them: read natively only where orjson writes them back the same."""
    assert_same_outcome(b'{"Records":[{"additionalEventData":{"n":%s,"m":[%s]}}]}' % (number.encode(), number.encode()))


_EDIT = st.tuples(st.sampled_from(["set", "delete", "insert"]), st.floats(0, 1, exclude_max=True),
                  st.sampled_from(list(b'{}[]":,\\ -0123456789.eEtrufalsn\x00\x1f\x7f\xc3\xa9\xff')))
# Small, so that edits land on every kind of token: each structure the native reader reads, and none.
_EDITED = records(
    {"eventName": "A", "requestParameters": {"bucketName": "b", "key": 'k"\\', "n": [1, -2.5, None, {"x": []}]},
     "resources": [{"ARN": "a"}, {}], "readOnly": True, "userIdentity": {"arn": "x", "sessionContext": {}},
     "other": [True, {}]}, 5, {})


@settings(max_examples=500, deadline=None)
@given(edits=st.lists(_EDIT, min_size=1, max_size=3))
def test_damaged_files_give_the_same_outcome(edits: list[tuple[str, float, int]]) -> None:
    """A file with a few bytes changed, dropped or added: the same rows, or the same error."""
    data = bytearray(_EDITED)
    for operation, where, byte in edits:
        position = int(where * len(data))
        if operation == "set":
            data[position] = byte
        elif operation == "delete":
            del data[position]
        else:
            data.insert(position, byte)
    assert_same_outcome(bytes(data))


def test_every_single_byte_damage_gives_the_same_outcome() -> None:
    """Each byte of a small file dropped, or replaced by a letter: every separator and token is checked."""
    for position in range(len(_EDITED)):
        assert_same_outcome(_EDITED[:position] + _EDITED[position + 1:])
        assert_same_outcome(_EDITED[:position] + b"x" + _EDITED[position + 1:])
