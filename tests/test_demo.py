"""Tests for s3logq.demo, the sample-log generator: layout, determinism and faithfulness to the log formats."""

from __future__ import annotations

import gzip
import json
import random
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from s3logq.demo import (
    ACCESS_BUCKETS,
    MALFORMED_ACCESS_LINES,
    AccessRecord,
    DemoSummary,
    access_records,
    cloudtrail_records,
    format_access_line,
    generate,
    write_access_logs,
    write_cloudtrail_logs,
)

ACCESS_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[0-9A-F]{16}(\.gz)?$")
TRAIL_NAME = re.compile(
    r"^AWSLogs/111122223333/CloudTrail/(?P<region>[a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/"
    r"111122223333_CloudTrail_(?P=region)_(\d{8})T\d{4}Z_[A-Za-z0-9]+\.json\.gz$"
)
DIGEST_NAME = re.compile(
    r"^AWSLogs/111122223333/CloudTrail-Digest/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"111122223333_CloudTrail-Digest_(?P=region)_[A-Za-z0-9-]+_us-east-1_\d{8}T\d{6}Z\.json\.gz$"
)
FIELD_COUNTS = {18, 19, 22, 24, 25, 26, 27}


# ---- a careful tokenizer for access log lines ---------------------------------------------------------------


def tokenize(line: str) -> list[str]:
    """Split an access log line into fields: [time] is one field, "quoted" fields honour backslash escapes."""
    fields, i = [], 0
    while i < len(line):
        if line[i] == "[":
            end = line.index("]", i) + 1
        elif line[i] == '"':
            end = i + 1
            while end < len(line) and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            if end >= len(line):
                raise ValueError("unterminated quoted field")
            end += 1
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
        fields.append(line[i:end])
        if end < len(line) and (line[end] != " " or end + 1 == len(line)):
            raise ValueError(f"bad separator at {end}")
        i = end + 1
    return fields


def unquote_field(field: str) -> str | None:
    """The value of a quoted field, escapes undone; a bare - is None."""
    if field == "-":
        return None
    assert field[0] == field[-1] == '"'
    return re.sub(r"\\(.)", r"\1", field[1:-1])


def parse_valid(line: str) -> list[str] | None:
    """The fields of a well-formed line, or None when the line is malformed."""
    try:
        fields = tokenize(line)
    except ValueError:
        return None
    if len(fields) not in FIELD_COUNTS or not re.fullmatch(r"-|\d{3}", fields[9]):
        return None
    try:
        datetime.strptime(fields[2], "[%d/%b/%Y:%H:%M:%S %z]")
    except ValueError:
        return None
    return fields


def test_tokenizer_handles_escapes_and_rejects_truncation() -> None:
    line = 'a [06/Feb/2019:00:00:38 +0000] "x \\"y\\" \\\\z" - "-"'
    assert tokenize(line) == ["a", "[06/Feb/2019:00:00:38 +0000]", '"x \\"y\\" \\\\z"', "-", '"-"']
    assert unquote_field(tokenize(line)[2]) == 'x "y" \\z'
    with pytest.raises(ValueError):
        tokenize('a "GET /x')


# ---- format_access_line -------------------------------------------------------------------------------------

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
HOST_ID = "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="


def aws_doc_record(**changes: object) -> AccessRecord:
    """The record behind the example line of the AWS S3 User Guide (LogFormat page)."""
    fields: dict = dict(
        bucketowner=OWNER, bucket_name="DOC-EXAMPLE-BUCKET1",
        request_time=datetime(2019, 2, 6, 0, 0, 38, tzinfo=UTC), remoteip="192.0.2.3", requester=OWNER,
        requestid="3E57427F3EXAMPLE", operation="REST.GET.VERSIONING", key=None,
        request_uri="GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1", httpstatus=200, errorcode=None, bytessent=113,
        objectsize=None, totaltime=7, turnaroundtime=None, referrer="-", useragent="S3Console/0.4", versionid=None,
        hostid=HOST_ID, sigv="SigV4", ciphersuite="ECDHE-RSA-AES128-GCM-SHA256", authtype="AuthHeader",
        endpoint="DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com", tlsversion="TLSV1.2",
        accesspointarn="arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP", aclrequired="Yes",
    )
    fields.update(changes)
    return AccessRecord(**fields)


def test_format_access_line_reproduces_the_aws_documentation_example() -> None:
    expected = (
        "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be DOC-EXAMPLE-BUCKET1 "
        "[06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be "
        '3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1" 200 - 113 - 7 - '
        '"-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= '
        "SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader DOC-EXAMPLE-BUCKET1.s3.us-west-1.amazonaws.com TLSV1.2 "
        "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes"
    )
    assert format_access_line(aws_doc_record()) == expected


def test_format_access_line_encodes_keys_escapes_quotes_and_cuts_short_lines() -> None:
    record = aws_doc_record(
        request_time=datetime(2024, 3, 1, 7, 5, 9, tzinfo=UTC), operation="REST.GET.OBJECT",
        key="docs/café menu.txt", request_uri="GET /docs/caf%C3%A9%20menu.txt HTTP/1.1", httpstatus=404,
        errorcode="NoSuchKey", bytessent=0, referrer=None, useragent='cli/2 "quoted" C:\\tmp', n_fields=18,
    )
    expected = (
        f"{OWNER} DOC-EXAMPLE-BUCKET1 [01/Mar/2024:07:05:09 +0000] 192.0.2.3 {OWNER} 3E57427F3EXAMPLE "
        'REST.GET.OBJECT docs/caf%C3%A9%20menu.txt "GET /docs/caf%C3%A9%20menu.txt HTTP/1.1" 404 NoSuchKey - - 7 - '
        '- "cli/2 \\"quoted\\" C:\\\\tmp" -'
    )
    assert format_access_line(record) == expected
    assert len(tokenize(expected)) == 18
    assert unquote_field(tokenize(expected)[16]) == 'cli/2 "quoted" C:\\tmp'


def test_format_access_line_writes_source_region_as_field_27() -> None:
    line = format_access_line(aws_doc_record(key="日本/データ.csv", source_region="us-west-2", n_fields=27))
    fields = tokenize(line)
    assert len(fields) == 27 and fields[-1] == "us-west-2"
    assert fields[7] == "%E6%97%A5%E6%9C%AC/%E3%83%87%E3%83%BC%E3%82%BF.csv"


# ---- the generated demo tree --------------------------------------------------------------------------------


@dataclass
class AccessFile:
    name: str
    lines: list[str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def access_files(demo: DemoSummary) -> list[AccessFile]:
    files = []
    for path in sorted((demo.root / "access").iterdir()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        text = data.decode("utf-8")
        assert text.endswith("\n")
        files.append(AccessFile(path.name, text.splitlines()))
    return files


@pytest.fixture(scope="module")
def parsed_lines(access_files: list[AccessFile]) -> list[list[str]]:
    return [fields for f in access_files for line in f.lines if (fields := parse_valid(line)) is not None]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_generate_is_deterministic(tmp_path: Path, demo: DemoSummary) -> None:
    again = generate(tmp_path / "again")
    assert tree_bytes(again.root) == tree_bytes(demo.root)
    assert (again.access_lines, again.cloudtrail_events) == (demo.access_lines, demo.cloudtrail_events)


def test_different_seeds_give_different_logs(tmp_path: Path, demo: DemoSummary) -> None:
    other = generate(tmp_path / "other", seed=8, days=1)
    first_names = {p.name for p in (other.root / "access").iterdir()}
    assert not first_names & {p.name for p in (demo.root / "access").iterdir()}


def test_summary_counts_what_was_written(demo: DemoSummary, access_files: list[AccessFile]) -> None:
    assert demo.access_files == len(access_files)
    assert demo.access_lines == sum(len(f.lines) for f in access_files)
    trail = demo.root / "trail" / "AWSLogs" / "111122223333"
    assert demo.cloudtrail_files == len(list((trail / "CloudTrail").rglob("*.json.gz")))
    assert demo.digest_files == len(list((trail / "CloudTrail-Digest").rglob("*.json.gz")))
    total_bytes = sum(path.stat().st_size for path in demo.root.rglob("*") if path.is_file())
    assert total_bytes < 16_000_000


def test_access_layout_is_simple_prefix_one_bucket_per_file(access_files: list[AccessFile]) -> None:
    assert all(ACCESS_NAME.match(f.name) for f in access_files)
    gzipped = [f for f in access_files if f.name.endswith(".gz")]
    assert 2 <= len(gzipped) < len(access_files) / 5
    buckets_seen = set()
    for f in access_files:
        good = [fields for line in f.lines if (fields := parse_valid(line))]
        buckets = {fields[1] for fields in good}
        assert len(buckets) == 1, f.name
        buckets_seen |= buckets
        delivered = datetime.strptime(ACCESS_NAME.match(f.name).group(1), "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
        newest = max(datetime.strptime(fields[2], "[%d/%b/%Y:%H:%M:%S %z]") for fields in good)
        assert 0 < (delivered - newest).total_seconds() <= 900, "delivered a few minutes after its records"
    assert buckets_seen == set(ACCESS_BUCKETS)
    assert 20 <= statistics.median(len(f.lines) for f in access_files) <= 200


def test_access_volume_per_day(parsed_lines: list[list[str]]) -> None:
    per_day = Counter(fields[2][1:12] for fields in parsed_lines)
    assert len(per_day) == 7
    assert all(3_000 * 0.7 <= count <= 6_000 for count in per_day.values())
    assert 3_000 <= statistics.mean(per_day.values()) <= 6_000


def test_only_the_two_deliberate_lines_are_malformed(access_files: list[AccessFile]) -> None:
    bad = [(f.name, line) for f in access_files for line in f.lines if parse_valid(line) is None]
    assert len(bad) == MALFORMED_ACCESS_LINES == 2
    assert bad[0][0] == bad[1][0], "both malformed lines live in one file"
    assert not bad[0][0].endswith(".gz")
    assert any(line.startswith("GARBAGE") for _, line in bad)


def test_line_lengths_mix_old_and_new_formats(parsed_lines: list[list[str]]) -> None:
    counts = Counter(len(fields) for fields in parsed_lines)
    assert {18, 22, 24, 26, 27} <= set(counts)
    assert set(counts) <= FIELD_COUNTS
    assert counts[26] > 0.8 * len(parsed_lines)
    assert all(fields[26] != "-" for fields in parsed_lines if len(fields) == 27 and fields[3] != "-")


def test_keys_with_spaces_and_non_ascii_are_url_encoded(parsed_lines: list[list[str]]) -> None:
    keys = {fields[7] for fields in parsed_lines}
    for key in ("reports/Q1 results.pdf", "docs/café menu.txt", "日本/データ.csv"):
        assert quote(key, safe="/") in keys
    assert "reports/Q1%20results.pdf" in keys
    assert all(" " not in key and key.isascii() for key in keys)


def test_operations_cover_requests_copies_batches_and_lifecycle(parsed_lines: list[list[str]]) -> None:
    operations = Counter(fields[6] for fields in parsed_lines)
    expected = {
        "REST.GET.OBJECT", "REST.PUT.OBJECT", "REST.HEAD.OBJECT", "REST.GET.BUCKET", "REST.COPY.OBJECT_GET",
        "REST.COPY.OBJECT", "REST.DELETE.OBJECT", "REST.POST.MULTI_OBJECT_DELETE", "BATCH.DELETE.OBJECT",
        "S3.EXPIRE.OBJECT", "S3.CREATE.DELETEMARKER", "S3.DELETE.UPLOAD", "S3.TRANSITION_SIA.OBJECT",
        "S3.TRANSITION_ZIA.OBJECT", "S3.TRANSITION_INT.OBJECT", "S3.TRANSITION_GIR.OBJECT", "S3.TRANSITION.OBJECT",
        "S3.TRANSITION_GDA.OBJECT",
    }
    assert expected <= set(operations)
    top_four = {"REST.GET.OBJECT", "REST.PUT.OBJECT", "REST.HEAD.OBJECT", "REST.GET.BUCKET"}
    assert sum(operations[op] for op in top_four) > 0.7 * len(parsed_lines)


def test_lifecycle_rows_look_like_s3_internal_actions(parsed_lines: list[list[str]]) -> None:
    lifecycle = [fields for fields in parsed_lines if fields[6].startswith("S3.")]
    assert lifecycle
    for fields in lifecycle:
        assert fields[3] == "-" and fields[4] == "AmazonS3" and fields[8] == "-" and fields[9] == "-"
        assert fields[15] == "-" and fields[16] == "-"


def test_copies_and_multi_object_deletes_are_logged_like_s3(parsed_lines: list[list[str]]) -> None:
    by_request = {}
    for fields in parsed_lines:
        by_request.setdefault(fields[5], []).append(fields)
    batch = [fields for fields in parsed_lines if fields[6] == "BATCH.DELETE.OBJECT"]
    assert batch
    for fields in batch:
        assert fields[9] == "204" and fields[8] == "-" and fields[15] == "-" and fields[16] == "-"
        siblings = {other[6] for other in by_request[fields[5]]}
        assert "REST.POST.MULTI_OBJECT_DELETE" in siblings
    posts = [fields for fields in parsed_lines if fields[6] == "REST.POST.MULTI_OBJECT_DELETE"]
    assert all(fields[7] == "-" and fields[8] == '"POST /?delete HTTP/1.1"' for fields in posts)
    copies = [fields for fields in parsed_lines if fields[6] == "REST.COPY.OBJECT_GET"]
    assert copies and all("REST.COPY.OBJECT" in {o[6] for o in by_request[f[5]]} for f in copies)


def test_errors_requesters_and_connections_are_varied(parsed_lines: list[list[str]]) -> None:
    errors = Counter((fields[9], fields[10]) for fields in parsed_lines)
    for pair in (("403", "AccessDenied"), ("404", "NoSuchKey"), ("503", "SlowDown"), ("500", "InternalError")):
        assert errors[pair] > 0, pair
    denied = [fields for fields in parsed_lines if fields[10] == "AccessDenied"]
    assert any(len(f) > 19 and f[19] == "SigV2" for f in denied)
    assert any(f[4] == "-" for f in denied)
    requesters = {fields[4] for fields in parsed_lines}
    assert any(r.startswith("arn:aws:iam::") and ":user/" in r for r in requesters)
    assert any(r.startswith("arn:aws:sts::") and ":assumed-role/" in r for r in requesters)
    assert any(re.fullmatch(r"[0-9a-f]{64}", r) for r in requesters)
    assert any(":" in fields[3] for fields in parsed_lines), "some IPv6 remote addresses"
    assert any(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", fields[3]) for fields in parsed_lines)
    tls = {fields[23] for fields in parsed_lines if len(fields) >= 24}
    assert {"TLSv1", "TLSv1.2", "TLSv1.3"} <= tls
    assert any(len(fields) >= 26 and fields[25] == "Yes" for fields in parsed_lines)


def test_user_agents_with_escaped_quotes_round_trip(parsed_lines: list[list[str]]) -> None:
    agents = {unquote_field(fields[16]) for fields in parsed_lines}
    assert any(agent and agent.startswith("aws-cli/2.15") and '"quoted"' in agent for agent in agents)
    assert any(agent and "\\" in agent for agent in agents)


def test_one_request_is_logged_twice(access_files: list[AccessFile]) -> None:
    repeats = Counter(line for f in access_files for line in f.lines)
    assert [count for count in repeats.values() if count > 1] == [2]


# ---- CloudTrail ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trail_files(demo: DemoSummary) -> dict[str, dict]:
    root = demo.root / "trail"
    return {str(path.relative_to(root)): json.loads(gzip.decompress(path.read_bytes()))
            for path in sorted(root.rglob("*.json.gz"))}


@pytest.fixture(scope="module")
def trail_events(trail_files: dict[str, dict]) -> list[dict]:
    return [event for name, body in trail_files.items() if "/CloudTrail/" in name for event in body["Records"]]


def test_cloudtrail_layout_and_bodies(trail_files: dict[str, dict]) -> None:
    logs = {name: body for name, body in trail_files.items() if "/CloudTrail/" in name}
    digests = {name: body for name, body in trail_files.items() if "/CloudTrail-Digest/" in name}
    assert len(logs) + len(digests) == len(trail_files)
    assert all(TRAIL_NAME.match(name) for name in logs)
    assert all(DIGEST_NAME.match(name) for name in digests)
    assert {TRAIL_NAME.match(name)["region"] for name in logs} == {"us-east-1", "eu-west-1"}
    assert {DIGEST_NAME.match(name)["region"] for name in digests} == {"us-east-1", "eu-west-1"}
    assert all(isinstance(body["Records"], list) for body in logs.values())
    assert sum(1 for body in logs.values() if not body["Records"]) == 1
    for body in digests.values():
        assert "Records" not in body
        assert body["awsAccountId"] == "111122223333" and isinstance(body["logFiles"], list)
    assert any(not body["logFiles"] for body in digests.values()), "some digests list no files"
    listed = {entry["s3Object"] for body in digests.values() for entry in body["logFiles"]}
    assert listed == set(logs)


def test_exactly_one_event_is_delivered_twice(trail_files: dict[str, dict]) -> None:
    where: dict[str, list[str]] = {}
    for name, body in trail_files.items():
        for event in body.get("Records", []):
            where.setdefault(event["eventID"], []).append(name)
    duplicated = {event_id: names for event_id, names in where.items() if len(names) > 1}
    assert len(duplicated) == 1
    (names,) = duplicated.values()
    assert len(names) == 2 and names[0] != names[1]


def test_cloudtrail_events_have_the_real_shape(trail_events: list[dict]) -> None:
    required = {"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
                "sourceIPAddress", "userAgent", "requestParameters", "requestID", "eventID", "readOnly",
                "resources", "eventType", "managementEvent", "recipientAccountId", "eventCategory"}
    for event in trail_events:
        assert required <= set(event), event["eventName"]
        assert event["eventVersion"] == "1.09" and event["eventSource"] == "s3.amazonaws.com"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", event["eventTime"])
        assert event["eventCategory"] == ("Management" if event["managementEvent"] else "Data")
        assert event["eventType"] == "AwsApiCall"
    known = required | {"errorCode", "errorMessage", "responseElements", "additionalEventData", "tlsDetails",
                        "vpcEndpointId"}
    assert any(set(event) - known for event in trail_events), "some events carry a field outside the usual list"
    data_events = [e for e in trail_events if not e["managementEvent"]]
    assert all(e["requestParameters"]["bucketName"] and "Host" in e["requestParameters"] for e in data_events)
    assert any("key" in e["requestParameters"] for e in data_events)


def test_cloudtrail_identities(trail_events: list[dict]) -> None:
    identities = [event["userIdentity"] for event in trail_events]
    assert {"IAMUser", "AssumedRole", "Root", "AWSService", "AWSAccount"} <= {i["type"] for i in identities}
    assert {"anonymous", "ANONYMOUS_PRINCIPAL"} <= {i.get("accountId") for i in identities if i["type"] == "AWSAccount"}
    role = next(i for i in identities if i["type"] == "AssumedRole")
    assert role["sessionContext"]["sessionIssuer"]["type"] == "Role"
    denied = [event for event in trail_events if event.get("errorCode") == "AccessDenied"]
    assert denied and all(event["errorMessage"] == "Access Denied" for event in denied)


def test_cloudtrail_event_names_and_configuration_changes(trail_events: list[dict]) -> None:
    names = {event["eventName"] for event in trail_events}
    assert {"GetObject", "PutObject", "HeadObject", "CopyObject", "DeleteObject", "DeleteObjects", "CreateBucket",
            "DeleteBucket", "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketVersioning", "PutBucketLifecycle",
            "DeleteBucketLifecycle", "PutBucketReplication", "PutBucketPublicAccessBlock",
            "DeleteBucketPublicAccessBlock", "PutBucketEncryption", "PutBucketAcl", "PutBucketTagging",
            "PutAccountPublicAccessBlock"} <= names
    params = [(event["eventName"], event["requestParameters"]) for event in trail_events]
    statuses = {p["VersioningConfiguration"]["Status"] for n, p in params if n == "PutBucketVersioning"}
    assert statuses == {"Enabled", "Suspended"}
    policies = [p["bucketPolicy"] for n, p in params if n == "PutBucketPolicy"]
    assert any(s["Principal"] == "*" and s["Effect"] == "Allow" for policy in policies for s in policy["Statement"])
    blocks = [p["PublicAccessBlockConfiguration"] for n, p in params if n == "PutBucketPublicAccessBlock"]
    assert any(block["BlockPublicPolicy"] is False for block in blocks)
    grants = [g for n, p in params if n == "PutBucketAcl"
              for g in p["AccessControlPolicy"]["AccessControlList"]["Grant"]]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") and g["Permission"] == "READ" for g in grants)


# ---- the record generators and the bulk writers ------------------------------------------------------------


def test_record_generators_are_deterministic_and_in_time_order() -> None:
    start = datetime(2024, 3, 1, tzinfo=UTC)

    def access(seed: int) -> list[str]:
        return [format_access_line(r) for r in access_records(random.Random(seed), start, 6, ["b-data"], 50)]

    def trail(seed: int) -> list[dict]:
        return list(cloudtrail_records(random.Random(seed), start, 6, ["b-data"], "111122223333", "us-east-1"))

    assert access(3) == access(3) and access(3) != access(4)
    assert trail(3) == trail(3) and trail(3) != trail(4)
    records = list(access_records(random.Random(3), start, 6, ["b-data"], 50))
    assert [r.request_time for r in records] == sorted(r.request_time for r in records)
    assert all(r.request_time.tzinfo is not None for r in records)
    times = [event["eventTime"] for event in trail(3)]
    assert times == sorted(times)


def test_write_access_logs_for_benchmarks(tmp_path: Path) -> None:
    lines = write_access_logs(tmp_path, total_bytes=300_000, files=4, gzip=True, seed=2)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 4 and all(ACCESS_NAME.match(n) and n.endswith(".gz") for n in names)
    texts = [gzip.decompress((tmp_path / n).read_bytes()).decode() for n in names]
    assert lines == sum(text.count("\n") for text in texts)
    assert 200_000 < sum(len(text.encode()) for text in texts) < 400_000
    assert all(parse_valid(line) for text in texts for line in text.splitlines())
    for text in texts:
        assert len({line.split(" ", 2)[1] for line in text.splitlines()}) == 1


def test_write_cloudtrail_logs_for_benchmarks(tmp_path: Path) -> None:
    events = write_cloudtrail_logs(tmp_path, total_bytes=300_000, files=3, seed=2)
    paths = sorted(tmp_path.rglob("*.json.gz"))
    assert len(paths) == 3
    assert all(TRAIL_NAME.match(str(path.relative_to(tmp_path))) for path in paths)
    bodies = [gzip.decompress(path.read_bytes()) for path in paths]
    assert 200_000 < sum(len(body) for body in bodies) < 400_000
    records = [event for body in bodies for event in json.loads(body)["Records"]]
    assert len(records) == events
    assert len({event["eventID"] for event in records}) == events


def test_the_demo_run_twice_is_quiet_and_counts_every_row(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from s3logq.cli import cli

    command = ["--lake", str(tmp_path / "lake"), "demo", "--dir", str(tmp_path / "logs")]
    first = CliRunner().invoke(cli, command, env={"COLUMNS": "220"})
    assert first.exit_code == 0, first.output
    # 3,066 rows in top-troubleshooting, 8 shown; 30 bucket configuration changes; titles said once
    assert "3,066 rows (first 8 shown;" in first.stdout and "\n30 rows (first 8 shown;" in first.stdout
    assert "Bucket configuration changes (CloudTrail)" in first.stdout and "(CloudTrail) (" not in first.stdout
    # the printed hints work when pasted
    assert f"see more: s3logq --lake {tmp_path / 'lake'} run top-troubleshooting --logs access " \
           "--vertical" in first.stdout
    assert f"2 lines rejected (see: s3logq --lake {tmp_path / 'lake'} sql" in first.stdout
    assert "1 duplicate CloudTrail event (same eventID" in first.stdout
    second = CliRunner().invoke(cli, command, env={"COLUMNS": "220"})
    assert second.exit_code == 0 and "changed since they were ingested" not in second.stdout
    assert "ingested 0 files" in second.stdout and "1,457 files already ingested" in second.stdout
