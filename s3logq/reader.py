"""Reading one source file: its bytes, what they are (its content identity), and big files in slices."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import xxhash

from s3logq.sources import SourceFile

# Local files at least this big (as stored) are read in slices cut at line ends, so that memory does not grow
# with the size of one file and the worker pool shares the file's lines.
BIG_FILE_BYTES = 64_000_000
SLICE_BYTES = 8_000_000
_BLOCK_BYTES = 4_000_000
# A "line" longer than this is cut anyway: the parser rejects it; memory stays bounded.
_LONGEST_LINE = 4 * SLICE_BYTES


def content_of(source: SourceFile, data: bytes | None = None) -> str:
    """What a file holds, to know it under another name: S3's ETag and size, or a hash of the local bytes."""
    if source.uri.startswith("s3://"):
        return f"etag:{source.size}:{source.version}"
    if data is None:
        raise ValueError("a local file's content needs its bytes")
    return f"xxh3:{len(data)}:{xxhash.xxh3_128_hexdigest(data)}"


def content_of_path(path: Path) -> str:
    """`content_of` for a local file read in blocks (a big file is never held whole)."""
    digest, size = xxhash.xxh3_128(), 0
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK_BYTES):
            digest.update(block)
            size += len(block)
    return f"xxh3:{size}:{digest.hexdigest()}"


class ContentClaims:
    """Which file holds each content; shared by the reading threads, so two copies read at once count once."""

    def __init__(self, known: dict[str, str]) -> None:
        self._owner = dict(known)
        self._lock = threading.Lock()

    def claim(self, content: str, uri: str) -> str | None:
        """None when `uri` is the first with this content; else the uri that has it."""
        with self._lock:
            owner = self._owner.setdefault(content, uri)
        return None if owner == uri else owner

    def release(self, content: str, uri: str) -> None:
        """Give a claim back (the file could not be read), so a readable copy is not taken for a duplicate."""
        with self._lock:
            if self._owner.get(content) == uri:
                del self._owner[content]


def is_big_local(source: SourceFile) -> bool:
    return source.path is not None and source.size >= BIG_FILE_BYTES


def decompressed_blocks(path: Path) -> Iterator[bytes]:
    """A local file's plain bytes, block by block (gzip is decompressed as it streams)."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        if not gzipped:
            while block := raw.read(_BLOCK_BYTES):
                yield block
            return
        from isal import igzip

        with igzip.IGzipFile(fileobj=raw) as plain:
            while block := plain.read(_BLOCK_BYTES):
                yield block


def line_slices(blocks: Iterator[bytes]) -> Iterator[tuple[bytes, int]]:
    """Slices of text cut after a line end, each with the 1-based number of its first line."""
    pieces: list[bytes] = []  # joined once per slice: appending to one bytes object copies it every time
    size = 0
    first_line = 1
    for block in blocks:
        pieces.append(block)
        size += len(block)
        if size < SLICE_BYTES:
            continue
        pending = b"".join(pieces)
        cut = pending.rfind(b"\n") + 1
        if cut == 0 and size < _LONGEST_LINE:
            pieces = [pending]  # one long line so far: wait for its end
            continue
        cut = cut or size
        piece = pending[:cut]
        yield piece, first_line
        first_line += count_lines(piece)
        rest = pending[cut:]
        pieces, size = ([rest], len(rest)) if rest else ([], 0)
    if pieces:
        yield b"".join(pieces), first_line


def count_lines(text: bytes) -> int:
    """Line ends in text as the parsers count them: LF, CRLF and a lone CR each end one line."""
    return text.count(b"\n") + text.count(b"\r") - text.count(b"\r\n")
