"""The numbers behind the HTML report: small aggregates computed in SQL, so the page stays small whatever
the lake holds. Every value reaches DuckDB as a bound parameter."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from s3logq import __version__
from s3logq.catalog import Analysis, CatalogError, load_catalog
from s3logq.detect import Finding
from s3logq.engines import DIALECTS, Engine, QueryError
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.lake import Lake
from s3logq.output import readable
from s3logq.status import lake_status
from s3logq.times import iso

TOP_N = 15
LATENCY_OPERATIONS = 12
# Kept small so that a bucket-day report stays under 1.5 MB: every table says its real count and the
# command that gives every row.
TABLE_ROWS = 10
CONFIG_CHANGES_SHOWN = 100
FINDINGS_SHOWN = 200
CELL_CHARS = 100
HOURLY_UP_TO = timedelta(days=8)
DAILY_UP_TO = timedelta(days=400)
LIFECYCLE_HOURLY_UP_TO = timedelta(days=2)

# Lifecycle operations in access logs (no HTTP request behind them), as a person names them.
LIFECYCLE_CLASSES = {
    "S3.EXPIRE.OBJECT": "Expiration",
    "S3.CREATE.DELETEMARKER": "Delete marker (versioned expiration)",
    "S3.DELETE.UPLOAD": "Aborted multipart upload",
    "S3.TRANSITION_SIA.OBJECT": "Transition to Standard-IA",
    "S3.TRANSITION_ZIA.OBJECT": "Transition to One Zone-IA",
    "S3.TRANSITION_INT.OBJECT": "Transition to Intelligent-Tiering",
    "S3.TRANSITION_GIR.OBJECT": "Transition to Glacier Instant Retrieval",
    "S3.TRANSITION.OBJECT": "Transition to Glacier Flexible Retrieval",
    "S3.TRANSITION_GDA.OBJECT": "Transition to Glacier Deep Archive",
}

# Where the range and buckets go: ReportFilters.sql writes only the conditions given, with one bound value a
# bucket (Athena binds no list; `x IN (?, ?)` runs on every engine). A marker left in fails to parse, loudly.
_ACCESS_FILTER = "@range(request_time)@"
_TRAIL_FILTER = "@range(event_time)@"
_IS_LIFECYCLE = "starts_with(operation, 'S3.')"

_P99 = f"quantile_cont(totaltime, 0.99) FILTER (WHERE NOT {_IS_LIFECYCLE})"
SUMMARY_SQL = f"""
SELECT count(*) AS access_rows, count(*) FILTER (WHERE NOT {_IS_LIFECYCLE}) AS requests,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND httpstatus BETWEEN 400 AND 499) AS errors_4xx,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND httpstatus = 403) AS denied_403,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND httpstatus BETWEEN 500 AND 599) AS errors_5xx,
       count(*) FILTER (WHERE operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT')
                          AND httpstatus BETWEEN 200 AND 299) AS deletions_api,
       count(*) FILTER (WHERE operation IN ('S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')) AS deletions_lifecycle,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND requester IS NULL) AS anonymous,
       {_P99} AS p99_ms,
       min(request_time) AS first_time, max(request_time) AS last_time
FROM access_log WHERE {_ACCESS_FILTER}
"""

TRAIL_SUMMARY_SQL = f"""
SELECT count(*) AS events,
       count(*) FILTER (WHERE {{anonymous}}) AS anonymous,
       count(*) FILTER (WHERE errorcode = 'AccessDenied') AS denied,
       min(event_time) AS first_time, max(event_time) AS last_time
FROM cloudtrail WHERE {_TRAIL_FILTER}
"""

BUCKETS_SQL = f"""
SELECT bucket_name FROM access_log WHERE {_ACCESS_FILTER} AND bucket_name IS NOT NULL
UNION SELECT bucket_name FROM cloudtrail WHERE {_TRAIL_FILTER} AND bucket_name IS NOT NULL
ORDER BY 1 LIMIT 100
"""

TRAFFIC_SQL = f"""
SELECT date_trunc($unit, request_time) AS period,
       CASE WHEN httpstatus IS NULL THEN 'no status' ELSE (httpstatus // 100)::VARCHAR || 'xx' END AS status_class,
       count(*) AS requests
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE}
GROUP BY 1, 2 ORDER BY period, status_class
"""

TOP_REQUESTERS_SQL = f"""
SELECT coalesce(requester, 'anonymous') AS requester, count(*) AS requests,
       count(*) FILTER (WHERE httpstatus >= 400) AS errors
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE}
GROUP BY 1 ORDER BY requests DESC, requester LIMIT {TOP_N}
"""

# Anonymous CloudTrail callers: AWS's own query tests accountId = 'anonymous'; logs in the wild also say
# ANONYMOUS_PRINCIPAL. Match both, in either field, any case.
_TRAIL_ANONYMOUS = ("(lower(useridentity.accountid) IN ('anonymous', 'anonymous_principal') "
                    "OR lower(useridentity.principalid) IN ('anonymous', 'anonymous_principal'))")
_TRAIL_PRINCIPAL = (f"CASE WHEN {_TRAIL_ANONYMOUS} THEN 'anonymous' ELSE coalesce(user_arn, "
                    "useridentity.principalid, useridentity.invokedby, useridentity.type, 'unknown') END")

DENIED_SQL = f"""
SELECT * FROM (
    SELECT 'access logs' AS source, coalesce(requester, 'anonymous') AS principal, count(*) AS denied
    FROM access_log WHERE {_ACCESS_FILTER} AND httpstatus = 403
    GROUP BY 2 ORDER BY denied DESC, principal LIMIT {TOP_N})
UNION ALL SELECT * FROM (
    SELECT 'CloudTrail' AS source, {_TRAIL_PRINCIPAL} AS principal, count(*) AS denied
    FROM cloudtrail WHERE {_TRAIL_FILTER} AND errorcode = 'AccessDenied'
    GROUP BY 2 ORDER BY denied DESC, principal LIMIT {TOP_N})
ORDER BY denied DESC, source, principal
"""

LATENCY_SQL = f"""
SELECT operation, count(*) AS requests,
       quantile_cont(totaltime, 0.5) AS p50_ms, quantile_cont(totaltime, 0.9) AS p90_ms,
       quantile_cont(totaltime, 0.99) AS p99_ms, max(totaltime) AS max_ms
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE} AND totaltime IS NOT NULL
GROUP BY 1 ORDER BY requests DESC, operation LIMIT {LATENCY_OPERATIONS}
"""

LIFECYCLE_SQL = f"""
SELECT date_trunc($unit, request_time) AS period, operation, count(*) AS actions
FROM access_log WHERE {_ACCESS_FILTER} AND {_IS_LIFECYCLE}
GROUP BY 1, 2 ORDER BY period, operation
"""

BUCKET_TRAFFIC_SQL = f"""
SELECT bucket_name AS bucket, count(*) FILTER (WHERE NOT {_IS_LIFECYCLE}) AS requests,
       coalesce(sum(bytessent) FILTER (WHERE NOT {_IS_LIFECYCLE}), 0)::BIGINT AS bytes_sent,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND httpstatus BETWEEN 400 AND 499) AS errors_4xx,
       count(*) FILTER (WHERE NOT {_IS_LIFECYCLE} AND httpstatus BETWEEN 500 AND 599) AS errors_5xx,
       count(*) FILTER (WHERE {_IS_LIFECYCLE}) AS lifecycle_actions
FROM access_log WHERE {_ACCESS_FILTER} AND bucket_name IS NOT NULL
GROUP BY 1 ORDER BY requests DESC, bucket LIMIT 100
"""

TOP_OBJECTS_SQL = f"""
SELECT bucket_name AS bucket, key, count(*) AS requests, coalesce(sum(bytessent), 0)::BIGINT AS bytes_sent,
       count(*) FILTER (WHERE httpstatus >= 400) AS errors, count(DISTINCT coalesce(requester, '-')) AS requesters
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE} AND key IS NOT NULL
GROUP BY 1, 2 ORDER BY requests DESC, bytes_sent DESC, bucket, key LIMIT {TOP_N}
"""

TOP_IPS_SQL = f"""
SELECT remoteip AS ip, count(*) AS requests, coalesce(sum(bytessent), 0)::BIGINT AS bytes_sent,
       count(*) FILTER (WHERE httpstatus >= 400) AS errors, count(DISTINCT coalesce(requester, '-')) AS requesters
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE} AND remoteip IS NOT NULL
GROUP BY 1 ORDER BY requests DESC, ip LIMIT {TOP_N}
"""

# An error's S3 code (NoSuchKey, AccessDenied, SlowDown, ...), or its HTTP status when S3 logged no code.
ERROR_CODES_SQL = f"""
SELECT date_trunc($unit, request_time) AS period, coalesce(errorcode, 'HTTP ' || httpstatus::VARCHAR) AS code,
       count(*) AS errors
FROM access_log WHERE {_ACCESS_FILTER} AND NOT {_IS_LIFECYCLE} AND httpstatus >= 400
GROUP BY 1, 2 ORDER BY period, code
"""

# The rows of the catalog's `deletions` analysis: deletes that succeeded, and lifecycle's.
DELETIONS_SQL = f"""
SELECT date_trunc($unit, request_time) AS period, operation, count(*) AS deletions
FROM access_log WHERE {_ACCESS_FILTER}
  AND operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT', 'S3.EXPIRE.OBJECT', 'S3.CREATE.DELETEMARKER')
  AND (httpstatus IS NULL OR httpstatus BETWEEN 200 AND 299)
GROUP BY 1, 2 ORDER BY period, operation
"""
DELETION_CAUSES = {
    "REST.DELETE.OBJECT": "DeleteObject (API)",
    "BATCH.DELETE.OBJECT": "DeleteObjects, one per key (API)",
    "S3.EXPIRE.OBJECT": "Lifecycle expiration",
    "S3.CREATE.DELETEMARKER": "Lifecycle delete marker",
}

# What changed, read from the request body CloudTrail keeps (requestParameters), per kind of change.
_PARAM = "json_extract_string(requestparameters, '{path}')"
CHANGE_TEXT_SQL = f"""
CASE eventname
  WHEN 'CreateBucket' THEN 'bucket created'
  WHEN 'DeleteBucket' THEN 'bucket deleted'
  WHEN 'PutBucketVersioning' THEN 'versioning ' || coalesce({_PARAM.format(path='$.VersioningConfiguration.Status')}, 'changed')
  WHEN 'PutBucketPolicy' THEN 'bucket policy set' || CASE
      WHEN regexp_matches(coalesce({_PARAM.format(path='$.bucketPolicy')}, ''), '"Effect"\\s*:\\s*"Allow"[^}}]*"Principal"\\s*:\\s*("\\*"|\\{{"AWS"\\s*:\\s*"\\*")')
      THEN ': allows anyone (Principal *)' ELSE '' END
  WHEN 'DeleteBucketPolicy' THEN 'bucket policy deleted'
  WHEN 'PutBucketLifecycle' THEN 'lifecycle rules set'
  WHEN 'DeleteBucketLifecycle' THEN 'lifecycle rules deleted'
  WHEN 'PutBucketEncryption' THEN 'default encryption ' || coalesce({_PARAM.format(
      path='$.ServerSideEncryptionConfiguration.Rule.ApplyServerSideEncryptionByDefault.SSEAlgorithm')}, 'set')
  WHEN 'DeleteBucketEncryption' THEN 'default encryption removed'
  WHEN 'PutBucketReplication' THEN 'replication set' || coalesce(' to ' || {_PARAM.format(
      path='$.ReplicationConfiguration.Rule.Destination.Bucket')}, '')
  WHEN 'DeleteBucketReplication' THEN 'replication removed'
  WHEN 'PutBucketAcl' THEN CASE WHEN coalesce(requestparameters, '') LIKE '%groups/global/AllUsers%'
      THEN 'ACL grants access to everyone (AllUsers)' ELSE 'ACL changed' END
  WHEN 'PutBucketTagging' THEN 'tags set'
  WHEN 'DeleteBucketTagging' THEN 'tags removed'
  WHEN 'PutBucketLogging' THEN 'access logging changed'
  WHEN 'DeleteBucketPublicAccessBlock' THEN 'Block Public Access removed'
  WHEN 'DeleteAccountPublicAccessBlock' THEN 'account Block Public Access removed'
  ELSE CASE WHEN eventname LIKE '%PublicAccessBlock' THEN
      (CASE WHEN eventname LIKE '%Account%' THEN 'account ' ELSE '' END) || 'Block Public Access: '
      || concat_ws(', ',
           'BlockPublicAcls=' || {_PARAM.format(path='$.PublicAccessBlockConfiguration.BlockPublicAcls')},
           'IgnorePublicAcls=' || {_PARAM.format(path='$.PublicAccessBlockConfiguration.IgnorePublicAcls')},
           'BlockPublicPolicy=' || {_PARAM.format(path='$.PublicAccessBlockConfiguration.BlockPublicPolicy')},
           'RestrictPublicBuckets=' || {_PARAM.format(path='$.PublicAccessBlockConfiguration.RestrictPublicBuckets')})
    ELSE eventname END
END
"""

_CONFIG_EVENTS = "regexp_matches(eventname, '^(Put|Delete|Create)(Bucket|Account)')"
CONFIG_CHANGES_SQL = f"""
SELECT event_time, coalesce(bucket_name, '(account)') AS bucket, eventname, {_TRAIL_PRINCIPAL} AS principal,
       ({CHANGE_TEXT_SQL}) AS change, errorcode
FROM cloudtrail WHERE {_TRAIL_FILTER} AND {_CONFIG_EVENTS}
ORDER BY event_time, eventid
"""


@dataclass(frozen=True)
class TimeCount:
    """One bar segment: how many of one kind (status class, lifecycle class) in one period."""

    period: datetime
    kind: str
    count: int


@dataclass(frozen=True)
class PrincipalCount:
    principal: str
    requests: int
    errors: int = 0
    source: str = "access logs"


@dataclass(frozen=True)
class OperationLatency:
    operation: str
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class ConfigChange:
    event_time: datetime
    bucket: str
    event_name: str
    principal: str
    change: str
    error: str | None = None


@dataclass(frozen=True)
class BucketTraffic:
    bucket: str
    requests: int
    bytes_sent: int
    errors_4xx: int
    errors_5xx: int
    lifecycle_actions: int


@dataclass(frozen=True)
class TopObject:
    bucket: str
    key: str
    requests: int
    bytes_sent: int
    errors: int
    requesters: int


@dataclass(frozen=True)
class TopAddress:
    ip: str
    requests: int
    bytes_sent: int
    errors: int
    requesters: int


@dataclass
class AnalysisTable:
    """The first rows of one catalog analysis, and the command that gives all of them."""

    name: str
    log_type: str
    title: str
    description: str
    columns: list[str]
    rows: list[list[str]]
    total: int
    commands: list[str]
    error: str | None = None

    @property
    def more(self) -> bool:
        return self.total > len(self.rows)


@dataclass
class Summary:
    access_rows: int = 0
    requests: int = 0
    errors_4xx: int = 0
    denied_403: int = 0
    errors_5xx: int = 0
    deletions_api: int = 0
    deletions_lifecycle: int = 0
    anonymous: int = 0
    p99_ms: float | None = None
    trail_events: int = 0
    trail_anonymous: int = 0
    trail_denied: int = 0
    config_changes: int = 0
    config_changes_denied: int = 0

    def rate(self, count: int) -> float | None:
        return count / self.requests if self.requests else None


@dataclass(frozen=True)
class IngestedLogType:
    log_type: str
    files: int
    rows: int
    first_event: str | None
    last_event: str | None


@dataclass
class ReportData:
    """Everything the page shows; `empty` maps a section id to why it has nothing to show."""

    generated_at: datetime
    version: str
    lake_root: str
    since: datetime | None
    until: datetime | None
    buckets_requested: tuple[str, ...]
    first_time: datetime | None
    last_time: datetime | None
    buckets: list[str]
    ingested: list[IngestedLogType]
    period_unit: str
    lifecycle_unit: str
    summary: Summary
    traffic: list[TimeCount] = field(default_factory=list)
    top_requesters: list[PrincipalCount] = field(default_factory=list)
    denied: list[PrincipalCount] = field(default_factory=list)
    latency: list[OperationLatency] = field(default_factory=list)
    lifecycle: list[TimeCount] = field(default_factory=list)
    config_changes: list[ConfigChange] = field(default_factory=list)
    config_source: str = ""
    analyses: list[AnalysisTable] = field(default_factory=list)
    bucket_traffic: list[BucketTraffic] = field(default_factory=list)
    top_objects: list[TopObject] = field(default_factory=list)
    top_ips: list[TopAddress] = field(default_factory=list)
    error_codes: list[TimeCount] = field(default_factory=list)
    deletions: list[TimeCount] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    findings_total: int = 0
    findings_by_severity: dict[str, int] = field(default_factory=dict)
    findings_error: str | None = None
    empty: dict[str, str] = field(default_factory=dict)
    engine: str = "duckdb"
    left_out: list[str] = field(default_factory=list)  # what this engine could not compute, said on the page

    @property
    def log_types(self) -> list[str]:
        if self.engine == "athena":  # no lake read: the tables' rows in the range say which logs there are
            counts = (("access", self.summary.access_rows), ("cloudtrail", self.summary.trail_events))
            return [log_type for log_type, rows in counts if rows]
        return [row.log_type for row in self.ingested if row.rows]


@dataclass(frozen=True)
class ReportFilters:
    """The range [since, until) and buckets every query of the report is narrowed to."""

    since: datetime | None
    until: datetime | None
    buckets: tuple[str, ...]

    def sql(self, text: str) -> str:
        """The report's SQL with each `@range(column)@` marker made the conditions given: the time column in
        [since, until), and bucket_name one of the buckets, each value a `$name` to bind (TRUE for none)."""
        def conditions(match: re.Match[str]) -> str:
            column = match.group(1)
            found = [f"{column} >= $since"] if self.since is not None else []
            found += [f"{column} < $until"] if self.until is not None else []
            if self.buckets:
                found.append("bucket_name IN (" + ", ".join(f"$bucket_{i}" for i in range(len(self.buckets))) + ")")
            return "(" + " AND ".join(found) + ")" if found else "TRUE"

        return re.sub(r"@range\((\w+)\)@", conditions, text)

    def params(self, sql: str, **extra: object) -> dict[str, object]:
        """The bound values this SQL (after `sql`) names (DuckDB refuses values a statement does not use)."""
        values: dict[str, object] = {"since": self.since, "until": self.until, **extra,
                                     **{f"bucket_{i}": bucket for i, bucket in enumerate(self.buckets)}}
        used = set(re.findall(r"\$([a-z_0-9]+)", sql))
        return {name: value for name, value in values.items() if name in used}


def build_report_data(lake: Lake, since: datetime | None = None, until: datetime | None = None,
                      buckets: tuple[str, ...] | list[str] = (), engine: Engine | None = None) -> ReportData:
    """Run the report's aggregates, detections and the catalog's analyses over [since, until) and the buckets,
    on `engine` (default: DuckDB over the lake; Athena's tables are its own, so the lake is not read then)."""
    filters = ReportFilters(since, until, tuple(buckets))
    if engine is not None:
        return _build(lake, engine, filters)
    own = ReportEngine(lake, since, until)
    try:
        return _build(lake, own, filters)
    finally:
        own.close()


def _build(lake: Lake, engine: Engine, filters: ReportFilters) -> ReportData:
    since, until, buckets = filters.since, filters.until, filters.buckets
    on_lake = engine.name != "athena"  # Athena reads its own tables, wherever the logs lie
    exact_percentiles = DIALECTS[engine.dialect].exact_percentiles
    summary, first, last = _summary(engine, filters, exact_percentiles)
    if on_lake:
        has_access, has_trail = bool(lake.parts("access_log")), bool(lake.parts("cloudtrail"))
    else:  # whether the tables hold rows in the range is all a lake-less engine can say
        has_access, has_trail = summary.access_rows > 0, summary.trail_events > 0
    unit = period_unit(since or first, until or last)
    # Lifecycle rules run about once a day: hourly bars would be thin spikes far apart.
    lifecycle_unit = unit if unit != "hour" or _span(since or first, until or last) <= LIFECYCLE_HOURLY_UP_TO \
        else "day"
    data = ReportData(
        generated_at=datetime.now(UTC), version=__version__, since=since, until=until,
        lake_root=str(lake.root) if on_lake else _athena_place(engine), engine=engine.name,
        buckets_requested=tuple(buckets), first_time=first, last_time=last, buckets=_column(_run(engine, BUCKETS_SQL, filters), "bucket_name"),
        ingested=_ingested(lake) if on_lake else [], period_unit=unit, lifecycle_unit=lifecycle_unit,
        summary=summary)
    if summary.access_rows:
        data.traffic = _time_counts(_run(engine, TRAFFIC_SQL, filters, unit=unit), "status_class", "requests")
        data.top_requesters = [PrincipalCount(r["requester"], r["requests"], r["errors"])
                               for r in _run(engine, TOP_REQUESTERS_SQL, filters).to_pylist()]
        if exact_percentiles:
            data.latency = [OperationLatency(**r) for r in _run(engine, LATENCY_SQL, filters).to_pylist()]
        else:
            data.left_out.append(f"Latency percentiles (the p99 card and the latency chart) are left out: "
                                 f"{engine.name} has approximate percentiles only.")
        lifecycle = _time_counts(_run(engine, LIFECYCLE_SQL, filters, unit=lifecycle_unit), "operation", "actions")
        data.lifecycle = [TimeCount(t.period, LIFECYCLE_CLASSES.get(t.kind, t.kind), t.count) for t in lifecycle]
        data.bucket_traffic = [BucketTraffic(**r) for r in _run(engine, BUCKET_TRAFFIC_SQL, filters).to_pylist()]
        data.top_objects = [TopObject(**r) for r in _run(engine, TOP_OBJECTS_SQL, filters).to_pylist()]
        data.top_ips = [TopAddress(**r) for r in _run(engine, TOP_IPS_SQL, filters).to_pylist()]
        data.error_codes = _time_counts(_run(engine, ERROR_CODES_SQL, filters, unit=unit), "code", "errors")
        deletions = _time_counts(_run(engine, DELETIONS_SQL, filters, unit=unit), "operation", "deletions")
        data.deletions = [TimeCount(t.period, DELETION_CAUSES[t.kind], t.count) for t in deletions]
    data.denied = [PrincipalCount(r["principal"], r["denied"], r["denied"], r["source"])
                   for r in _run(engine, DENIED_SQL, filters).to_pylist()]
    if has_trail:
        data.config_changes, data.config_source = _config_changes(engine, filters)
        summary.config_changes = sum(1 for c in data.config_changes if not c.error)
        summary.config_changes_denied = sum(1 for c in data.config_changes if c.error)
        data.config_changes = data.config_changes[-CONFIG_CHANGES_SHOWN:]
    if has_access or has_trail:
        findings, data.findings_error, not_run = report_findings(lake, filters, engine)
        if not_run:
            data.left_out.append(f"{len(not_run)} detection(s) could not run on {engine.name} and are left out of "
                                 f"the findings: {', '.join(not_run)}.")
        data.findings_total = len(findings)
        for finding in findings:
            data.findings_by_severity[finding.severity] = data.findings_by_severity.get(finding.severity, 0) + 1
        data.findings = findings[:FINDINGS_SHOWN]
    data.analyses = analysis_tables(engine, lake, filters, has_access, has_trail)
    data.empty = _why_empty(data, has_access, has_trail)
    if not exact_percentiles and summary.access_rows:
        data.empty["latency"] = f"Not computed on {engine.name}: it has approximate percentiles only."
    return data


def _athena_place(engine: Engine) -> str:
    options = getattr(engine, "options", None)
    return f"Athena database {options.database}" if options is not None else "Athena"


def report_findings(lake: Lake, filters: ReportFilters,
                    engine: Engine | None = None) -> tuple[list[Finding], str | None, list[str]]:
    """What `s3logq detect` finds over the range and buckets, most severe first, then newest; why it could
    not run; and the detections the engine cannot run (left out, named). The report's views serve only when they
    hold every day: windowed detections read a day before `since`, whole-history ones every part."""
    from s3logq.catalog.detection import DetectionError, load_detections
    from s3logq.detect import find_all, run_detection

    if engine is None or (isinstance(engine, ReportEngine) and filters.since is not None):
        engine = DuckDBEngine(lake)
    not_run: list[str] = []
    try:
        if engine.name == "duckdb":
            found = find_all(engine, filters.since, filters.until, lake_option=str(lake.root))
        else:  # another engine may lack a function some detections use: those are named, the others still run
            found = []
            for detection in load_detections():
                try:
                    found += run_detection(engine, detection, filters.since, filters.until,
                                           lake_option=str(lake.root) if engine.name != "athena" else None)
                except QueryError:
                    not_run.append(detection.name)
            found.sort(key=lambda f: (f.event_time, f.detection, f.finding_id))  # find_all's order, ties too
    except (QueryError, DetectionError, CatalogError) as error:
        return [], str(error), not_run
    found = [f for f in found if not filters.buckets or f.bucket_name is None or f.bucket_name in filters.buckets]
    return sorted(found, key=lambda f: (-f.severity_rank, -f.event_time.timestamp(), f.detection)), None, not_run


class ReportEngine:
    """DuckDBEngine's lake views over [since, until), opened once for the thirty-odd queries of a report:
    opening them lists every part, which costs tens of milliseconds each time on a large lake."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, lake: Lake, since: datetime | None, until: datetime | None) -> None:
        self.connection = DuckDBEngine(lake).connect(since, until)

    def query(self, sql: str, params: dict[str, object] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> pa.Table:
        """Rows of DuckDB SQL with bound parameters; the views already hold only the report's range."""
        try:
            relation = self.connection.sql(sql, params=params or None)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as error:
            raise QueryError(str(error).strip().splitlines()[0]) from None

    def close(self) -> None:
        self.connection.close()


def period_unit(first: datetime | None, last: datetime | None) -> str:
    """Chart bucket size: hours for a week or so, days up to about a year, weeks beyond."""
    if first is None or last is None or last - first <= HOURLY_UP_TO:
        return "hour"
    return "day" if last - first <= DAILY_UP_TO else "week"


def _span(first: datetime | None, last: datetime | None) -> timedelta:
    return last - first if first is not None and last is not None else timedelta(0)


def _summary(engine: Engine, filters: ReportFilters,
             exact_percentiles: bool = True) -> tuple[Summary, datetime | None, datetime | None]:
    summary_sql = SUMMARY_SQL if exact_percentiles else SUMMARY_SQL.replace(_P99, "CAST(NULL AS DOUBLE)")
    access = _run(engine, summary_sql, filters).to_pylist()[0]
    trail_sql = TRAIL_SUMMARY_SQL.format(anonymous=_TRAIL_ANONYMOUS)
    trail = _run(engine, trail_sql, filters).to_pylist()[0]
    summary = Summary(**{k: access[k] or 0 for k in ("access_rows", "requests", "errors_4xx", "denied_403", "errors_5xx",
                                                     "deletions_api", "deletions_lifecycle", "anonymous")},
                      p99_ms=access["p99_ms"], trail_events=trail["events"] or 0,
                      trail_anonymous=trail["anonymous"] or 0, trail_denied=trail["denied"] or 0)
    firsts = [t for t in (access["first_time"], trail["first_time"]) if t is not None]
    lasts = [t for t in (access["last_time"], trail["last_time"]) if t is not None]
    return summary, min(firsts, default=None), max(lasts, default=None)


def _ingested(lake: Lake) -> list[IngestedLogType]:
    return [IngestedLogType(r["log_type"], r["files"], r["rows"], r["first_event"], r["last_event"])
            for r in lake_status(lake).to_pylist()]


def _time_counts(table: pa.Table, kind_column: str, count_column: str) -> list[TimeCount]:
    return [TimeCount(r["period"], r[kind_column], r[count_column]) for r in table.to_pylist()]


def _config_changes(engine: Engine, filters: ReportFilters) -> tuple[list[ConfigChange], str]:
    """Bucket configuration changes: the catalog's bucket-config-changes analysis when it is shipped,
    else the report's own query. The second value says which one."""
    from_catalog = _catalog_config_changes(engine, filters)
    if from_catalog is not None:
        return from_catalog, "s3logq run bucket-config-changes --logs cloudtrail"
    return (config_changes_from_trail(engine, filters),
            "CloudTrail management events (Put/Delete/Create Bucket*, account Block Public Access)")


def config_changes_from_trail(engine: Engine, filters: ReportFilters) -> list[ConfigChange]:
    """The report's own reading of bucket configuration changes, for a catalog without the analysis."""
    rows = _run(engine, CONFIG_CHANGES_SQL, filters).to_pylist()
    return [ConfigChange(r["event_time"], r["bucket"], r["eventname"], r["principal"], r["change"], r["errorcode"])
            for r in rows]


_CONFIG_COLUMNS = {
    "event_time": ("event_time", "eventtime", "time"),
    "bucket": ("bucket_name", "bucket", "bucketname"),
    "event_name": ("eventname", "event_name", "event"),
    "principal": ("user_arn", "principal", "requester", "who", "useridentity_arn", "actor"),
    "change": ("change",),
    "error": ("errorcode", "error_code", "error"),
}


def _catalog_config_changes(engine: Engine, filters: ReportFilters) -> list[ConfigChange] | None:
    analysis = next((a for a in load_catalog() if a.name == "bucket-config-changes" and a.log_type == "cloudtrail"),
                    None)
    if analysis is None or "change" not in analysis.columns:
        return None
    try:
        table = _concat(_run_analysis(analysis, engine, filters, None))
    except (QueryError, CatalogError):
        return None
    names = {name.lower(): name for name in table.column_names}
    found = {key: next((names[c] for c in choices if c in names), None) for key, choices in _CONFIG_COLUMNS.items()}
    if None in (found["event_time"], found["event_name"], found["change"]):
        return None
    changes = []
    for row in table.to_pylist():
        def value(key: str, row: dict = row) -> object:
            return row.get(found[key]) if found[key] else None
        when = value("event_time")
        if not isinstance(when, datetime):
            return None
        changes.append(ConfigChange(when, str(value("bucket") or "(account)"), str(value("event_name")),
                                    str(value("principal") or ""), str(value("change") or ""),
                                    value("error") or None))  # type: ignore[arg-type]
    return sorted(changes, key=lambda c: c.event_time)


def analysis_tables(engine: Engine, lake: Lake, filters: ReportFilters, has_access: bool,
                    has_trail: bool) -> list[AnalysisTable]:
    """The first rows of every catalog analysis that returned rows for the range (or could not run)."""
    tables = []
    for analysis in load_catalog():
        if not (has_access if analysis.log_type == "access" else has_trail):
            continue
        commands = [_command(analysis, lake, filters, bucket, engine.name) for bucket in _bucket_runs(analysis, filters)]
        try:
            previews = [analysis.preview(engine, values, TABLE_ROWS) for values in _analysis_values(analysis, filters)]
        except (QueryError, CatalogError) as error:
            tables.append(AnalysisTable(analysis.name, analysis.log_type, analysis.title, analysis.description,
                                        [], [], 0, commands, error=str(error)))
            continue
        total = sum(count for _, count in previews)
        if total == 0:
            continue
        shown = readable(_concat([table for table, _ in previews]).slice(0, TABLE_ROWS))
        rows = [[_cell(v) for v in row.values()] for row in shown.to_pylist()]
        tables.append(AnalysisTable(analysis.name, analysis.log_type, analysis.title, analysis.description,
                                    shown.column_names, rows, total, commands))
    return tables


def _bucket_runs(analysis: Analysis, filters: ReportFilters) -> list[str | None]:
    """One run per requested bucket when the analysis takes a bucket, else one run over all."""
    if "bucket" in analysis.parameters and filters.buckets:
        return list(filters.buckets)
    return [None]


def _analysis_values(analysis: Analysis, filters: ReportFilters) -> list[dict[str, object]]:
    """The filter values of each run: the range, and one requested bucket per run."""
    runs = []
    for bucket in _bucket_runs(analysis, filters):
        given: dict[str, object] = {"since": filters.since, "until": filters.until, "bucket": bucket}
        runs.append({k: v for k, v in given.items() if k in analysis.parameters})
    return runs


def _run_analysis(analysis: Analysis, engine: Engine, filters: ReportFilters, limit: int | None) -> list[pa.Table]:
    return [analysis.run(engine, values, limit) for values in _analysis_values(analysis, filters)]


def _concat(tables: list[pa.Table]) -> pa.Table:
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


def _command(analysis: Analysis, lake: Lake, filters: ReportFilters, bucket: str | None,
             engine_name: str = "duckdb") -> str:
    words = ["s3logq"] + (["--lake", str(lake.root)] if engine_name != "athena" else [])
    words += ["run", analysis.name, "--logs", analysis.log_type]
    if engine_name != "duckdb":
        words += ["--engine", engine_name]
    if filters.since and "since" in analysis.parameters:
        words += ["--since", iso(filters.since)]
    if filters.until and "until" in analysis.parameters:
        words += ["--until", iso(filters.until)]
    if bucket:
        words += ["--bucket", bucket]
    words += ["--format", "csv", "--output", f"{analysis.name}.csv"]
    return shlex.join(words)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _run(engine: Engine, sql: str, filters: ReportFilters, **extra: object) -> pa.Table:
    text = filters.sql(sql)
    return engine.query(text, filters.params(text, **extra), filters.since, filters.until)


def _column(table: pa.Table, name: str) -> list[str]:
    return [str(v) for v in table.column(name).to_pylist()]


def _why_empty(data: ReportData, has_access: bool, has_trail: bool) -> dict[str, str]:
    """Why each empty section is empty, in words a reader acts on."""
    scope = _scope_words(data)
    no_access = ("No S3 server access logs are ingested (s3logq ingest PATH): requests, errors, latency and "
                 "lifecycle actions come from them.")
    no_requests = f"No access-log requests {scope}."
    empty: dict[str, str] = {}
    access_reason = no_access if not has_access else no_requests
    if not data.traffic:
        empty["traffic"] = access_reason
    if not data.top_requesters:
        empty["requesters"] = access_reason
    if not data.denied:
        empty["denied"] = f"No request was denied (HTTP 403 or CloudTrail AccessDenied) {scope}."
    if not data.latency:
        empty["latency"] = access_reason if not data.top_requesters else f"No request has a total time {scope}."
    if not data.lifecycle:
        empty["lifecycle"] = ("No S3 server access logs are ingested: lifecycle actions are logged only there, "
                              "never in CloudTrail." if not has_access else
                              f"No lifecycle activity (expirations, transitions, delete markers, aborted uploads) "
                              f"{scope}.")
    if not data.config_changes:
        empty["config"] = ("No CloudTrail logs are ingested: bucket configuration changes come from CloudTrail "
                           "management events." if not has_trail
                           else f"No bucket configuration change in CloudTrail {scope}.")
    if not data.bucket_traffic:
        empty["buckets"] = access_reason
    if not data.top_objects:
        empty["objects"] = access_reason
    if not data.top_ips:
        empty["ips"] = access_reason
    if not data.error_codes:
        empty["errors"] = access_reason if not data.top_requesters else f"No request failed (HTTP 4xx or 5xx) {scope}."
    if not data.deletions:
        empty["deletions"] = ("No S3 server access logs are ingested: deletions over time are counted from them "
                              "(CloudTrail has them only when data events are on: s3logq run object-deletions)."
                              if not has_access else f"No object was deleted (by API or lifecycle) {scope}.")
    if not data.findings:
        empty["findings"] = (f"The detections could not run: {data.findings_error}" if data.findings_error
                             else "The lake holds no logs yet (s3logq ingest PATH)." if not (has_access or has_trail)
                             else f"No detection found anything {scope}.")
    if not data.analyses:
        empty["analyses"] = ("The lake holds no logs yet (s3logq ingest PATH)." if not (has_access or has_trail)
                             else f"No analysis returned rows {scope}.")
    return empty


def _scope_words(data: ReportData) -> str:
    """'between A and B for bucket X', as far as the report was narrowed."""
    words = []
    if data.since and data.until:
        words.append(f"between {iso(data.since)} and {iso(data.until)}")
    elif data.since:
        words.append(f"since {iso(data.since)}")
    elif data.until:
        words.append(f"before {iso(data.until)}")
    else:
        words.append("in the lake")
    if data.buckets_requested:
        plural = "s" if len(data.buckets_requested) > 1 else ""
        words.append(f"for bucket{plural} {', '.join(data.buckets_requested)}")
    return " ".join(words)
