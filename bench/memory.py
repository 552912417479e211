"""Peak memory and time of ingesting one big uncompressed access-log file (issues 11 and 12).

    python bench/memory.py [--small-mb 60] [--big-mb 600] [--parts 60] [--runs 3]

One SMALL MB file and one BIG MB file, each ingested by a whole s3logq process: peak RSS (bar: the big one
within 1.5x the small one's) and time. Then the big file's exact bytes cut at line ends into PARTS files
(bar: the one file within 1.3x the many). Peak RSS is the largest single process of the run (the kernel's
ru_maxrss of the process and the workers it waited for), as /usr/bin/time -v reports it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from s3logq.demo import write_access_logs

DATA = Path(__file__).parent / "data"
S3LOGQ = [sys.executable, "-c", "from s3logq.cli import main; main()"]


def one_file(mb: int) -> Path:
    """A folder holding one uncompressed access-log file of about `mb` MB (made once)."""
    folder = DATA / f"one-file-{mb}mb"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_access_logs(folder, mb * 10**6, 1, gzip=False, seed=3)
        (folder / ".complete").write_text("")
    return folder


def cut_at_line_ends(source: Path, parts: int) -> Path:
    """The same bytes as `source`'s one file, in `parts` files cut at line ends (made once)."""
    folder = DATA / f"{source.name}-in-{parts}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (big,) = [p for p in source.iterdir() if not p.name.startswith(".")]
        data = big.read_bytes()
        step, start = len(data) // parts, 0
        for index in range(parts):
            end = len(data) if index == parts - 1 else data.index(b"\n", start + step) + 1
            (folder / f"{big.name}-{index:04d}").write_bytes(data[start:end])
            start = end
        (folder / ".complete").write_text("")
    return folder


def ingest_peak(folder: Path, lake: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `s3logq ingest FOLDER` process into a new lake."""
    shutil.rmtree(lake, ignore_errors=True)
    start = time.perf_counter()
    child = subprocess.Popen([*S3LOGQ, "--lake", str(lake), "ingest", str(folder)], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"s3logq ingest {folder} exited {child.returncode}")
    return seconds, usage.ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-mb", type=int, default=60)
    parser.add_argument("--big-mb", type=int, default=600)
    parser.add_argument("--parts", type=int, default=60, help="files the big one's bytes are cut into")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.prepare_only:
        # Linux keeps a process's peak RSS across fork and exec: the data is made by a child, so that this
        # process stays small and each ingest's ru_maxrss is its own.
        subprocess.run([sys.executable, __file__, "--prepare-only", *sys.argv[1:]], check=True)
    work = DATA / "work"
    work.mkdir(parents=True, exist_ok=True)
    small, big = one_file(args.small_mb), one_file(args.big_mb)
    many = cut_at_line_ends(big, args.parts)
    if args.prepare_only:
        return
    print(f"this process's own peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    runs: dict[str, list[tuple[float, float]]] = {"small": [], "big": [], "many": []}
    for _ in range(args.runs):  # in turn, so that the machine's drift hits all three alike
        for name, folder in (("small", small), ("big", big), ("many", many)):
            runs[name].append(ingest_peak(folder, work / f"lake-memory-{name}"))
    seconds = {name: statistics.median(s for s, _ in values) for name, values in runs.items()}
    peak = {name: statistics.median(m for _, m in values) for name, values in runs.items()}
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.2f}; medians of {args.runs} runs, taken in turn")
    print("| input | median s | MB/s | peak RSS MiB |\n|---|---|---|---|")
    for name, label, mb in (("small", f"one {args.small_mb} MB file", args.small_mb),
                            ("big", f"one {args.big_mb} MB file", args.big_mb),
                            ("many", f"the same {args.big_mb} MB in {args.parts} files", args.big_mb)):
        print(f"| {label} | {seconds[name]:.2f} | {mb / seconds[name]:.0f} | {peak[name]:.0f} |")
    print(f"peak RSS, {args.big_mb} MB file / {args.small_mb} MB file: {peak['big'] / peak['small']:.2f}x (bar <= 1.5)")
    print(f"time, one {args.big_mb} MB file / {args.parts} files: {seconds['big'] / seconds['many']:.2f}x (bar <= 1.3)")


if __name__ == "__main__":
    print(f"# bench/memory.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    main()
