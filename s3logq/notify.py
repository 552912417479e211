"""Notifications when an analysis starts, finishes or fails: mailto: (SMTP), sns: (AWS SNS), http(s) webhooks.

A notifier that fails is a warning, never a lost result. Messages hold parameters, row counts, locations
and a few rows; never credentials (SMTP passwords stay in the SMTP session, webhook URLs are not echoed).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:  # `run` hands small previews over as Rows and should not import pyarrow for them
    import pyarrow as pa

    from s3logq.rows import Rows

PREVIEW_ROWS = 5
PREVIEW_COLUMN_WIDTH = 40
SCHEMES = ("mailto:", "sns:", "https://", "http://")
TIMEOUT_SECONDS = 15


class Message(Protocol):
    """What a notifier sends: a subject and a body (mail, SNS) and a JSON payload (webhooks)."""

    def subject(self) -> str: ...

    def body(self) -> str: ...

    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis's outcome: its rows, where they were written, and the first rows to show."""

    analysis: str
    rows: int
    location: str | None = None
    preview: pa.Table | Rows | None = None


@dataclass(frozen=True)
class NotifyEvent:
    """What happened: kind is 'start', 'finish' or 'failure'."""

    kind: str
    analyses: tuple[str, ...]
    buckets: tuple[str, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    results: tuple[AnalysisResult, ...] = ()
    seconds: float | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()  # e.g. "1 log file could not be read"

    def subject(self) -> str:
        what = ", ".join(self.analyses) or "s3logq"
        where = f" on {', '.join(self.buckets)}" if self.buckets else ""
        if self.kind == "start":
            return f"s3logq: {what}{where} started"
        if self.kind == "failure":
            return f"s3logq: {what}{where} FAILED"
        rows = sum(r.rows for r in self.results)
        return f"s3logq: {what}{where} finished: {rows:,} row{'s' if rows != 1 else ''}"

    def body(self) -> str:
        lines = [self.subject(), ""]
        lines += [f"{name}: {value}" for name, value in self.parameters.items()]
        if self.seconds is not None:
            lines.append(f"duration: {self.seconds:.1f} s")
        if self.error:
            lines.append(f"error: {self.error}")
        lines += list(self.notes)
        for result in self.results:
            lines += ["", f"{result.analysis}: {result.rows:,} rows" +
                      (f" -> {result.location}" if result.location else "")]
            if result.preview is not None and result.preview.num_rows:
                lines.append(text_table(result.preview))
        return "\n".join(lines).rstrip() + "\n"

    def payload(self) -> dict[str, Any]:
        """The webhook JSON: Slack-compatible `text`, plus the same facts as fields."""
        return {
            "text": self.body(), "event": self.kind, "subject": self.subject(), "analyses": list(self.analyses),
            "buckets": list(self.buckets), "parameters": self.parameters, "seconds": self.seconds,
            "error": self.error, "notes": list(self.notes),
            "results": [{"analysis": r.analysis, "rows": r.rows, "location": r.location} for r in self.results],
        }


def text_table(table: pa.Table | Rows, limit: int = PREVIEW_ROWS) -> str:
    """The first rows as a fixed-width text table (cells cut at PREVIEW_COLUMN_WIDTH characters)."""
    from s3logq.output import readable

    shown = readable(table.slice(0, limit))
    cells = [[_cell(v) for v in row.values()] for row in shown.to_pylist()]
    header = [name[:PREVIEW_COLUMN_WIDTH] for name in shown.column_names]
    widths = [max(len(c) for c in column) for column in zip(header, *cells, strict=True)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *cells]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if table.num_rows > limit:
        lines.append(f"... {table.num_rows - limit:,} more rows")
    return "\n".join(lines)


def _cell(value: object) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= PREVIEW_COLUMN_WIDTH else text[: PREVIEW_COLUMN_WIDTH - 1] + "…"


def check_targets(targets: list[str]) -> None:
    """ValueError for a --notify target of an unknown kind, before any work starts."""
    for target in targets:
        if not target.startswith(SCHEMES) or target in SCHEMES:
            raise ValueError(f"--notify {shown_target(target)}: expected mailto:ADDRESS, sns:TOPIC-ARN or an "
                             "https:// webhook URL")


def shown_target(target: str) -> str:
    """A target safe to print: a webhook URL's path and query often hold its secret token."""
    if target.startswith(("https://", "http://")):
        parts = urlsplit(target)
        return f"{parts.scheme}://{parts.hostname or ''}/…"
    return target


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def notify(targets: list[str], event: Message, *, endpoint_url: str | None = None,
           profile: str | None = None, on_warning: Callable[[str], None] = _warn) -> list[str]:
    """Send the event to every target; returns the targets that failed (each also a warning)."""
    failed = []
    for target in targets:
        try:
            if target.startswith("mailto:"):
                send_mail(target[len("mailto:"):], event)
            elif target.startswith("sns:"):
                publish_sns(target[len("sns:"):], event, endpoint_url, profile)
            else:
                post_webhook(target, event)
        except Exception as error:  # noqa: BLE001 - a notifier must never lose the result
            failed.append(target)
            on_warning(f"could not notify {shown_target(target)}: {_reason(error)}")
    return failed


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


# --- e-mail ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 0  # 0: 465 with ssl, 587 with starttls, 25 otherwise
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = ""


def smtp_settings(environ: dict[str, str] | None = None, config: Path | None = None) -> SmtpSettings:
    """Settings from ~/.config/s3logq/smtp.toml (host, port, user, password, starttls, ssl, from), each
    overridden by S3LOGQ_SMTP_HOST/PORT/USER/PASSWORD/STARTTLS/SSL/FROM."""
    environ = dict(os.environ) if environ is None else environ
    config = config or Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "s3logq" / "smtp.toml"
    values: dict[str, Any] = tomllib.loads(config.read_text()) if config.is_file() else {}
    for name in ("host", "port", "user", "password", "starttls", "ssl", "from"):
        if f"S3LOGQ_SMTP_{name.upper()}" in environ:
            values[name] = environ[f"S3LOGQ_SMTP_{name.upper()}"]
    return SmtpSettings(
        host=str(values.get("host") or "localhost"), port=int(values.get("port") or 0),
        user=values.get("user") or None, password=values.get("password") or None,
        starttls=_flag(values.get("starttls")), ssl=_flag(values.get("ssl")),
        sender=str(values.get("from") or f"s3logq@{socket.getfqdn()}"))


def _flag(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def send_mail(address: str, event: Message, settings: SmtpSettings | None = None) -> None:
    # mail, TLS and HTTP modules are imported when a notification is sent: `s3logq run` loads this module
    import smtplib
    import ssl
    from email.message import EmailMessage

    settings = settings or smtp_settings()
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = event.subject(), settings.sender, address
    message.set_content(event.body())
    port = settings.port or (465 if settings.ssl else 587 if settings.starttls else 25)
    try:
        if settings.ssl:
            connection: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, port, timeout=TIMEOUT_SECONDS,
                                                        context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(settings.host, port, timeout=TIMEOUT_SECONDS)
    except OSError as error:  # the reason alone ("Connection refused") says neither where nor what to set
        raise OSError(f"SMTP server {settings.host}:{port}: {_reason(error)}; set S3LOGQ_SMTP_HOST and "
                      "S3LOGQ_SMTP_PORT (and _USER, _PASSWORD, _STARTTLS or _SSL, _FROM) or "
                      "~/.config/s3logq/smtp.toml") from None
    with connection:
        if settings.starttls:
            connection.starttls(context=ssl.create_default_context())
        if settings.user:
            connection.login(settings.user, settings.password or "")
        connection.send_message(message)


# --- SNS and webhooks -----------------------------------------------------------------------------------------

def publish_sns(topic_arn: str, event: Message, endpoint_url: str | None = None,
                profile: str | None = None) -> None:
    from s3logq.sources.s3 import make_client

    parts = topic_arn.split(":")
    if len(parts) < 6 or parts[2] != "sns":
        raise ValueError(f"not an SNS topic ARN: {topic_arn}")
    sns = make_client("sns", profile, parts[3], endpoint_url)
    subject = event.subject().encode("ascii", "replace").decode()[:100]  # SNS: ASCII, at most 100 characters
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=event.body())


def post_webhook(url: str, event: Message) -> None:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(event.payload(), default=str).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - user's URL
        response.read()
