"""Realistic sample S3 server access logs and CloudTrail logs, for the demo, the tests and the benchmarks.

Everything is drawn from a seeded ``random.Random`` so the same seed always gives the same bytes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import random
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

T = TypeVar("T")

ACCOUNT_ID = "111122223333"
PARTNER_ACCOUNT_ID = "444455556666"
OWNER_CANONICAL_ID = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
PARTNER_CANONICAL_ID = "a7c0f3b5e21d4c6f98e1b2d3c4a5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b"
HOME_REGION = "us-east-1"
ACCESS_BUCKETS = ("acme-prod-data", "acme-logs-archive", "acme-public-site")
TRAIL_REGIONS: dict[str, tuple[str, ...]] = {"us-east-1": ACCESS_BUCKETS, "eu-west-1": ("acme-eu-backup",)}
TRAIL_NAME = "acme-org-trail"
TRAIL_BUCKET = "acme-cloudtrail-logs"
DEMO_REQUESTS_PER_HOUR = 140
MALFORMED_ACCESS_LINES = 2
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------------------------------------------
# S3 server access log records and their text form
# --------------------------------------------------------------------------------------------------------------


@dataclass
class AccessRecord:
    """One S3 server access log request; field names are the AWS Athena column names."""

    bucketowner: str
    bucket_name: str
    request_time: datetime
    remoteip: str
    requester: str
    requestid: str
    operation: str
    key: str | None
    request_uri: str | None
    httpstatus: int | None
    errorcode: str | None
    bytessent: int | None
    objectsize: int | None
    totaltime: int | None
    turnaroundtime: int | None
    referrer: str | None
    useragent: str | None
    versionid: str | None
    hostid: str | None
    sigv: str | None
    ciphersuite: str | None
    authtype: str | None
    endpoint: str | None
    tlsversion: str | None
    accesspointarn: str | None
    aclrequired: str | None
    source_region: str | None = None
    n_fields: int = 26


def format_access_line(rec: AccessRecord) -> str:
    """One log line (no newline) exactly as S3 writes it; only the first ``rec.n_fields`` fields are written."""
    fields = [
        _bare(rec.bucketowner), _bare(rec.bucket_name), _access_time(rec.request_time), _bare(rec.remoteip),
        _bare(rec.requester), _bare(rec.requestid), _bare(rec.operation),
        quote(rec.key, safe="/") if rec.key else "-",
        _quoted(rec.request_uri), _bare(rec.httpstatus), _bare(rec.errorcode), _bare(rec.bytessent or None),
        _bare(rec.objectsize), _bare(rec.totaltime), _bare(rec.turnaroundtime), _quoted(rec.referrer),
        _quoted(rec.useragent), _bare(rec.versionid), _bare(rec.hostid), _bare(rec.sigv), _bare(rec.ciphersuite),
        _bare(rec.authtype), _bare(rec.endpoint), _bare(rec.tlsversion), _bare(rec.accesspointarn),
        _bare(rec.aclrequired), _bare(rec.source_region),
    ]
    return " ".join(fields[: rec.n_fields])


def _bare(value: str | int | None) -> str:
    return "-" if value is None or value == "" else str(value)


def _quoted(value: str | None) -> str:
    if value is None:
        return "-"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _access_time(moment: datetime) -> str:
    t = _as_utc(moment)
    return f"[{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:{t.hour:02d}:{t.minute:02d}:{t.second:02d} +0000]"


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --------------------------------------------------------------------------------------------------------------
# Who talks to the buckets, and what they store there
# --------------------------------------------------------------------------------------------------------------

_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
_TLS10 = ("TLSv1", "ECDHE-RSA-AES128-SHA")
_PLAIN_HTTP: tuple[str | None, str | None] = (None, None)

UA_CLI = "aws-cli/2.15.10 Python/3.11.6 Linux/6.1.0-17-amd64 exe/x86_64.debian.12 prompt/off command/s3.cp"
UA_CLI_QUOTED = 'aws-cli/2.15.10 Python/3.11.6 Darwin/23.3.0 exe/x86_64 prompt/off command/s3.sync app/"quoted"'
UA_BOTO3 = (
    "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.205-195.807.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.34"
)
UA_CONSOLE = (
    "S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.198-166.745.amzn2int.x86_64 "
    "OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard"
)
UA_JAVA = (
    "aws-sdk-java/2.20.162 Linux/5.15.0-1051-aws OpenJDK_64-Bit_Server_VM/17.0.9+9-LTS Java/17.0.9 "
    "vendor/Eclipse_Adoptium io/sync http/Apache cfg/retry-mode/legacy"
)
UA_PHP = "aws-sdk-php2/2.8.31 Guzzle/3.9.3 curl/7.29.0 PHP/5.4.16"
UA_GO = "aws-sdk-go-v2/1.24.1 os/linux lang/go#1.21.6 md/GOOS#linux md/GOARCH#amd64 api/s3#1.48.0"
UA_FLUENT = "aws-fluent-bit-plugins/1.9.3 aws-sdk-go/1.44.300 (go1.20.6; linux; amd64)"
UA_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
UA_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Mobile/15E148 Safari/604.1"
)
UA_GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
UA_SCANNER = 'Mozilla/5.0 (compatible; probe\\scan) "() { :; }; echo \\"x\\""'


@dataclass(frozen=True)
class _Client:
    """A caller as the access log sees it: requester, addresses, user agents and how it connects."""

    requester: str | None
    ips: tuple[str, ...]
    user_agents: tuple[str, ...]
    tls: tuple[tuple[str | None, str | None], ...] = (_TLS12,)
    sigv: str | None = "SigV4"
    authtype: str | None = "AuthHeader"
    path_style: bool = False
    aclrequired: str | None = None
    access_point: str | None = None
    website: bool = False
    referrers: tuple[str | None, ...] = ("-",)


_IAM = f"arn:aws:iam::{ACCOUNT_ID}:user"
_STS = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role"
ALICE = _Client(f"{_IAM}/alice", ("203.0.113.24", "2001:db8:4f2a:10::1c"), (UA_CLI, UA_CLI_QUOTED), (_TLS13, _TLS12))
PIPELINE = _Client(f"{_STS}/DataPipelineRole/i-0a1b2c3d4e5f67890", ("10.0.12.34", "10.0.13.7"), (UA_BOTO3,))
ADMIN = _Client(
    f"{_STS}/AWSReservedSSO_AdministratorAccess_5f2c1d0e9b8a7f6e/carol@acme.example", ("198.51.100.77",),
    (UA_CONSOLE,), (_TLS13,),
)
PARTNER = _Client(PARTNER_CANONICAL_ID, ("192.0.2.145",), (UA_JAVA,), aclrequired="Yes")
LEGACY = _Client(f"{_IAM}/legacy-reporting", ("198.51.100.9",), (UA_PHP,), (_TLS10, _TLS12), "SigV2", path_style=True)
BACKUP = _Client(f"{_STS}/BackupRole/backup-job-17", ("2001:db8:85a3::8a2e:370:7334",), (UA_GO,), (_TLS13,))
ANALYST = _Client(
    f"{_STS}/AnalyticsRole/athena-session", ("10.0.20.8",), (UA_JAVA,), access_point="analytics-ap",
)
PRESIGNED = _Client(
    f"{_IAM}/alice", ("192.0.2.201", "2001:db8:beef::42"), (UA_CHROME, UA_SAFARI), (_TLS13,),
    authtype="QueryString",
)
SHIPPER = _Client(f"{_STS}/LogShipperRole/fluent-bit", ("10.0.40.5", "10.0.41.9"), (UA_FLUENT,))
DEPLOY = _Client(f"{_IAM}/site-deploy", ("203.0.113.200",), (UA_CLI,), (_TLS13,))
BROWSER = _Client(
    None, ("198.51.100.23", "192.0.2.77", "203.0.113.5", "2001:db8:1234::9", "2001:db8:cafe::17"),
    (UA_CHROME, UA_SAFARI, UA_GOOGLEBOT), (_TLS13, _TLS12, _PLAIN_HTTP), None, None,
    referrers=("-", "https://www.acme.example/", "https://www.acme.example/blog/", "https://www.google.com/"),
)
WEB_VISITOR = replace(BROWSER, tls=(_PLAIN_HTTP,), website=True)
SCANNER = _Client(None, ("192.0.2.66", "2001:db8:bad::66"), (UA_SCANNER, "curl/8.4.0"), (_TLS12,), None, None)

_CLIENTS: dict[str, dict[str, tuple[tuple[_Client, float], ...]]] = {
    "data": {
        "read": ((PIPELINE, 5), (ALICE, 3), (ADMIN, 1), (PARTNER, 1), (ANALYST, 1.5), (BACKUP, 1), (PRESIGNED, 1)),
        "write": ((PIPELINE, 5), (ALICE, 1), (BACKUP, 1), (ADMIN, 0.5)),
        "denied": ((LEGACY, 2), (SCANNER, 1), (PARTNER, 1), (ALICE, 0.5)),
    },
    "archive": {
        "read": ((ALICE, 1), (ADMIN, 1), (BACKUP, 1), (ANALYST, 1)),
        "write": ((SHIPPER, 10), (BACKUP, 1)),
        "denied": ((LEGACY, 1), (PARTNER, 1), (SCANNER, 1)),
    },
    "public": {
        "read": ((BROWSER, 12), (DEPLOY, 0.3), (SCANNER, 0.3)),
        "write": ((DEPLOY, 1),),
        "denied": ((SCANNER, 2), (BROWSER, 1)),
    },
}

_SPECIAL_KEYS = {
    "data": ("reports/Q1 results.pdf", "docs/café menu.txt", "日本/データ.csv", "reports/board deck (final).pptx",
             "exports/customers+orders.csv"),
    "archive": ("audit/exports/Übersicht 2023.tar", "app/web-01/error log.txt"),
    "public": ("index.html", "about.html", "css/site.css", "js/app.min.js", "img/logo.png", "img/team photo.jpg",
               "blog/hello world.html", "blog/crème brûlée.html", "favicon.ico", "robots.txt",
               "downloads/Price List 2024.pdf"),
}
_MISSING_KEYS = ("wp-login.php", ".env", "admin/config.php", "old/page.html", "reports/Q4 results.pdf",
                 "data/events/dt=2023-12-31/part-00000.parquet")


def _profile(bucket: str) -> str:
    """Which traffic pattern a bucket gets, from its name."""
    if any(word in bucket for word in ("public", "site", "www", "web")):
        return "public"
    if any(word in bucket for word in ("log", "archive", "backup")):
        return "archive"
    return "data"


def _object_catalog(rng: random.Random, profile: str) -> list[tuple[str, int]]:
    """The keys a bucket holds, each with a fixed size."""
    keys = list(_SPECIAL_KEYS[profile])
    if profile == "data":
        keys += [f"data/events/2024/03/{day:02d}/part-{part:04d}.parquet"
                 for day in range(1, 8) for part in range(6)]
        keys += [f"models/churn/v{n}/model.tar.gz" for n in range(1, 4)]
    elif profile == "archive":
        keys += [f"app/web-{host:02d}/2024/03/{day:02d}/app.log.gz" for host in range(1, 5) for day in range(1, 8)]
    else:
        keys += [f"blog/posts/{n:03d}.html" for n in range(1, 25)]
    return [(key, int(rng.lognormvariate(11, 2)) + 64) for key in keys]


def _request_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


def _host_id(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(56)).decode()


def _version_id(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_letters + string.digits + "._", k=32))


def _weighted(rng: random.Random, options: tuple[tuple[T, float], ...]) -> T:
    return rng.choices([item for item, _ in options], [weight for _, weight in options])[0]


# --------------------------------------------------------------------------------------------------------------
# Access log traffic for one bucket
# --------------------------------------------------------------------------------------------------------------

_FIELD_COUNTS = ((26, 90.0), (27, 3.0), (18, 2.5), (22, 2.0), (24, 1.5), (19, 0.5), (25, 0.5))
_LIFECYCLE_OPS = {
    "archive": (("S3.TRANSITION_SIA.OBJECT", 4), ("S3.TRANSITION_GIR.OBJECT", 2), ("S3.TRANSITION.OBJECT", 2),
                ("S3.TRANSITION_GDA.OBJECT", 1.5), ("S3.EXPIRE.OBJECT", 4), ("S3.DELETE.UPLOAD", 0.7)),
    "data": (("S3.CREATE.DELETEMARKER", 3), ("S3.EXPIRE.OBJECT", 2), ("S3.TRANSITION_INT.OBJECT", 3),
             ("S3.TRANSITION_ZIA.OBJECT", 1.2), ("S3.TRANSITION_SIA.OBJECT", 1), ("S3.DELETE.UPLOAD", 1)),
}


@dataclass
class _BucketTraffic:
    """Makes the requests one bucket receives; each scenario returns the log records of one request."""

    rng: random.Random
    bucket: str
    profile: str = ""
    catalog: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.profile = _profile(self.bucket)
        self.catalog = _object_catalog(self.rng, self.profile)

    @property
    def versioned(self) -> bool:
        return self.profile == "data"

    def scenarios(self) -> tuple[tuple[Callable[[datetime], list[AccessRecord]], float], ...]:
        """Scenario functions with their weights for this bucket's profile."""
        common = ((self.get_object, 38), (self.put_object, 12), (self.head_object, 10), (self.list_bucket, 6),
                  (self.delete_object, 2.5), (self.access_denied, 2.5), (self.not_found, 2.5),
                  (self.internal_error, 0.15))
        extra = {
            "data": ((self.copy_object, 2), (self.multi_delete, 0.8), (self.multipart_upload, 0.8),
                     (self.slowdown_burst, 0.05)),
            "archive": ((self.put_object, 40), (self.multi_delete, 0.6)),
            "public": ((self.get_object, 40), (self.website_get, 10), (self.not_found, 8), (self.access_denied, 3)),
        }
        return common + extra[self.profile]

    # ---- building blocks ---------------------------------------------------------------------------------

    def client(self, role: str) -> _Client:
        return _weighted(self.rng, _CLIENTS[self.profile][role])

    def pick_key(self) -> tuple[str, int]:
        return self.rng.choice(self.catalog)

    def uri(self, client: _Client, method: str, key: str | None, query: str = "") -> str:
        path = quote(key, safe="/") if key else ""
        if client.path_style:
            path = f"{self.bucket}/{path}" if path else self.bucket
        return f"{method} /{path}{query} HTTP/1.1"

    def endpoint(self, client: _Client) -> str:
        if client.website:
            return f"{self.bucket}.s3-website-{HOME_REGION}.amazonaws.com"
        if client.access_point:
            return f"{client.access_point}-{ACCOUNT_ID}.s3-accesspoint.{HOME_REGION}.amazonaws.com"
        if client.path_style:
            return "s3.amazonaws.com"
        return f"{self.bucket}.s3.{HOME_REGION}.amazonaws.com"

    def timings(self, size: int) -> tuple[int, int]:
        """Total and turn-around time in ms; a few requests are slow on S3's side."""
        turnaround = self.rng.randint(1, 40) if self.rng.random() > 0.02 else self.rng.randint(200, 4000)
        return turnaround + int(size / self.rng.uniform(5_000, 50_000)), turnaround

    def record(self, client: _Client, when: datetime, operation: str, key: str | None, uri: str | None,
               status: int, *, error: str | None = None, sent: int | None = None, size: int | None = None,
               version: str | None = None) -> AccessRecord:
        """One request record filled in the way the client connects."""
        rng = self.rng
        total, turnaround = self.timings(max(sent or 0, size or 0) if status < 300 else 0)
        tls, cipher = rng.choice(client.tls)
        ap_arn = f"arn:aws:s3:{HOME_REGION}:{ACCOUNT_ID}:accesspoint/{client.access_point}"
        return AccessRecord(
            OWNER_CANONICAL_ID, self.bucket, when, rng.choice(client.ips), _bare(client.requester),
            _request_id(rng), operation, key, uri, status, error, sent, size, total, turnaround,
            rng.choice(client.referrers), rng.choice(client.user_agents), version, _host_id(rng), client.sigv,
            cipher, client.authtype, self.endpoint(client), tls, ap_arn if client.access_point else None,
            client.aclrequired,
        )

    # ---- scenarios ---------------------------------------------------------------------------------------

    def get_object(self, when: datetime) -> list[AccessRecord]:
        client, (key, size) = self.client("read"), self.pick_key()
        query, version = "", None
        if client.authtype == "QueryString":
            query = _presigned_query(self.rng, when)
        elif self.versioned and self.rng.random() < 0.08:
            version = _version_id(self.rng)
            query = f"?versionId={version}"
        roll = self.rng.random()
        status, sent = (200, size) if roll < 0.88 else (206, min(size, 1_048_576)) if roll < 0.94 else (304, None)
        return [self.record(client, when, "REST.GET.OBJECT", key, self.uri(client, "GET", key, query), status,
                            sent=sent, size=size, version=version)]

    def website_get(self, when: datetime) -> list[AccessRecord]:
        key, size = self.pick_key()
        return [self.record(WEB_VISITOR, when, "WEBSITE.GET.OBJECT", key, self.uri(WEB_VISITOR, "GET", key), 200,
                            sent=size, size=size)]

    def put_object(self, when: datetime) -> list[AccessRecord]:
        client, (key, _) = self.client("write"), self.pick_key()
        size = int(self.rng.lognormvariate(11, 2)) + 64
        return [self.record(client, when, "REST.PUT.OBJECT", key, self.uri(client, "PUT", key), 200, size=size)]

    def head_object(self, when: datetime) -> list[AccessRecord]:
        client, (key, size) = self.client("read"), self.pick_key()
        return [self.record(client, when, "REST.HEAD.OBJECT", key, self.uri(client, "HEAD", key), 200, size=size)]

    def list_bucket(self, when: datetime) -> list[AccessRecord]:
        client = DEPLOY if self.profile == "public" else self.client("read")
        prefix = quote(self.pick_key()[0].rsplit("/", 1)[0] + "/", safe="")
        query = f"?list-type=2&prefix={prefix}&delimiter=%2F&encoding-type=url"
        return [self.record(client, when, "REST.GET.BUCKET", None, self.uri(client, "GET", None, query), 200,
                            sent=self.rng.randint(600, 40_000))]

    def copy_object(self, when: datetime) -> list[AccessRecord]:
        """A copy logs the read of the source and the write of the target under one request ID."""
        client, (source, size) = self.client("write"), self.pick_key()
        target = f"archive/{source}"
        uri = self.uri(client, "PUT", target)
        read = self.record(client, when, "REST.COPY.OBJECT_GET", source, uri, 200, size=size)
        return [read, replace(read, operation="REST.COPY.OBJECT", key=target, bytessent=self.rng.randint(220, 260))]

    def delete_object(self, when: datetime) -> list[AccessRecord]:
        client, (key, _) = self.client("write"), self.pick_key()
        return [self.record(client, when, "REST.DELETE.OBJECT", key, self.uri(client, "DELETE", key), 204)]

    def multi_delete(self, when: datetime) -> list[AccessRecord]:
        """POST /?delete, then one BATCH.DELETE.OBJECT line per key with bare '-' URI, referrer and agent."""
        client = self.client("write")
        keys = [key for key, _ in self.rng.sample(self.catalog, self.rng.randint(2, 8))]
        post = self.record(client, when, "REST.POST.MULTI_OBJECT_DELETE", None,
                           self.uri(client, "POST", None, "?delete"), 200, sent=120 + 90 * len(keys))
        batch = [replace(post, operation="BATCH.DELETE.OBJECT", key=key, request_uri=None, httpstatus=204,
                         bytessent=None, objectsize=None, totaltime=None, turnaroundtime=None, referrer=None,
                         useragent=None) for key in keys]
        return [post, *batch]

    def multipart_upload(self, when: datetime) -> list[AccessRecord]:
        client, (key, _) = self.client("write"), self.pick_key()
        upload_id = base64.urlsafe_b64encode(self.rng.randbytes(48)).decode()
        parts = self.rng.randint(2, 5)
        records = [self.record(client, when, "REST.POST.UPLOADS", key, self.uri(client, "POST", key, "?uploads"),
                               200, sent=self.rng.randint(380, 460))]
        for part in range(1, parts + 1):
            query = f"?partNumber={part}&uploadId={upload_id}"
            records.append(self.record(client, when + timedelta(seconds=2 * part), "REST.PUT.PART", key,
                                       self.uri(client, "PUT", key, query), 200, size=8_388_608))
        done = self.record(client, when + timedelta(seconds=2 * parts + 1), "REST.POST.UPLOAD", key,
                           self.uri(client, "POST", key, f"?uploadId={upload_id}"), 200,
                           sent=self.rng.randint(330, 420), size=parts * 8_388_608)
        return [*records, done]

    def access_denied(self, when: datetime) -> list[AccessRecord]:
        """SigV2 writes by a legacy app, anonymous listing attempts, reads without permission."""
        client = self.client("denied")
        key: str | None = self.pick_key()[0]
        if client is LEGACY:
            operation, uri = "REST.PUT.OBJECT", self.uri(client, "PUT", key)
        elif client.requester is None:
            operation, key, uri = "REST.GET.BUCKET", None, self.uri(client, "GET", None, "?list-type=2")
        else:
            operation, uri = "REST.GET.OBJECT", self.uri(client, "GET", key)
        return [self.record(client, when, operation, key, uri, 403, error="AccessDenied", sent=243)]

    def not_found(self, when: datetime) -> list[AccessRecord]:
        client, key = self.client("read"), self.rng.choice(_MISSING_KEYS)
        return [self.record(client, when, "REST.GET.OBJECT", key, self.uri(client, "GET", key), 404,
                            error="NoSuchKey", sent=290 + len(quote(key)))]

    def internal_error(self, when: datetime) -> list[AccessRecord]:
        client, (key, _) = self.client("read"), self.pick_key()
        return [self.record(client, when, "REST.GET.OBJECT", key, self.uri(client, "GET", key), 500,
                            error="InternalError", sent=282)]

    def slowdown_burst(self, when: datetime) -> list[AccessRecord]:
        """A pipeline hammering one prefix: many PUTs within seconds, most answered 503 SlowDown."""
        records = []
        for _ in range(self.rng.randint(12, 40)):
            at = when + timedelta(seconds=self.rng.randint(0, 6))
            key, _ = self.pick_key()
            if self.rng.random() < 0.7:
                records.append(self.record(PIPELINE, at, "REST.PUT.OBJECT", key, self.uri(PIPELINE, "PUT", key),
                                           503, error="SlowDown", sent=203))
            else:
                records.extend(self.put_object(at))
        return sorted(records, key=lambda rec: rec.request_time)

    def lifecycle_batch(self, when: datetime) -> list[AccessRecord]:
        """Lifecycle actions done by S3 itself: no HTTP request, so most fields are '-'."""
        records = []
        for _ in range(self.rng.randint(15, 45)):
            operation = _weighted(self.rng, _LIFECYCLE_OPS[self.profile])
            key, size = self.pick_key()
            no_size = operation in ("S3.CREATE.DELETEMARKER", "S3.DELETE.UPLOAD")
            version = _version_id(self.rng) if self.versioned and "TRANSITION" not in operation else None
            at = when + timedelta(seconds=self.rng.randint(0, 1800))
            records.append(AccessRecord(
                bucketowner=OWNER_CANONICAL_ID, bucket_name=self.bucket, request_time=at, remoteip="-",
                requester="AmazonS3", requestid=_request_id(self.rng), operation=operation, key=key,
                request_uri=None, httpstatus=None, errorcode=None, bytessent=None,
                objectsize=None if no_size else size, totaltime=None, turnaroundtime=None, referrer=None,
                useragent=None, versionid=version, hostid=None, sigv=None, ciphersuite=None, authtype=None,
                endpoint=None, tlsversion=None, accesspointarn=None, aclrequired=None))
        return sorted(records, key=lambda rec: rec.request_time)


def _presigned_query(rng: random.Random, when: datetime) -> str:
    stamp = _as_utc(when) - timedelta(minutes=rng.randint(1, 50))
    credential = f"AKIAIOSFODNN7EXAMPLE%2F{stamp:%Y%m%d}%2F{HOME_REGION}%2Fs3%2Faws4_request"
    return (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date={stamp:%Y%m%dT%H%M%SZ}"
            f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={rng.getrandbits(256):064x}")


# --------------------------------------------------------------------------------------------------------------
# Access log traffic over time
# --------------------------------------------------------------------------------------------------------------

_PROFILE_SHARE = {"data": 0.55, "archive": 0.2, "public": 0.25}


def access_records(rng: random.Random, start: datetime, hours: int, buckets: list[str],
                   per_hour: int) -> Iterator[AccessRecord]:
    """Realistic traffic to ``buckets`` from the hour of ``start``, about ``per_hour`` requests an hour in all.

    Records come in time order; the records of one request (copy pair, multi-object delete) sit together."""
    start = _as_utc(start).replace(minute=0, second=0, microsecond=0)
    traffic = [_BucketTraffic(rng, bucket) for bucket in buckets]
    total_share = sum(_PROFILE_SHARE[t.profile] for t in traffic)
    lifecycle_hour: dict[tuple[str, date], int] = {}
    spill: list[AccessRecord] = []
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        records = spill
        for bucket in traffic:
            wanted = per_hour * _PROFILE_SHARE[bucket.profile] / total_share * _busyness(hour_start)
            records += _hour_of_requests(rng, bucket, hour_start, round(wanted * rng.uniform(0.85, 1.15)))
            if bucket.profile != "public":
                day = (bucket.bucket, hour_start.date())
                if day not in lifecycle_hour:
                    lifecycle_hour[day] = rng.randint(0, 5)
                if lifecycle_hour[day] == hour_start.hour:
                    records += _with_field_count(rng, bucket.lifecycle_batch(hour_start))
        records.sort(key=lambda rec: rec.request_time)
        end = hour_start + timedelta(hours=1)
        yield from (rec for rec in records if rec.request_time < end)
        spill = [rec for rec in records if rec.request_time >= end]
    yield from spill


def _busyness(moment: datetime) -> float:
    """Daily rhythm (busy around 15:00 UTC) and quieter weekends; averages about 1 on weekdays."""
    daily = 1 + 0.6 * math.sin(2 * math.pi * (moment.hour - 9) / 24)
    return daily * (0.7 if moment.weekday() >= 5 else 1.0)


def _hour_of_requests(rng: random.Random, bucket: _BucketTraffic, hour_start: datetime,
                      count: int) -> list[AccessRecord]:
    scenarios = bucket.scenarios()
    records: list[AccessRecord] = []
    while len(records) < count:
        scenario = _weighted(rng, scenarios)
        records += _with_field_count(rng, scenario(hour_start + timedelta(seconds=rng.randrange(3600))))
    return records


def _with_field_count(rng: random.Random, records: list[AccessRecord]) -> list[AccessRecord]:
    """Give one request's records the same line length: mostly 26 fields, a few older or newer formats."""
    n_fields = _weighted(rng, _FIELD_COUNTS)
    for rec in records:
        rec.n_fields = n_fields
        if n_fields == 27 and rec.remoteip != "-":
            rec.source_region = rng.choice((HOME_REGION, "us-west-2", "eu-west-1"))
    return records


# --------------------------------------------------------------------------------------------------------------
# CloudTrail events
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TrailActor:
    """A principal as CloudTrail records it."""

    kind: str
    name: str
    principal_id: str
    access_key: str
    ips: tuple[str, ...]
    user_agent: str
    account_id: str = ACCOUNT_ID
    session_issuer: str = ""
    tls: tuple[str, str] | None = _TLS12


_CT_CONSOLE_UA = f"[{UA_CONSOLE}]"
_TRAIL_ACTORS = {
    "alice": _TrailActor("IAMUser", "alice", "AIDACKCEVSQ6C2EXAMPLE", "AKIAIOSFODNN7EXAMPLE",
                         ALICE.ips, f"[{UA_CLI}]", tls=_TLS13),
    "pipeline": _TrailActor("AssumedRole", "i-0a1b2c3d4e5f67890", "AROADBQP57FF2AEXAMPLE", "ASIAY34FZKBOKMUTVV7A",
                            PIPELINE.ips, f"[{UA_BOTO3}]", session_issuer="DataPipelineRole"),
    "admin": _TrailActor("AssumedRole", "carol@acme.example", "AROA3JSSOEXAMPLE5F2C", "ASIA3JSSOEXAMPLEKEY1",
                         ADMIN.ips, _CT_CONSOLE_UA, session_issuer="AWSReservedSSO_AdministratorAccess_5f2c1d0e9b8a7f6e",
                         tls=_TLS13),
    "root": _TrailActor("Root", "root", ACCOUNT_ID, "ASIAROOTEXAMPLEKEY99", ("203.0.113.9",), _CT_CONSOLE_UA,
                        tls=_TLS13),
    "legacy": _TrailActor("IAMUser", "legacy-reporting", "AIDALEGACYEXAMPLE0001", "AKIALEGACYEXAMPLE001",
                          LEGACY.ips, f"[{UA_PHP}]", tls=_TLS10),
    "cloudtrail": _TrailActor("AWSService", "cloudtrail.amazonaws.com", "", "", ("cloudtrail.amazonaws.com",),
                              "cloudtrail.amazonaws.com"),
    "anonymous": _TrailActor("AWSAccount", "", "", "", BROWSER.ips, f"[{UA_CHROME}]", account_id="anonymous"),
    "anonymous_principal": _TrailActor("AWSAccount", "", "", "", SCANNER.ips, "[curl/8.4.0]",
                                       account_id="ANONYMOUS_PRINCIPAL"),
    "partner": _TrailActor("AWSAccount", "", "AIDAPARTNEREXAMPLE01", "", PARTNER.ips, f"[{UA_JAVA}]",
                           account_id=PARTNER_ACCOUNT_ID),
}

_DATA_MIX: tuple[tuple[tuple[str, tuple[str, ...]], float], ...] = (
    (("GetObject", ("alice", "pipeline", "admin", "partner")), 30),
    (("GetObject", ("anonymous", "anonymous_principal")), 10),
    (("PutObject", ("pipeline", "alice", "cloudtrail")), 18),
    (("HeadObject", ("pipeline", "alice", "admin")), 12),
    (("CopyObject", ("pipeline", "alice")), 3),
    (("DeleteObject", ("alice", "admin", "pipeline")), 4),
    (("DeleteObjects", ("pipeline", "admin")), 1.5),
    (("AccessDenied", ("legacy", "anonymous_principal", "partner", "alice")), 4),
)
_READ_ONLY_MANAGEMENT = ("ListBuckets", "GetBucketLocation", "GetBucketVersioning", "GetBucketAcl",
                         "GetBucketPolicyStatus", "GetBucketEncryption")


def _iso(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


class _TrailEvents:
    """Builds CloudTrail S3 events (real JSON shape) for one account and region."""

    def __init__(self, rng: random.Random, buckets: list[str], account_id: str, region: str) -> None:
        self.rng, self.buckets, self.account_id, self.region = rng, buckets, account_id, region
        self.catalogs = {bucket: _object_catalog(rng, _profile(bucket)) for bucket in buckets}

    def bucket_for(self, profile: str) -> str:
        """The first bucket with the given traffic profile, else the first bucket."""
        return next((b for b in self.buckets if _profile(b) == profile), self.buckets[0])

    def identity(self, actor: _TrailActor, when: datetime) -> dict:
        if actor.kind == "AWSService":
            return {"type": "AWSService", "invokedBy": actor.name}
        if actor.kind == "AWSAccount":
            return {"type": "AWSAccount", "principalId": actor.principal_id, "accountId": actor.account_id}
        arn = {"IAMUser": f"arn:aws:iam::{self.account_id}:user/{actor.name}",
               "Root": f"arn:aws:iam::{self.account_id}:root",
               "AssumedRole": f"arn:aws:sts::{self.account_id}:assumed-role/{actor.session_issuer}/{actor.name}"}
        principal = f"{actor.principal_id}:{actor.name}" if actor.kind == "AssumedRole" else actor.principal_id
        found: dict = {"type": actor.kind, "principalId": principal, "arn": arn[actor.kind], "accountId": self.account_id,
                        "accessKeyId": actor.access_key}
        if actor.kind == "IAMUser":
            found["userName"] = actor.name
        if actor.kind in ("AssumedRole", "Root"):
            found["sessionContext"] = self.session_context(actor, when)
        return found

    def session_context(self, actor: _TrailActor, when: datetime) -> dict:
        started = _as_utc(when).replace(minute=0, second=0) - timedelta(minutes=self.rng.choice((3, 17, 42)))
        context: dict = {"attributes": {"creationDate": _iso(started),
                                        "mfaAuthenticated": "true" if actor.kind == "Root" else "false"}}
        if actor.kind == "AssumedRole":
            context = {"sessionIssuer": {
                "type": "Role", "principalId": actor.principal_id,
                "arn": f"arn:aws:iam::{self.account_id}:role/{actor.session_issuer}",
                "accountId": self.account_id, "userName": actor.session_issuer}, **context}
        return context

    def event(self, when: datetime, name: str, actor_name: str, bucket: str | None, params: dict, *,
              management: bool, response: dict | None = None, error: bool = False,
              bytes_out: int = 0, bytes_in: int = 0, resources: list[dict] | None = None) -> dict:
        """One event with the common fields, in CloudTrail's key order."""
        rng, actor = self.rng, _TRAIL_ACTORS[actor_name]
        host = f"{bucket}.s3.{self.region}.amazonaws.com" if bucket else f"s3.{self.region}.amazonaws.com"
        event: dict = {"eventVersion": "1.09", "userIdentity": self.identity(actor, when), "eventTime": _iso(when),
                       "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": self.region,
                       "sourceIPAddress": rng.choice(actor.ips), "userAgent": actor.user_agent}
        if error:
            event.update(errorCode="AccessDenied", errorMessage="Access Denied")
        event["requestParameters"] = {"bucketName": bucket, "Host": host, **params} if bucket else params
        event["responseElements"] = None if error else response
        event["additionalEventData"] = self.additional_data(actor, bytes_in, bytes_out)
        event.update(requestID=_request_id(rng), eventID=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                     readOnly=name.startswith(("Get", "Head", "List")),
                     resources=resources if resources is not None else self.bucket_resources(bucket),
                     eventType="AwsApiCall", managementEvent=management, recipientAccountId=self.account_id)
        self.add_extras(event, actor_name)
        event["eventCategory"] = "Management" if management else "Data"
        if actor.tls:
            event["tlsDetails"] = {"tlsVersion": actor.tls[0], "cipherSuite": actor.tls[1],
                                   "clientProvidedHostHeader": host}
        return event

    def additional_data(self, actor: _TrailActor, bytes_in: int, bytes_out: int) -> dict:
        data: dict = {} if actor.kind == "AWSAccount" and not actor.principal_id else {
            "SignatureVersion": "SigV2" if actor.name == "legacy-reporting" else "SigV4"}
        data.update(CipherSuite=actor.tls[1] if actor.tls else "", bytesTransferredIn=bytes_in)
        if "SignatureVersion" in data:
            data["AuthenticationMethod"] = "AuthHeader"
        data.update({"x-amz-id-2": _host_id(self.rng), "bytesTransferredOut": bytes_out})
        return data

    def add_extras(self, event: dict, actor_name: str) -> None:
        """Fields outside the usual list: VPC endpoint details and cross-account shared event IDs."""
        if actor_name == "pipeline":
            event.update(vpcEndpointId="vpce-0a1b2c3d4e5f6a7b8", vpcEndpointAccountId=self.account_id)
        if actor_name == "partner":
            event["sharedEventID"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def bucket_resources(self, bucket: str | None) -> list[dict]:
        if bucket is None:
            return []
        return [{"accountId": self.account_id, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]

    def object_resources(self, bucket: str, key: str) -> list[dict]:
        return [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"}, *self.bucket_resources(bucket)]

    # ---- data events -------------------------------------------------------------------------------------

    def data_event(self, when: datetime) -> dict:
        """A random object-level call, weighted the way real traffic is."""
        name, actors = _weighted(self.rng, _DATA_MIX)
        actor = self.rng.choice(actors)
        bucket = {"anonymous": self.bucket_for("public"), "cloudtrail": self.bucket_for("archive")}.get(
            actor, self.rng.choice(self.buckets))
        key, size = self.rng.choice(self.catalogs[bucket])
        if name == "AccessDenied" or (actor.startswith("anonymous") and _profile(bucket) != "public"):
            return self.object_event(when, self.rng.choice(("GetObject", "PutObject", "DeleteObject")), actor,
                                     bucket, key, 0, error=True)
        return self.object_event(when, name, actor, bucket, key, size)

    def object_event(self, when: datetime, name: str, actor: str, bucket: str, key: str, size: int, *,
                     error: bool = False) -> dict:
        params: dict = {"key": key}
        response: dict | None = None
        resources = self.object_resources(bucket, key)
        bytes_in, bytes_out = (size, 0) if name == "PutObject" else (0, size if name == "GetObject" else 0)
        if name == "PutObject":
            response = {"x-amz-server-side-encryption": "AES256"}
            if _profile(bucket) == "data":
                response["x-amz-version-id"] = _version_id(self.rng)
        elif name == "CopyObject":
            params = {"x-amz-copy-source": f"{bucket}/{quote(key)}", "key": f"archive/{key}"}
            response = {"x-amz-server-side-encryption": "AES256", "CopyObjectResult": {
                "ETag": f'"{self.rng.getrandbits(128):032x}"', "LastModified": _iso(when)}}
            resources = self.object_resources(bucket, f"archive/{key}") + resources[:1]
        elif name == "DeleteObjects":
            params = {"delete": ""}
            resources = [{"type": "AWS::S3::Object", "ARNPrefix": f"arn:aws:s3:::{bucket}/"},
                         *self.bucket_resources(bucket)]
        return self.event(when, name, actor, bucket, params, management=False, response=response, error=error,
                          bytes_in=bytes_in, bytes_out=bytes_out if not error else 0, resources=resources)

    def read_only_management(self, when: datetime) -> dict:
        name = self.rng.choice(_READ_ONLY_MANAGEMENT)
        actor = self.rng.choice(("admin", "pipeline", "alice"))
        if name == "ListBuckets":
            return self.event(when, name, actor, None, {"Host": f"s3.{self.region}.amazonaws.com"}, management=True)
        suffix = {"GetBucketLocation": "location", "GetBucketVersioning": "versioning", "GetBucketAcl": "acl",
                  "GetBucketPolicyStatus": "policyStatus", "GetBucketEncryption": "encryption"}[name]
        return self.event(when, name, actor, self.rng.choice(self.buckets), {suffix: ""}, management=True,
                          bytes_out=self.rng.randint(200, 900))

    # ---- bucket configuration changes --------------------------------------------------------------------

    def configuration_story(self, start: datetime, hours: int) -> list[dict]:
        """The bucket-level changes of the period, in a fixed order at random times."""
        steps = self.story_steps()
        seconds = sorted(self.rng.randrange(hours * 3600) for _ in steps)
        return [self.event(start + timedelta(seconds=offset), name, actor, bucket, params, management=True,
                           error=actor == "legacy", resources=[] if bucket is None else None)
                for offset, (name, actor, bucket, params) in zip(seconds, steps, strict=True)]

    def story_steps(self) -> list[tuple[str, str, str | None, dict]]:
        """(eventName, actor, bucket, request body) for each change; some need a data or a public bucket."""
        primary, archive, public = self.buckets[0], self.bucket_for("archive"), self.bucket_for("public")
        has_data, has_public = _profile(primary) == "data", _profile(public) == "public"
        scratch = f"acme-scratch-{self.rng.getrandbits(24):06x}"
        steps = [
            ("CreateBucket", "alice", scratch, self.create_bucket_params(), True),
            ("PutBucketVersioning", "admin", primary, _versioning("Enabled"), has_data),
            ("PutBucketEncryption", "admin", primary, self.encryption_params(), True),
            ("PutBucketTagging", "pipeline", primary, _tagging({"team": "data", "cost-center": "cc-1042"}), True),
            ("PutBucketLifecycle", "admin", archive, _lifecycle(), True),
            ("PutBucketReplication", "admin", primary, self.replication_params(), has_data),
            ("PutAccountPublicAccessBlock", "root", None, _account_public_access_block(self.region),
             self.region == HOME_REGION),
            ("PutBucketPublicAccessBlock", "admin", public, _public_access_block(block_policy=False), has_public),
            ("PutBucketPolicy", "admin", public, _policy_params(_public_read_policy(public)), has_public),
            ("PutBucketAcl", "admin", public, _public_read_acl(), has_public),
            ("PutBucketPolicy", "legacy", primary, _policy_params(_tls_only_policy(primary)), has_data),
            ("DeleteBucketPublicAccessBlock", "alice", scratch, {"publicAccessBlock": ""}, True),
            ("PutBucketVersioning", "pipeline", primary, _versioning("Suspended"), has_data),
            ("DeleteBucketLifecycle", "admin", archive, {"lifecycle": ""}, True),
            ("PutBucketPolicy", "admin", primary, _policy_params(_tls_only_policy(primary)), True),
            ("PutBucketPublicAccessBlock", "admin", scratch, _public_access_block(block_policy=True), True),
            ("DeleteBucketPolicy", "alice", scratch, {"policy": ""}, True),
            ("PutBucketTagging", "alice", scratch, _tagging({"owner": "alice", "purpose": "scratch"}), True),
            ("DeleteBucket", "alice", scratch, {}, True),
        ]
        return [(name, actor, bucket, params) for name, actor, bucket, params, wanted in steps if wanted]

    def create_bucket_params(self) -> dict:
        if self.region == "us-east-1":
            return {}
        return {"CreateBucketConfiguration": {"LocationConstraint": self.region, "xmlns": _XMLNS}}

    def encryption_params(self) -> dict:
        key_arn = f"arn:aws:kms:{self.region}:{self.account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        return {"encryption": "", "ServerSideEncryptionConfiguration": {"xmlns": _XMLNS, "Rule": {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
            "BucketKeyEnabled": True}}}

    def replication_params(self) -> dict:
        return {"replication": "", "ReplicationConfiguration": {
            "xmlns": _XMLNS, "Role": f"arn:aws:iam::{self.account_id}:role/s3-replication-role",
            "Rule": {"ID": "to-eu-backup", "Status": "Enabled", "Priority": 1, "Filter": {"Prefix": ""},
                     "DeleteMarkerReplication": {"Status": "Disabled"},
                     "Destination": {"Bucket": "arn:aws:s3:::acme-eu-backup", "StorageClass": "STANDARD_IA"}}}}


def _versioning(status: str) -> dict:
    return {"versioning": "", "VersioningConfiguration": {"Status": status, "xmlns": _XMLNS}}


def _tagging(tags: dict[str, str]) -> dict:
    tag_list = [{"Key": key, "Value": value} for key, value in tags.items()]
    return {"tagging": "", "Tagging": {"xmlns": _XMLNS, "TagSet": {"Tag": tag_list}}}


def _lifecycle() -> dict:
    rule = {"ID": "archive-then-expire", "Status": "Enabled", "Filter": {"Prefix": "app/"},
            "Transition": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"},
                           {"Days": 180, "StorageClass": "DEEP_ARCHIVE"}],
            "Expiration": {"Days": 365},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}
    return {"lifecycle": "", "LifecycleConfiguration": {"xmlns": _XMLNS, "Rule": rule}}


def _public_access_block(*, block_policy: bool) -> dict:
    return {"publicAccessBlock": "", "PublicAccessBlockConfiguration": {
        "xmlns": _XMLNS, "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": block_policy,
        "RestrictPublicBuckets": block_policy}}


def _account_public_access_block(region: str) -> dict:
    settings = _public_access_block(block_policy=True)["PublicAccessBlockConfiguration"]
    return {"PublicAccessBlockConfiguration": settings, "Host": f"{ACCOUNT_ID}.s3-control.{region}.amazonaws.com"}


def _policy_params(policy: dict) -> dict:
    return {"bucketPolicy": policy, "policy": ""}


def _public_read_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicReadGetObject", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}


def _tls_only_policy(bucket: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def _public_read_acl() -> dict:
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    grants = [
        {"Grantee": {"xmlns:xsi": xsi, "xsi:type": "CanonicalUser", "ID": OWNER_CANONICAL_ID},
         "Permission": "FULL_CONTROL"},
        {"Grantee": {"xmlns:xsi": xsi, "xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ"},
    ]
    return {"acl": "", "AccessControlPolicy": {"xmlns": _XMLNS, "AccessControlList": {"Grant": grants},
                                               "Owner": {"ID": OWNER_CANONICAL_ID}}}


def cloudtrail_records(rng: random.Random, start: datetime, hours: int, buckets: list[str], account_id: str,
                       region: str) -> Iterator[dict]:
    """CloudTrail S3 events (data and management) for ``buckets`` over ``hours``, in time order."""
    start = _as_utc(start).replace(minute=0, second=0, microsecond=0)
    maker = _TrailEvents(rng, list(buckets), account_id, region)
    events = maker.configuration_story(start, max(hours, 1))
    for hour in range(hours):
        hour_start = start + timedelta(hours=hour)
        for _ in range(round(len(buckets) * rng.uniform(5, 12) * _busyness(hour_start))):
            events.append(maker.data_event(hour_start + timedelta(seconds=rng.randrange(3600))))
        if rng.random() < 0.6:
            events.append(maker.read_only_management(hour_start + timedelta(seconds=rng.randrange(3600))))
    yield from sorted(events, key=lambda event: event["eventTime"])


# --------------------------------------------------------------------------------------------------------------
# Writing the demo tree
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DemoSummary:
    """What generate() wrote; access_lines counts every line, the duplicate and the malformed ones included."""

    access_files: int
    access_lines: int
    cloudtrail_files: int
    cloudtrail_events: int
    digest_files: int
    root: Path


def generate(out_dir: Path, seed: int = 7, start: date = date(2024, 3, 1), days: int = 7) -> DemoSummary:
    """Write a week of access logs (``access/``) and CloudTrail logs with digests (``trail/``) under out_dir."""
    rng = random.Random(seed)
    root = Path(out_dir)
    start_time = datetime(start.year, start.month, start.day, tzinfo=UTC)
    access_files, access_lines = _write_demo_access(rng, root / "access", start_time, days)
    trail_files, trail_events, digest_files = _write_demo_trail(rng, root / "trail", start_time, days)
    return DemoSummary(access_files, access_lines, trail_files, trail_events, digest_files, root)


@dataclass
class _LogFile:
    """One delivered log object before it is written."""

    delivered: datetime
    lines: list[str]
    bucket: str = ""


def _write_demo_access(rng: random.Random, folder: Path, start: datetime, days: int) -> tuple[int, int]:
    records = list(access_records(rng, start, days * 24, list(ACCESS_BUCKETS), DEMO_REQUESTS_PER_HOUR))
    files = [log for bucket in ACCESS_BUCKETS
             for log in _delivery_batches(rng, [rec for rec in records if rec.bucket_name == bucket])]
    _log_one_request_twice(files)
    bad_file = files[len(files) // 3]
    _add_malformed_lines(bad_file)
    gzipped = {id(log) for log in files if log is not bad_file and rng.random() < 0.06}
    gzipped |= {id(log) for log in files[1:3]}
    folder.mkdir(parents=True, exist_ok=True)
    for log in files:
        name = f"{log.delivered:%Y-%m-%d-%H-%M-%S}-{rng.getrandbits(64):016X}"
        data = "".join(line + "\n" for line in log.lines).encode()
        if id(log) in gzipped:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
        else:
            (folder / name).write_bytes(data)
    return len(files), sum(len(log.lines) for log in files)


def _delivery_batches(rng: random.Random, records: list[AccessRecord]) -> Iterator[_LogFile]:
    """Cut one bucket's records into log objects of minutes to an hour or two each, delivered a little later."""
    batch: list[AccessRecord] = []
    min_lines, max_lines, max_span = _batch_limits(rng)
    for rec in records:
        span = rec.request_time - batch[0].request_time if batch else timedelta(0)
        if len(batch) >= max_lines or (span > max_span and len(batch) >= min_lines) or span > timedelta(hours=2):
            yield _delivered(rng, batch)
            batch, (min_lines, max_lines, max_span) = [], _batch_limits(rng)
        batch.append(rec)
    if batch:
        yield _delivered(rng, batch)


def _batch_limits(rng: random.Random) -> tuple[int, int, timedelta]:
    """Fewest lines, most lines and usual time span of the next log object."""
    return rng.randint(20, 45), rng.randint(60, 200), timedelta(minutes=rng.randint(10, 40))


def _delivered(rng: random.Random, batch: list[AccessRecord]) -> _LogFile:
    delivered = batch[-1].request_time + timedelta(seconds=rng.randint(60, 900))
    return _LogFile(delivered, [format_access_line(rec) for rec in batch], batch[0].bucket_name)


def _log_one_request_twice(files: list[_LogFile]) -> None:
    """S3 logging is best effort: repeat one line at the top of the bucket's next log object."""
    first, second = files[5], files[6]
    assert first.bucket == second.bucket
    second.lines.insert(0, first.lines[-1])


def _add_malformed_lines(log: _LogFile) -> None:
    """The only bad lines of the demo: one cut off inside the request-URI, and one of garbage."""
    at, model = next((i, line) for i, line in enumerate(log.lines) if '"' in line)
    log.lines.insert(at + 1, model[: model.index('"') + 12])
    log.lines.insert(len(log.lines) // 2, "GARBAGE ### this is not an S3 server access log line ###")


def _write_demo_trail(rng: random.Random, root: Path, start: datetime, days: int) -> tuple[int, int, int]:
    files = events = digests = 0
    for region, buckets in TRAIL_REGIONS.items():
        records = list(cloudtrail_records(rng, start, days * 24, list(buckets), ACCOUNT_ID, region))
        deliveries = _trail_deliveries(rng, records, start)
        if region == HOME_REGION:
            deliveries[6].insert(0, deliveries[5][-1])
        else:
            deliveries.insert(3, [])
        written = [_write_trail_file(rng, root, region, _trail_delivery_time(rng, batch, deliveries, i), batch)
                   for i, batch in enumerate(deliveries)]
        files, events = files + len(written), events + sum(len(batch) for batch in deliveries)
        digests += _write_digests(rng, root, region, start, written)
    return files, events, digests


def _trail_deliveries(rng: random.Random, records: list[dict], start: datetime) -> list[list[dict]]:
    """Group events into 15–60 minute windows, one log file per non-empty window."""
    batches: list[list[dict]] = []
    batch: list[dict] = []
    window_end = start + timedelta(minutes=rng.randint(15, 60))
    for event in records:
        while event["eventTime"] >= _iso(window_end):
            if batch:
                batches.append(batch)
            window_end, batch = window_end + timedelta(minutes=rng.randint(15, 60)), []
        batch.append(event)
    if batch:
        batches.append(batch)
    return batches


def _trail_delivery_time(rng: random.Random, batch: list[dict], batches: list[list[dict]], index: int) -> datetime:
    """A few minutes after the newest event; an empty file borrows its neighbour's time."""
    newest = batch[-1] if batch else batches[index - 1][-1]
    return datetime.fromisoformat(newest["eventTime"]) + timedelta(seconds=rng.randint(120, 600))


@dataclass
class _WrittenTrailFile:
    """What a digest needs to know about a delivered log file."""

    key: str
    delivered: datetime
    sha256: str
    oldest: str | None
    newest: str | None


def _write_trail_file(rng: random.Random, root: Path, region: str, delivered: datetime,
                      batch: list[dict]) -> _WrittenTrailFile:
    unique = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
    key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
           f"{ACCOUNT_ID}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")
    body = _json_bytes({"Records": batch})
    _write_gzip(root / key, body)
    times = sorted(event["eventTime"] for event in batch)
    return _WrittenTrailFile(key, delivered, hashlib.sha256(body).hexdigest(), times[0] if times else None,
                             times[-1] if times else None)


def _write_digests(rng: random.Random, root: Path, region: str, start: datetime,
                   written: list[_WrittenTrailFile]) -> int:
    """Hourly digest files listing the log files delivered in each hour (some list none)."""
    previous: tuple[str, bytes] | None = None
    begin, count, last = start, 0, max(log.delivered for log in written)
    fingerprint = f"{rng.getrandbits(128):032x}"
    while begin <= last:
        end = start + timedelta(hours=count + 1, seconds=rng.randint(0, 240))
        listed = [log for log in written if begin <= log.delivered < end]
        key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{ACCOUNT_ID}_CloudTrail-Digest_"
               f"{region}_{TRAIL_NAME}_{HOME_REGION}_{end:%Y%m%dT%H%M%SZ}.json.gz")
        body = _json_bytes(_digest(rng, key, begin, end, listed, previous, fingerprint))
        _write_gzip(root / key, body)
        previous, begin, count = (key, body), end, count + 1
    return count


def _digest(rng: random.Random, key: str, begin: datetime, end: datetime, listed: list[_WrittenTrailFile],
            previous: tuple[str, bytes] | None, fingerprint: str) -> dict:
    newest = max((log.newest for log in listed if log.newest), default=None)
    oldest = min((log.oldest for log in listed if log.oldest), default=None)
    return {
        "awsAccountId": ACCOUNT_ID, "digestStartTime": _iso(begin), "digestEndTime": _iso(end),
        "digestS3Bucket": TRAIL_BUCKET, "digestS3Object": key, "digestPublicKeyFingerprint": fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": newest, "oldestEventTime": oldest,
        "previousDigestS3Bucket": TRAIL_BUCKET if previous else None,
        "previousDigestS3Object": previous[0] if previous else None,
        "previousDigestHashValue": hashlib.sha256(previous[1]).hexdigest() if previous else None,
        "previousDigestHashAlgorithm": "SHA-256" if previous else None,
        "previousDigestSignature": f"{rng.getrandbits(2048):0512x}" if previous else None,
        "logFiles": [{"s3Bucket": TRAIL_BUCKET, "s3Object": log.key, "hashValue": log.sha256,
                      "hashAlgorithm": "SHA-256", "newestEventTime": log.newest, "oldestEventTime": log.oldest}
                     for log in listed],
    }


def _json_bytes(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _write_gzip(path: Path, body: bytes, level: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body, compresslevel=level, mtime=0))


# --------------------------------------------------------------------------------------------------------------
# Bulk writers for benchmarks
# --------------------------------------------------------------------------------------------------------------


def write_access_logs(out_dir: Path, total_bytes: int, files: int, gzip: bool, seed: int = 1) -> int:
    """Write about total_bytes (uncompressed) of access log lines into ``files`` SimplePrefix objects."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    pools = _access_line_pools(rng, start)
    per_file = max(1, total_bytes // max(files, 1))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines_written = 0
    for index in range(files):
        pool = pools[index % len(pools)]
        count = max(1, round(per_file / pool.mean_length))
        window_start = start + timedelta(minutes=5 * index)
        body = _restamped_lines(rng, pool, window_start, count)
        name = f"{window_start + timedelta(minutes=7):%Y-%m-%d-%H-%M-%S}-{rng.getrandbits(64):016X}"
        if gzip:
            _write_gzip(out_dir / f"{name}.gz", body)
        else:
            (out_dir / name).write_bytes(body)
        lines_written += count
    return lines_written


@dataclass
class _LinePool:
    """Formatted lines of one bucket, split around the bracketed time so it can be re-stamped."""

    heads: list[str]
    tails: list[str]
    mean_length: float


def _access_line_pools(rng: random.Random, start: datetime, size: int = 20_000) -> list[_LinePool]:
    records = access_records(rng, start, 10_000, list(ACCESS_BUCKETS), per_hour=400)
    lines = [format_access_line(rec) for rec, _ in zip(records, range(size), strict=False)]
    pools = []
    for bucket in ACCESS_BUCKETS:
        mine = [line for line in lines if line.split(" ", 2)[1] == bucket]
        cut = [(line[: line.index("[")], line[line.index("]") + 1:] + "\n") for line in mine]
        mean_length = sum(len(line.encode()) + 1 for line in mine) / len(mine)
        pools.append(_LinePool([head for head, _ in cut], [tail for _, tail in cut], mean_length))
    return pools


def _restamped_lines(rng: random.Random, pool: _LinePool, window_start: datetime, count: int) -> bytes:
    """``count`` pool lines in time order across a five-minute window."""
    stamps = [_access_time(window_start + timedelta(seconds=second)) for second in range(300)]
    picks = rng.choices(range(len(pool.heads)), k=count)
    heads, tails = pool.heads, pool.tails
    return "".join([heads[pick] + stamps[i * 300 // count] + tails[pick] for i, pick in enumerate(picks)]).encode()


def write_cloudtrail_logs(out_dir: Path, total_bytes: int, files: int, seed: int = 1) -> int:
    """Write about total_bytes (uncompressed JSON) of CloudTrail events into ``files`` .json.gz log files."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    templates = _event_templates(rng, start)
    mean_length = sum(len(parts[0]) + len(parts[1]) + len(parts[2]) + 57 for parts in templates) / len(templates)
    per_file = max(1, round(total_bytes / max(files, 1) / mean_length))
    events = 0
    for index in range(files):
        window_start = start + timedelta(minutes=5 * index)
        body = _restamped_events(rng, templates, window_start, per_file)
        delivered = window_start + timedelta(minutes=7)
        unique = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
        key = (f"AWSLogs/{ACCOUNT_ID}/CloudTrail/{HOME_REGION}/{delivered:%Y/%m/%d}/"
               f"{ACCOUNT_ID}_CloudTrail_{HOME_REGION}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz")
        _write_gzip(Path(out_dir) / key, body)
        events += per_file
    return events


def _event_templates(rng: random.Random, start: datetime) -> list[tuple[str, str, str]]:
    """Serialized events cut around eventTime and eventID, to be re-stamped cheaply."""
    templates = []
    for event in cloudtrail_records(rng, start, 24, list(ACCESS_BUCKETS), ACCOUNT_ID, HOME_REGION):
        marked = {**event, "eventTime": "@@TIME@@", "eventID": "@@EVENTID@@"}
        before_time, after_time = _json_bytes(marked).decode().split("@@TIME@@")
        middle, end = after_time.split("@@EVENTID@@")
        templates.append((before_time, middle, end))
    return templates


def _restamped_events(rng: random.Random, templates: list[tuple[str, str, str]], window_start: datetime,
                      count: int) -> bytes:
    stamps = [_iso(window_start + timedelta(seconds=second)) for second in range(300)]
    records = []
    for i, (before, middle, end) in enumerate(rng.choices(templates, k=count)):
        records.append(f"{before}{stamps[i * 300 // count]}{middle}{uuid.UUID(int=rng.getrandbits(128), version=4)}{end}")
    return ('{"Records":[' + ",".join(records) + "]}").encode()
