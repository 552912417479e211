"""Issue 16: no field of a CloudTrail record is lost (rebuild_record(row) == the record, for both readers), the
new columns of Athena's table are filled (golden rows from AWS's "CloudTrail record contents" and userIdentity
pages), and issue 11: one bad record (a time the lake cannot place, nesting too deep, a number beyond 64 bits)
rejects itself only."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cloudtrail_native import GET_OBJECT, assert_same_outcome

from s3logq.formats.cloudtrail import (
    NotCloudTrail,
    _record_spans,
    parse_cloudtrail,
    parse_cloudtrail_in_python,
    read_natively,
    rebuild_record,
)

FIXTURES = Path(__file__).parent / "fixtures"
READERS = {"native first": parse_cloudtrail, "python": parse_cloudtrail_in_python}


def fixture_records() -> list[dict]:
    records = []
    for path in sorted(FIXTURES.rglob("*CloudTrail_*.json*")):
        data = path.read_bytes()
        document = orjson.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
        records += document.get("Records", [])
    return records


def rows_of(records: list, parse=parse_cloudtrail) -> list[dict]:
    return parse(orjson.dumps({"Records": records}), "f").table.to_pylist()


@pytest.mark.parametrize("parse", READERS.values(), ids=READERS.keys())
def test_every_fixture_record_is_rebuilt_from_its_row(parse) -> None:
    records = fixture_records()
    assert len(records) > 30
    assert [rebuild_record(row) for row in rows_of(records, parse)] == records


# --- the round trip, on generated records -----------------------------------------------------------------

_KEY = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
_SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8) | st.floats(
    allow_nan=False, allow_infinity=False, width=64)
_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3),
                     max_leaves=8)
# Where extra keys and odd values go: every object the schema types, at every depth.
_PATHS = [(), ("userIdentity",), ("userIdentity", "sessionContext"), ("userIdentity", "sessionContext", "attributes"),
          ("userIdentity", "sessionContext", "sessionIssuer"), ("userIdentity", "onBehalfOf"),
          ("userIdentity", "sessionContext", "webIdFederationData"),
          ("userIdentity", "sessionContext", "webIdFederationData", "attributes"), ("tlsDetails",), ("addendum",),
          ("resources", 0), ("resources", 1)]
_KNOWN_KEYS = ["eventTime", "eventName", "readOnly", "managementEvent", "userIdentity", "resources", "type", "arn",
               "sessionContext", "attributes", "sharedEventID", "serviceEventDetails", "requestParameters"]
_EDIT = st.tuples(st.sampled_from(_PATHS), _KEY | st.sampled_from(_KNOWN_KEYS), _JSON)
WEB_IDENTITY = {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.example", "attributes": {}}


def _edited(edits: list[tuple[tuple, str, object]]) -> dict:
    record = json.loads(json.dumps(GET_OBJECT))
    record["userIdentity"]["onBehalfOf"] = {"userId": "u-1", "identityStoreArn": "arn:aws:identitystore::1:x"}
    record["userIdentity"]["sessionContext"]["webIdFederationData"] = dict(WEB_IDENTITY, attributes={"a": "b"})
    record["addendum"] = {"reason": "DELIVERY_DELAY"}
    for path, key, value in edits:
        target: object = record
        for step in path:
            target = target[step] if isinstance(target, dict | list) and _has(target, step) else None
        if isinstance(target, dict):
            target[key] = value
    return record


def _has(container: dict | list, step: str | int) -> bool:
    return step in container if isinstance(container, dict) else isinstance(step, int) and step < len(container)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(_EDIT, max_size=5), compact=st.booleans())
def test_generated_records_with_extra_keys_at_any_depth_are_rebuilt(edits: list, compact: bool) -> None:
    record = _edited(edits)
    data = json.dumps({"Records": [record, {**record, "eventTime": "2024-03-01T10:15:31.250Z"}]},
                      separators=(",", ":") if compact else None, ensure_ascii=compact).encode()
    records = orjson.loads(data)["Records"]
    for parse in READERS.values():
        parsed = parse(data, "f")
        # a record whose edited eventTime is no time is a reject, with its raw JSON; every other one is a row
        rejected = {r.log_line: orjson.loads(r.raw_line) for r in parsed.rejects}
        assert rejected == {n: r for n, r in enumerate(records, 1) if n in rejected}
        kept = [r for n, r in enumerate(records, 1) if n not in rejected]
        assert [rebuild_record(row) for row in parsed.table.to_pylist()] == kept
    assert_same_outcome(data)


def test_generated_extras_are_read_natively_in_the_common_shapes() -> None:
    """Unknown keys, nulls, a resource with an unknown key and web identity attributes stay native."""
    record = _edited([((), "newTopLevel", {"a": [1, "x"]}), (("userIdentity",), "inScopeOf", {"x": None}),
                      (("resources", 0), "newResourceKey", "v"), (("tlsDetails",), "keyExchange", None)])
    data = orjson.dumps({"Records": [record]})
    assert read_natively(data, "f") is not None
    (row,) = rows_of([record])
    assert orjson.loads(row["unmapped"]) == {
        "responseElements": None, "userIdentity": {"inScopeOf": {"x": None}},
        "resources": record["resources"], "tlsDetails": {"keyExchange": None}, "newTopLevel": {"a": [1, "x"]}}
    assert row["resources"][0]["arn"] == record["resources"][0]["ARN"]  # still typed
    assert rebuild_record(row) == record
    assert_same_outcome(data)


# --- golden rows for the new columns, from AWS's record contents and userIdentity documentation -----------

INSIGHT = {  # an Insights event: sharedEventID ties its start and end records together
    "eventVersion": "1.08", "eventTime": "2024-03-01T11:00:00Z", "awsRegion": "us-east-1",
    "eventID": "a9edc959-9488-4790-be0f-05d60e56b547", "eventType": "AwsCloudTrailInsight",
    "recipientAccountId": "111122223333", "sharedEventID": "12edc982-3348-4794-83d3-a3db26525049",
    "insightDetails": {"state": "Start", "eventSource": "s3.amazonaws.com", "eventName": "PutObject",
                       "insightType": "ApiCallRateInsight",
                       "insightContext": {"statistics": {"baseline": {"average": 0.0888},
                                                         "insight": {"average": 0.6}, "insightDuration": 5}}},
    "eventCategory": "Insight"}
IDENTITY_CENTER_SIGN_IN = {  # an IAM Identity Center user signing in: who, on whose behalf, with what outcome
    "eventVersion": "1.08",
    "userIdentity": {"type": "IdentityCenterUser", "accountId": "111122223333",
                     "onBehalfOf": {"userId": "94482488-3041-7026-18f3-be45837cd0e4",
                                    "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"},
                     "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"},
    "eventTime": "2024-03-01T12:00:00Z", "eventSource": "signin.amazonaws.com", "eventName": "CredentialVerification",
    "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.17", "userAgent": "Mozilla/5.0",
    "requestParameters": None, "responseElements": None,
    "additionalEventData": {"AuthWorkflowID": "9de74b32-8362-4a01-a524-de21df59fd83", "CredentialType": "PASSWORD"},
    "requestID": "5be44ddb-8b85-45a0-9b6f-8e9a2e6d1f5b", "eventID": "0d7d3ad8-2c5b-4d6a-9a4a-71f4b8d1e0a1",
    "readOnly": False, "eventType": "AwsServiceEvent", "managementEvent": True,
    "recipientAccountId": "111122223333", "serviceEventDetails": {"CredentialVerification": "Success"},
    "eventCategory": "Management"}
WEB_IDENTITY_GET_OBJECT = {  # a pod's role from EKS (AssumeRoleWithWebIdentity) reading an object
    **GET_OBJECT, "eventID": "web-1",
    "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:botocore-session-1", "arn": "arn:aws:sts::111122223333:assumed-role/app/botocore-session-1",
                     "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE",
                     "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": "arn:aws:iam::111122223333:role/app",
                                                          "accountId": "111122223333", "userName": "app"},
                                        "webIdFederationData": {"federatedProvider": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
                                                                "attributes": {"cognito-identity.amazonaws.com:amr": "authenticated"}},
                                        "attributes": {"creationDate": "2024-03-01T10:00:00Z", "mfaAuthenticated": "false"},
                                        "sourceIdentity": "alice"}}}
EC2_ROLE_GET_OBJECT = {  # an instance profile's credentials, delivered by IMDSv2
    **GET_OBJECT, "eventID": "ec2-1",
    "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:i-0123456789abcdef0", "arn": "arn:aws:sts::111122223333:assumed-role/web/i-0123456789abcdef0",
                     "accountId": "111122223333", "accessKeyId": "ASIAEXAMPLE",
                     "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": "arn:aws:iam::111122223333:role/web",
                                                          "accountId": "111122223333", "userName": "web"},
                                        "attributes": {"creationDate": "2024-03-01T09:00:00Z", "mfaAuthenticated": "false"},
                                        "ec2RoleDelivery": "2.0"}}}
DELAYED_EDGE_PUT = {  # delivered late (addendum), from an S3 on Outposts / Snow device (edgeDeviceDetails)
    **GET_OBJECT, "eventID": "edge-1", "eventName": "PutObject", "readOnly": False, "apiVersion": "2006-03-01",
    "vpcEndpointAccountId": "444455556666", "sessionCredentialFromConsole": "true",
    "addendum": {"reason": "DELIVERY_DELAY", "updatedFields": "", "originalRequestID": "ORIG123",
                 "originalEventID": "0b1c2d3e-0000-4000-8000-000000000009"},
    "edgeDeviceDetails": {"type": "outposts", "deviceID": "op-01ac5d28a6a232904"}}
GOLDEN = [INSIGHT, IDENTITY_CENTER_SIGN_IN, WEB_IDENTITY_GET_OBJECT, EC2_ROLE_GET_OBJECT, DELAYED_EDGE_PUT]


@pytest.mark.parametrize("parse", READERS.values(), ids=READERS.keys())
def test_golden_rows_of_the_new_columns(parse) -> None:
    insight, sign_in, web, ec2, edge = rows_of(GOLDEN, parse)
    assert insight["sharedeventid"] == "12edc982-3348-4794-83d3-a3db26525049"
    assert insight["eventtype"] == "AwsCloudTrailInsight" and insight["eventcategory"] == "Insight"
    assert orjson.loads(insight["insightdetails"])["insightContext"]["statistics"]["insight"] == {"average": 0.6}
    assert insight["useridentity"] is None and insight["unmapped"] is None
    assert sign_in["serviceeventdetails"] == '{"CredentialVerification":"Success"}'
    assert sign_in["useridentity"]["onbehalfof"] == {
        "userid": "94482488-3041-7026-18f3-be45837cd0e4",
        "identitystorearn": "arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"}
    assert sign_in["useridentity"]["credentialid"].startswith("EXAMPLEVHUL")
    assert sign_in["useridentity"]["type"] == "IdentityCenterUser" and sign_in["account_id"] == "111122223333"
    assert sign_in["unmapped"] == '{"requestParameters":null,"responseElements":null}'
    context = web["useridentity"]["sessioncontext"]
    assert context["webidfederationdata"] == {
        "federatedprovider": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
        "attributes": [("cognito-identity.amazonaws.com:amr", "authenticated")]}
    assert context["sourceidentity"] == "alice" and context["ec2roledelivery"] is None
    assert ec2["useridentity"]["sessioncontext"]["ec2roledelivery"] == "2.0"
    assert (edge["apiversion"], edge["vpcendpointaccountid"], edge["sessioncredentialfromconsole"]) == (
        "2006-03-01", "444455556666", "true")
    assert edge["addendum"] == {"reason": "DELIVERY_DELAY", "updatedfields": "", "originalrequestid": "ORIG123",
                                "originaleventid": "0b1c2d3e-0000-4000-8000-000000000009"}
    assert orjson.loads(edge["edgedevicedetails"]) == {"type": "outposts", "deviceID": "op-01ac5d28a6a232904"}
    assert [rebuild_record(row) for row in (insight, sign_in, web, ec2, edge)] == GOLDEN


def test_golden_records_are_read_natively_and_identically() -> None:
    data = orjson.dumps({"Records": GOLDEN})
    assert read_natively(data, "f") is not None
    assert_same_outcome(data)


# --- issue 11: one bad record rejects itself only -------------------------------------------------------

GOOD = {"eventTime": "2024-03-01T10:00:00Z", "eventName": "GetObject", "eventID": "good"}
BAD_RECORDS = {
    "a time in year 2300": (b'{"eventTime":"2300-01-01T00:00:00Z","eventID":"bad"}',
                            "eventTime is outside the years 1970-2199: 2300-01-01T00:00:00Z"),
    "year 9999 with a negative offset": (b'{"eventTime":"9999-12-31T23:30:00-01:00","eventID":"bad"}',
                                         "eventTime is outside the years 1970-2199: 9999-12-31T23:30:00-01:00"),
    "a time before 1970": (b'{"eventTime":"1969-12-31T23:59:59Z","eventID":"bad"}',
                           "eventTime is outside the years 1970-2199: 1969-12-31T23:59:59Z"),
    "nesting too deep": (b'{"eventID":"bad","requestParameters":' + b"[" * 1100 + b"]" * 1100 + b"}",
                         "record is not readable JSON (depth limit exceeded)"),
    "an integer beyond 64 bits": (b'{"eventTime":"2024-03-01T10:00:00Z","additionalEventData":{"n":18446744073709551616}}',
                                  "number out of range: 18446744073709551616"),
    "a number beyond a double": (b'{"eventTime":"2024-03-01T10:00:00Z","additionalEventData":{"n":1e400}}',
                                 "record is not readable JSON (number is infinity when parsed as double)"),
    "invalid UTF-8": (b'{"eventTime":"2024-03-01T10:00:00Z","userAgent":"\xff"}',
                      "record is not readable JSON (str is not valid UTF-8)"),
}


@pytest.mark.parametrize("bad,reason", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["", "after a BOM"])
def test_one_bad_record_rejects_itself_and_no_other(bad: bytes, reason: str, bom: bytes) -> None:
    good = orjson.dumps(GOOD)
    data = bom + b'{"Records":[' + good + b",\n" + bad + b",\n" + good.replace(b"good", b"also good") + b"]}"
    for parse in READERS.values():
        parsed = parse(data, "trail.json")
        assert parsed.table.column("eventid").to_pylist() == ["good", "also good"]
        ((log_file, number, why, raw),) = [(r.log_file, r.log_line, r.reason, r.raw_line) for r in parsed.rejects]
        assert (log_file, number, why) == ("trail.json", 2, reason)
        assert raw == bad.decode("utf-8", "replace") or orjson.loads(raw) == orjson.loads(bad)
    assert_same_outcome(data)


def test_a_file_with_a_bom_is_read_as_without() -> None:
    data = orjson.dumps({"Records": [GOOD]})
    with_bom, without = read_natively(b"\xef\xbb\xbf" + data, "f"), read_natively(data, "f")
    assert with_bom is not None and without is not None and with_bom.table.num_rows == 1
    assert with_bom.table.equals(without.table) and with_bom.rejects == without.rejects == []


# --- fuzz: mutated files at both readers ------------------------------------------------------------------

FUZZ_EXAMPLES = int(os.environ.get("S3LOGQ_FUZZ_EXAMPLES", "200"))
_BASE_RECORDS = [GET_OBJECT, *GOLDEN]
# Pieces a mutation inserts: values out of range, structure, escapes, bytes that are not UTF-8.
_PIECES = [b'"2300-01-01T00:00:00Z"', b'"9999-12-31T23:59:59-01:00"', b"18446744073709551616", b"1e400",
           b"[" * 1030, b"]" * 1030, b"{}", b"null", b'"\\u00e9"', b'"\\ud800"', b"\xef\xbb\xbf", b"\xff", b",", b":",
           b'"', b"\\", b"-0", b"1.50"]
_MUTATION = st.one_of(
    st.tuples(st.just("set"), st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.floats(0, 1, exclude_max=True), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.sampled_from(_PIECES)),
    st.tuples(st.just("value"), st.sampled_from(range(len(_BASE_RECORDS))), st.sampled_from(_PIECES)),
    st.tuples(st.just("repeat"), st.sampled_from(range(len(_BASE_RECORDS))), st.integers(1, 3)),
)


def _mutated(mutations: list[tuple]) -> bytes:
    records = [orjson.dumps(r) for r in _BASE_RECORDS]
    for kind, where, what in mutations:  # record-level first, so that their positions still mean something
        if kind == "value":  # an out-of-range or odd value in place of eventTime's
            records[where] = records[where].replace(b'"eventTime":"', b'"eventTime":' + what + b',"was":"', 1)
        elif kind == "repeat":
            records[where:where] = [records[where]] * what
    data = bytearray(b'{"Records":[' + b",\n".join(records) + b"]}")
    for kind, where, what in mutations:
        position = int(where * len(data)) if isinstance(where, float) else 0
        if kind == "set":
            data[position] = what
        elif kind == "cut":
            del data[position:position + what]
        elif kind == "insert":
            data[position:position] = what
    return bytes(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=4))
def test_mutated_files_raise_nothing_and_account_for_every_record(mutations: list[tuple]) -> None:
    """Both readers: a parseable file's rows and rejects are all its records; they agree; only NotCloudTrail
    (a file that is no CloudTrail document at all) is raised. S3LOGQ_FUZZ_EXAMPLES=5000 for a long run."""
    data = _mutated(mutations)
    for parse in READERS.values():
        try:
            parsed = parse(data, "f")
        except NotCloudTrail:
            continue
        if parsed.skipped_reason is not None:
            continue
        try:
            expected = len(orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))["Records"])
        except orjson.JSONDecodeError:
            expected = len(_record_spans(data.removeprefix(b"\xef\xbb\xbf")) or [])
        numbers = sorted(r.log_line for r in parsed.rejects)
        assert parsed.table.num_rows + len(numbers) == expected
        assert len(set(numbers)) == len(numbers) and all(1 <= n <= expected for n in numbers)
    assert_same_outcome(data)
