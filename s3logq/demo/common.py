"""Names shared by the demo generator's modules: accounts, buckets, the trail."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")

ACCOUNT_ID = "111122223333"
PARTNER_ACCOUNT_ID = "444455556666"
OWNER_CANONICAL_ID = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
PARTNER_CANONICAL_ID = "a7c0f3b5e21d4c6f98e1b2d3c4a5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b"
HOME_REGION = "us-east-1"
ACCESS_BUCKETS = ("acme-prod-data", "acme-logs-archive", "acme-public-site")
TRAIL_REGIONS: dict[str, tuple[str, ...]] = {"us-east-1": ACCESS_BUCKETS, "eu-west-1": ("acme-eu-backup",)}
TRAIL_NAME = "acme-org-trail"
TRAIL_BUCKET = "acme-cloudtrail-logs"
DEMO_REQUESTS_PER_HOUR = 140
MALFORMED_ACCESS_LINES = 2
_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

