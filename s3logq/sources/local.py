"""Log files on the local disk: a file, a folder (walked recursively) or a glob."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from s3logq.sources import SourceError, SourceFile


def list_local(spec: str) -> Iterator[SourceFile]:
    """Files named by a path, folder or glob, in name order; a spec matching nothing is a SourceError."""
    paths = sorted(glob.glob(spec, recursive=True)) if glob.has_magic(spec) else [spec]
    if not paths or not any(os.path.exists(p) for p in paths):
        raise SourceError(f"no such file or folder: {spec}")
    for path in paths:
        yield from _walk(Path(path))


def _walk(path: Path) -> Iterator[SourceFile]:
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if not name.startswith("."):
                    yield _source(Path(root) / name)
    elif path.is_file():
        yield _source(path)


def _source(path: Path) -> SourceFile:
    stat = path.stat()
    return SourceFile(str(path.resolve()), stat.st_size, str(stat.st_mtime_ns), partial(path.read_bytes))
