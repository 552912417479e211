from collections.abc import Sequence
from typing import Any

def tokenize(files: Sequence[bytes | memoryview], first_lines: Sequence[int] | None = None) -> dict[str, Any]:
    """Typed column buffers of the access-log lines of some files or slices (each numbered from its first line),
    and the lines left to read carefully."""

def count_line_ends(data: bytes | bytearray | memoryview) -> int:
    """Line ends in the bytes (LF, CRLF counting once, a lone CR), as the tokenizer numbers lines."""
