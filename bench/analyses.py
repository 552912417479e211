"""Analysis speed: every analysis of the catalog (both log types) on a lake of ~1 GB of access logs plus
CloudTrail, with a one-day + one-bucket filter and with no filter.

    python bench/analyses.py [--gb 1.0] [--trail-mb 200] [--runs 5]

Prints a markdown table, per analysis, of median seconds of:
- the answer `s3logq run NAME` prints (its default terminal view: the first 50 rows in order and the total
  count), in-process through `Analysis.preview`, with day+bucket and with no filter; the 1 s bar of issue 4
  applies to these;
- the same command as a whole `s3logq` process (Python start-up, imports and printing included), no filter;
- every row fetched as one Arrow table (`Analysis.run`, what csv/json/parquet exports start from), no filter.
Then, for the analyses that return the whole lake, all rows written to a csv file by a whole process.
The logs and the lake are built once under bench/data/analyses/ and reused while their settings match.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from timing import median_seconds  # bench/timing.py (the scripts run from bench/)

from s3logq.catalog import Analysis, load_catalog
from s3logq.demo import ACCESS_BUCKETS, write_access_logs, write_cloudtrail_logs
from s3logq.engines import get_engine
from s3logq.ingest import IngestOptions, default_workers, ingest
from s3logq.lake import Lake
from s3logq.output import TABLE_PREVIEW_ROWS
from s3logq.sources import list_sources

DATA = Path(__file__).parent / "data" / "analyses"
BAR_SECONDS = 1.0
LAKE_LAYOUT = 3  # bump when the writer changes how parts are written, so that the lake is rebuilt
ACCESS_FILE_BYTES = 500_000  # a few hundred KB per delivered file, so the logs span about a week
TRAIL_FILES = 400
WHOLE_LAKE = ("requests", "latency")  # the analyses that return (almost) every row when not filtered
ONE_DAY = {"since": datetime(2024, 3, 2, tzinfo=UTC), "until": datetime(2024, 3, 3, tzinfo=UTC),
           "bucket": ACCESS_BUCKETS[0]}


def build_lake(gb: float, trail_mb: int) -> Lake:
    """The benchmark lake, built from generated logs unless one with the same settings exists."""
    stamp = f"access={gb}GB trail={trail_mb}MB layout={LAKE_LAYOUT}\n"
    marker = DATA / "built"
    lake = Lake(DATA / "lake")
    if marker.exists() and marker.read_text() == stamp:
        return lake
    shutil.rmtree(DATA, ignore_errors=True)
    access_bytes = int(gb * 1e9)
    started = time.perf_counter()
    write_access_logs(DATA / "logs" / "access", access_bytes, files=max(1, access_bytes // ACCESS_FILE_BYTES),
                      gzip=True)
    write_cloudtrail_logs(DATA / "logs" / "trail", trail_mb * 1_000_000, files=TRAIL_FILES)
    print(f"generated logs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    report = ingest(lake, list_sources([str(DATA / "logs")]), IngestOptions(workers=default_workers()))
    print(f"ingested {report.rows} in {report.seconds:.0f} s", file=sys.stderr)
    marker.write_text(stamp)
    return lake


def lookup_values(lake: Lake) -> dict[str, object]:
    """A request ID and an object key that exist, for the analyses that look one thing up."""
    engine = get_engine("duckdb", lake)
    row = engine.query("SELECT requestid, key FROM access_log WHERE key IS NOT NULL AND bucket_name = $bucket "
                       "ORDER BY request_time DESC, requestid LIMIT 1", {"bucket": ONE_DAY["bucket"]})
    return {"request_id": row.column("requestid")[0].as_py(), "key": row.column("key")[0].as_py()}


def values_for(analysis: Analysis, base: dict[str, object], lookups: dict[str, object]) -> dict[str, object]:
    """The filters an analysis takes out of `base`; request-lookup and object-history also get their target."""
    values = {k: v for k, v in base.items() if k in analysis.parameters}
    if analysis.name in ("request-lookup", "object-history"):
        values.update({k: v for k, v in lookups.items() if k in analysis.parameters})
    return values


def time_answer(analysis: Analysis, lake: Lake, values: dict[str, object], runs: int) -> tuple[int, float]:
    """Total rows and median seconds of the terminal view (50 rows + count), each run on a fresh connection."""
    engine = get_engine("duckdb", lake)
    total = 0

    def answer() -> None:
        nonlocal total
        total = analysis.preview(engine, values, TABLE_PREVIEW_ROWS)[1]

    seconds = median_seconds(answer, runs)
    return total, seconds


def time_all_rows(analysis: Analysis, lake: Lake, values: dict[str, object], runs: int) -> float:
    """Median seconds of fetching every row as one Arrow table."""
    engine = get_engine("duckdb", lake)
    return median_seconds(lambda: analysis.run(engine, values), runs)


def time_process(arguments: list[str], lake: Lake, runs: int) -> float:
    """Median seconds of `s3logq --lake LAKE ARGUMENTS...` as a whole process, output discarded."""
    command = [str(Path(sys.executable).parent / "s3logq"), "--lake", str(lake.root), *arguments]
    return median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), runs)


def command_arguments(analysis: Analysis, lookups: dict[str, object]) -> list[str]:
    """`run NAME --logs TYPE`, plus the target of the analyses that look one thing up."""
    arguments = ["run", analysis.name, "--logs", analysis.log_type]
    for name, value in values_for(analysis, {}, lookups).items():
        arguments += ["--" + name.replace("_", "-"), str(value)]
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="access logs to generate, GB uncompressed")
    parser.add_argument("--trail-mb", type=int, default=200, help="CloudTrail to generate, MB uncompressed")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lake = build_lake(args.gb, args.trail_mb)
    lookups = lookup_values(lake)
    print(f"lake: {args.gb} GB of access logs + {args.trail_mb} MB of CloudTrail; day+bucket = "
          f"{ONE_DAY['since']:%Y-%m-%d}, {ONE_DAY['bucket']}; median of {args.runs} runs; "
          f"request-lookup and object-history also get a request ID / key; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start\n")
    print("| analysis | logs | rows (day+bucket) | answer s (day+bucket) | rows (all) | answer s (all) "
          "| whole process s (all) | all rows as Arrow s (all) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    slow: list[str] = []
    for analysis in load_catalog():
        cells = []
        for base in (ONE_DAY, {}):
            rows, seconds = time_answer(analysis, lake, values_for(analysis, base, lookups), args.runs)
            cells += [f"{rows:,}", _flagged(seconds, f"{analysis.log_type}/{analysis.name}", slow)]
        cells.append(f"{time_process(command_arguments(analysis, lookups), lake, args.runs):.2f}")
        cells.append(f"{time_all_rows(analysis, lake, values_for(analysis, {}, lookups), args.runs):.3f}")
        print(f"| {analysis.name} | {analysis.log_type} | " + " | ".join(cells) + " |", flush=True)
    print(f"\nanswers over {BAR_SECONDS:.0f} s: {len(slow)}" + (f" ({', '.join(slow)})" if slow else ""))
    print_exports(lake, args.runs)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def _flagged(seconds: float, name: str, slow: list[str]) -> str:
    """Seconds as a cell, marked (and `name` noted in `slow`) when over the bar."""
    if seconds <= BAR_SECONDS:
        return f"{seconds:.3f}"
    slow.append(name)
    return f"{seconds:.3f} **over 1 s**"


def print_exports(lake: Lake, runs: int) -> None:
    """All rows of WHOLE_LAKE, no filter, written to a csv file: median seconds of `runs` whole processes."""
    print("\n| command (no filter, whole process) | median s | output |\n|---|---:|---:|")
    target = DATA / "out.csv"
    for name in WHOLE_LAKE:
        seconds = time_process(["run", name, "--format", "csv", "--output", str(target)], lake, runs)
        print(f"| `s3logq run {name} --format csv --output FILE` | {seconds:.2f} | "
              f"{target.stat().st_size / 1e6:,.0f} MB |", flush=True)
    target.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
