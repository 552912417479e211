"""`s3logq lake push`: publish the lake's parts to S3 as Athena reads them, `PREFIX/<table>/day=YYYY-MM-DD/<part>`
(rejects, which have no day, under `PREFIX/rejects/`), incrementally and only ever deleting what this lake put there.

Ownership is kept in `PREFIX/_s3logq/pushed.json`: the lake's identity and the keys it pushed, with their sizes.
It is written before the uploads (claiming the keys about to be written, so a push killed half way still knows
them as its own) and again after them. A key it does not list is never deleted; a prefix another lake claims
is refused. Every object under a table prefix is a whole part: S3 makes a PUT, and a multipart upload on its
completion, visible at once, and nothing is ever written there under a temporary name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from s3logq.lake import TABLES, Lake, LakeError, Part

RECORD_KEY = "_s3logq/pushed.json"
DAY_TABLES = ("access_log", "cloudtrail")  # partitioned by day; rejects have no day and lie flat
MULTIPART_THRESHOLD = 64 * 1024 * 1024  # parts above it go up in chunks of this size, visible only when complete
DEFAULT_WORKERS = 8


class PushError(LakeError):
    """A push that cannot be done or was refused: one line, and what was (not) written (exit 1)."""


@dataclass
class PushReport:
    """What one push did."""

    target: str
    uploaded: int = 0
    uploaded_bytes: int = 0
    removed: int = 0
    already_there: int = 0
    not_pushed: int = 0  # parts outside the layout Athena reads (a day table's part without a day)
    aborted_uploads: int = 0  # multipart uploads of our keys left incomplete by a push that was killed

    def summary(self) -> str:
        if not (self.uploaded or self.removed):
            text = f"{self.target} is up to date: {self.already_there:,} parts already there, nothing uploaded or removed"
        else:
            text = (f"pushed to {self.target}: {self.uploaded:,} parts uploaded ({_size(self.uploaded_bytes)}), "
                    f"{self.removed:,} removed, {self.already_there:,} already there")
        if self.not_pushed:
            text += f"; {self.not_pushed:,} parts without a day not pushed"
        return text


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.2f} {unit}"
        count /= 1000
    return f"{count:,.2f} TB"


@dataclass(frozen=True)
class PushPlan:
    """What a push must do, worked out from the lake, the objects there and the record of what was pushed."""

    upload: list[Part]
    remove: list[str]  # paths relative to the prefix, all in the record
    already_there: int
    owned_after: dict[str, int]  # the record once the push is done: path -> size
    not_pushed: int


def publishable(part: Part) -> bool:
    """Whether a part lies where Athena's tables read it: `<day table>/day=YYYY-MM-DD/` or `rejects/`."""
    folder = part.path.rsplit("/", 1)[0]
    if part.table_name in DAY_TABLES:
        return part.day is not None and folder == f"{part.table_name}/day={part.day}"
    return part.table_name == "rejects" and folder == "rejects"


def plan_push(parts: list[Part], remote: dict[str, int], owned: dict[str, int]) -> PushPlan:
    """Upload each part not there with its size; remove what the record lists and the lake no longer does.

    `remote` and `owned` map paths relative to the prefix to sizes. A part's key holding an object of another
    size that this lake did not push is someone else's: refused rather than overwritten."""
    kept = [part for part in parts if publishable(part)]
    upload = [part for part in kept if remote.get(part.path) != part.bytes]
    foreign = [part.path for part in upload if part.path in remote and part.path not in owned]
    if foreign:
        raise PushError(f"{foreign[0]} is already there with another size, and this lake did not push it "
                        f"({len(foreign)} such key(s)); nothing was written")
    listed = {part.path for part in kept}
    remove = sorted(path for path in owned if path not in listed)
    uploading = {part.path for part in upload}
    owned_after = {part.path: part.bytes for part in kept if part.path in owned or part.path in uploading}
    return PushPlan(upload, remove, len(kept) - len(upload), owned_after, len(parts) - len(kept))


def push_lake(lake: Lake, uri: str, profile: str | None = None, region: str | None = None,
              endpoint_url: str | None = None, workers: int = DEFAULT_WORKERS,
              multipart_threshold: int = MULTIPART_THRESHOLD,
              on_upload: Callable[[Part], None] | None = None) -> PushReport:
    """Push the lake's parts to `uri` (s3://bucket/prefix/); see the module's docstring for the guarantees."""
    bucket, prefix = _target(uri)
    target = f"s3://{bucket}/{prefix}"
    lake_id = _lake_id(lake)
    parts = [part for table_name in TABLES for part in lake.parts(table_name)]
    for part in parts:
        _check_local(lake, part)
    s3 = _client(profile, region, endpoint_url, workers)
    # the first call with few attempts and a short timeout, as the S3 source's first listing: an endpoint that
    # cannot be reached is said in seconds, not after botocore's ten adaptive attempts
    record = _read_record(_client(profile, region, endpoint_url, 1, quick=True), bucket, prefix, target)
    if record is not None and record["lake_id"] != lake_id:
        raise PushError(f"{target} holds the parts of another lake ({record['lake_id']}, in {RECORD_KEY}); this "
                        f"lake is {lake_id}: push to another prefix; nothing was written")
    owned = record["parts"] if record else {}
    remote = _list_remote(s3, bucket, prefix)
    plan = plan_push(parts, remote, owned)
    report = PushReport(target, already_there=plan.already_there, not_pushed=plan.not_pushed)
    if record is not None and not plan.upload and not plan.remove and plan.owned_after == owned:
        return report  # nothing to do, and nothing written, not even the record
    claimed = owned | {part.path: part.bytes for part in plan.upload}
    _write_record(s3, bucket, prefix, lake_id, claimed)  # before any upload: a killed push knows its keys
    report.aborted_uploads = _abort_incomplete(s3, bucket, prefix, set(claimed))
    _upload(s3, lake, bucket, prefix, plan.upload, workers, multipart_threshold, on_upload)
    report.uploaded, report.uploaded_bytes = len(plan.upload), sum(part.bytes for part in plan.upload)
    _delete(s3, bucket, [prefix + path for path in plan.remove])
    report.removed = sum(1 for path in plan.remove if path in remote)
    _write_record(s3, bucket, prefix, lake_id, plan.owned_after)
    return report


def _target(uri: str) -> tuple[str, str]:
    from s3logq.sources.s3 import split_uri

    try:
        bucket, prefix = split_uri(uri)
    except ValueError as error:
        raise PushError(str(error)) from None
    return bucket, (prefix if not prefix or prefix.endswith("/") else prefix + "/")


def _lake_id(lake: Lake) -> str:
    rows = lake.query("SELECT value FROM meta WHERE key = 'lake_id'")
    if not rows:
        raise PushError(f"the lake {lake.root} has no identity yet (nothing ingested); nothing was pushed")
    return str(rows[0][0])


def _check_local(lake: Lake, part: Part) -> None:
    """A part whose file is not of the size the manifest records is not published (it may be damaged)."""
    file = lake.root / part.path
    try:
        size = file.stat().st_size
    except OSError as error:
        raise PushError(f"cannot read the part {part.path}: {error.strerror or error}; see `s3logq lake check`; "
                        "nothing was pushed") from None
    if size != part.bytes:
        raise PushError(f"the part {part.path} is {size:,} bytes, the manifest says {part.bytes:,}: see "
                        "`s3logq lake check`; nothing was pushed")


def _client(profile: str | None, region: str | None, endpoint_url: str | None, workers: int,
            quick: bool = False) -> Any:
    from s3logq.sources import SourceError
    from s3logq.sources.s3 import FIRST_LISTING_ATTEMPTS, FIRST_LISTING_READ_TIMEOUT_SECONDS, make_client

    try:
        if quick:
            return make_client("s3", profile, region, endpoint_url, workers, FIRST_LISTING_ATTEMPTS,
                               FIRST_LISTING_READ_TIMEOUT_SECONDS)
        return make_client("s3", profile, region, endpoint_url, workers)
    except SourceError as error:
        raise PushError(str(error)) from None


def _read_record(s3: Any, bucket: str, prefix: str, target: str) -> dict | None:
    """The record of what was pushed there; its paths must lie under the table folders (a record that
    names any other key is not trusted to say what may be deleted)."""
    body = _s3_call(lambda: _get_or_none(s3, bucket, prefix + RECORD_KEY), f"read {target}{RECORD_KEY}")
    if body is None:
        return None
    try:
        record = json.loads(body)
        lake_id, parts = str(record["lake_id"]), {str(k): int(v) for k, v in record["parts"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PushError(f"{target}{RECORD_KEY} is not a push record of s3logq; nothing was written") from None
    strange = [path for path in parts if not _inside_tables(path)]
    if strange:
        raise PushError(f"{target}{RECORD_KEY} lists {strange[0]}, outside the table folders; nothing was written")
    return {"lake_id": lake_id, "parts": parts}


def _inside_tables(path: str) -> bool:
    steps = path.split("/")
    return steps[0] in TABLES and len(steps) in (2, 3) and all(s not in ("", ".", "..") for s in steps)


def _get_or_none(s3: Any, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def _write_record(s3: Any, bucket: str, prefix: str, lake_id: str, parts: dict[str, int]) -> None:
    body = json.dumps({"lake_id": lake_id, "parts": dict(sorted(parts.items()))}, indent=1).encode()
    _s3_call(lambda: s3.put_object(Bucket=bucket, Key=prefix + RECORD_KEY, Body=body,
                                   ContentType="application/json"), f"write s3://{bucket}/{prefix}{RECORD_KEY}")


def _list_remote(s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    """path relative to the prefix -> size, of every object under the table folders."""
    found: dict[str, int] = {}
    for table_name in TABLES:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}{table_name}/")
        for page in _s3_call(partial(list, pages), f"list s3://{bucket}/{prefix}{table_name}/"):
            found |= {item["Key"][len(prefix):]: item["Size"] for item in page.get("Contents", [])}
    return found


def _abort_incomplete(s3: Any, bucket: str, prefix: str, ours: set[str]) -> int:
    """Abort the multipart uploads of our keys that a killed push left (invisible, but stored and billed)."""
    uploads = _s3_call(lambda: s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", []),
                       f"list the multipart uploads under s3://{bucket}/{prefix}")
    stale = [u for u in uploads if u["Key"][len(prefix):] in ours]
    for upload in stale:
        _s3_call(partial(s3.abort_multipart_upload, Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]),
                 f"abort an upload of s3://{bucket}/{upload['Key']}")
    return len(stale)


def _upload(s3: Any, lake: Lake, bucket: str, prefix: str, parts: list[Part], workers: int,
            multipart_threshold: int, on_upload: Callable[[Part], None] | None) -> None:
    from boto3.s3.transfer import TransferConfig

    # one thread per part: a part is either wholly there or not at all, whichever way its upload goes
    transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=multipart_threshold,
                              use_threads=False)

    def put(part: Part) -> None:
        key = prefix + part.path
        _s3_call(lambda: s3.upload_file(str(Path(lake.root, part.path)), bucket, key, Config=transfer,
                                        ExtraArgs={"ContentType": "application/vnd.apache.parquet"}),
                 f"upload s3://{bucket}/{key}")
        if on_upload is not None:
            on_upload(part)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(put, parts))


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = keys[start:start + 1000]
        answer = _s3_call(partial(s3.delete_objects, Bucket=bucket,
                                  Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}),
            f"delete {len(batch)} object(s) in s3://{bucket}/")
        if answer.get("Errors"):
            error = answer["Errors"][0]
            raise PushError(f"cannot delete s3://{bucket}/{error['Key']}: {error.get('Code')} (s3:DeleteObject)")


def _s3_call(call: Callable[[], Any], what: str) -> Any:
    """The call's answer; S3's refusals and failures as one PushError line naming what was being done."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    from s3logq.sources.s3 import _botocore_message

    try:
        return call()
    except ClientError as error:
        detail = error.response.get("Error", {})
        raise PushError(f"cannot {what}: {detail.get('Code', 'error')}: "
                        f"{' '.join(str(detail.get('Message', '')).split())}") from None
    except S3UploadFailedError as error:
        raise PushError(f"cannot {what}: {' '.join(str(error).split())}") from None
    except BotoCoreError as error:
        raise PushError(f"cannot {what}: {_botocore_message(error)}") from None
    except OSError as error:
        raise PushError(f"cannot {what}: {error.strerror or error}") from None
