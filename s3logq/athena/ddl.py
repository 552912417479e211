"""The DDL that puts raw logs in Athena's catalog: external tables over the log prefixes (access logs through
a RegexSerDe, CloudTrail through CloudTrailInputFormat and the JSON SerDe), with partition projection where the
layout has dates, and the views `access_log` and `cloudtrail` with the lake's columns and types.

Column lists come from the lake's schemas (`ACCESS_SCHEMA`, `FIELDS`, CloudTrail's `SCHEMA`), so a column
added to the lake is a column here, or an error naming it, never a silent difference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa

from s3logq.formats.access_log import ACCESS_SCHEMA, FIELDS
from s3logq.formats.cloudtrail import SCHEMA as CLOUDTRAIL_SCHEMA

RAW_TABLES = {"access_log": "access_log_raw", "cloudtrail": "cloudtrail_raw"}
DAY_COLUMN = "log_day"  # the projected date partition ('yyyy/MM/dd', as in the S3 keys), kept in the views
DAY_FORMAT = "yyyy/MM/dd"
FIRST_DAY = date(2020, 1, 1)

# AWS's documented regex (S3 User Guide, Athena table for server access logs), one group per column.
# Quoted fields are `("[^"]*"|-)`: a `\"` inside the request-URI or user agent ends the field, the line no
# longer matches, and RegexSerDe returns the row as all NULLs.
AWS_ACCESS_REGEX = (
    r'([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*) ([^ ]*))?.*$'
)

# Ours reads what that one loses, the way the lake's careful parser does: a quoted field takes `\x` escapes
# as pairs, and stretches over a raw quote (lazily) when only that lets the rest of the line match; the
# fields after the user agent never hold a quote. Only constructs that java.util.regex (Athena) and Python's
# `re` read the same way, so the tests can run it here.
_TOKEN = r"([^ ]+)"
_QUOTED = r'("(?:\\.|[^\\])*?"|-)'
_TRAILING = (r'(?: ([^ "]+)' * 10) + ")?" * 10 + r'(?: [^ "]+)* ?'  # version ID ... source region, then unknown
ACCESS_REGEX = (
    " ".join([_TOKEN, _TOKEN, r"\[([^\] ]+ [+-]\d{4})\]", *[_TOKEN] * 5, _QUOTED, r"(\d{3}|-)", _TOKEN,
              *[r"(\d+|-)"] * 4, _QUOTED, _QUOTED]) + _TRAILING
)

# The raw access-log columns, in log order: the lake's field names, the bracketed time as one column.
ACCESS_RAW_COLUMNS = tuple(["requestdatetime" if n == "time_part" else n for n in FIELDS if n != "tz_part"])
_QUOTED_COLUMNS = ("request_uri", "referrer", "useragent")
# Lake columns the raw table does not read from a key of the same name: computed in the view.
_CLOUDTRAIL_DERIVED = ("event_time", "bucket_name", "object_key", "user_arn", "account_id", "log_file", "unmapped")

# Athena's regions for projection when the layout has a region folder and none is named.
AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
    "il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
)  # fmt: skip


class DDLError(ValueError):
    """A log location or name that no DDL can be written for: one line saying what to give instead."""


@dataclass(frozen=True)
class LogLocation:
    """Where one log type lies in S3, and how its keys are laid out.

    `template` is the key layout with `${column}` for each projected partition (None: one flat prefix that
    Athena cannot prune, the SimplePrefix layout); `enums` the values of the projected columns other than
    the day.
    """

    table: str  # "access_log" or "cloudtrail"
    location: str
    template: str | None = None
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def partitioned(self) -> bool:
        return self.template is not None


_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")
_ACCOUNT = r"\d{12}"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
_PARTITIONED_TAIL = re.compile(rf"^(?P<prefix>.*?)(?P<account>{_ACCOUNT})/(?P<region>{_REGION})/(?P<bucket>[^/]+)/$")
_TRAIL = re.compile(rf"^(?P<root>.*?AWSLogs/)(?P<org>o-[a-z0-9]+/)?(?:(?P<account>{_ACCOUNT})/"
                    rf"(?:CloudTrail/(?:(?P<region>{_REGION})/)?)?)?$")


def _folder(uri: str) -> str:
    if not _S3_URI.match(uri) or "'" in uri or "$" in uri:
        raise DDLError(f"not an s3://bucket/prefix/ location: {uri!r}")
    return uri if uri.endswith("/") else uri + "/"


def access_location(uri: str, accounts: tuple[str, ...] = (), regions: tuple[str, ...] = (),
                    source_buckets: tuple[str, ...] = (), partitioned: bool | None = None) -> LogLocation:
    """The access logs at `uri`: PartitionedPrefix when the URI ends in ACCOUNT/REGION/BUCKET/ (AWS's one table
    per source bucket) or when asked (with the accounts and source buckets to project), else SimplePrefix."""
    folder = _folder(uri)
    tail = _PARTITIONED_TAIL.match(folder)
    if tail and partitioned is not False:
        return LogLocation("access_log", folder, folder + "${" + DAY_COLUMN + "}")
    if not (partitioned or accounts or source_buckets):
        return LogLocation("access_log", folder)
    missing = [flag for flag, given in (("--account", accounts), ("--source-bucket", source_buckets)) if not given]
    if missing:
        raise DDLError(f"a PartitionedPrefix layout under {folder} needs {' and '.join(missing)} (repeatable), "
                       "or a URI down to ACCOUNT/REGION/SOURCE-BUCKET/")
    enums = {"account": _checked(accounts, _ACCOUNT, "account"), "region": _checked(regions or AWS_REGIONS, _REGION,
                                                                                    "region"),
             "source_bucket": _checked(source_buckets, r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", "source bucket")}
    return LogLocation("access_log", folder, folder + "${account}/${region}/${source_bucket}/${" + DAY_COLUMN + "}",
                       enums)


def cloudtrail_location(uri: str, accounts: tuple[str, ...] = (), regions: tuple[str, ...] = ()) -> LogLocation:
    """The trail at `uri` (.../AWSLogs/[o-ORG/][ACCOUNT/[CloudTrail/[REGION/]]]): projected on the day, and
    on the account and region where the URI does not name them."""
    folder = _folder(uri)
    match = _TRAIL.match(folder)
    if not match:
        raise DDLError(f"{folder} is not a CloudTrail location (expected s3://bucket/[prefix/]AWSLogs/"
                       "[o-ORG/][ACCOUNT/CloudTrail/REGION/])")
    base = match["root"] + (match["org"] or "")
    enums: dict[str, tuple[str, ...]] = {}
    if match["account"]:
        account = match["account"]
    elif accounts:
        account, enums["account"] = "${account}", _checked(accounts, _ACCOUNT, "account")
    else:
        raise DDLError(f"name the trail's accounts under {folder} with --account (repeatable), "
                       "or give a URI down to AWSLogs/ACCOUNT/")
    if match["region"]:
        region = match["region"]
    else:
        region, enums["region"] = "${region}", _checked(regions or AWS_REGIONS, _REGION, "region")
    template = f"{base}{account}/CloudTrail/{region}/${{{DAY_COLUMN}}}"
    return LogLocation("cloudtrail", template.split("${", 1)[0], template, enums)


def _checked(values: tuple[str, ...], pattern: str, what: str) -> tuple[str, ...]:
    for value in values:
        if not re.fullmatch(pattern, value):
            raise DDLError(f"not an AWS {what}: {value!r}")
    return tuple(dict.fromkeys(values))


def check_database(name: str) -> str:
    """A Glue database name as Athena takes it unquoted (lower case, digits, underscores)."""
    if not re.fullmatch(r"[a-z0-9_]{1,255}", name):
        raise DDLError(f"database name {name!r}: use lower-case letters, digits and underscores")
    return name


# --- types --------------------------------------------------------------------------------------------------

def hive_type(arrow_type: pa.DataType) -> str:
    """An Arrow type as a Hive DDL column type."""
    if pa.types.is_struct(arrow_type):
        return "struct<" + ",".join(f"{f.name}:{hive_type(f.type)}" for f in arrow_type) + ">"
    if pa.types.is_list(arrow_type):
        return f"array<{hive_type(arrow_type.value_type)}>"
    if pa.types.is_map(arrow_type):
        return f"map<{hive_type(arrow_type.key_type)},{hive_type(arrow_type.item_type)}>"
    return _scalar_type(arrow_type, {"string": "string", "int16": "smallint", "int32": "int", "int64": "bigint",
                                     "bool": "boolean"})


def trino_type(arrow_type: pa.DataType) -> str:
    """An Arrow type as the Trino (Athena engine 3) type of a view column."""
    if pa.types.is_struct(arrow_type):
        return "ROW(" + ", ".join(f"{f.name} {trino_type(f.type)}" for f in arrow_type) + ")"
    if pa.types.is_list(arrow_type):
        return f"ARRAY({trino_type(arrow_type.value_type)})"
    if pa.types.is_map(arrow_type):
        return f"MAP({trino_type(arrow_type.key_type)}, {trino_type(arrow_type.item_type)})"
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        return "TIMESTAMP(3) WITH TIME ZONE"  # Athena's precision; the lake keeps microseconds
    return _scalar_type(arrow_type, {"string": "VARCHAR", "int16": "SMALLINT", "int32": "INTEGER",
                                     "int64": "BIGINT", "bool": "BOOLEAN"})


def _scalar_type(arrow_type: pa.DataType, names: dict[str, str]) -> str:
    name = "string" if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) else str(arrow_type)
    if name not in names:
        raise DDLError(f"no Athena column type for the lake's {arrow_type}")
    return names[name]


# --- statements ---------------------------------------------------------------------------------------------

def _literal(text: str) -> str:
    """A Hive DDL string literal: backslash is its escape character."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _table_properties(location: LogLocation, first_day: date) -> str:
    if not location.partitioned:
        return ""
    assert location.template is not None
    properties = {"projection.enabled": "true", f"projection.{DAY_COLUMN}.type": "date",
                  f"projection.{DAY_COLUMN}.format": DAY_FORMAT,
                  f"projection.{DAY_COLUMN}.range": f"{first_day:%Y/%m/%d},NOW",
                  f"projection.{DAY_COLUMN}.interval": "1", f"projection.{DAY_COLUMN}.interval.unit": "DAYS"}
    for column, values in location.enums.items():
        properties |= {f"projection.{column}.type": "enum", f"projection.{column}.values": ",".join(values)}
    properties["storage.location.template"] = location.template
    return "\nTBLPROPERTIES (\n" + ",\n".join(f"  {_literal(k)}={_literal(v)}" for k, v in properties.items()) + "\n)"


def _partition_clause(location: LogLocation) -> str:
    if not location.partitioned:
        return ""
    columns = [*location.enums, DAY_COLUMN]
    return "\nPARTITIONED BY (" + ", ".join(f"`{c}` string" for c in columns) + ")"


def access_raw_table(database: str, location: LogLocation, first_day: date = FIRST_DAY,
                     regex: str = ACCESS_REGEX) -> str:
    """CREATE EXTERNAL TABLE over raw access-log lines: one string column per regex group, in log order."""
    columns = ",\n".join(f"  `{name}` string" for name in ACCESS_RAW_COLUMNS)
    return (f"CREATE EXTERNAL TABLE {database}.{RAW_TABLES['access_log']} (\n{columns}\n)"
            f"{_partition_clause(location)}\n"
            "ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'\n"
            f"WITH SERDEPROPERTIES ('input.regex'={_literal(regex)})\n"
            "STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'\n"
            "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
            f"LOCATION {_literal(location.location)}{_table_properties(location, first_day)}")


def cloudtrail_raw_columns() -> list[tuple[str, str]]:
    """(name, Hive type) of the raw CloudTrail table: each lake column read straight from a record key (the
    JSON SerDe matches keys without regard to case); flags stay text, typed in the view."""
    columns = [(f.name, "string" if pa.types.is_boolean(f.type) else hive_type(f.type))
               for f in CLOUDTRAIL_SCHEMA if f.name not in _CLOUDTRAIL_DERIVED]
    return columns if "eventtime" in dict(columns) else [*columns, ("eventtime", "string")]


def cloudtrail_raw_table(database: str, location: LogLocation, first_day: date = FIRST_DAY) -> str:
    """CREATE EXTERNAL TABLE over CloudTrail files (AWS's CloudTrailInputFormat reads each record as a row)."""
    columns = ",\n".join(f"  `{name}` {kind}" for name, kind in cloudtrail_raw_columns())
    return (f"CREATE EXTERNAL TABLE {database}.{RAW_TABLES['cloudtrail']} (\n{columns}\n)"
            f"{_partition_clause(location)}\n"
            "ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'\n"
            "STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'\n"
            "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n"
            f"LOCATION {_literal(location.location)}{_table_properties(location, first_day)}")


def _unquoted(column: str) -> str:
    """A quoted field's text: quotes off, `\\x` escapes undone (as the lake's parser does)."""
    return (f"regexp_replace(CASE WHEN {column} LIKE '\"%' THEN substr({column}, 2, length({column}) - 2) "
            f"ELSE {column} END, '\\\\(.)', '$1')")


# a '%' not starting an escape: the one or two characters after it are captured and put back after '%25'
_LONE_PERCENT = "%([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$)"


def access_view_expressions() -> dict[str, str]:
    """Each lake access_log column as an expression over the raw table's strings ('-' is NULL)."""
    text = {name: f"nullif({name}, '-')" for name in ACCESS_RAW_COLUMNS}
    text |= {name: f"nullif({_unquoted(name)}, '-')" for name in _QUOTED_COLUMNS}
    # url_decode reads '+' as a space and fails on the whole key at one bad escape; the lake keeps '+' and a '%'
    # without two hex digits, and decodes the rest: such a '%' is escaped first (%25), so url_decode does too
    text["key"] = (f"coalesce(try(url_decode(regexp_replace(replace({text['key']}, '+', '%2B'), "
                   f"'{_LONE_PERCENT}', '%25$1'))), {text['key']})")
    text["request_time"] = "at_timezone(parse_datetime(requestdatetime, 'dd/MMM/yyyy:HH:mm:ss Z'), 'UTC')"
    text["http_method"] = (f"CASE WHEN strpos({text['request_uri']}, ' ') > 0 "
                           f"THEN split_part({text['request_uri']}, ' ', 1) END")
    text["log_file"] = '"$path"'
    text["log_line"] = "NULL"  # Athena does not number lines; ties in time order by file only
    return text


def cloudtrail_view_expressions() -> dict[str, str]:
    """Each lake cloudtrail column as an expression over the raw table."""
    text = {name: name for name, _ in cloudtrail_raw_columns()}
    text |= {f.name: f"lower({f.name}) = 'true'" for f in CLOUDTRAIL_SCHEMA if pa.types.is_boolean(f.type)}
    text |= {"event_time": "at_timezone(from_iso8601_timestamp(eventtime), 'UTC')",
             "bucket_name": "json_extract_scalar(requestparameters, '$.bucketName')",
             "object_key": "json_extract_scalar(requestparameters, '$.key')",
             "user_arn": "useridentity.arn",
             "account_id": "coalesce(useridentity.accountid, recipientaccountid)",
             "log_file": "log_path",
             # the lake keeps there what its typed columns cannot hold; the JSON SerDe drops it
             "unmapped": "NULL"}
    return text


def _select_list(schema: pa.Schema, expressions: dict[str, str]) -> str:
    missing = [f.name for f in schema if f.name not in expressions]
    if missing:
        raise DDLError(f"no Athena expression for the lake's column(s) {', '.join(missing)}")
    return ",\n".join(f"  CAST({expressions[f.name]} AS {trino_type(f.type)}) AS {f.name}" for f in schema)


def _day_expression(location: LogLocation) -> str:
    return DAY_COLUMN if location.partitioned else "CAST(NULL AS VARCHAR)"


def _day_column(location: LogLocation) -> str:
    return DAY_COLUMN if location.partitioned else f"{_day_expression(location)} AS {DAY_COLUMN}"


def access_view(database: str, location: LogLocation) -> str:
    """The view `access_log`: the lake's columns and types over the raw lines, unmatched lines left out
    (RegexSerDe gives them as all-NULL rows), plus the day partition for pruning."""
    return (f"CREATE OR REPLACE VIEW {database}.access_log AS\nSELECT\n"
            f"{_select_list(ACCESS_SCHEMA, access_view_expressions())},\n  {_day_column(location)}\n"
            f"FROM {database}.{RAW_TABLES['access_log']}\nWHERE requestdatetime IS NOT NULL")


def cloudtrail_view(database: str, location: LogLocation) -> str:
    """The view `cloudtrail`: the lake's columns and types, one row per eventID and day folder (the partition
    key in the window lets a day filter reach the projection), records without a readable time left out."""
    return (f"CREATE OR REPLACE VIEW {database}.cloudtrail AS\nSELECT\n"
            f"{_select_list(CLOUDTRAIL_SCHEMA, cloudtrail_view_expressions())},\n  {_day_column(location)}\n"
            f"FROM (\n  SELECT raw.*, \"$path\" AS log_path,\n"
            f"    row_number() OVER (PARTITION BY {_day_expression(location)}, eventid "
            "ORDER BY \"$path\") AS copy_number\n"
            f"  FROM {database}.{RAW_TABLES['cloudtrail']} AS raw\n"
            "  WHERE try(from_iso8601_timestamp(eventtime)) IS NOT NULL\n) AS numbered\n"
            "WHERE eventid IS NULL OR copy_number = 1")


@dataclass(frozen=True)
class Statement:
    """One statement `setup` sends, and what it is for (printed as a comment by `ddl`)."""

    purpose: str
    sql: str


def raw_log_statements(database: str, access: LogLocation | None, cloudtrail: LogLocation | None,
                       first_day: date = FIRST_DAY) -> list[Statement]:
    """Every statement that makes `database` answer the catalog over raw logs, in order."""
    check_database(database)
    if access is None and cloudtrail is None:
        raise DDLError("give --access and/or --cloudtrail (s3:// locations of the logs)")
    statements = [Statement(f"database {database}", f"CREATE DATABASE IF NOT EXISTS {database}")]
    if access is not None:
        how = ("partition projection on the day" if access.partitioned else
               "SimplePrefix layout: no date folders, so every query reads the whole prefix "
               "(s3logq lake push gives day partitions)")
        statements += [Statement(f"access logs at {access.location}: {how}",
                                 f"DROP TABLE IF EXISTS {database}.{RAW_TABLES['access_log']}"),
                       Statement("raw access-log lines", access_raw_table(database, access, first_day)),
                       Statement("access_log, typed as in the lake", access_view(database, access))]
    if cloudtrail is not None:
        statements += [Statement(f"CloudTrail at {cloudtrail.location}: partition projection on "
                                 + ", ".join([*cloudtrail.enums, "the day"]),
                                 f"DROP TABLE IF EXISTS {database}.{RAW_TABLES['cloudtrail']}"),
                       Statement("raw CloudTrail records", cloudtrail_raw_table(database, cloudtrail, first_day)),
                       Statement("cloudtrail, typed as in the lake, one row per eventID", cloudtrail_view(database,
                                                                                                      cloudtrail))]
    return statements


def script(statements: list[Statement]) -> str:
    """The statements as one SQL script, each with its purpose as a comment."""
    return "\n\n".join(f"-- {s.purpose}\n{s.sql};" for s in statements) + "\n"


# --- the lake, published by `s3logq lake push` ----------------------------------------------------------------

LAKE_DAY_FORMAT = "yyyy-MM-dd"  # the lake's folders, <table>/day=YYYY-MM-DD/, as pushed


def lake_hive_type(arrow_type: pa.DataType) -> str:
    """A lake column's type in a Parquet table: its times as Hive `timestamp` (Parquet's UTC instants)."""
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    return hive_type(arrow_type)


def lake_table(database: str, table: str, schema: pa.Schema, location: str, partitioned: bool,
               first_day: date = FIRST_DAY) -> str:
    """CREATE EXTERNAL TABLE over one table's pushed Parquet parts; a day table is projected on `log_day`
    (the same column as the raw-log views, so the engine's day filter prunes both)."""
    columns = ",\n".join(f"  `{f.name}` {lake_hive_type(f.type)}" for f in schema)
    sql = f"CREATE EXTERNAL TABLE {database}.{table} (\n{columns}\n)"
    if partitioned:
        sql += f"\nPARTITIONED BY (`{DAY_COLUMN}` string)"
    sql += f"\nSTORED AS PARQUET\nLOCATION {_literal(location)}"
    if partitioned:
        properties = {"projection.enabled": "true", f"projection.{DAY_COLUMN}.type": "date",
                      f"projection.{DAY_COLUMN}.format": LAKE_DAY_FORMAT,
                      f"projection.{DAY_COLUMN}.range": f"{first_day:%Y-%m-%d},NOW",
                      f"projection.{DAY_COLUMN}.interval": "1", f"projection.{DAY_COLUMN}.interval.unit": "DAYS",
                      "storage.location.template": location + "day=${" + DAY_COLUMN + "}/"}
        sql += ("\nTBLPROPERTIES (\n" + ",\n".join(f"  {_literal(k)}={_literal(v)}" for k, v in properties.items())
                + "\n)")
    return sql


def lake_statements(database: str, uri: str, first_day: date = FIRST_DAY) -> list[Statement]:
    """Every statement that makes `database` answer the catalog over a lake pushed to `uri`: Parquet tables
    access_log and cloudtrail projected on the day folders, and rejects (no day) over its one folder."""
    from s3logq.writer import REJECTS_SCHEMA

    check_database(database)
    folder = _folder(uri)
    statements = [Statement(f"database {database}", f"CREATE DATABASE IF NOT EXISTS {database}")]
    for table, schema in (("access_log", ACCESS_SCHEMA), ("cloudtrail", CLOUDTRAIL_SCHEMA),
                          ("rejects", REJECTS_SCHEMA)):
        partitioned = table != "rejects"
        how = "projected on the day" if partitioned else "no day"
        statements += [Statement(f"{table} at {folder}{table}/: {how}", f"DROP TABLE IF EXISTS {database}.{table}"),
                       Statement(f"{table}, the lake's Parquet parts",
                                 lake_table(database, table, schema, f"{folder}{table}/", partitioned, first_day))]
    return statements


def day_ranges(first: date | None, last: date | None) -> list[tuple[str | None, str | None]]:
    """Ranges of partition text that hold exactly the days first..last (None: unbounded) in both folder formats,
    the raw logs' 'yyyy/MM/dd' and the lake's 'yyyy-MM-dd'.

    Sorted as text, the two formats interleave by year ('2024-..' < '2024/..' < '2025-..', as '-' < '/'), so
    one range per format is not enough when the days span a new year: '2024/12/30'..'2025/01/02' also holds
    '2025-06-01'. Three ranges are exact: the lake's days of the first year, everything from the raw first
    day to the lake's last day (the whole years between, both formats), and the raw days of the last year."""
    ranges: list[tuple[str | None, str | None]] = []
    if first is None or last is None or first.year < last.year:
        ranges.append((f"{first:%Y/%m/%d}" if first else None, f"{last:%Y-%m-%d}" if last else None))
    if last is not None:
        start_of_year = date(last.year, 1, 1)
        ranges.append((f"{max(first, start_of_year) if first else start_of_year:%Y/%m/%d}", f"{last:%Y/%m/%d}"))
    if first is not None:
        end_of_year = date(first.year, 12, 31)
        ranges.append((f"{first:%Y-%m-%d}", f"{min(last, end_of_year) if last else end_of_year:%Y-%m-%d}"))
    return ranges
