from typing import Any

def tokenize(data: bytes) -> dict[str, Any]:
    """Typed column buffers of the access-log lines of a buffer, and the numbers of lines to read carefully."""
