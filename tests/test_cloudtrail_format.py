"""Golden tests: CloudTrail records -> typed rows; digests, empty files and foreign JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from s3logq.formats.cloudtrail import NotCloudTrail, parse_cloudtrail

SUSPEND_VERSIONING = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole", "principalId": "AROAEXAMPLE:carol", "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/Admin/carol", "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                             "arn": "arn:aws:iam::111122223333:role/Admin",
                                             "accountId": "111122223333", "userName": "Admin"},
                           "attributes": {"creationDate": "2024-03-01T09:00:00Z", "mfaAuthenticated": "true"}},
    },
    "eventTime": "2024-03-01T10:15:30Z", "eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
    "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.24", "userAgent": "[aws-cli/2.15.10]",
    "requestParameters": {"bucketName": "acme-prod-data", "Host": "acme-prod-data.s3.amazonaws.com",
                          "versioning": "", "VersioningConfiguration": {"Status": "Suspended"}},
    "responseElements": None,
    "additionalEventData": {"SignatureVersion": "SigV4", "AuthenticationMethod": "AuthHeader"},
    "requestID": "REQ123", "eventID": "0b1c2d3e-0000-4000-8000-000000000001", "readOnly": False,
    "resources": [{"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::acme-prod-data"}],
    "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": "111122223333",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                   "clientProvidedHostHeader": "acme-prod-data.s3.amazonaws.com"},
    "aFieldFromTheFuture": {"nested": [1, 2]},
}  # fmt: skip


def test_record_becomes_a_typed_row_with_derived_columns() -> None:
    parsed = parse_cloudtrail(orjson.dumps({"Records": [SUSPEND_VERSIONING]}), "trail.json.gz")
    assert parsed.skipped_reason is None
    row = parsed.table.to_pylist()[0]
    assert row["event_time"] == datetime(2024, 3, 1, 10, 15, 30, tzinfo=UTC)
    assert (row["eventname"], row["bucket_name"], row["object_key"]) == ("PutBucketVersioning", "acme-prod-data", None)
    assert row["user_arn"] == "arn:aws:sts::111122223333:assumed-role/Admin/carol"
    assert row["account_id"] == "111122223333"
    assert row["useridentity"]["sessioncontext"]["sessionissuer"]["username"] == "Admin"
    assert row["useridentity"]["sessioncontext"]["attributes"] == {"mfaauthenticated": "true",
                                                                   "creationdate": "2024-03-01T09:00:00Z"}
    assert orjson.loads(row["requestparameters"])["VersioningConfiguration"] == {"Status": "Suspended"}
    assert row["responseelements"] is None
    assert orjson.loads(row["additionaleventdata"]) == {"SignatureVersion": "SigV4", "AuthenticationMethod": "AuthHeader"}
    assert row["resources"] == [{"arn": "arn:aws:s3:::acme-prod-data", "accountid": "111122223333",
                                 "type": "AWS::S3::Bucket", "arnprefix": None}]
    assert (row["readonly"], row["managementevent"], row["eventcategory"]) == (False, True, "Management")
    assert row["tlsdetails"]["tlsversion"] == "TLSv1.3"
    assert (row["eventid"], row["requestid"], row["log_file"]) == (SUSPEND_VERSIONING["eventID"], "REQ123",
                                                                   "trail.json.gz")


def test_missing_fields_are_null_and_a_bad_event_time_does_not_sink_the_file() -> None:
    records = [{"eventName": "GetObject", "eventTime": "not a time"}, {"eventTime": "2024-03-01T00:00:00.5Z"},
               {"eventName": "PutObject"}, {"eventTime": "2024-03-01T00:00:01Z"}]
    parsed = parse_cloudtrail(orjson.dumps({"Records": records}), "f")
    rows = parsed.table.to_pylist()
    assert [row["event_time"] for row in rows] == [datetime(2024, 3, 1, 0, 0, 0, 500000, tzinfo=UTC),
                                                   datetime(2024, 3, 1, 0, 0, 1, tzinfo=UTC)]
    assert rows[1]["useridentity"] is None and rows[1]["bucket_name"] is None
    # a record with no time to place it by is kept aside with its number in Records, not dropped
    assert [(r.log_file, r.log_line, r.reason, orjson.loads(r.raw_line)) for r in parsed.rejects] == [
        ("f", 1, 'eventTime is not an ISO-8601 time: "not a time"', records[0]),
        ("f", 3, "record without eventTime", records[2])]


def test_a_record_that_is_not_an_object_is_kept_aside_with_its_number() -> None:
    event = {"eventTime": "2024-03-01T00:00:00Z", "eventName": "GetObject"}
    parsed = parse_cloudtrail(orjson.dumps({"Records": ["x", event, 7, None, {"eventName": "PutObject"}]}), "f")
    assert parsed.table.column("eventname").to_pylist() == ["GetObject"]
    assert [(r.log_line, r.reason, r.raw_line) for r in parsed.rejects] == [
        (1, "record is not a JSON object", '"x"'), (3, "record is not a JSON object", "7"),
        (4, "record is not a JSON object", "null"), (5, "record without eventTime", '{"eventName":"PutObject"}')]


def test_digest_files_and_files_without_records_are_skipped_with_a_reason() -> None:
    digest = {"awsAccountId": "111122223333", "digestStartTime": "2024-03-01T00:00:00Z", "logFiles": []}
    assert parse_cloudtrail(orjson.dumps(digest), "d").skipped_reason == "digest file"
    assert parse_cloudtrail(b'{"something": 1}', "x").skipped_reason == "no Records"
    empty = parse_cloudtrail(b'{"Records": []}', "e")
    assert empty.skipped_reason is None and empty.table.num_rows == 0


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2, 3]", b'{"Records": "nope"}'])
def test_foreign_json_is_not_cloudtrail(data: bytes) -> None:
    with pytest.raises(NotCloudTrail):
        parse_cloudtrail(data, "f")
