"""CloudTrail ingest against a Python process that decompresses and json.loads the same files (issue 12).

    python bench/cloudtrail.py [--mb 100] [--escaped-percent 5] [--odd-per-file 1] [--runs 5]

The demo trail, rewritten as json.dumps writes it (every non-ASCII character a \\u escape) with non-ASCII
text (accents, an emoji: a surrogate pair) in the user agent and object key of ESCAPED-PERCENT of records, and
ODD-PER-FILE records in each file that the native reader leaves to the Python parser (a flag as a string, an
exponent, a lone surrogate, a record that is not an object, a key given twice). Both sides are timed as whole
processes, in turn; the bar is a ratio <= 1.0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from timing import interleaved_medians  # bench/timing.py (the scripts run from bench/)

from s3logq.demo import write_cloudtrail_logs
from s3logq.formats.cloudtrail import read_natively

DATA = Path(__file__).parent / "data"
S3LOGQ = [sys.executable, "-c", "from s3logq.cli import main; main()"]
JSON_FLOOR = ("import gzip, json, pathlib, sys\n"
              "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.json.gz')):\n"
              "    json.loads(gzip.decompress(p.read_bytes()))")


# Records the native reader cannot read exactly (json.dumps text of each), put among the others of a file.
ODD_RECORDS = ['{"eventTime": "2024-03-01T10:00:00Z", "eventName": "GetObject", "readOnly": "true"}',
               '{"eventTime": "2024-03-01T10:00:00Z", "additionalEventData": {"bytesTransferredOut": 1e3}}',
               '{"eventTime": "2024-03-01T10:00:00Z", "userAgent": "half an emoji \\ud83d"}',
               'null',
               '{"eventTime": "2024-03-01T10:00:00Z", "eventName": "PutObject", "eventName": "GetObject"}']


def escaped_trail(mb: int, percent: int, odd_per_file: int = 0) -> Path:
    """The demo trail with non-ASCII text in `percent`% of records and `odd_per_file` odd records in each
    file, written with json.dumps (made once)."""
    folder = DATA / (f"cloudtrail-{mb}mb-escaped-{percent}" + (f"-odd-{odd_per_file}" if odd_per_file else ""))
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    write_cloudtrail_logs(folder, mb * 10**6, max(1, mb * 2))
    rng = random.Random(7)
    for path in sorted(folder.rglob("*.json.gz")):
        document = json.loads(gzip.decompress(path.read_bytes()))
        for record in document.get("Records", []):
            if rng.random() * 100 < percent:
                record["userAgent"] = f"{record.get('userAgent', '')} (café, naïve 😀)"
                parameters = record.get("requestParameters")
                if isinstance(parameters, dict) and "key" in parameters:
                    parameters["key"] = f"résumé/{parameters['key']}-😀"
        text = json.dumps(document)
        for n in range(odd_per_file):  # after a record's closing brace, at a place chosen at random
            ends = [match.start() for match in re.finditer(r'\}, \{"eventVersion"', text)]
            if ends:
                at = rng.choice(ends) + 1
                text = f"{text[:at]}, {ODD_RECORDS[(n + len(text)) % len(ODD_RECORDS)]}{text[at:]}"
        path.write_bytes(gzip.compress(text.encode(), compresslevel=6))
    (folder / ".complete").write_text("")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--escaped-percent", type=int, default=5)
    parser.add_argument("--odd-per-file", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trail = escaped_trail(args.mb, args.escaped_percent, args.odd_per_file)
    files = sorted(trail.rglob("*.json.gz"))
    mb = sum(len(gzip.decompress(p.read_bytes())) for p in files) / 1e6
    lake = DATA / "work" / "lake-cloudtrail-escaped"

    def ingest() -> None:
        shutil.rmtree(lake, ignore_errors=True)
        subprocess.run([*S3LOGQ, "--lake", str(lake), "ingest", str(trail)], check=True, stdout=subprocess.DEVNULL)

    def json_floor() -> None:
        subprocess.run([sys.executable, "-c", JSON_FLOOR, str(trail)], check=True)

    medians = interleaved_medians({"s3logq": ingest, "json": json_floor}, args.runs)
    plain = [gzip.decompress(p.read_bytes()) for p in files]
    parsed = [read_natively(data, str(path)) for data, path in zip(plain, files, strict=True)]
    print(f"cloudtrail: {mb:.0f} MB uncompressed in {len(files)} files, {args.escaped_percent}% of records with "
          f"\\u escapes, {args.odd_per_file} odd record(s) per file; load average {os.getloadavg()[0]:.2f}; "
          f"medians of {args.runs} runs in turn")
    print(f"files read natively: {sum(p is not None for p in parsed)} of {len(files)}; records left to the Python "
          f"parser: {sum(p.records_fallback for p in parsed if p is not None)}")
    print("| process | median s | MB/s |\n|---|---|---|")
    for name, label in (("s3logq", "s3logq ingest"), ("json", "python: gzip + json.loads each file")):
        print(f"| {label} | {medians[name]:.2f} | {mb / medians[name]:.0f} |")
    print(f"s3logq / json.loads: {medians['s3logq'] / medians['json']:.2f}x (bar <= 1.0)")


if __name__ == "__main__":
    print(f"# bench/cloudtrail.py  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    main()
