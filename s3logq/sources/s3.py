"""Log files in S3: list only the keys a date range needs, read each object with retries, upload results.

Layouts, found from the first folder listing:
- SimplePrefix: `prefix/YYYY-mm-DD-HH-MM-SS-...` objects, listed with StartAfter from the first day.
- PartitionedPrefix: `prefix/account/region/bucket/YYYY/MM/DD/...`, and CloudTrail:
  `AWSLogs/[o-org/]account/CloudTrail/region/YYYY/MM/DD/...`: folders are discovered with Delimiter='/'
  listings, and below a folder of years only the day folders of the range are listed.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from s3logq.formats import UnreadableFile
from s3logq.sources import DateRange, SourceError, SourceFile, SourceUnavailable

DEFAULT_WORKERS = 16
# Keys are dated by delivery: a file can hold requests of the day before its name's day at most this late.
LATE_DELIVERY = timedelta(days=1)
# Reading a body that breaks off half way is not retried by botocore (the call had already returned).
BODY_ATTEMPTS = 5
MULTIPART_THRESHOLD = 8 * 1024 * 1024
# An endpoint that refuses or does not answer is said within ~10 s: the first listing is tried twice with
# short timeouts, before the patient client (adaptive retries, for throttling) takes over.
CONNECT_TIMEOUT_SECONDS = 3
FIRST_LISTING_READ_TIMEOUT_SECONDS = 3
FIRST_LISTING_ATTEMPTS = 2
READ_TIMEOUT_SECONDS = 30
SKIPPED_FOLDERS = frozenset({"CloudTrail-Digest"})  # digests hold no events
_SIMPLE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})-\d{2}-\d{2}-\d{2}-")
_YEAR = re.compile(r"(19|20)\d\d")
# prefix/account/region/<bucket>/ in the PartitionedPrefix layout (CloudTrail has "CloudTrail" after the account)
_PARTITIONED_BUCKET = re.compile(r"(?:^|/)\d{12}/[a-z]{2}(?:-[a-z0-9]+)+/([^/]+)/$")
_CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "parquet": "application/vnd.apache.parquet",
                  "html": "text/html"}


class ObjectReadError(UnreadableFile):
    """An object that could not be fetched, as one line: `AccessDenied (s3:GetObject)`."""


@dataclass
class S3Stats:
    """Requests made while listing and reading, and how many were retried (throttling, dropped connections)."""

    listings: int = 0
    gets: int = 0
    retries: int = 0
    bytes_read: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, listings: int = 0, gets: int = 0, retries: int = 0, bytes_read: int = 0) -> None:
        with self._lock:
            self.listings += listings
            self.gets += gets
            self.retries += retries
            self.bytes_read += bytes_read


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI; ValueError when there is no bucket."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r} (expected s3://bucket/prefix/)")
    return bucket, key


def make_client(service: str = "s3", profile: str | None = None, region: str | None = None,
                endpoint_url: str | None = None, max_pool_connections: int = DEFAULT_WORKERS,
                attempts: int = 10, read_timeout: float = READ_TIMEOUT_SECONDS) -> Any:
    """A boto3 client with adaptive retries; credentials and endpoint come from boto3's usual chain, the region
    also from AWS_REGION (which the AWS CLI and SDKs read and botocore does not)."""
    import os

    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, NoRegionError

    config = Config(retries={"mode": "adaptive", "max_attempts": attempts},
                    connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=read_timeout,
                    max_pool_connections=max(10, max_pool_connections))
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION"))
        return session.client(service, endpoint_url=endpoint_url, config=config)
    except NoRegionError:
        raise SourceError(f"no AWS region for {service}: give --region, or set AWS_REGION, or use a profile "
                          "that has one") from None
    except BotoCoreError as error:  # unknown profile, bad endpoint URL: the message names it, never a secret
        raise SourceError(str(error)) from None


def list_s3(uri: str, days: DateRange | None = None, buckets: tuple[str, ...] = (), profile: str | None = None,
            region: str | None = None, endpoint_url: str | None = None, max_workers: int = DEFAULT_WORKERS,
            stats: S3Stats | None = None) -> Iterator[SourceFile]:
    """Log objects under an s3:// prefix that can hold events of `days`, with `buckets` pruning the
    PartitionedPrefix layout; each SourceFile reads its object with retries."""
    try:
        bucket, prefix = split_uri(uri)
    except ValueError as error:
        raise SourceError(str(error)) from None
    s3 = make_client("s3", profile, region, endpoint_url, max_workers)
    first = make_client("s3", profile, region, endpoint_url, 1, FIRST_LISTING_ATTEMPTS,
                        FIRST_LISTING_READ_TIMEOUT_SECONDS)
    stats = stats if stats is not None else S3Stats()
    lister = _Lister(s3, bucket, days or DateRange(None, None), buckets, stats, max_workers, first)
    for item in lister.walk(prefix):
        key = item["Key"]
        if key.endswith("/"):
            continue  # a "folder" marker object, as the S3 console creates
        etag = item["ETag"].strip('"')
        yield SourceFile(f"s3://{bucket}/{key}", item["Size"], etag, partial(read_object, s3, bucket, key, stats),
                         open_stream=partial(ObjectStream, s3, bucket, key, etag, item["Size"], stats))


class _Lister:
    """Walks a prefix folder by folder, listing only what the date range and buckets need."""

    def __init__(self, s3: Any, bucket: str, days: DateRange, buckets: tuple[str, ...], stats: S3Stats,
                 workers: int, first: Any = None) -> None:
        self.s3, self.bucket, self.days, self.buckets = s3, bucket, days, set(buckets)
        self.stats, self.workers = stats, workers
        self.first = first  # the client of the first listing, quick to give up on an endpoint that is not there

    def walk(self, prefix: str) -> Iterator[dict]:
        pages = self.pages(prefix, delimiter="/")
        first = next(pages)
        if any(_simple_day(item["Key"], prefix) for item in first.get("Contents", [])):
            yield from self.simple_prefix(prefix, first, pages)
            return
        folders: list[str] = []
        for page in (first, *pages):
            yield from page.get("Contents", [])
            folders += [common["Prefix"] for common in page.get("CommonPrefixes", [])]
        years = [f for f in folders if _YEAR.fullmatch(f[len(prefix):-1])]
        if years:
            yield from self.day_folders(prefix, years)
        for folder in folders:
            if folder not in years and not self.pruned(folder):
                yield from self.walk(folder)

    def pruned(self, folder: str) -> bool:
        if folder.rsplit("/", 2)[-2] in SKIPPED_FOLDERS:
            return True
        match = _PARTITIONED_BUCKET.search(folder)
        return bool(self.buckets and match and match.group(1) not in self.buckets)

    def simple_prefix(self, prefix: str, first: dict, rest: Iterator[dict]) -> Iterator[dict]:
        """`prefix/YYYY-mm-DD-...` objects from the first day (a day early) until past the last day."""
        if self.days.first_day is None and self.days.last_day is None:
            for page in (first, *rest):
                yield from page.get("Contents", [])
            return
        start_after = prefix + (self.days.first_day - LATE_DELIVERY).isoformat() if self.days.first_day else ""
        last = self.days.last_day + LATE_DELIVERY if self.days.last_day else None
        for page in self.pages(prefix, delimiter="/", start_after=start_after):
            for item in page.get("Contents", []):
                day = _simple_day(item["Key"], prefix)
                if day is None:
                    continue
                if last is not None and day > last:
                    return  # keys are listed in order: nothing later can be in the range
                yield item

    def day_folders(self, root: str, years: list[str]) -> Iterator[dict]:
        """Objects of `root/YYYY/MM/DD/`, listing only the days of the range (all of them without one)."""
        first_day, last_day = self.days.first_day, self.days.last_day
        if first_day is None:
            for year in years:
                yield from self.objects(year)
            return
        last = (last_day or datetime.now(UTC).date()) + LATE_DELIVERY
        present = {y[len(root):-1] for y in years}
        wanted = [f"{root}{day:%Y/%m/%d}/" for day in _days(first_day, last) if f"{day:%Y}" in present]
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(wanted)))) as pool:
            for items in pool.map(lambda p: list(self.objects(p)), wanted):
                yield from items

    def objects(self, prefix: str) -> Iterator[dict]:
        for page in self.pages(prefix):
            yield from page.get("Contents", [])

    def pages(self, prefix: str, delimiter: str = "", start_after: str = "") -> Iterator[dict]:
        arguments = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            arguments["Delimiter"] = delimiter
        if start_after:
            arguments["StartAfter"] = start_after
        while True:
            page = self.list_page(arguments)
            yield page
            if not page.get("IsTruncated"):
                return
            arguments["ContinuationToken"] = page["NextContinuationToken"]

    def list_page(self, arguments: dict) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        where = f"s3://{self.bucket}/{arguments['Prefix']}"
        client, self.first = self.first or self.s3, None
        try:
            page = client.list_objects_v2(**arguments)
        except ClientError as error:
            raise SourceUnavailable(_listing_error(error, self.bucket, where, client.meta.endpoint_url)) from None
        except BotoCoreError as error:
            raise SourceUnavailable(f"cannot list {where}: "
                                    f"{_botocore_message(error, client.meta.endpoint_url)}") from None
        self.stats.add(listings=1, retries=page["ResponseMetadata"].get("RetryAttempts", 0))
        return page


def _simple_day(key: str, prefix: str) -> date | None:
    match = _SIMPLE_NAME.match(key, len(prefix))
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def read_object(s3: Any, bucket: str, key: str, stats: S3Stats | None = None) -> bytes:
    """The object's bytes; botocore retries throttling and failed requests, a body cut short is fetched again.
    Failures raise ObjectReadError with one line such as `AccessDenied (s3:GetObject)`."""
    from botocore.exceptions import BotoCoreError, ClientError

    stats = stats if stats is not None else S3Stats()
    for attempt in range(1, BODY_ATTEMPTS + 1):
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
            data = response["Body"].read()
        except ClientError as error:
            stats.add(retries=error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            raise ObjectReadError(_object_error(error)) from None
        except BotoCoreError as error:  # connection dropped mid-body, read timeout, retries exhausted
            if attempt == BODY_ATTEMPTS:
                raise ObjectReadError(f"{_botocore_message(error)} (after {attempt} attempts)") from None
            stats.add(retries=1)
            time.sleep(min(2.0, 0.1 * 2 ** attempt))
            continue
        stats.add(gets=1, retries=response["ResponseMetadata"].get("RetryAttempts", 0), bytes_read=len(data))
        return data
    raise AssertionError("unreachable")


class _CutShort(Exception):
    """A body that ended before the object's size."""


class ObjectStream(io.RawIOBase):
    """An object's bytes as a stream, for big objects: where the body breaks off (connection dropped, cut short), it
    goes on with a ranged GET from the byte it had reached, pinned to the listed ETag, so a changed object is never
    read half old, half new. Failures raise ObjectReadError with one line."""

    def __init__(self, s3: Any, bucket: str, key: str, etag: str, size: int, stats: S3Stats | None = None) -> None:
        super().__init__()
        self._s3, self._bucket, self._key, self._etag, self._size = s3, bucket, key, etag, size
        self._stats = stats if stats is not None else S3Stats()
        self._body: Any = None
        self._offset = 0  # bytes delivered so far: where a resumed GET starts
        self._failures = 0  # body failures since the last byte received: BODY_ATTEMPTS of them in a row give up

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from botocore.exceptions import BotoCoreError

        if self._offset >= self._size or not len(buffer):
            return 0
        while True:
            try:
                if self._body is None:
                    self._body = self._get()
                count = self._body.readinto(buffer)
                if not count:  # the body ended before the listed size without botocore noticing
                    raise _CutShort(f"body cut short at byte {self._offset:,} of {self._size:,}")
            except (BotoCoreError, _CutShort) as error:
                self._body = None
                self._failures += 1
                if self._failures == BODY_ATTEMPTS:
                    what = _botocore_message(error) if isinstance(error, BotoCoreError) else str(error)
                    raise ObjectReadError(f"{what} (after {BODY_ATTEMPTS} attempts at byte {self._offset:,})") \
                        from None
                self._stats.add(retries=1)
                time.sleep(min(2.0, 0.1 * 2 ** self._failures))
                continue
            self._offset += count
            self._failures = 0
            self._stats.add(bytes_read=count)
            if self._offset >= self._size:
                self._stats.add(gets=1)
                self._body = None
            return count

    def _get(self) -> Any:
        from botocore.exceptions import ClientError

        arguments = {"Bucket": self._bucket, "Key": self._key, "IfMatch": f'"{self._etag}"'}
        if self._offset:
            arguments["Range"] = f"bytes={self._offset}-"
        try:
            response = self._s3.get_object(**arguments)
        except ClientError as error:
            self._stats.add(retries=error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
            if _error_code(error) in ("PreconditionFailed", "412"):
                raise ObjectReadError(f"changed since it was listed (its ETag is no longer {self._etag}; "
                                      f"read up to byte {self._offset:,})") from None
            raise ObjectReadError(_object_error(error)) from None
        self._stats.add(retries=response["ResponseMetadata"].get("RetryAttempts", 0))
        return response["Body"]

    def close(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None
        super().close()


def _error_code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code") or "error")


def _object_error(error: Any) -> str:
    code = _error_code(error)
    if code in ("AccessDenied", "403", "Forbidden"):
        return "AccessDenied (s3:GetObject)"
    if code in ("NoSuchKey", "404"):
        return "NoSuchKey (deleted since it was listed)"
    attempts = error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    return code + (f" (after {attempts + 1} attempts)" if attempts else "")


def _listing_error(error: Any, bucket: str, where: str, endpoint: str = "") -> str:
    code = _error_code(error)
    if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
        return f"access denied listing {where}: needs s3:ListBucket on bucket {bucket}"
    if code == "NoSuchBucket":
        return f"no such bucket: {bucket}"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return f"the AWS credentials were refused ({code}) listing {where} at {endpoint}"
    return f"cannot list {where}: {code}"


def _botocore_message(error: Exception, endpoint: str = "") -> str:
    """One line; an endpoint that cannot be reached is named without the request's query string."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials found (use --profile, AWS_PROFILE, environment variables or `aws sso login`)"
    if endpoint and isinstance(error, ConnectionError | ReadTimeoutError | ConnectionClosedError):
        what = {ReadTimeoutError: "no answer", ConnectionClosedError: "connection closed"}.get(
            type(error), "cannot connect")
        return f"the S3 endpoint {endpoint} cannot be reached ({what}: {type(error).__name__})"
    return str(error)


def upload_bytes(data: bytes, target: str, profile: str | None = None, region: str | None = None,
                 endpoint_url: str | None = None) -> str:
    """Write bytes to an s3:// URI (multipart above MULTIPART_THRESHOLD); returns the URI."""
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    from s3logq.output import OutputError

    try:
        bucket, key = split_uri(target)
    except ValueError as error:
        raise OutputError(str(error)) from None
    if not key or key.endswith("/"):
        raise OutputError(f"{target} names a folder; give a file name such as {target.rstrip('/')}/result.csv")
    try:
        s3 = make_client("s3", profile, region, endpoint_url)
    except SourceError as error:
        raise OutputError(str(error)) from None
    transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)
    content_type = _CONTENT_TYPES.get(key.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    try:
        s3.upload_fileobj(io.BytesIO(data), bucket, key, ExtraArgs={"ContentType": content_type}, Config=transfer)
    except (S3UploadFailedError, ClientError) as error:
        text = str(error)
        if "AccessDenied" in text or "Forbidden" in text:
            raise OutputError(f"cannot write {target}: AccessDenied (s3:PutObject)") from None
        code = re.search(r"\((\w+)\)", text)
        raise OutputError(f"cannot write {target}: {code.group(1) if code else text}") from None
    except BotoCoreError as error:
        raise OutputError(f"cannot write {target}: {_botocore_message(error)}") from None
    return f"s3://{bucket}/{key}"
