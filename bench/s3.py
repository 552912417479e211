"""Reading from S3: `s3logq ingest s3://...` against a sequential get_object loop, on a local moto server.

    python bench/s3.py [--objects 5000] [--runs 3] [--latency-ms 20]

The server runs in its own process (moto's in-memory S3 behind werkzeug, threaded) and holds `--objects`
small access-log objects. One moto process is bound to one core by the GIL (several processes sharing a
port cannot serve one listing: moto's continuation tokens live in the process that issued them). The baseline gets the key list for free and times only its get_object loop;
s3logq is timed end to end (process start, listing, fetching, parsing, writing the lake; fresh lake each
run). `--latency-ms` adds a fixed delay to every response, as a stand-in for S3's time to first byte,
which a loopback server lacks (AWS's performance guidelines cite 100-200 ms for small objects; 20 ms is
kind to the sequential loop). With 0 the loop measures moto's CPU, not a network. Prints objects/s and the
ratio; the bar is 4x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from timing import median_seconds  # bench/timing.py (the scripts run from bench/)

BUCKET, PREFIX = "bench-logs", "access/"
S3LOGQ = [sys.executable, "-c", "from s3logq.cli import main; main()"]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def log_objects(count: int) -> dict[str, bytes]:
    """`count` access-log objects of 4 lines each, a few hundred a day from 2024-03-01, SimplePrefix keys."""
    objects = {}
    start = datetime(2024, 3, 1, 0, 1)
    for number in range(count):
        delivered = start + timedelta(minutes=3 * number)
        when = (delivered - timedelta(minutes=1)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines = [
            f"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be app-data [{when}] 192.0.2.{n + 1} "
            f"arn:aws:iam::111111111111:user/app R{number:06d}{n} REST.GET.OBJECT data/{number}-{n}.json "
            f'"GET /app-data/data/{number}-{n}.json HTTP/1.1" 200 - 2048 2048 15 12 "-" "aws-sdk-java/2.20" - '
            f"HOST{number}{n}= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader app-data.s3.amazonaws.com TLSv1.2 - -"
            for n in range(4)]
        objects[f"{PREFIX}{delivered:%Y-%m-%d-%H-%M-%S}-{number:08X}"] = ("\n".join(lines) + "\n").encode()
    return objects


def serve(objects: int, latency_ms: float) -> None:
    """The server process: moto with the objects in its backend; prints its port, serves until killed."""
    os.environ.update(CREDENTIALS)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import s3_backends
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: object, **kwargs: object) -> None:
            pass

    app = DomainDispatcherApplication(create_backend_app)

    def delayed(environ: dict, start_response):  # noqa: ANN202 - WSGI
        time.sleep(latency_ms / 1000)
        return app(environ, start_response)

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    for key, body in log_objects(objects).items():
        backend.put_object(BUCKET, key, body)
    server = make_server("127.0.0.1", 0, delayed if latency_ms else app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_port, flush=True)
    threading.Event().wait()


def sequential_loop(endpoint_url: str, keys: list[str]) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint_url)
    for key in keys:
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def s3logq_ingest(endpoint_url: str, objects: int) -> None:
    lake = Path(tempfile.mkdtemp(prefix="s3logq-bench-lake-"))
    try:
        result = subprocess.run([*S3LOGQ, "--lake", str(lake), "ingest", f"s3://{BUCKET}/{PREFIX}",
                                 "--endpoint-url", endpoint_url], capture_output=True, text=True, check=False)
        if result.returncode != 0 or f"ingested {objects:,} files" not in result.stdout:
            sys.exit(f"s3logq ingest failed:\n{result.stdout}{result.stderr}")
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.objects, args.latency_ms)
        return
    os.environ.update(CREDENTIALS)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--objects", str(args.objects),
                               "--latency-ms", str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
    try:
        endpoint_url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        import boto3

        pages = boto3.client("s3", endpoint_url=endpoint_url).get_paginator("list_objects_v2")
        keys = [item["Key"] for page in pages.paginate(Bucket=BUCKET, Prefix=PREFIX) for item in page["Contents"]]
        assert len(keys) == args.objects, len(keys)
        baseline = median_seconds(lambda: sequential_loop(endpoint_url, keys), args.runs)
        ours = median_seconds(lambda: s3logq_ingest(endpoint_url, args.objects), args.runs)
    finally:
        server.kill()
        server.wait()
    print(f"{args.objects:,} objects on a local moto server ({args.latency_ms:g} ms added per response), "
          f"median of {args.runs}, {os.cpu_count()} CPUs")
    print(f"  sequential get_object loop: {args.objects / baseline:8,.0f} objects/s ({baseline:.2f} s)")
    print(f"  s3logq ingest s3://       : {args.objects / ours:8,.0f} objects/s ({ours:.2f} s, end to end)")
    print(f"  ratio: {baseline / ours:.2f}x (bar: >= 4x)")


if __name__ == "__main__":
    main()
