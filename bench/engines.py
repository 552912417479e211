"""DuckDB against Spark on the analyses benchmark lake (~1 GB of access logs plus CloudTrail, built by
bench/analyses.py): does every analysis give the same answer on both engines, and how long does each take?

    python bench/engines.py [--gb 1.0] [--trail-mb 200]

The answer compared is what `s3logq run NAME` shows: the first 50 rows in the analysis's order and the total.
latency-summary's percentile columns are left out (each engine approximates them its own way; the README says
how) and its groups compared as a set, since each engine orders them by its own p90. One run each: Spark's first
query includes starting the JVM.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

import pyarrow as pa
from analyses import build_lake, lookup_values, values_for  # bench/analyses.py (the scripts run from bench/)

from s3logq.catalog import Analysis, load_catalog
from s3logq.engines import Engine, get_engine
from s3logq.output import TABLE_PREVIEW_ROWS

APPROXIMATE = ("_p50_ms", "_p90_ms", "_p99_ms")


def answer(analysis: Analysis, engine: Engine, values: dict[str, object]) -> tuple[list[dict], int, float]:
    """The first rows (exact columns only), the total, and the seconds it took."""
    start = time.perf_counter()
    table, total = analysis.preview(engine, values, TABLE_PREVIEW_ROWS)
    return _comparable(table), total, time.perf_counter() - start


def _comparable(table: pa.Table) -> list[dict]:
    # DuckDB sums BIGINT into HUGEINT (a decimal in Arrow), Spark into BIGINT: the same numbers
    return [{k: int(v) if isinstance(v, Decimal) else v for k, v in row.items() if not k.endswith(APPROXIMATE)}
            for row in table.to_pylist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="access logs to generate, GB uncompressed")
    parser.add_argument("--trail-mb", type=int, default=200, help="CloudTrail to generate, MB uncompressed")
    args = parser.parse_args()
    lake = build_lake(args.gb, args.trail_mb)
    lookups = lookup_values(lake)
    duckdb, spark = get_engine("duckdb", lake), get_engine("spark", lake)
    print("| analysis | logs | rows | same answer | duckdb s | spark s |\n|---|---|---:|---|---:|---:|")
    same = 0
    catalog = load_catalog()
    for analysis in catalog:
        values = values_for(analysis, {}, lookups)
        duckdb_rows, duckdb_total, duckdb_seconds = answer(analysis, duckdb, values)
        spark_rows, spark_total, spark_seconds = answer(analysis, spark, values)
        if analysis.name == "latency-summary":
            duckdb_rows, spark_rows = sorted(duckdb_rows, key=str), sorted(spark_rows, key=str)
        equal = (duckdb_rows, duckdb_total) == (spark_rows, spark_total)
        same += equal
        print(f"| {analysis.name} | {analysis.log_type} | {duckdb_total:,} | {'yes' if equal else '**no**'} | "
              f"{duckdb_seconds:.2f} | {spark_seconds:.2f} |", flush=True)
    print(f"\n{same} of {len(catalog)} analyses give the same answer on both engines")


if __name__ == "__main__":
    main()
