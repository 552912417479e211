"""`s3logq sql` (and every analysis) reads the lake and nothing else, and changes nothing: no other file read,
no file written, no database attached, no extension installed or loaded, no setting unlocked, no lake part
overwritten. `--allow-files PATH` lets a query read the user's own file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3logq.cli import cli

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
LINES = [
    f'{OWNER} acme [01/Mar/2024:10:00:0{i} +0000] 192.0.2.{i} arn:aws:iam::1:user/a R{i} REST.GET.OBJECT k{i}.txt '
    f'"GET /acme/k{i}.txt HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -'
    for i in range(3)
]


def invoke(lake: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "2024-03-01-10-05-00-AAAA").write_text("\n".join(LINES) + "\n")
    lake = tmp_path / "lake"
    code, _, stderr = invoke(lake, "ingest", str(logs))
    assert code == 0, stderr
    return lake


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("name,value\nkey,hunter2\n")
    return path


def refused(lake: Path, query: str) -> str:
    """The one error line of a query that must be refused (exit 2: the query asks for what sql does not do)."""
    code, out, stderr = invoke(lake, "sql", query, "--format", "csv")
    assert code == 2, (query, out, stderr)
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: ") and "Traceback" not in stderr
    assert "hunter2" not in out + stderr
    return stderr


@pytest.mark.parametrize("reader", ["read_text", "read_csv", "read_blob", "read_json", "glob", "sniff_csv"])
def test_a_query_cannot_read_another_file(lake: Path, secret: Path, reader: str) -> None:
    stderr = refused(lake, f"select * from {reader}('{secret}')")
    assert "Permission Error" in stderr and "--allow-files" in stderr


def test_a_query_cannot_read_outside_the_lake_through_a_parts_path(lake: Path, secret: Path) -> None:
    (part,) = (lake / "access_log").rglob("*.parquet")
    escape = f"{part}/../../../../{secret.name}"  # inside the allowed part's name, then out with ..
    assert Path(escape).resolve() == secret
    refused(lake, f"select * from read_text('{escape}')")


@pytest.mark.parametrize("query", [
    "copy (select 1 as n) to 'OUT'",
    "copy (select * from access_log) to 'OUT' (format parquet)",
    "export database 'OUTDIR'",
])
def test_a_query_cannot_write_a_file(lake: Path, tmp_path: Path, query: str) -> None:
    query = query.replace("OUTDIR", str(tmp_path / "exported")).replace("OUT", str(tmp_path / "out.csv"))
    refused(lake, query)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "exported").exists()


def test_copy_over_a_lake_part_is_refused_and_the_rows_stay(lake: Path) -> None:
    (part,) = (lake / "access_log").rglob("*.parquet")
    before = snapshot(lake)
    # the part's own path is one the engine may read: writing it must still be refused
    for query in (f"copy (select * from access_log limit 1) to '{part}' (format parquet)",
                  f"copy (select 1 as n) to '{part}' (format csv, use_tmp_file false)"):
        refused(lake, query)
    assert snapshot(lake) == before
    code, out, _ = invoke(lake, "sql", "select count(*) as n from access_log", "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 3}]


def test_a_query_cannot_attach_a_database(lake: Path, tmp_path: Path) -> None:
    refused(lake, f"attach '{tmp_path / 'other.duckdb'}' as other")
    refused(lake, f"attach '{lake / 'manifest.sqlite'}' as manifest (type sqlite)")
    assert not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize("query", ["install httpfs", "load httpfs", "force install sqlite", "load sqlite"])
def test_a_query_cannot_install_or_load_an_extension(lake: Path, query: str) -> None:
    stderr = refused(lake, query)
    # refused as such, not merely failed for want of a network or of the extension
    assert "queries only" in stderr or "Permission Error" in stderr


@pytest.mark.parametrize("query", ["set enable_external_access = true", "reset enable_external_access",
                                   "set lock_configuration = false", "set allowed_directories = ['/']",
                                   "select 1; set enable_external_access = true"])
def test_a_query_cannot_unlock_the_configuration(lake: Path, secret: Path, query: str) -> None:
    refused(lake, query)
    refused(lake, f"select * from read_text('{secret}')")


def test_a_query_cannot_unlock_in_the_same_statement_as_its_read(lake: Path, secret: Path) -> None:
    refused(lake, f"set enable_external_access = true; select * from read_text('{secret}')")


def test_allow_files_lets_the_user_read_their_own_file_and_only_it(lake: Path, secret: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a\n1\n")
    code, out, stderr = invoke(lake, "sql", f"select * from read_csv('{secret}')", "--allow-files", str(secret),
                               "--format", "json")
    assert code == 0, stderr
    assert json.loads(out) == [{"name": "key", "value": "hunter2"}]
    code, _, stderr = invoke(lake, "sql", f"select * from read_csv('{other}')", "--allow-files", str(secret))
    assert code == 2 and "Permission Error" in stderr
    # a folder allows what is below it; the lake stays readable beside it
    code, out, stderr = invoke(lake, "sql", f"select (select count(*) from read_csv('{other}')) as mine, "
                               "(select count(*) from access_log) as lake", "--allow-files", str(tmp_path),
                               "--format", "json")
    assert code == 0, stderr
    assert json.loads(out) == [{"mine": 1, "lake": 3}]


def test_allow_files_does_not_allow_writing_them(lake: Path, tmp_path: Path) -> None:
    refused(lake, f"copy (select 1 as n) to '{tmp_path / 'written.csv'}'")
    code, _, stderr = invoke(lake, "sql", f"copy (select 1 as n) to '{tmp_path / 'written.csv'}'",
                             "--allow-files", str(tmp_path))
    assert code == 2 and "queries only" in stderr
    assert not (tmp_path / "written.csv").exists()


def test_queries_of_every_shape_still_answer(lake: Path) -> None:
    query = ("with t as (select key from access_log) select count(*) as n from t union all "
             "select count(*) from rejects union all select count(*) from (describe access_log) "
             "union all select count(*) from cloudtrail")
    code, out, stderr = invoke(lake, "sql", query, "--format", "json")
    assert code == 0, stderr
    assert [row["n"] for row in json.loads(out)][:2] == [3, 0]
    code, out, stderr = invoke(lake, "sql", "summarize access_log", "--format", "csv")
    assert code == 0, stderr


def test_an_analysis_runs_under_the_same_rules(lake: Path) -> None:
    from s3logq.catalog import find_analysis
    from s3logq.engines import QueryError
    from s3logq.engines.duckdb import DuckDBEngine
    from s3logq.lake import Lake

    engine = DuckDBEngine(Lake(lake))
    assert find_analysis("requests", "access").run(engine, {}).num_rows == 3
    with pytest.raises(QueryError, match="Permission Error"):
        engine.query("select * from read_text('/etc/hostname')")
    code, out, stderr = invoke(lake, "run", "requests", "--format", "csv")
    assert code == 0 and len(out.splitlines()) == 4, stderr


# --- the same rules on --engine spark (checked before Spark starts: no JVM needed) --------------------------

@pytest.mark.parametrize("query, refusal", [
    ("select * from text.\"SECRET\"", "queries read the tables"),  # Spark reads a file named as a table
    ("select * from parquet.\"LAKE/manifest.sqlite\"", "queries read the tables"),
    ("select * from read_files('SECRET')", "read_files(): on --engine spark"),
    ("copy (select 1) to 'OUT'", "queries only"),
    ("insert into access_log select * from access_log", "queries only"),
    ("set spark.sql.warehouse.dir = '/tmp'", "queries only"),
    ("select reflect('java.lang.System', 'getenv', 'HOME')", "calls Java"),
])
def test_spark_refuses_what_reads_or_writes_other_files(lake: Path, secret: Path, tmp_path: Path, query: str,
                                                        refusal: str) -> None:
    query = query.replace("SECRET", str(secret)).replace("LAKE", str(lake)).replace("OUT", str(tmp_path / "o"))
    code, _, stderr = invoke(lake, "sql", query, "--engine", "spark")
    assert code == 2 and refusal in stderr and len(stderr.splitlines()) == 1, stderr


def test_every_analysis_passes_sparks_read_only_check() -> None:
    from s3logq.catalog import load_catalog
    from s3logq.engines.spark import check_read_only

    for analysis in load_catalog():
        check_read_only(analysis.sql)  # raises on an analysis the check would refuse
    check_read_only("with mine as (select * from access_log) select * from mine, cloudtrail, rejects")
