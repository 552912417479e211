"""Log files on the local disk: a file, a folder (walked recursively) or a glob."""

from __future__ import annotations

import glob
import os
import stat as file_kinds
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from s3logq.sources import SourceError, SourceFile


def list_local(spec: str) -> Iterator[SourceFile]:
    """Files named by a path, folder or glob, in name order; a spec matching nothing is a SourceError."""
    # a file really called "logs[1].txt" is itself, not a pattern that would not match it
    is_pattern = glob.has_magic(spec) and not os.path.lexists(spec)
    paths = sorted(glob.glob(spec, recursive=True)) if is_pattern else [spec]
    if not paths or not any(os.path.exists(p) for p in paths):
        if os.path.islink(spec):
            raise SourceError(f"broken symbolic link: {spec} -> {os.readlink(spec)}")
        raise SourceError(f"no such file or folder: {spec}")
    for path in paths:
        yield from _walk(Path(path))


def _walk(path: Path) -> Iterator[SourceFile]:
    if path.is_dir():
        unreadable: list[OSError] = []
        for root, dirs, files in os.walk(path, onerror=unreadable.append):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("."):
                    yield _source(Path(root) / name)
        for error in unreadable:  # a folder that cannot be listed fails by name, never silently holds nothing
            yield SourceFile(_uri(Path(os.path.abspath(error.filename or path))), 0, "", partial(_raise, error))
    else:  # a file, or a FIFO, socket or device named directly: _source tells them apart
        yield _source(path)


def _source(path: Path) -> SourceFile:
    try:
        stat = path.stat()
    except OSError as error:  # a broken link in a folder, or a file gone since it was listed: that file fails
        return SourceFile(_uri(Path(os.path.abspath(path))), 0, "", partial(_raise, error))
    kind = _special_kind(stat.st_mode)
    if kind:  # reading a FIFO waits forever, a device such as /dev/zero never ends: never opened
        return SourceFile(_uri(Path(os.path.abspath(path))), 0, "", partial(_refuse, kind))
    return SourceFile(_uri(path.resolve()), stat.st_size, str(stat.st_mtime_ns), partial(_read_regular, path), path)


def _uri(path: Path) -> str:
    """The path as text that can be stored and printed: bytes of a name that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _raise(error: OSError) -> bytes:
    raise error


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file; one replaced by a FIFO or device since it was listed is refused, not read
    (opened without blocking, which a FIFO would do until a writer comes)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(descriptor, "rb") as handle:
        kind = _special_kind(os.fstat(descriptor).st_mode)
        if kind:
            _refuse(kind)
        return handle.read()


def _special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is (None for a regular file)."""
    if file_kinds.S_ISREG(mode):
        return None
    kinds = ((file_kinds.S_ISFIFO, "a FIFO (named pipe)"), (file_kinds.S_ISSOCK, "a socket"),
             (file_kinds.S_ISCHR, "a character device"), (file_kinds.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _refuse(kind: str) -> bytes:
    from s3logq.formats import UnreadableFile

    raise UnreadableFile(f"is {kind}, not a log file: skipped without opening it")
