"""Reading one source file: its bytes, what they are (its content identity), and big files in slices."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xxhash

from s3logq.sources import SourceFile

# Files at least this big (as stored, local or in S3) are read in slices cut at line ends, so that memory does not
# grow with the size of one file and the worker pool shares the file's lines.
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

    def may_hold(self, size: int) -> bool:
        """Whether a content of this many stored bytes is known (else a file of that size cannot repeat one)."""
        with self._lock:
            return any(content.split(":", 2)[1] == str(size) for content in self._owner)

    def release(self, content: str, uri: str) -> None:
        """Give a claim back (the file could not be read), so a readable copy is not taken for a duplicate."""
        with self._lock:
            if self._owner.get(content) == uri:
                del self._owner[content]


def is_big(source: SourceFile) -> bool:
    """Whether a file is read in slices: a big local file, or a big S3 object (streamed, resumed where it broke off)."""
    return source.size >= BIG_FILE_BYTES and (source.path is not None or source.open_stream is not None)


def open_stored(source: SourceFile | Path) -> io.RawIOBase | io.BufferedReader:
    """A readable stream over a file's stored bytes: the local file, or the S3 object."""
    if isinstance(source, Path):
        return open(source, "rb")  # noqa: SIM115 - closed by the reader of the stream
    if source.path is not None:
        return open(source.path, "rb")  # noqa: SIM115
    if source.open_stream is None:
        raise ValueError(f"{source.uri} cannot be streamed")
    return source.open_stream()


def decompressed_blocks(stored: io.RawIOBase | io.BufferedReader) -> Iterator[bytes]:
    """A file's plain bytes, block by block (gzip is decompressed as it streams); closes the stream at its end."""
    with stored:
        yield from _plain_blocks(stored)


def _plain_blocks(raw: io.RawIOBase | io.BufferedReader) -> Iterator[bytes]:
    # peek, not seek: a stream over an S3 object or a hashed read cannot go back
    readable = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    try:
        if readable.peek(2)[:2] != b"\x1f\x8b":
            while block := readable.read(_BLOCK_BYTES):
                yield block
            return
        from isal import igzip

        with igzip.IGzipFile(fileobj=readable) as plain:
            while block := plain.read(_BLOCK_BYTES):
                yield block
    finally:
        if readable is not raw:
            readable.detach()  # a buffer dropped would close `raw`, which its owner still reads (HashedRead.content)


def line_slices_of(source: SourceFile | Path) -> Iterator[tuple[bytes, int]]:
    """A big file's text (local, or streamed from S3) in slices cut at line ends, each with its first line's number."""
    return _slices(decompressed_blocks(open_stored(source)))


def _slices(blocks: Iterator[bytes]) -> Iterator[tuple[bytes, int]]:
    from s3logq.formats.access_log import line_slices

    return line_slices(blocks, SLICE_BYTES, _LONGEST_LINE)


class HashedRead(io.RawIOBase):
    """A big local file read once: its stored bytes are hashed as they pass on their way to be sliced, so its
    content is known at the end without a second pass over the file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._raw = open(path, "rb")  # noqa: SIM115 - closed by content()
        self._digest = xxhash.xxh3_128()
        self._size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        self._digest.update(memoryview(buffer)[:count])
        self._size += count
        return count

    def slices(self) -> Iterator[tuple[bytes, int]]:
        return _slices(_plain_blocks(self))

    def content(self) -> str:
        """The file's content identity: what was not read yet (after a decoding error) is read and hashed too."""
        try:
            while self.read(_BLOCK_BYTES):
                pass
        finally:
            self.close()
        return f"xxh3:{self._size}:{self._digest.hexdigest()}"

    def close(self) -> None:
        self._raw.close()
        super().close()
