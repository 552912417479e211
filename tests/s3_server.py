"""A real moto S3/SNS/SQS server on loopback, wrapped in a WSGI middleware that logs every request the
server saw and injects faults (503 SlowDown, a dropped connection, a body cut short, 403) on chosen GETs.
Also small generators of access-log and CloudTrail objects, and fixtures for the test files to import."""

from __future__ import annotations

import email
import email.policy
import gzip
import http.server
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, unquote

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "eu-west-1")
SOURCE_BUCKETS = ("alpha", "beta")
FIRST_DAY, LAST_DAY = date(2024, 2, 25), date(2024, 3, 14)  # every layout holds one folder/day of these
SIMPLE_FILES_PER_DAY = 36
PARTITIONED_FILES_PER_DAY = 4
TRAIL_FILES_PER_DAY = 8
LINES_PER_FILE = 2
EVENTS_PER_FILE = 2
ORG = "o-abc123def4"


@dataclass(frozen=True)
class SeenRequest:
    method: str
    bucket: str
    key: str
    query: dict[str, str]
    range: str | None = None  # the Range header of a GET
    if_match: str | None = None  # its If-Match header


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


@dataclass
class FaultyS3:
    """Counts what the server saw and injects faults into GET object requests."""

    app: DomainDispatcherApplication
    seen: list[SeenRequest] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)  # key -> faults for its next GETs, in order
    forbidden: set[str] = field(default_factory=set)  # keys every GET of which gets 403
    private_buckets: set[str] = field(default_factory=set)  # buckets every listing of which gets 403
    replacements: dict[str, bytes] = field(default_factory=dict)  # key -> new body, put by its "replace" fault
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict, start_response):  # noqa: ANN204 - WSGI
        path = unquote(environ.get("PATH_INFO", ""))
        bucket, _, key = path.lstrip("/").partition("/")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        request = SeenRequest(environ["REQUEST_METHOD"], bucket, key, query, environ.get("HTTP_RANGE"),
                              environ.get("HTTP_IF_MATCH"))
        with self.lock:
            self.seen.append(request)
            fault = None
            if request.method == "GET" and key and not query:
                fault = "forbidden" if key in self.forbidden else (self.faults.get(key) or [None]).pop(0)
        if request.method == "GET" and not key and "list-type" in query and bucket in self.private_buckets:
            return _error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
        if fault == "slowdown":
            return _error(start_response, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
        if fault == "forbidden":
            return _error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
        if fault == "drop":
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # no response at all
            start_response("500 Dropped", [])  # never reaches the client
            return []
        if fault == "truncate":
            return _cut_short(self.app(environ, start_response), environ)
        if fault == "empty":  # headers, then the connection closes before any byte of the body
            return _cut_short(self.app(environ, start_response), environ, keep=0.0)
        if fault == "replace":  # the object changes (a new ETag) just before this GET is served
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, self.replacements[key])
        return self.app(environ, start_response)

    def object_gets(self, bucket: str | None = None) -> Counter[str]:
        """key -> how many GET object requests the server received for it."""
        with self.lock:
            return Counter(r.key for r in self.seen
                           if r.method == "GET" and r.key and not r.query and bucket in (None, r.bucket))

    def object_requests(self, key: str) -> list[SeenRequest]:
        """The GET object requests for `key`, in order (with their Range and If-Match headers)."""
        with self.lock:
            return [r for r in self.seen if r.method == "GET" and r.key == key and not r.query]

    def listings(self) -> list[dict[str, str]]:
        with self.lock:
            return [r.query for r in self.seen if r.method == "GET" and not r.key and "list-type" in r.query]

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()
            self.faults.clear()
            self.forbidden.clear()
            self.private_buckets.clear()
            self.replacements.clear()


def _error(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>FAULT</RequestId></Error>").encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _cut_short(body, environ: dict, keep: float = 0.5) -> Iterator[bytes]:
    data = b"".join(body)
    yield data[: int(len(data) * keep)]
    environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)  # the client sees a body that broke off


@dataclass
class MotoServer:
    endpoint_url: str
    requests: FaultyS3

    def client(self, service: str = "s3"):
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1")


def start_server() -> tuple[MotoServer, object]:
    """moto on a free loopback port, behind the counting middleware; returns (server, werkzeug server)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ[name] = value
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    middleware = FaultyS3(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, middleware, threaded=True, request_handler=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return MotoServer(f"http://127.0.0.1:{server.server_port}", middleware), server


def ensure_work_group(server: MotoServer, name: str, output_location: str | None = None) -> None:
    """An Athena workgroup on the server, made only when absent: moto's backends are one per process, so a
    workgroup an earlier test module made is still there."""
    athena = server.client("athena")
    if name in [group["Name"] for group in athena.list_work_groups()["WorkGroups"]]:
        return
    configuration = {"ResultConfiguration": {"OutputLocation": output_location}} if output_location else {}
    athena.create_work_group(Name=name, **({"Configuration": configuration} if configuration else {}))


# --- log objects -------------------------------------------------------------------------------------------

def days(first: date = FIRST_DAY, last: date = LAST_DAY) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def delivery_time(day: date, number: int) -> datetime:
    """The n-th delivery of a day: from 00:10, every 20 minutes (all within the day for n < 70)."""
    return datetime(day.year, day.month, day.day, 0, 10) + timedelta(minutes=20 * number)


def access_log_body(bucket: str, delivered: datetime, tag: str, lines: int = LINES_PER_FILE) -> bytes:
    """`lines` GET requests on `bucket`, logged 5 minutes before delivery (same day), unique request IDs."""
    when = (delivered - timedelta(minutes=5)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    rows = []
    for n in range(lines):
        rows.append(
            f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be {bucket} [{when}] 192.0.2.{n + 1} "
            f"arn:aws:iam::111111111111:user/alice {tag}R{n} REST.GET.OBJECT data/{tag}-{n}.csv "
            f'"GET /{bucket}/data/{tag}-{n}.csv HTTP/1.1" 200 - 512 512 12 10 "-" "aws-cli/2.15" - '
            f"HOST{tag}{n}= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader {bucket}.s3.amazonaws.com TLSv1.2 - -")
    return ("\n".join(rows) + "\n").encode()


def cloudtrail_body(account: str, region: str, delivered: datetime, tag: str,
                    events: int = EVENTS_PER_FILE) -> bytes:
    when = (delivered - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [{
        "eventVersion": "1.09", "eventTime": when, "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
        "awsRegion": region, "sourceIPAddress": "192.0.2.7", "userAgent": "aws-cli/2.15",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": account,
                         "arn": f"arn:aws:iam::{account}:user/bob", "userName": "bob"},
        "requestParameters": {"bucketName": "alpha", "key": f"data/{tag}-{n}.csv"},
        "requestID": f"{tag}R{n}", "eventID": f"{tag}-event-{n}", "readOnly": True, "eventType": "AwsApiCall",
        "managementEvent": False, "recipientAccountId": account, "eventCategory": "Data",
    } for n in range(events)]
    return gzip.compress(json.dumps({"Records": records}).encode(), compresslevel=1)


def simple_prefix_objects(prefix: str, bucket: str = "alpha") -> dict[str, bytes]:
    objects = {}
    for day in days():
        for number in range(SIMPLE_FILES_PER_DAY):
            delivered = delivery_time(day, number)
            tag = f"S{delivered:%Y%m%d%H%M}"
            objects[f"{prefix}{delivered:%Y-%m-%d-%H-%M-%S}-{number:04X}ABCD"] = access_log_body(bucket, delivered, tag)
    return objects


def partitioned_objects(prefix: str) -> dict[str, bytes]:
    objects = {}
    for account in ACCOUNTS:
        for region in REGIONS:
            for bucket in SOURCE_BUCKETS:
                for day in days():
                    for number in range(PARTITIONED_FILES_PER_DAY):
                        delivered = delivery_time(day, number)
                        tag = f"P{account[0]}{region[:2]}{bucket[0]}{delivered:%Y%m%d%H%M}"
                        key = (f"{prefix}{account}/{region}/{bucket}/{day:%Y/%m/%d}/"
                               f"{delivered:%Y-%m-%d-%H-%M-%S}-{number:04X}EFGH")
                        objects[key] = access_log_body(bucket, delivered, tag)
    return objects


def cloudtrail_objects(root: str = "AWSLogs/") -> dict[str, bytes]:
    """Trail files of two accounts and two regions under an organization prefix, with hourly-ish digests."""
    objects = {root: b""}  # the folder marker the S3 console leaves
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in days():
                folder = f"{root}{ORG}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                digests = f"{root}{ORG}/{account}/CloudTrail-Digest/{region}/{day:%Y/%m/%d}/"
                for number in range(TRAIL_FILES_PER_DAY):
                    delivered = delivery_time(day, number)
                    tag = f"T{account[0]}{region[:2]}{delivered:%Y%m%d%H%M}"
                    name = f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%M}Z_{number:04X}.json.gz"
                    objects[folder + name] = cloudtrail_body(account, region, delivered, tag)
                for number in range(2):
                    delivered = delivery_time(day, number)
                    name = (f"{account}_CloudTrail-Digest_{region}_trail_{region}_"
                            f"{delivered:%Y%m%dT%H%M%S}Z.json.gz")
                    objects[digests + name] = gzip.compress(b'{"digestStartTime": "x", "logFiles": []}')
    return objects


def upload(server: MotoServer, bucket: str, objects: dict[str, bytes]) -> None:
    """Put objects over HTTP, like any client (about 200 objects/s on moto)."""
    s3 = server.client()
    existing = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()))


def store(server: MotoServer, bucket: str, objects: dict[str, bytes]) -> None:
    """Put objects straight into the in-process moto backend (the server then serves them over HTTP):
    thousands of objects in well under a second, where HTTP puts take ten."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3 = server.client()
    if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
        s3.create_bucket(Bucket=bucket)
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, body in objects.items():
        backend.put_object(bucket, key, body)


@pytest.fixture(scope="session", name="moto_server")
def moto_server_fixture() -> Iterator[MotoServer]:
    """The server with the three layouts uploaded: s3://logs/simple/, s3://logs/partitioned/, s3://trail/AWSLogs/."""
    server, werkzeug_server = start_server()
    store(server, "logs", {**simple_prefix_objects("simple/"), **partitioned_objects("partitioned/")})
    store(server, "trail", cloudtrail_objects())
    yield server
    werkzeug_server.shutdown()


@pytest.fixture(name="s3")
def s3_fixture(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The session's server with its request log and faults cleared before and after the test."""
    moto_server.requests.clear()
    yield moto_server
    moto_server.requests.clear()


# --- mail and webhook receivers ----------------------------------------------------------------------------

@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: email.message.Message


class _MailBox:
    def __init__(self) -> None:
        self.mails: list[ReceivedMail] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(monkeypatch) -> Iterator[_MailBox]:
    """aiosmtpd on loopback; S3LOGQ_SMTP_* point s3logq at it."""
    from aiosmtpd.controller import Controller

    mailbox = _MailBox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("S3LOGQ_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("S3LOGQ_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("S3LOGQ_SMTP_FROM", "s3logq@example.com")
    yield mailbox
    controller.stop()


@dataclass
class WebhookReceiver:
    url: str
    posts: list[dict] = field(default_factory=list)


@pytest.fixture(name="webhook")
def webhook_fixture() -> Iterator[WebhookReceiver]:
    """http.server on loopback: POST /ok records the JSON and answers 200, POST /broken answers 500."""
    receiver = WebhookReceiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.startswith("/broken"):
                self.send_response(500)
            else:
                receiver.posts.append(json.loads(body))
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_port}"
    yield receiver
    server.shutdown()
    server.server_close()


def sns_topic_with_queue(server: MotoServer, name: str) -> tuple[str, str]:
    """(topic ARN, queue URL): an SQS queue subscribed to a new SNS topic, to read what was published."""
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


def sns_messages(server: MotoServer, queue: str) -> list[dict]:
    """Every notification on the queue: SNS's envelope, with Subject and Message."""
    sqs, received = server.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return received
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
