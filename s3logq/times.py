"""Parsing the WHEN of --since/--until: YYYY-MM-DD or ISO-8601, UTC when no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime

# A bound is moved by a few days (late delivery, the day before a range): it must stay inside Python's
# calendar (years 1 to 9999) once moved, in UTC.
EARLIEST = datetime(1, 1, 8, tzinfo=UTC)
LATEST = datetime(9999, 12, 24, tzinfo=UTC)


def parse_when(text: str) -> datetime:
    """A timezone-aware datetime; ValueError with a readable message otherwise."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    try:
        in_range = EARLIEST <= moment.astimezone(UTC) <= LATEST
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is in year 10000 in UTC
        in_range = False
    if not in_range:
        raise ValueError(f"{text!r} is outside the times s3logq handles ({EARLIEST.date()} to {LATEST.date()} "
                         "UTC); leave the option out for no bound")
    return moment


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
