"""The hand-written logs of the detection tests: one access-log story and one CloudTrail story on 2024-03-10,
with the history before it. Every expected finding in test_detect_*.py was worked out from the rows here.

`python tests/detection_fixtures.py` rewrites tests/fixtures/detections/; a test checks the files still match.

Access logs, bucket acme-prod-data (first logged 2024-03-01 10:00:00, alice's daily read):
  alice   192.0.2.10    reads reports/daily.csv (1,000,000 bytes) at 10:00 every day 03-01..03-10; on 03-10
                        also keys/deploy.pem, docs/environment.md, keys/id_rsa.pub and big/dump.tar: 2,000,000,000
                        bytes that day; a refused PUT of docs/HOW_TO_RECOVER.html, a PUT of docs/recovery-plan.pdf
  bob     192.0.2.20    100 bytes on 03-01; on 03-10 deletes tmp/a..c (10:00-10:02), S3 Browser twice (15:00,
                        15:01), TLSv1.1 (15:10), plain HTTP (15:11)
  mallory 203.0.113.66  new on 03-10: deletes invoices/1..5.pdf 10:00-10:04, a refused delete 10:05, a multi-object
                        delete key 10:06; reads home/.aws/credentials 13:07; uploads README_TO_DECRYPT.txt 14:00 and
                        invoices/1.pdf.locked 14:01
  eve     198.51.100.7  new on 03-10 (account 999988887777): four 403s 11:00-11:03; reads config/.env twice
                        (13:00, 13:01); a refused read of secrets/id_rsa 13:20; Cyberduck 15:20; SigV2 15:30;
                        3,000,000,000 bytes at 16:00 (no earlier bytes: no baseline)
  anonymous 198.51.100.9   three 403 listings 11:00-11:02; reads public/logo.png 12:00 and public/style.css 12:05
  anonymous 198.51.100.10  one 403 at 11:01
Bucket acme-web: anonymous 198.51.100.80 reads index.html at 08:00 every day 03-01..03-10.
Bucket acme-backup: first logged 03-10 12:10, a 403 to anonymous 198.51.100.9.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).parent / "fixtures" / "detections"
OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
ACCOUNT = "123456789012"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
EVE = "arn:aws:iam::999988887777:user/eve"
CLI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.2 exe/x86_64.ubuntu.22"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/123.0"
DAY = datetime(2024, 3, 10)


def _at(clock: str, day: datetime = DAY) -> datetime:
    hours, minutes = clock.split(":")
    return day.replace(hour=int(hours), minute=int(minutes))


_number = iter(range(1, 10_000))


def access_line(when: datetime, bucket: str, ip: str, requester: str | None, operation: str, key: str | None,
                status: int = 200, error: str = "-", sent: int | None = None, agent: str = CLI,
                sigv: str = "SigV4", tls: str | None = "TLSv1.3") -> str:
    number = next(_number)
    method = operation.split(".")[1] if operation.startswith("REST.") else "-"
    uri = f'"{method} /{bucket}/{key or ""} HTTP/1.1"'
    cipher = "ECDHE-RSA-AES128-GCM-SHA256" if tls else "-"
    return (f"{OWNER} {bucket} [{when:%d/%b/%Y:%H:%M:%S} +0000] {ip} {requester or '-'} REQ{number:04d} "
            f"{operation} {key or '-'} {uri} {status} {error} {'-' if sent is None else sent} - 10 5 \"-\" "
            f'"{agent}" - HOST{number:04d}= {sigv} {cipher} AuthHeader {bucket}.s3.us-east-1.amazonaws.com '
            f"{tls or '-'} - - us-east-1")


def access_files() -> dict[str, str]:
    """File name -> content: the history, the morning of 03-10, the afternoon of 03-10."""
    global _number
    _number = iter(range(1, 10_000))  # request IDs numbered from 1 on every call: the files never change
    history, morning, afternoon = [], [], []
    for offset in range(9):  # 03-01 .. 03-09
        day = datetime(2024, 3, 1) + timedelta(days=offset)
        history.append(access_line(_at("08:00", day), "acme-web", "198.51.100.80", None, "REST.GET.OBJECT",
                                   "index.html", sent=5000, agent=BROWSER))
        history.append(access_line(_at("10:00", day), "acme-prod-data", "192.0.2.10", ALICE, "REST.GET.OBJECT",
                                   "reports/daily.csv", sent=1_000_000))
        if offset == 0:
            history.append(access_line(_at("10:30", day), "acme-prod-data", "192.0.2.20", BOB, "REST.GET.OBJECT",
                                       "reports/daily.csv", sent=100))
    prod = "acme-prod-data"
    morning += [
        access_line(_at("08:00"), "acme-web", "198.51.100.80", None, "REST.GET.OBJECT", "index.html", sent=5000,
                    agent=BROWSER),
        access_line(_at("10:00"), prod, "192.0.2.10", ALICE, "REST.GET.OBJECT", "reports/daily.csv", sent=1_000_000),
        *[access_line(_at(f"10:0{n}"), prod, "203.0.113.66", MALLORY, "REST.DELETE.OBJECT", f"invoices/{n + 1}.pdf",
                      status=204) for n in range(5)],
        access_line(_at("10:05"), prod, "203.0.113.66", MALLORY, "REST.DELETE.OBJECT", "invoices/keep.pdf",
                    status=403, error="AccessDenied", sent=243),
        access_line(_at("10:06"), prod, "203.0.113.66", MALLORY, "BATCH.DELETE.OBJECT", "invoices/6.pdf",
                    status=204),
        *[access_line(_at(f"10:0{n}"), prod, "192.0.2.20", BOB, "REST.DELETE.OBJECT", f"tmp/{'abc'[n]}",
                      status=204) for n in range(3)],
        *[access_line(_at(f"11:0{n}"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", f"private/{'abcd'[n]}",
                      status=403, error="AccessDenied", sent=243) for n in range(4)],
        *[access_line(_at(f"11:0{n}"), prod, "198.51.100.9", None, "REST.GET.BUCKET", None,
                      status=403, error="AccessDenied", sent=243, agent=BROWSER) for n in range(3)],
        access_line(_at("11:01"), prod, "198.51.100.10", None, "REST.GET.OBJECT", "private/x",
                    status=403, error="AccessDenied", sent=243, agent=BROWSER),
    ]
    afternoon += [
        access_line(_at("12:00"), prod, "198.51.100.9", None, "REST.GET.OBJECT", "public/logo.png", sent=2000,
                    agent=BROWSER),
        access_line(_at("12:05"), prod, "198.51.100.9", None, "REST.GET.OBJECT", "public/style.css", sent=800,
                    agent=BROWSER),
        access_line(_at("12:10"), "acme-backup", "198.51.100.9", None, "REST.GET.OBJECT", "backup/db.sql",
                    status=403, error="AccessDenied", sent=243, agent=BROWSER),
        access_line(_at("13:00"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "config/.env", sent=120),
        access_line(_at("13:01"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "config/.env", sent=120),
        access_line(_at("13:05"), prod, "192.0.2.10", ALICE, "REST.GET.OBJECT", "keys/deploy.pem", sent=1700),
        access_line(_at("13:06"), prod, "192.0.2.10", ALICE, "REST.GET.OBJECT", "docs/environment.md", sent=3000,
                    tls="TLSv1.2"),
        access_line(_at("13:07"), prod, "203.0.113.66", MALLORY, "REST.GET.OBJECT", "home/.aws/credentials",
                    sent=300),
        access_line(_at("13:08"), prod, "192.0.2.10", ALICE, "REST.GET.OBJECT", "keys/id_rsa.pub", sent=400),
        access_line(_at("13:20"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "secrets/id_rsa", status=403,
                    error="AccessDenied", sent=243),
        access_line(_at("14:00"), prod, "203.0.113.66", MALLORY, "REST.PUT.OBJECT", "README_TO_DECRYPT.txt"),
        access_line(_at("14:01"), prod, "203.0.113.66", MALLORY, "REST.PUT.OBJECT", "invoices/1.pdf.locked"),
        access_line(_at("14:02"), prod, "192.0.2.10", ALICE, "REST.PUT.OBJECT", "docs/HOW_TO_RECOVER.html",
                    status=403, error="AccessDenied"),
        access_line(_at("14:03"), prod, "192.0.2.10", ALICE, "REST.PUT.OBJECT", "docs/recovery-plan.pdf"),
        access_line(_at("15:00"), prod, "192.0.2.20", BOB, "REST.GET.OBJECT", "reports/q1.csv", sent=500,
                    agent="S3 Browser 10.9.9 https://s3browser.com"),
        access_line(_at("15:01"), prod, "192.0.2.20", BOB, "REST.GET.OBJECT", "reports/q2.csv", sent=500,
                    agent="S3 Browser 11.0.1 https://s3browser.com"),
        access_line(_at("15:10"), prod, "192.0.2.20", BOB, "REST.GET.OBJECT", "reports/q3.csv", sent=500,
                    tls="TLSv1.1"),
        access_line(_at("15:11"), prod, "192.0.2.20", BOB, "REST.GET.OBJECT", "reports/q4.csv", sent=500, tls=None),
        access_line(_at("15:20"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "reports/q1.csv", sent=500,
                    agent="Cyberduck/8.7.1.40600 (Mac OS X/14.2) (x86_64)"),
        access_line(_at("15:30"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "reports/q5.csv", sent=500,
                    sigv="SigV2", tls="TLSv1.2"),
        access_line(_at("16:00"), prod, "192.0.2.10", ALICE, "REST.GET.OBJECT", "big/dump.tar",
                    sent=2_000_000_000 - 1_000_000 - 1700 - 3000 - 400),
        access_line(_at("16:00"), prod, "198.51.100.7", EVE, "REST.GET.OBJECT", "exports/all.tar",
                    sent=3_000_000_000),
    ]
    return {"2024-03-09-23-59-00-0000000000000001": "\n".join(history) + "\n",
            "2024-03-10-12-00-00-0000000000000002": "\n".join(morning) + "\n",
            "2024-03-10-18-00-00-0000000000000003": "\n".join(afternoon) + "\n"}


# --- CloudTrail ---------------------------------------------------------------------------------------------

TRAIL_ACCOUNT = "111122223333"
TRAIL_ALICE = f"arn:aws:iam::{TRAIL_ACCOUNT}:user/alice"
INTRUDER = f"arn:aws:iam::{TRAIL_ACCOUNT}:user/intruder"
OUTSIDER = "arn:aws:iam::444455556666:user/outsider"
PARTNER = "arn:aws:sts::777788889999:assumed-role/partner/sync"
PUBLIC_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::acme-web/*"}]}
TLS_ONLY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
     "Resource": ["arn:aws:s3:::acme-prod-data", "arn:aws:s3:::acme-prod-data/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
ALL_USERS_ACL = {"AccessControlList": {"Grant": [
    {"Grantee": {"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
     "Permission": "READ"}]}}
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _identity(arn: str | None) -> dict:
    if arn is None:
        return {"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}
    account = arn.split(":")[4]
    kind = "AssumedRole" if ":assumed-role/" in arn else "IAMUser"
    return {"type": kind, "principalId": "AIDA" + arn.rsplit("/", 1)[-1].upper(), "arn": arn,
            "accountId": account, "accessKeyId": "AKIAEXAMPLE"}


_event_number = iter(range(1, 10_000))


def event(clock: str, name: str, params: dict, who: str | None = TRAIL_ALICE, error: str | None = None,
          data: bool = False, ip: str = "192.0.2.10", identity: dict | None = None) -> dict:
    number = next(_event_number)
    record = {"eventVersion": "1.09", "userIdentity": identity or _identity(who),
              "eventTime": f"{_at(clock):%Y-%m-%dT%H:%M:%SZ}", "eventSource": "s3.amazonaws.com",
              "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": CLI,
              "requestParameters": params, "responseElements": None, "requestID": f"REQ{number:04d}",
              "eventID": f"evt-{number:04d}", "readOnly": False, "eventType": "AwsApiCall",
              "managementEvent": not data, "recipientAccountId": TRAIL_ACCOUNT,
              "eventCategory": "Data" if data else "Management"}
    if error:
        record["errorCode"], record["errorMessage"] = error, error
    return record


def _block(acls: bool, ignore: bool, policy: bool, restrict: bool) -> dict:
    return {"bucketName": "acme-prod-data", "publicAccessBlock": "", "PublicAccessBlockConfiguration": {
        "xmlns": XMLNS, "BlockPublicAcls": acls, "IgnorePublicAcls": ignore, "BlockPublicPolicy": policy,
        "RestrictPublicBuckets": restrict}}


def _lifecycle(rules: object) -> dict:
    return {"bucketName": "acme-prod-data", "lifecycle": "", "LifecycleConfiguration": {"xmlns": XMLNS, "Rule": rules}}


def _replication(*accounts: str | None) -> dict:
    rules = [{"ID": f"r{n}", "Status": "Enabled", "Priority": n,
              "Destination": {"Bucket": f"arn:aws:s3:::copy-{n}", **({"Account": a} if a else {})}}
             for n, a in enumerate(accounts)]
    return {"bucketName": "acme-prod-data", "replication": "", "ReplicationConfiguration": {
        "xmlns": XMLNS, "Role": f"arn:aws:iam::{TRAIL_ACCOUNT}:role/replication", "Rule": rules}}


def _put(key: str, **headers: str) -> dict:
    return {"bucketName": "acme-prod-data", "key": key, "Host": "acme-prod-data.s3.amazonaws.com", **headers}


SSE_C = {"x-amz-server-side-encryption-customer-algorithm": "AES256"}


def cloudtrail_records() -> tuple[list[dict], list[dict]]:
    """The management events of the morning (09:00-10:59), then the data events and the rest (11:00-)."""
    global _event_number
    _event_number = iter(range(1, 10_000))
    web, prod = {"bucketName": "acme-web"}, {"bucketName": "acme-prod-data"}
    morning = [
        event("09:00", "PutBucketPolicy", {**web, "bucketPolicy": PUBLIC_POLICY, "policy": ""}),
        event("09:01", "PutBucketAcl", {**web, "acl": "", **ALL_USERS_ACL}),
        event("09:02", "PutObjectAcl", {**prod, "key": "reports/q1.pdf", "acl": "", "x-amz-acl": ["public-read"]}),
        event("09:03", "PutBucketPolicy", {**prod, "bucketPolicy": TLS_ONLY_POLICY, "policy": ""}),
        event("09:04", "PutBucketAcl", {**prod, "acl": "", "x-amz-acl": ["private"]}),
        event("09:05", "PutBucketPolicy", {**prod, "bucketPolicy": PUBLIC_POLICY, "policy": ""},
              error="AccessDenied"),
        event("09:10", "PutBucketPublicAccessBlock", _block(True, True, False, True)),
        event("09:11", "DeleteAccountPublicAccessBlock", {"accountId": TRAIL_ACCOUNT}),
        event("09:12", "PutBucketPublicAccessBlock", _block(True, True, True, True)),
        event("09:20", "PutBucketVersioning", {**prod, "versioning": "", "VersioningConfiguration": {
            "xmlns": XMLNS, "Status": "Suspended"}}),
        event("09:21", "PutBucketVersioning", {**prod, "versioning": "", "VersioningConfiguration": {
            "xmlns": XMLNS, "Status": "Enabled"}}),
        event("09:30", "PutBucketLogging", {**prod, "logging": "", "BucketLoggingStatus": {"xmlns": XMLNS}}),
        event("09:31", "PutBucketLogging", {**prod, "logging": "", "BucketLoggingStatus": {
            "xmlns": XMLNS, "LoggingEnabled": {"TargetBucket": "acme-logs", "TargetPrefix": "prod/"}}}),
        event("09:40", "DeleteBucketEncryption", {**prod, "encryption": ""}),
        event("09:41", "PutBucketEncryption", {**prod, "encryption": "", "ServerSideEncryptionConfiguration": {
            "xmlns": XMLNS, "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}}}),
        event("09:50", "PutBucketReplication", _replication("444455556666", TRAIL_ACCOUNT)),
        event("09:51", "PutBucketReplication", _replication(TRAIL_ACCOUNT, None)),
        event("10:00", "PutBucketLifecycleConfiguration", _lifecycle([
            {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 1}},
            {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}])),
        event("10:01", "PutBucketLifecycleConfiguration", _lifecycle(
            {"ID": "month", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 30}})),
        event("10:02", "PutBucketLifecycleConfiguration", _lifecycle([
            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
            {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}])),
    ]
    later = [
        event("11:00", "PutObject", _put("data/1.csv", **SSE_C), who=INTRUDER, data=True, ip="203.0.113.66"),
        event("11:05", "PutObject", _put("data/kms.csv", **{"x-amz-server-side-encryption": "aws:kms"}),
              who=INTRUDER, data=True, ip="203.0.113.66"),
        event("11:06", "PutObject", _put("data/denied.csv", **SSE_C), who=INTRUDER, data=True, ip="203.0.113.66",
              error="AccessDenied"),
        event("11:10", "CopyObject", _put("data/2.csv", **SSE_C), who=INTRUDER, data=True, ip="203.0.113.66"),
        event("11:20", "PutObject", _put("data/3.csv", **SSE_C), who=INTRUDER, data=True, ip="203.0.113.66"),
        event("12:05", "CreateMultipartUpload", _put("data/4.csv", **SSE_C), who=INTRUDER, data=True,
              ip="203.0.113.67"),
        event("12:30", "DeleteBucket", {"bucketName": "acme-old"}),
        event("12:31", "DeleteBucket", {"bucketName": "acme-archive"}, error="BucketNotEmpty"),
        event("13:00", "GetObject", {**prod, "key": "reports/q1.csv"}, who=OUTSIDER, data=True, ip="198.51.100.44"),
        event("13:05", "GetObject", {**prod, "key": "reports/q2.csv"}, who=OUTSIDER, data=True, ip="198.51.100.45"),
        event("13:10", "GetObject", {**prod, "key": "reports/q3.csv"}, who=PARTNER, data=True, ip="198.51.100.60"),
        event("13:15", "GetObject", {**prod, "key": "public/logo.png"}, who=None, data=True, ip="198.51.100.9"),
        event("13:16", "PutObject", {**prod, "key": "logs/trail.json"}, data=True, ip="cloudtrail.amazonaws.com",
              identity={"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}),
        event("13:20", "GetObject", {**prod, "key": "secret.csv"}, who=OUTSIDER, data=True, ip="198.51.100.44",
              error="AccessDenied"),
        event("14:00", "DeleteObjects", {**prod, "delete": {"xmlns": XMLNS, "Object": [
            {"Key": "a.csv"}, {"Key": "b.csv"}, {"Key": "c.csv"}]}}, who=INTRUDER, data=True, ip="203.0.113.66"),
        event("14:01", "DeleteObject", {**prod, "key": "d.csv"}, who=INTRUDER, data=True, ip="203.0.113.66"),
        event("14:02", "DeleteObject", {**prod, "key": "e.csv"}, who=INTRUDER, data=True, ip="203.0.113.66"),
        event("14:03", "DeleteObject", {**prod, "key": "f.csv"}, who=INTRUDER, data=True, ip="203.0.113.66",
              error="AccessDenied"),
    ]
    return morning, later


def cloudtrail_files() -> dict[str, bytes]:
    morning, later = cloudtrail_records()
    folder = f"AWSLogs/{TRAIL_ACCOUNT}/CloudTrail/us-east-1/2024/03/10/"
    name = f"{TRAIL_ACCOUNT}_CloudTrail_us-east-1_20240310T{{}}Z_{{}}.json.gz"
    return {folder + name.format("1100", "A1"): _gzip({"Records": morning}),
            folder + name.format("1500", "B2"): _gzip({"Records": later})}


def _gzip(document: dict) -> bytes:
    return gzip.compress(json.dumps(document, indent=1).encode(), mtime=0)


def all_files() -> dict[str, bytes]:
    """Relative path under tests/fixtures/detections/ -> bytes."""
    files = {f"access/{name}": text.encode() for name, text in access_files().items()}
    files.update({f"cloudtrail/{name}": data for name, data in cloudtrail_files().items()})
    return files


def write_fixtures(root: Path = ROOT) -> None:
    for relative, data in all_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if __name__ == "__main__":
    write_fixtures()
