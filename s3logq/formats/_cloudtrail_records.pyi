from typing import Any

def read_cloudtrail(data: bytes, layout: tuple[Any, ...]) -> tuple[int, list[Any], bytes, bytes] | None:
    """A CloudTrail file's records as (rows, column buffers, record spans as int64 start/end pairs, numbers of the
    records left to Python as int32), or None to leave the file to Python."""
