"""Log formats: decompression, type detection and the dates in log file names."""

from __future__ import annotations

import re
import zlib
from datetime import date

from isal import igzip

ACCESS = "access"
CLOUDTRAIL = "cloudtrail"
LOG_TYPES = (ACCESS, CLOUDTRAIL)


class UnreadableFile(ValueError):
    """A source file that cannot be read at all (truncated gzip, binary, not a log)."""


_ACCESS_START = re.compile(rb"^\S+ \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] ")
_SIMPLE_PREFIX_DATE = re.compile(r"(?:^|/)(\d{4}-\d{2}-\d{2})-\d{2}-\d{2}-\d{2}-[^/]*$")
_CLOUDTRAIL_DATE = re.compile(r"_CloudTrail(?:-Digest)?_[a-z0-9-]+_.*?(\d{8})T\d{4,6}Z")
_PARTITION_DATE = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/[^/]*$")


def decompress(data: bytes, name: str) -> bytes:
    """Plain bytes of a possibly gzip-compressed file; a broken gzip stream is an UnreadableFile."""
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return igzip.decompress(data)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        raise UnreadableFile(f"broken gzip data ({error})") from None


def detect_type(data: bytes, name: str) -> str:
    """'access' or 'cloudtrail' from a file's first bytes (its name breaks the tie); UnreadableFile otherwise."""
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 byte order mark is not data
    if head.startswith(b"{"):
        return CLOUDTRAIL
    if _ACCESS_START.match(head):
        return ACCESS
    if b"\x00" in head or not _is_text(head):
        raise UnreadableFile("binary data, not a log file")
    if "CloudTrail" in name:
        return CLOUDTRAIL
    # A text file whose first line is damaged: read it as an access log so each line is judged on its own.
    if re.search(rb"\[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]", head):
        return ACCESS
    raise UnreadableFile("not an S3 access log or CloudTrail file")


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(head) - 4  # a multi-byte character cut at the end of the sample
    return True


def name_date(name: str) -> date | None:
    """The delivery date a log file's name or key carries, if any."""
    for pattern in (_CLOUDTRAIL_DATE, _SIMPLE_PREFIX_DATE):
        match = pattern.search(name)
        if match:
            text = match.group(1).replace("-", "")
            return _date_or_none(int(text[:4]), int(text[4:6]), int(text[6:8]))
    match = _PARTITION_DATE.search(name)
    if match:
        return _date_or_none(*(int(part) for part in match.groups()))
    return None


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
