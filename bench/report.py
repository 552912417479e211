"""HTML report speed and size on a lake of ~1 GB of access logs (plus CloudTrail when bench/analyses.py
built its lake): median of 3 write_report runs, with no filter and with one day + one bucket.

    python bench/report.py [--runs 3]

Bars: written in < 5 s, file < 10 MB (issue 6); one bucket for one day < 1.5 MB, to be mailed (issue 13). Reuses bench/data/analyses/ (made by bench/analyses.py)
when present, else generates ~1 GB of access logs under bench/data/report/ once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from s3logq.demo import ACCESS_BUCKETS, write_access_logs
from s3logq.ingest import IngestOptions, default_workers, ingest
from s3logq.lake import Lake
from s3logq.report import write_report
from s3logq.sources import list_sources
from s3logq.status import lake_status

DATA = Path(__file__).parent / "data" / "report"
BAR_SECONDS = 5.0
BAR_BYTES = 10_000_000
BAR_BYTES_ONE_DAY = 1_500_000
ONE_DAY = (datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC), (ACCESS_BUCKETS[0],))


def bench_lake() -> Lake:
    """The analyses benchmark's lake when it exists or can be built, else one of 1 GB of access logs."""
    try:
        sys.path.insert(0, str(Path(__file__).parent))
        from analyses import build_lake  # bench/analyses.py: 1 GB access logs + 200 MB CloudTrail

        return build_lake(1.0, 200)
    except ImportError:
        pass
    lake = Lake(DATA / "lake")
    if not lake.exists():
        write_access_logs(DATA / "logs", 1_000_000_000, files=2000, gzip=True)
        ingest(lake, list_sources([str(DATA / "logs")]), IngestOptions(workers=default_workers()))
    return lake


def time_report(lake: Lake, runs: int, since: datetime | None = None, until: datetime | None = None,
                buckets: tuple[str, ...] = ()) -> tuple[float, int]:
    """Median seconds of `runs` write_report calls and the file's size in bytes."""
    times = []
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "report.html"
        for _ in range(runs):
            started = time.perf_counter()
            write_report(lake, str(target), since, until, buckets)
            times.append(time.perf_counter() - started)
        return statistics.median(times), target.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    lake = bench_lake()
    rows = {r["log_type"]: r["rows"] for r in lake_status(lake).to_pylist()}
    print(f"lake {lake.root}: {', '.join(f'{n:,} {t} rows' for t, n in rows.items())}")
    print("| report | median s | size MB | bars (< 5 s; < 10 MB, one bucket-day < 1.5 MB) |\n|---|---:|---:|---|")
    failed = False
    for label, since, until, buckets, bar_bytes in (("whole lake", None, None, (), BAR_BYTES),
                                                    ("one day, one bucket", *ONE_DAY, BAR_BYTES_ONE_DAY)):
        seconds, size = time_report(lake, args.runs, since, until, buckets)
        ok = seconds < BAR_SECONDS and size < bar_bytes
        failed |= not ok
        print(f"| {label} | {seconds:.2f} | {size / 1e6:.2f} | {'ok' if ok else 'OVER'} |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
