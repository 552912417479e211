from collections.abc import Sequence
from typing import Any

def tokenize(files: Sequence[bytes]) -> dict[str, Any]:
    """Typed column buffers of the access-log lines of some files, and the lines left to read carefully."""
