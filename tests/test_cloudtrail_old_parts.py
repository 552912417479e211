"""A lake written before the cloudtrail table gained its new columns (sharedeventid, unmapped, useridentity.onbehalfof,
sessioncontext.webidfederationdata, ...) is still read, next to new parts, by DuckDB and Spark: old rows have NULL
in the new columns, and every analysis runs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from s3logq.catalog import load_catalog
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.formats.cloudtrail import SCHEMA
from s3logq.ingest import ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

DAY = Path(__file__).parent / "fixtures" / "cloudtrail" / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02"
OLD_PART_FILE = DAY / "111122223333_CloudTrail_us-east-1_20240302T0005Z_B2c3D4e5F6g7H8i9.json.gz"
NEW_PART_FILES = [DAY / "111122223333_CloudTrail_us-east-1_20240302T1315Z_C3d4E5f6G7h8I9j0.json.gz",
                  DAY / "111122223333_CloudTrail_us-east-1_20240302T1320Z_D4e5F6g7H8i9J0k1.json.gz"]

# The table as s3logq wrote it until issue 16 (commit 1b623d9).
_S = pa.string()
_OLD_IDENTITY = pa.struct([
    ("type", _S), ("principalid", _S), ("arn", _S), ("accountid", _S), ("invokedby", _S), ("accesskeyid", _S),
    ("username", _S), ("sessioncontext", pa.struct([
        ("attributes", pa.struct([("mfaauthenticated", _S), ("creationdate", _S)])),
        ("sessionissuer", pa.struct([(n, _S) for n in ("type", "principalid", "arn", "accountid", "username")]))]))])
OLD_SCHEMA = pa.schema([
    ("eventversion", _S), ("useridentity", _OLD_IDENTITY), ("event_time", pa.timestamp("ms", tz="UTC")),
    *[(n, _S) for n in ("eventsource", "eventname", "awsregion", "sourceipaddress", "useragent", "errorcode",
                        "errormessage", "requestparameters", "responseelements", "additionaleventdata", "requestid",
                        "eventid")],
    ("readonly", pa.bool_()), ("resources", pa.list_(pa.struct([("arn", _S), ("accountid", _S), ("type", _S)]))),
    ("eventtype", _S), ("managementevent", pa.bool_()), ("recipientaccountid", _S), ("eventcategory", _S),
    ("vpcendpointid", _S), ("tlsdetails", pa.struct([(n, _S) for n in ("tlsversion", "ciphersuite",
                                                                      "clientprovidedhostheader")])),
    *[(n, _S) for n in ("bucket_name", "object_key", "user_arn", "account_id", "log_file")],
])  # fmt: skip


def _as_old(table: pa.Table) -> pa.Table:
    """A table of today's schema with only the columns and fields of the old one."""
    return pa.Table.from_pylist(table.to_pylist(), schema=OLD_SCHEMA)


@pytest.fixture(scope="module")
def mixed_lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Lake]:
    """A lake with old parts and new parts for the same days, and a lake of the same files all new."""
    root = tmp_path_factory.mktemp("lakes")
    mixed = Lake(root / "mixed")
    ingest(mixed, list_sources([str(OLD_PART_FILE)]))
    for part in mixed.part_files("cloudtrail"):
        pq.write_table(_as_old(pq.read_table(part)), part)
        assert pq.read_schema(part).remove_metadata() == OLD_SCHEMA
    ingest(mixed, list_sources([str(p) for p in NEW_PART_FILES]))
    fresh = Lake(root / "fresh")
    ingest(fresh, list_sources([str(OLD_PART_FILE), *map(str, NEW_PART_FILES)]))
    return mixed, fresh


QUERY = "SELECT * FROM cloudtrail ORDER BY eventid"


def _rows(engine: object) -> list[dict]:
    """The table's columns (without DuckDB's `day`, from the part paths, and the lake's own log_file)."""
    return [{k: v for k, v in row.items() if k in SCHEMA.names and k != "log_file"}
            for row in engine.query(QUERY).to_pylist()]  # type: ignore[attr-defined]


def _expected(fresh: Lake) -> list[dict]:
    """The fresh lake's rows, with what an old part cannot hold emptied for the old file's events."""
    old_events = {r["eventid"] for r in DuckDBEngine(fresh).query(
        "SELECT eventid FROM cloudtrail WHERE log_file = $f", {"f": str(OLD_PART_FILE)}).to_pylist()}
    rows = _rows(DuckDBEngine(fresh))
    assert 0 < len(old_events) < len(rows)
    for row in rows:
        if row["eventid"] in old_events:
            old = _as_old(pa.Table.from_pylist([{k: v for k, v in row.items() if k in OLD_SCHEMA.names}])).to_pylist()[0]
            row.update({name: None for name in row if name not in OLD_SCHEMA.names})
            row["useridentity"] = _widened(old["useridentity"], row["useridentity"])
            row["resources"] = [{**item, "arnprefix": None} for item in old["resources"] or []] or old["resources"]
    return rows


def _widened(old: dict | None, new: dict | None) -> dict | None:
    """The old value with today's fields added as NULL (struct by struct)."""
    if old is None or new is None:
        return old
    return {k: (_widened(old.get(k), v) if isinstance(v, dict) else old.get(k)) for k, v in new.items()}


def test_duckdb_reads_old_and_new_parts_together(mixed_lake: tuple[Lake, Lake]) -> None:
    mixed, fresh = mixed_lake
    rows = _rows(DuckDBEngine(mixed))
    assert rows == _expected(fresh)
    unmapped = [r["unmapped"] for r in rows]
    assert unmapped.count(None) >= 2 and '{"responseElements":null}' in unmapped


def test_every_cloudtrail_analysis_runs_on_the_mixed_lake(mixed_lake: tuple[Lake, Lake]) -> None:
    mixed, fresh = mixed_lake
    for analysis in (a for a in load_catalog() if a.log_type == "cloudtrail"):
        assert analysis.run(DuckDBEngine(mixed), {}).to_pylist() == analysis.run(DuckDBEngine(fresh), {}).to_pylist()


def test_spark_reads_old_and_new_parts_together(mixed_lake: tuple[Lake, Lake]) -> None:
    pytest.importorskip("pyspark")
    from s3logq.engines.spark import SparkEngine, stop_spark

    mixed, fresh = mixed_lake
    try:
        rows = _rows(SparkEngine(mixed))
    finally:
        stop_spark()
    assert _normalised(rows) == _normalised(_expected(fresh))


def _normalised(rows: list[dict]) -> list[dict]:
    """Spark gives maps as lists of pairs, DuckDB as dicts."""
    def value(v: object) -> object:
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        if isinstance(v, list):
            return sorted(map(value, v), key=repr) if v and isinstance(v[0], tuple) else [value(x) for x in v]
        return v
    return [value(r) for r in rows]
