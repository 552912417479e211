"""Parsing the WHEN of --since/--until: YYYY-MM-DD or ISO-8601, UTC when no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_when(text: str) -> datetime:
    """A timezone-aware datetime; ValueError with a readable message otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and since >= until:
        raise ValueError(f"--since ({iso(since)}) must be before --until ({iso(until)})")


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a Z, as every output of s3logq shows times."""
    utc = moment.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"
