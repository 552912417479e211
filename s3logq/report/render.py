"""ReportData -> one HTML page: Plotly figures (plotly.js's basic bundle inlined once), cards, findings and
sortable, filterable tables."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources

import jinja2
import plotly.graph_objects as go
from markupsafe import Markup

from s3logq.report.data import BucketTraffic, ConfigChange, PrincipalCount, ReportData, Summary, TimeCount
from s3logq.times import iso

STATUS_COLOURS = {"2xx": "#2e9d5b", "3xx": "#3b7dd8", "4xx": "#e8a33d", "5xx": "#d64545", "no status": "#9aa3ad"}
LIFECYCLE_PALETTE = ["#6a4c93", "#1982c4", "#8ac926", "#ffca3a", "#ff924c", "#ff595e", "#52a675", "#4267ac",
                     "#b5a6c9"]
ERROR_PALETTE = ["#e8a33d", "#d64545", "#8e5ea2", "#3b7dd8", "#52a675", "#ff924c", "#4267ac", "#b5a6c9",
                 "#9aa3ad", "#6a4c93"]
DELETION_COLOURS = {"DeleteObject (API)": "#d64545", "DeleteObjects, one per key (API)": "#ff924c",
                    "Lifecycle expiration": "#6a4c93", "Lifecycle delete marker": "#b5a6c9"}
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
_CHART_HEIGHT = 380
# plotly.js's "basic" bundle (bar, scatter, pie; 1.2 MB against 4.8 MB for the full one), from the npm package
# plotly.js-basic-dist-min, the version the plotly Python package ships: every trace the report draws is in it.
PLOTLY_BUNDLE = "plotly-basic.min.js"


@dataclass(frozen=True)
class Card:
    title: str
    value: str
    detail: str
    anchor: str
    alert: bool = False


@dataclass(frozen=True)
class Chart:
    id: str
    figure_json: Markup


def render_report(data: ReportData) -> str:
    """The whole page as one string; it loads nothing from anywhere."""
    template = _environment().from_string(_package_text("template.html.j2"))
    return template.render(
        data=data, cards=summary_cards(data.summary, data), charts=_charts(data),
        plotly_js=Markup(_plotly_js()), severities=severity_counts(data), bytes_text=bytes_text, css=Markup(_package_text("report.css")), iso=iso,
        range_text=_range_text(data), bucket_text=_bucket_text(data), short=short_principal)


def summary_cards(summary: Summary, data: ReportData) -> list[Card]:
    """The cards at the top of the page, each pointing to the section that explains it."""
    has_access = "access" in data.log_types
    has_trail = "cloudtrail" in data.log_types
    none_access = "no access logs"

    def rate(count: int) -> str:
        value = summary.rate(count)
        return "–" if value is None else f"{value:.1%}"

    p99 = "–" if summary.p99_ms is None else f"{summary.p99_ms:,.0f} ms"
    anonymous_detail = "requests with no identity" if has_access else none_access
    if has_trail:
        anonymous_detail += f"; {summary.trail_anonymous:,} in CloudTrail"
    severities = severity_counts(data)
    findings_detail = (" · ".join(f"{count:,} {severity}" for severity, count in severities.items())
                       if severities else "none found" if not data.findings_error else "detections could not run")
    return [
        Card("Findings", f"{data.findings_total:,}", findings_detail, "findings",
             alert=bool(severities.get("critical") or severities.get("high") or data.findings_error)),
        Card("Requests", f"{summary.requests:,}", "access-log requests" if has_access else none_access, "traffic"),
        Card("4xx rate", rate(summary.errors_4xx), f"{summary.errors_4xx:,} client errors", "traffic",
             alert=(summary.rate(summary.errors_4xx) or 0) > 0.05),
        Card("403 rate", rate(summary.denied_403),
             f"{summary.denied_403:,} denied" + (f"; {summary.trail_denied:,} AccessDenied in CloudTrail"
                                                 if has_trail else ""), "denied",
             alert=bool(summary.denied_403 or summary.trail_denied)),
        Card("5xx rate", rate(summary.errors_5xx), f"{summary.errors_5xx:,} server errors", "traffic",
             alert=(summary.rate(summary.errors_5xx) or 0) > 0.01),
        Card("Deletions", f"{summary.deletions_api + summary.deletions_lifecycle:,}",
             f"{summary.deletions_api:,} by API · {summary.deletions_lifecycle:,} by lifecycle", "deletions"),
        Card("Config changes", f"{summary.config_changes:,}" if has_trail else "–",
             (_plural(summary.config_changes_denied, "denied attempt") if has_trail else "no CloudTrail ingested"),
             "config", alert=bool(summary.config_changes_denied)),
        Card("Anonymous", f"{summary.anonymous:,}", anonymous_detail, "requesters", alert=bool(summary.anonymous)),
        Card("p99 latency", p99, "total time, all requests", "latency"),
    ]


def severity_counts(data: ReportData) -> dict[str, int]:
    """Findings per severity, most severe first, over every finding (not only those shown)."""
    return {severity: data.findings_by_severity[severity] for severity in SEVERITY_ORDER
            if data.findings_by_severity.get(severity)}


def bytes_text(count: int) -> str:
    """1,234,567 -> '1.2 MB': decimal units, as S3's console shows them."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count:,} B"


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _charts(data: ReportData) -> dict[str, Chart]:
    figures = {
        "traffic": traffic_figure(data.traffic, data.period_unit) if data.traffic else None,
        "buckets": buckets_figure(data.bucket_traffic) if data.bucket_traffic else None,
        "errors": stacked_figure(data.error_codes, f"errors per {data.period_unit}",
                                 dict(zip(_by_total(data.error_codes), ERROR_PALETTE * 10, strict=False)))
        if data.error_codes else None,
        "deletions": stacked_figure(data.deletions, f"objects deleted per {data.period_unit}", DELETION_COLOURS)
        if data.deletions else None,
        "requesters": requesters_figure(data.top_requesters) if data.top_requesters else None,
        "denied": denied_figure(data.denied) if data.denied else None,
        "latency": latency_figure(data) if data.latency else None,
        "lifecycle": lifecycle_figure(data.lifecycle, data.lifecycle_unit) if data.lifecycle else None,
        "config": config_figure(data.config_changes) if data.config_changes else None,
    }
    return {name: Chart(f"chart-{name}", _figure_json(fig)) for name, fig in figures.items() if fig is not None}


def traffic_figure(traffic: list[TimeCount], unit: str) -> go.Figure:
    """Stacked bars: requests per period, one colour per status class."""
    figure = go.Figure()
    for kind, periods, counts in _series(traffic, sorted(STATUS_COLOURS)):
        figure.add_bar(x=periods, y=counts, name=kind, marker_color=STATUS_COLOURS.get(kind, "#777"),
                       hovertemplate=f"%{{x}}<br>{kind}: %{{y:,}}<extra></extra>")
    return _layout(figure, barmode="stack", yaxis_title=f"requests per {unit}")


def buckets_figure(buckets: list[BucketTraffic]) -> go.Figure:
    """Horizontal bars per bucket: requests, split into succeeded and errors, bytes sent in the hover."""
    ordered = list(reversed(buckets))
    names = [b.bucket for b in ordered]
    sent = [bytes_text(b.bytes_sent) for b in ordered]
    figure = go.Figure()
    for label, colour, values in (
            ("succeeded", STATUS_COLOURS["2xx"], [b.requests - b.errors_4xx - b.errors_5xx for b in ordered]),
            ("4xx", STATUS_COLOURS["4xx"], [b.errors_4xx for b in ordered]),
            ("5xx", STATUS_COLOURS["5xx"], [b.errors_5xx for b in ordered])):
        figure.add_bar(y=names, x=values, orientation="h", name=label, marker_color=colour, customdata=sent,
                       hovertemplate=f"%{{y}}<br>{label}: %{{x:,}}<br>sent %{{customdata}}<extra></extra>")
    return _layout(figure, barmode="stack", xaxis_title="requests", height=_bar_height(len(ordered)))


def stacked_figure(counts: list[TimeCount], axis_title: str, colours: dict[str, str]) -> go.Figure:
    """Stacked bars over time, one colour per kind, the most frequent kind first."""
    figure = go.Figure()
    for kind, periods, values in _series(counts, _by_total(counts)):
        figure.add_bar(x=periods, y=values, name=kind, marker_color=colours.get(kind, "#777"),
                       hovertemplate=f"%{{x}}<br>{kind}: %{{y:,}}<extra></extra>")
    return _layout(figure, barmode="stack", yaxis_title=axis_title)


def _by_total(counts: list[TimeCount]) -> list[str]:
    totals: dict[str, int] = defaultdict(int)
    for row in counts:
        totals[row.kind] += row.count
    return sorted(totals, key=lambda kind: (-totals[kind], kind))


def requesters_figure(requesters: list[PrincipalCount]) -> go.Figure:
    ordered = list(reversed(requesters))  # largest at the top of a horizontal bar chart
    labels = [short_principal(r.principal) for r in ordered]
    full = [r.principal for r in ordered]
    figure = go.Figure()
    figure.add_bar(y=labels, x=[r.requests - r.errors for r in ordered], orientation="h", name="succeeded",
                   marker_color=STATUS_COLOURS["2xx"], customdata=full,
                   hovertemplate="%{customdata}<br>succeeded: %{x:,}<extra></extra>")
    figure.add_bar(y=labels, x=[r.errors for r in ordered], orientation="h", name="errors (4xx/5xx)",
                   marker_color=STATUS_COLOURS["4xx"], customdata=full,
                   hovertemplate="%{customdata}<br>errors: %{x:,}<extra></extra>")
    return _layout(figure, barmode="stack", xaxis_title="requests", height=_bar_height(len(ordered)))


def denied_figure(denied: list[PrincipalCount]) -> go.Figure:
    totals: dict[str, int] = defaultdict(int)
    for row in denied:
        totals[row.principal] += row.requests
    principals = sorted(totals, key=lambda p: (totals[p], p))
    figure = go.Figure()
    for source, colour in (("access logs", STATUS_COLOURS["4xx"]), ("CloudTrail", "#8e5ea2")):
        counts = {r.principal: r.requests for r in denied if r.source == source}
        if counts:
            figure.add_bar(y=[short_principal(p) for p in principals], x=[counts.get(p, 0) for p in principals],
                           orientation="h", name=f"{source}", marker_color=colour, customdata=principals,
                           hovertemplate=f"%{{customdata}}<br>{source}: %{{x:,}}<extra></extra>")
    return _layout(figure, barmode="stack", xaxis_title="denied requests (403 / AccessDenied)",
                   height=_bar_height(len(principals)))


def latency_figure(data: ReportData) -> go.Figure:
    ordered = list(reversed(data.latency))
    figure = go.Figure()
    for name, colour, attribute in (("p50", "#8ecae6", "p50_ms"), ("p90", "#219ebc", "p90_ms"),
                                    ("p99", "#023047", "p99_ms")):
        figure.add_bar(y=[o.operation for o in ordered], x=[getattr(o, attribute) for o in ordered],
                       orientation="h", name=name, marker_color=colour,
                       customdata=[o.requests for o in ordered],
                       hovertemplate=f"%{{y}}<br>{name}: %{{x:,.1f}} ms<br>%{{customdata:,}} requests<extra></extra>")
    # Log scale: a p99 of seconds must not flatten a p50 of milliseconds.
    figure = _layout(figure, barmode="group", xaxis_title="total time (ms, log scale)",
                     height=_bar_height(len(ordered), 36))
    figure.update_xaxes(type="log")
    return figure


def lifecycle_figure(lifecycle: list[TimeCount], unit: str) -> go.Figure:
    figure = go.Figure()
    kinds = sorted({t.kind for t in lifecycle})
    for index, (kind, periods, counts) in enumerate(_series(lifecycle, kinds)):
        figure.add_bar(x=periods, y=counts, name=kind, marker_color=LIFECYCLE_PALETTE[index % len(LIFECYCLE_PALETTE)],
                       hovertemplate=f"%{{x}}<br>{kind}: %{{y:,}}<extra></extra>")
    return _layout(figure, barmode="stack", yaxis_title=f"lifecycle actions per {unit}")


def config_figure(changes: list[ConfigChange]) -> go.Figure:
    """A timeline: one marker per change, one row per bucket; denied attempts drawn as crosses."""
    figure = go.Figure()
    for label, symbol, colour, wanted in (("changed", "circle", "#3b7dd8", False),
                                          ("denied attempt", "x", "#d64545", True)):
        shown = [c for c in changes if bool(c.error) == wanted]
        if not shown:
            continue
        figure.add_scatter(
            x=[c.event_time for c in shown], y=[c.bucket for c in shown], mode="markers", name=label,
            marker={"symbol": symbol, "size": 12, "color": colour, "line": {"width": 1, "color": "#fff"}},
            customdata=[[c.event_name, c.change, c.principal, c.error or ""] for c in shown],
            hovertemplate="%{x}<br><b>%{y}</b>: %{customdata[0]}<br>%{customdata[1]}<br>by %{customdata[2]}"
                          "<br>%{customdata[3]}<extra></extra>")
    buckets = len({c.bucket for c in changes})
    figure = _layout(figure, height=max(260, 120 + 36 * buckets))
    figure.update_yaxes(type="category", categoryorder="category descending")
    return figure


def _series(counts: list[TimeCount], order: list[str]) -> list[tuple[str, list[datetime], list[int]]]:
    """(kind, periods, counts) per kind, in `order` then any other kind."""
    by_kind: dict[str, tuple[list[datetime], list[int]]] = {}
    for row in counts:
        periods, values = by_kind.setdefault(row.kind, ([], []))
        periods.append(row.period)
        values.append(row.count)
    kinds = [k for k in order if k in by_kind] + sorted(k for k in by_kind if k not in order)
    return [(kind, *by_kind[kind]) for kind in kinds]


def _layout(figure: go.Figure, height: int = _CHART_HEIGHT, **axes: object) -> go.Figure:
    # No named template: plotly_white's is 6.5 kB of JSON per chart, for the few settings below.
    figure.update_layout(
        template=None, plot_bgcolor="#fff", paper_bgcolor="#fff", height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        hoverlabel={"align": "left"}, **axes)
    figure.update_yaxes(automargin=True, gridcolor="#e5e9ee", zerolinecolor="#cfd6de")
    figure.update_xaxes(automargin=True, gridcolor="#e5e9ee", zerolinecolor="#cfd6de")
    return figure


def _bar_height(bars: int, per_bar: int = 26) -> int:
    return max(220, 90 + per_bar * bars)


def _figure_json(figure: go.Figure) -> Markup:
    # The JSON sits inside a <script> element: "</" must not end it early.
    return Markup(figure.to_json().replace("</", "<\\/"))


def short_principal(principal: str, width: int = 34) -> str:
    """A label that fits a phone: the name part of an ARN, the start of a canonical ID; the full text is
    in the hover."""
    if principal.startswith("arn:"):
        principal = principal.split(":", 5)[-1].replace("assumed-role/", "role/", 1)
    elif re.fullmatch(r"[0-9a-f]{64}", principal):
        return principal[:12] + "…"
    return principal if len(principal) <= width else principal[: width - 1] + "…"


def _range_text(data: ReportData) -> str:
    if data.since or data.until:
        since = iso(data.since) if data.since else "the first event"
        until = iso(data.until) if data.until else "the last event"
        return f"{since} to {until} (exclusive)"
    if data.first_time and data.last_time:
        return f"all ingested events: {iso(data.first_time)} to {iso(data.last_time)}"
    return "all ingested events (none yet)"


def _bucket_text(data: ReportData) -> str:
    if data.buckets_requested:
        return ", ".join(data.buckets_requested)
    if not data.buckets:
        return "none with events in range"
    listed = ", ".join(data.buckets[:12]) + (", …" if len(data.buckets) > 12 else "")
    return f"all {len(data.buckets)}{'+' if len(data.buckets) >= 100 else ''}: {listed}"


@cache
def _plotly_js() -> str:
    # A "</script" in one of the bundle's strings would end the page's <script> element early.
    return _package_text(PLOTLY_BUNDLE).replace("</script", "<\\/script")


def _package_text(name: str) -> str:
    return (resources.files("s3logq.report") / name).read_text(encoding="utf-8")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)
