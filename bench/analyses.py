"""Analysis speed: every analysis of the catalog (both log types) on a lake of ~1 GB of access logs plus
CloudTrail, with a one-day + one-bucket filter and with no filter.

    python bench/analyses.py [--gb 1.0] [--trail-mb 200] [--runs 5]

Prints a markdown table of the median time per analysis through `Analysis.run`, which fetches every row as an
Arrow table, and flags those over the 1 s bar (issue 4). Then, for the analyses that return the whole lake, the
commands a user runs, each as a whole `s3logq` process (start-up included): the terminal view (50 rows and a
count) and all rows written to a csv file. The logs and the lake are built once under bench/data/analyses/
and reused while their size settings match.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
from s3logq.sources import list_sources

DATA = Path(__file__).parent / "data" / "analyses"
BAR_SECONDS = 1.0
ACCESS_FILE_BYTES = 500_000  # a few hundred KB per delivered file, so the logs span about a week
TRAIL_FILES = 400
WHOLE_LAKE = ("requests", "latency")  # the analyses that return (almost) every row when not filtered
ONE_DAY = {"since": datetime(2024, 3, 2, tzinfo=UTC), "until": datetime(2024, 3, 3, tzinfo=UTC),
           "bucket": ACCESS_BUCKETS[0]}


def build_lake(gb: float, trail_mb: int) -> Lake:
    """The benchmark lake, built from generated logs unless one with the same settings exists."""
    stamp = f"access={gb}GB trail={trail_mb}MB\n"
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


def time_analysis(analysis: Analysis, lake: Lake, values: dict[str, object], runs: int) -> tuple[int, float]:
    """Rows and median seconds of `runs` runs, each from a fresh connection, as the CLI runs it."""
    engine = get_engine("duckdb", lake)
    times, rows = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = analysis.run(engine, values).num_rows
        times.append(time.perf_counter() - start)
    return rows, statistics.median(times)


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
    print("| analysis | logs | rows (day+bucket) | median s (day+bucket) | rows (all) | median s (all) |")
    print("|---|---|---:|---:|---:|---:|")
    slow = []
    for analysis in load_catalog():
        cells = []
        for base in (ONE_DAY, {}):
            rows, seconds = time_analysis(analysis, lake, values_for(analysis, base, lookups), args.runs)
            flag = " **over 1 s**" if seconds > BAR_SECONDS else ""
            cells += [f"{rows:,}", f"{seconds:.3f}{flag}"]
            if flag:
                slow.append(f"{analysis.log_type}/{analysis.name}")
        print(f"| {analysis.name} | {analysis.log_type} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n{len(slow)} over {BAR_SECONDS:.0f} s" + (f": {', '.join(slow)}" if slow else ""))
    print_commands(lake, args.runs)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


def print_commands(lake: Lake, runs: int) -> None:
    """The user-facing commands for WHOLE_LAKE, no filter: median seconds of `runs` whole processes."""
    print("\n| command (no filter, whole process) | median s | output |\n|---|---:|---:|")
    target = DATA / "out.csv"
    for name in WHOLE_LAKE:
        for extra in ([], ["--format", "csv", "--output", str(target)]):
            command = [str(Path(sys.executable).parent / "s3logq"), "--lake", str(lake.root), "run", name, *extra]
            seconds = median_seconds(lambda c=command: subprocess.run(c, check=True, capture_output=True), runs)
            written = f"{target.stat().st_size / 1e6:,.0f} MB" if extra else "50 rows + count"
            shown = " ".join(["s3logq run", name, *(["--format csv --output FILE"] if extra else [])])
            print(f"| `{shown}` | {seconds:.2f} | {written} |", flush=True)
    target.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
