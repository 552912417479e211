"""The HTML report: one self-contained page (scripts, styles and charts inline) showing a bucket's health."""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath

from s3logq.engines import Engine
from s3logq.lake import Lake
from s3logq.output import WRITERS, check_target, write_bytes
from s3logq.report.data import ReportData, build_report_data
from s3logq.report.render import render_report

DEFAULT_NAME = "s3logq-report.html"
__all__ = ["DEFAULT_NAME", "ReportData", "build_report_data", "render_report", "write_report"]


def write_report(lake: Lake, path: str, since: datetime | None = None, until: datetime | None = None,
                 buckets: tuple[str, ...] | list[str] = (), engine: Engine | None = None) -> str:
    """Build the report for [since, until) and the buckets (on `engine`, DuckDB by default), write it to a local path or s3:// URI (a path
    ending in / gets the file name s3logq-report.html); returns where it was written."""
    check_target(path)  # "s3://" must not become the bucket "s3logq-report.html", nor fail after the work
    suffix = PurePosixPath(path).suffix.lower().lstrip(".")
    if suffix in WRITERS:  # an HTML page under a data format's name would fool whatever opens it
        raise ValueError(f"the report is an HTML page: name it .html, not .{suffix} ({path})")
    if path.endswith("/"):
        path += DEFAULT_NAME
    html = render_report(build_report_data(lake, since, until, buckets, engine))
    return write_bytes(html.encode("utf-8"), path)
