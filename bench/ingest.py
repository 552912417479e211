"""Ingest speed: s3logq against the decompression floor and a hand-written regex baseline, in one run.

    python bench/ingest.py [--mb 200] [--runs 3]

Prints MB/s (uncompressed) and ratios; the bars are in issue 3. Data is generated once under bench/data/.
s3logq is timed as a whole process (interpreter start and imports included, ~0.3 s); the floor both in
this process and as a process of its own, interleaved with s3logq's runs so that drift hits all alike.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from timing import interleaved_medians, median_seconds  # bench/timing.py (the scripts run from bench/)

from s3logq.athena.ddl import AWS_ACCESS_REGEX
from s3logq.demo import write_access_logs, write_cloudtrail_logs
from s3logq.engines.duckdb import DuckDBEngine
from s3logq.lake import Lake

DATA = Path(__file__).parent / "data"
S3LOGQ = [sys.executable, "-c", "from s3logq.cli import main; main()"]

# AWS's documented RegexSerDe pattern for the server access log Athena table (S3 User Guide), exactly as
# s3logq's Athena DDL uses it; RegexSerDe matches a whole line, and a line it does not match is a row of NULLs.
AWS_REGEX = re.compile(AWS_ACCESS_REGEX)
AWS_COLUMNS = ["bucketowner", "bucket_name", "requestdatetime", "remoteip", "requester", "requestid", "operation",
               "key", "request_uri", "httpstatus", "errorcode", "bytessent", "objectsize", "totaltime",
               "turnaroundtime", "referrer", "useragent", "versionid", "hostid", "sigv", "ciphersuite", "authtype",
               "endpoint", "tlsversion", "accesspointarn", "aclrequired", "sourceregion"]


def uncompressed_bytes(folder: Path) -> int:
    return sum(len(gzip.decompress(p.read_bytes())) if p.suffix == ".gz" else p.stat().st_size
               for p in folder.rglob("*") if p.is_file())


def decompression_floor(folder: Path) -> None:
    lines = 0
    for path in sorted(folder.glob("*.gz")):
        with gzip.open(path, "rb") as stream:
            lines += stream.read().count(b"\n")


def decompression_floor_process(folder: Path) -> None:
    """The floor as a whole process, as s3logq is timed: interpreter start included."""
    code = ("import gzip, pathlib, sys\nfor p in sorted(pathlib.Path(sys.argv[1]).glob('*.gz')):\n"
            "    gzip.open(p, 'rb').read().count(b'\\n')")
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True)


def zcat_wc_process(folder: Path) -> None:
    """`zcat | wc -l` over the files: the shell's floor for reading them at all (issue 12's bar: <= 1.2x)."""
    subprocess.run("zcat -- *.gz | wc -l", shell=True, cwd=folder, check=True, stdout=subprocess.DEVNULL)


def regex_baseline(folder: Path, out: Path) -> tuple[int, int]:
    """What a hand-written script does: AWS's regex line by line, then one Parquet file; (lines, lost)."""
    rows: list[tuple] = []
    lines = 0
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as stream:
            for line in stream:
                lines += 1
                match = AWS_REGEX.fullmatch(line.rstrip("\n"))
                if match:
                    rows.append(match.groups())
    assert AWS_REGEX.groups == len(AWS_COLUMNS)
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in AWS_COLUMNS]
    table = pa.table({name: pa.array(col, pa.string()) for name, col in zip(AWS_COLUMNS, columns, strict=True)})
    pq.write_table(table, out)
    return lines, lines - len(rows)


def s3logq_ingest(folder: Path, lake: Path) -> None:
    shutil.rmtree(lake, ignore_errors=True)
    subprocess.run([*S3LOGQ, "--lake", str(lake), "ingest", str(folder)], check=True, stdout=subprocess.DEVNULL)


def dataset(name: str, make) -> Path:
    folder = DATA / name
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        make(folder)
        (folder / ".complete").write_text("")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-mb", type=int, default=60, help="the small single file of the memory bench")
    parser.add_argument("--big-mb", type=int, default=600, help="the big single file of the memory bench")
    parser.add_argument("--skip-memory", action="store_true", help="leave out bench/memory.py")
    args = parser.parse_args()
    work = DATA / "work"
    work.mkdir(parents=True, exist_ok=True)

    access = dataset(f"access-{args.mb}mb", lambda f: write_access_logs(f, args.mb * 10**6, args.mb * 2, gzip=True))
    mb = uncompressed_bytes(access) / 1e6
    print(f"access logs: {mb:.0f} MB uncompressed in {len(list(access.iterdir())) - 1} gzip files")
    medians = interleaved_medians({
        "floor": lambda: decompression_floor(access),
        "floor_process": lambda: decompression_floor_process(access),
        "zcat_wc": lambda: zcat_wc_process(access),
        "s3logq": lambda: s3logq_ingest(access, work / "lake-access"),
    }, args.runs)
    floor, floor_process, ours = medians["floor"], medians["floor_process"], medians["s3logq"]
    zcat_wc = medians["zcat_wc"]
    baseline = median_seconds(lambda: regex_baseline(access, work / "baseline.parquet"), max(1, args.runs - 2))
    lines, lost = regex_baseline(access, work / "baseline.parquet")
    print("| step | median s | MB/s | vs s3logq |\n|---|---|---|---|")
    for label, seconds in (("decompression floor, in this process (gzip, count lines)", floor),
                           ("decompression floor, as a process of its own", floor_process),
                           ("`zcat | wc -l` (a shell pipeline)", zcat_wc),
                           ("s3logq ingest (a process: start, parse, write Parquet, commit)", ours),
                           ("hand-written baseline, in this process (AWS regex + pyarrow)", baseline)):
        print(f"| {label} | {seconds:.2f} | {mb / seconds:.0f} | {seconds / ours:.2f}x |")
    print(f"s3logq: {mb / ours:.0f} MB/s (bar >= 150), {ours / floor:.2f}x the in-process floor and "
          f"{ours / floor_process:.2f}x the floor as a process (bar <= 2.5), "
          f"{baseline / ours:.1f}x faster than the baseline (bar >= 10), "
          f"{ours / zcat_wc:.2f}x `zcat | wc -l` (bar <= 1.2)")
    print(f"AWS's documented regex does not match {lost:,} of {lines:,} lines ({100 * lost / max(lines, 1):.2f}%): "
          "Athena gives each a row of NULLs; s3logq keeps them")
    if not args.skip_memory:  # one 60 MB and one 600 MB file, and the big one against its bytes in many files
        subprocess.run([sys.executable, str(Path(__file__).with_name("memory.py")), "--small-mb", str(args.small_mb),
                        "--big-mb", str(args.big_mb), "--runs", str(args.runs)], check=True)

    trail = dataset("cloudtrail-100mb", lambda f: write_cloudtrail_logs(f, 100 * 10**6, 200))
    trail_mb = uncompressed_bytes(trail) / 1e6
    trail_s = median_seconds(lambda: s3logq_ingest(trail, work / "lake-trail"), args.runs)
    print(f"cloudtrail: {trail_mb:.0f} MB in {trail_s:.2f} s = {trail_mb / trail_s:.0f} MB/s (bar >= 50)")
    # the same with 5% of records \u-escaped, against a process that decompresses and json.loads the files
    subprocess.run([sys.executable, str(Path(__file__).with_name("cloudtrail.py")), "--runs", str(args.runs)],
                   check=True)

    small = dataset("small-20000", lambda f: write_access_logs(f, 20_000 * 5_000, 20_000, gzip=False))
    small_s = median_seconds(lambda: s3logq_ingest(small, work / "lake-small"), args.runs)
    print(f"small files: 20,000 files of ~5 KB in {small_s:.2f} s = {20_000 / small_s:,.0f} files/s (bar >= 2,000)")

    big = dataset("access-1gb", lambda f: write_access_logs(f, 1000 * 10**6, 1000, gzip=True, seed=2))
    lake = work / "lake-1gb"
    if not (lake / "manifest.sqlite").exists():
        s3logq_ingest(big, lake)
    query_one_day_one_bucket(Lake(lake), args.runs)


def query_one_day_one_bucket(lake: Lake, runs: int) -> None:
    engine = DuckDBEngine(lake)
    total = engine.query("select count(*) n, min(request_time) t from access_log").to_pylist()[0]
    day = total["t"].astimezone(UTC).replace(hour=0, minute=0, second=0)
    since, until = day, day.replace(day=day.day + 1)
    sql = ("select operation, count(*) n, sum(bytessent) b from access_log where request_time >= $since "
           "and request_time < $until and bucket_name = $bucket group by 1 order by 2 desc")
    params = {"since": since, "until": until, "bucket": "acme-prod-data"}

    def one_day() -> None:
        DuckDBEngine(lake).query(sql, params, since, until)

    seconds = median_seconds(one_day, max(runs, 5))
    print(f"query on a lake of {total['n']:,} rows (1 GB of logs), one day + one bucket: {seconds:.3f} s (bar < 0.3)")


if __name__ == "__main__":
    print(f"# bench/ingest.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    main()
