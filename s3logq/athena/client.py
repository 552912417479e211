"""Running SQL on Amazon Athena with boto3: submit (bound values as execution parameters), poll, fetch the rows
into Arrow by the column types Athena reports, and say what the query scanned and cost."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports AthenaError at start-up: pyarrow is imported where rows are built
    import pyarrow as pa

PRICE_PER_TB = 5.0  # USD per TB scanned in most regions (Athena pricing), 10 MB minimum per query
MINIMUM_BILLED_BYTES = 10 * 1000**2
_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaError(Exception):
    """A query Athena refused, failed or cancelled, or a call that did not reach it: one line for the user."""


class AthenaCancelled(AthenaError):
    """Ctrl-C while a query ran: the query was stopped in Athena (StopQueryExecution)."""

    def __init__(self, query_id: str) -> None:
        super().__init__(f"cancelled: query {query_id}")
        self.query_id = query_id


# Athena's answers to too many calls or too many running queries; retried with backoff before giving up.
THROTTLING_CODES = frozenset({"ThrottlingException", "TooManyRequestsException"})


@dataclass(frozen=True)
class AthenaOptions:
    """Where queries run: flags first, then S3LOGQ_ATHENA_* in the environment; AWS's own chain for the rest."""

    workgroup: str = "primary"
    database: str = "s3logq"
    results: str | None = None  # s3:// OutputLocation; None: the workgroup's own
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    poll_seconds: float = 0.5
    throttle_retries: int = 5  # on top of botocore's own: a full workgroup can stay throttled for a while
    throttle_seconds: float = 1.0  # the first wait; doubled each time, with jitter

    @classmethod
    def from_env(cls, workgroup: str | None = None, database: str | None = None, results: str | None = None,
                 profile: str | None = None, region: str | None = None, endpoint_url: str | None = None,
                 **rest: Any) -> AthenaOptions:
        """Each option from its flag, else the environment, else the config file's [athena] table."""
        from s3logq.config import athena_settings

        env = os.environ.get
        saved = athena_settings()
        return cls(workgroup=workgroup or env("S3LOGQ_ATHENA_WORKGROUP") or saved.get("workgroup") or "primary",
                   database=database or env("S3LOGQ_ATHENA_DATABASE") or saved.get("database") or "s3logq",
                   results=results or env("S3LOGQ_ATHENA_RESULTS") or saved.get("results") or None,
                   profile=profile or (None if env("AWS_PROFILE") else saved.get("profile")),
                   region=region or (None if env("AWS_REGION") or env("AWS_DEFAULT_REGION") else saved.get("region")),
                   endpoint_url=endpoint_url or (None if env("AWS_ENDPOINT_URL") else saved.get("endpoint_url")),
                   **rest)


@dataclass
class QueryStats:
    """What one query did: its ID, final state, the bytes it scanned and its estimated price."""

    query_id: str
    state: str
    scanned_bytes: int = 0
    seconds: float = 0.0
    output_location: str | None = None  # s3://.../<query id>.csv, the result file Athena wrote

    @property
    def cost_usd(self) -> float:
        """Athena's price for the bytes scanned (a successful or failed query is billed at least 10 MB)."""
        billed = max(self.scanned_bytes, MINIMUM_BILLED_BYTES) if self.state != "CANCELLED" else self.scanned_bytes
        return billed / 1000**4 * PRICE_PER_TB

    def summary(self) -> str:
        return (f"athena: {self.state.lower()} in {self.seconds:.1f} s, {_size(self.scanned_bytes)} scanned, "
                f"about ${self.cost_usd:.6f} (query {self.query_id})")


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.2f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return f"{count:,.2f} TB"


def literal(value: object) -> str:
    """A bound value as an Athena execution parameter: Athena takes each as the text of a SQL literal and
    binds it to its `?` (EXECUTE ... USING), so strings are quoted here, never spliced into the query."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return f"DOUBLE '{float(value)!r}'"
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S.%f} UTC'"
    if isinstance(value, date):
        return f"DATE '{value:%Y-%m-%d}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise AthenaError(f"cannot bind a {type(value).__name__} for Athena")


@dataclass
class AthenaClient:
    """One boto3 Athena client and the options every call takes."""

    options: AthenaOptions
    athena: Any = None  # a boto3 Athena client; made from the options when not given
    s3: Any = None  # a boto3 S3 client for result files; made when first needed
    history: list[QueryStats] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know besides the rows

    def __post_init__(self) -> None:
        if self.athena is None:
            from s3logq.sources import SourceError
            from s3logq.sources.s3 import make_client

            try:
                self.athena = make_client("athena", self.options.profile, self.options.region,
                                          self.options.endpoint_url)
            except SourceError as error:
                raise AthenaError(str(error)) from None

    def execute(self, sql: str, parameters: list[str] | None = None, database: str | None = None,
                on_progress: Callable[[str, float, int], None] | None = None) -> QueryStats:
        """Submit one statement and wait for it; AthenaError with Athena's reason unless it SUCCEEDED.
        Ctrl-C stops the query in Athena (StopQueryExecution) before it is raised."""
        request: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.options.workgroup}
        if database or self.options.database:
            request["QueryExecutionContext"] = {"Database": database or self.options.database}
        if self.options.results:
            request["ResultConfiguration"] = {"OutputLocation": self.options.results}
        if parameters:
            request["ExecutionParameters"] = parameters
        query_id = self._call("start_query_execution", **request)["QueryExecutionId"]
        started = time.monotonic()
        try:
            while True:
                execution = self._call("get_query_execution", QueryExecutionId=query_id)["QueryExecution"]
                status, statistics = execution["Status"], execution.get("Statistics", {})
                stats = QueryStats(query_id, status["State"], int(statistics.get("DataScannedInBytes", 0)),
                                   time.monotonic() - started,
                                   execution.get("ResultConfiguration", {}).get("OutputLocation"))
                if on_progress is not None:
                    on_progress(stats.state, stats.seconds, stats.scanned_bytes)
                if stats.state in _DONE:
                    break
                time.sleep(self.options.poll_seconds)
        except KeyboardInterrupt:
            self._call("stop_query_execution", QueryExecutionId=query_id)
            raise AthenaCancelled(query_id) from None
        self.history.append(stats)
        if stats.state != "SUCCEEDED":
            reason = " ".join(status.get("StateChangeReason", "no reason given").split())
            raise AthenaError(f"Athena query {stats.state.lower()}: {reason} (query {query_id})")
        return stats

    def rows(self, query_id: str, output_location: str | None = None) -> pa.Table:
        """The result of a finished query, typed by the column types Athena reports: one page of
        GetQueryResults when it holds every row, else the result file at `output_location` (one GetObject
        instead of a call per 1,000 rows), else every page, with a note saying why."""
        columns: list[dict] = []
        values: list[list[str | None]] = []
        token: str | None = None
        first_page = True
        while True:
            page = self._call("get_query_results", QueryExecutionId=query_id, MaxResults=1000,
                              **({"NextToken": token} if token else {}))
            result = page["ResultSet"]
            rows = [[datum.get("VarCharValue") for datum in row["Data"]] for row in result.get("Rows", [])]
            if first_page:
                columns = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                # a SELECT's first row repeats the column names; a DDL statement's result has none
                if rows and columns and rows[0] == [c["Name"] for c in columns]:
                    rows = rows[1:]
                first_page = False
                if page.get("NextToken") and output_location:
                    try:
                        return self.result_file(output_location, columns)
                    except AthenaError as error:
                        self.notes.append(f"athena: {error}; reading the rows 1,000 a page instead")
            values += rows
            token = page.get("NextToken")
            if not token:
                break
        return to_arrow(columns, values)

    def result_file(self, output_location: str, columns: list[dict]) -> pa.Table:
        """The CSV Athena wrote at `output_location`, typed by `columns`; AthenaError when it cannot be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        from s3logq.sources import SourceError
        from s3logq.sources.s3 import split_uri

        try:
            bucket, key = split_uri(output_location)
            if self.s3 is None:
                from s3logq.sources.s3 import make_client

                self.s3 = make_client("s3", self.options.profile, self.options.region, self.options.endpoint_url)
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise AthenaError(f"cannot read the result file {output_location}: "
                              f"{error.response.get('Error', {}).get('Code', 'error')}") from None
        except (BotoCoreError, SourceError, ValueError) as error:
            raise AthenaError(f"cannot read the result file {output_location}: {error}") from None
        return csv_to_arrow(body, columns, output_location)

    def query(self, sql: str, parameters: list[str] | None = None,
              on_progress: Callable[[str, float, int], None] | None = None) -> pa.Table:
        """Run a query and fetch its rows."""
        stats = self.execute(sql, parameters, on_progress=on_progress)
        return self.rows(stats.query_id, stats.output_location)

    def _call(self, operation: str, **arguments: Any) -> dict:
        """One API call; throttling retried with exponential backoff, any failure one line (AthenaError)."""
        from botocore.exceptions import BotoCoreError, ClientError

        waited = 0.0
        for attempt in range(self.options.throttle_retries + 1):
            try:
                return getattr(self.athena, operation)(**arguments)
            except ClientError as error:
                detail = error.response.get("Error", {})
                code, message = detail.get("Code", "error"), " ".join(str(detail.get("Message", "")).split())
                if code not in THROTTLING_CODES:
                    raise AthenaError(f"Athena {operation}: {code}: {message}") from None
                if attempt == self.options.throttle_retries:
                    raise AthenaError(f"Athena {operation}: still throttled ({code}) after {attempt + 1} attempts "
                                      f"over {waited:.0f} s: {message}") from None
                pause = self.options.throttle_seconds * 2**attempt * random.uniform(0.5, 1.0)
                time.sleep(pause)
                waited += pause
            except BotoCoreError as error:
                from s3logq.sources.s3 import _botocore_message

                raise AthenaError(f"Athena {operation}: {_botocore_message(error)}") from None
        raise AssertionError("unreachable")  # the loop returns or raises


# --- Athena's text values as Arrow --------------------------------------------------------------------------

def arrow_type(column: dict) -> pa.DataType:
    """The Arrow type of a column as GetQueryResults describes it (complex types stay text, as Athena sends them)."""
    import pyarrow as pa

    kind = column.get("Type", "varchar").lower()
    simple = {"boolean": pa.bool_(), "tinyint": pa.int8(), "smallint": pa.int16(), "integer": pa.int32(),
              "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(), "float": pa.float32(),
              "real": pa.float32(), "date": pa.date32(), "timestamp": pa.timestamp("ms"),
              "timestamp with time zone": pa.timestamp("ms", tz="UTC"), "varbinary": pa.binary()}
    if kind in simple:
        return simple[kind]
    if kind == "decimal":
        return pa.decimal128(int(column.get("Precision") or 38), int(column.get("Scale") or 0))
    return pa.string()


def _value(text: str | None, kind: pa.DataType) -> object:
    if text is None:
        return None
    import pyarrow as pa

    if pa.types.is_boolean(kind):
        return text.lower() == "true"
    if pa.types.is_integer(kind):
        return int(text)
    if pa.types.is_floating(kind):
        return float(text)
    if pa.types.is_decimal(kind):
        return Decimal(text)
    if pa.types.is_date(kind):
        return date.fromisoformat(text)
    if pa.types.is_timestamp(kind):
        return _timestamp(text)
    if pa.types.is_binary(kind):
        return bytes.fromhex(text.replace(" ", ""))
    return text


def _timestamp(text: str) -> datetime:
    """'2024-03-01 10:00:00.000' or '2024-03-01 10:00:00.000 UTC' (Athena's forms) as a UTC datetime."""
    day, _, rest = text.partition(" ")
    clock, _, zone = rest.partition(" ")
    moment = datetime.fromisoformat(f"{day} {clock}".strip())
    if zone and zone not in ("UTC", "Z"):
        from zoneinfo import ZoneInfo

        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)
    return moment


def csv_to_arrow(data: bytes, columns: list[dict], where: str = "the result file") -> pa.Table:
    """Athena's result CSV (a header, every value quoted with quotes doubled, NULL an empty unquoted field)
    as an Arrow table with the reported types."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [c["Name"] for c in columns]
    try:
        text = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=[f"c{i}" for i in range(len(names))], skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={f"c{i}": pa.string() for i in range(len(names))},
                                                 strings_can_be_null=True, quoted_strings_can_be_null=False,
                                                 null_values=[""]))
    except pa.ArrowException as error:
        raise AthenaError(f"{where} is not Athena's CSV: {str(error).splitlines()[0]}") from None
    arrays = []
    for index, column in enumerate(columns):
        kind = arrow_type(column)
        strings = text.column(index).combine_chunks() if text.num_rows else pa.array([], pa.string())
        try:
            arrays.append(_typed(strings, kind))
        except (ValueError, pa.ArrowException) as error:
            raise AthenaError(f"Athena's column {column['Name']} is not {column.get('Type')}: {error}") from None
    return pa.Table.from_arrays(arrays, names=names)


def _typed(strings: pa.Array, kind: pa.DataType) -> pa.Array:
    """Text values as `kind`: Arrow's casts where they read Athena's forms, Python's reading where not."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(kind):
        return strings
    if pa.types.is_timestamp(kind):
        bare = pc.replace_substring_regex(strings, r" UTC$", "")
        if not pc.any(pc.match_substring_regex(bare, r"^\S+ \S+ ")).as_py():  # no other zone named
            return pc.cast(pc.cast(bare, pa.timestamp("ms")), kind)
    elif not pa.types.is_binary(kind):
        return pc.cast(strings, kind)
    return pa.array([_value(v, kind) for v in strings.to_pylist()], kind)


def to_arrow(columns: list[dict], rows: list[list[str | None]]) -> pa.Table:
    """Rows of Athena's text values as an Arrow table with the reported types; a value that is not of its
    type is an AthenaError naming the column."""
    import pyarrow as pa

    arrays = []
    for index, column in enumerate(columns):
        kind = arrow_type(column)
        try:
            arrays.append(pa.array([_value(row[index] if index < len(row) else None, kind) for row in rows], kind))
        except (ValueError, pa.ArrowException) as error:
            raise AthenaError(f"Athena's column {column['Name']} is not {column.get('Type')}: {error}") from None
    return pa.Table.from_arrays(arrays, names=[c["Name"] for c in columns])
