"""Where log files come from: local paths and globs, or s3:// prefixes. Both yield SourceFile."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any


class SourceError(Exception):
    """A source that cannot be listed (missing path, no access): one clear line for the user."""


class SourceUnavailable(SourceError):
    """A source named right that cannot be listed now (network, credentials, access): a runtime failure."""


@dataclass(frozen=True)
class SourceFile:
    """One log file: `uri` names it, (`size`, `version`) tell whether it changed since it was ingested."""

    uri: str
    size: int
    version: str  # local: mtime in ns; S3: the ETag
    read: Callable[[], bytes]
    path: Path | None = None  # a local file's path, to read a big one in slices
    open_stream: Callable[[], io.RawIOBase] | None = None  # an S3 object's bytes as a stream, to read a big one in slices


@dataclass(frozen=True)
class DateRange:
    """Days of events wanted; used to skip files whose name says they cannot hold any."""

    first_day: date | None
    last_day: date | None

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None) -> DateRange | None:
        """The UTC days of events in [since, until); None when neither bound is given."""
        if since is None and until is None:
            return None
        first = since.astimezone(UTC).date() if since else None
        last = (until.astimezone(UTC) - timedelta(microseconds=1)).date() if until else None
        return cls(first, last)


def list_sources(specs: list[str], days: DateRange | None = None, buckets: tuple[str, ...] = (),
                 **s3_options: Any) -> Iterator[SourceFile]:
    """Every log file under the given paths, globs or s3:// prefixes."""
    for spec in specs:
        if spec.startswith("s3://"):
            from s3logq.sources import s3

            yield from s3.list_s3(spec, days=days, buckets=buckets, **s3_options)
        else:
            from s3logq.sources import local

            yield from local.list_local(spec)
