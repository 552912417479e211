from typing import Any

def read_cloudtrail(data: bytes, layout: tuple[Any, ...]) -> tuple[int, list[Any]] | None:
    """A CloudTrail file's records as (rows, column buffers) laid out as given, or None to leave it to Python."""
