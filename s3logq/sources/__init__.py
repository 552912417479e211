"""Where log files come from: local paths and globs, or s3:// prefixes. Both yield SourceFile."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date


class SourceError(Exception):
    """A source that cannot be listed (missing path, no access): one clear line for the user."""


@dataclass(frozen=True)
class SourceFile:
    """One log file: `uri` names it, (`size`, `version`) tell whether it changed since it was ingested."""

    uri: str
    size: int
    version: str  # local: mtime in ns; S3: the ETag
    read: Callable[[], bytes]


@dataclass(frozen=True)
class DateRange:
    """Days of events wanted; used to skip files whose name says they cannot hold any."""

    first_day: date | None
    last_day: date | None


def list_sources(specs: list[str], days: DateRange | None = None, buckets: tuple[str, ...] = (),
                 **s3_options: object) -> Iterator[SourceFile]:
    """Every log file under the given paths, globs or s3:// prefixes."""
    for spec in specs:
        if spec.startswith("s3://"):
            from s3logq.sources import s3

            yield from s3.list_s3(spec, days=days, buckets=buckets, **s3_options)
        else:
            from s3logq.sources import local

            yield from local.list_local(spec)
