"""Realistic S3 server access log records and their exact text form, for the demo, tests and benchmarks."""

from __future__ import annotations

import base64
import math
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from s3logq.demo.common import _MONTHS, ACCOUNT_ID, HOME_REGION, OWNER_CANONICAL_ID, PARTNER_CANONICAL_ID, T

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


