"""Stateful property test of issue 11: under any sequence of filtered ingests, moved and copied log folders, new
files, kill -9 of an ingest, damage and repair, the lake holds a subset of one clean ingest of the files seen so
far, never a row twice, and exactly a clean ingest after a plain ingest of everything.

S3LOGQ_STATEFUL_EXAMPLES=500 runs it long (the default keeps the suite quick); S3LOGQ_STATEFUL_STEPS sets the
steps per sequence.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from s3logq.engines.duckdb import DuckDBEngine
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.repair import check_lake, reopen_source, repair_lake
from s3logq.sources import list_sources

EXAMPLES = int(os.environ.get("S3LOGQ_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("S3LOGQ_STATEFUL_STEPS", "12"))
KILLS_PER_RUN = 1  # each kill starts a Python process (~1 s): few of them

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
BUCKETS = ("acme", "other")
FIRST_DAY = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 3
# Instants at the edges of each day: rows there fall on either side of a --since/--until at midnight.
EDGE_SECONDS = (0, 1, 12 * 3600, 86_399)
BOUNDS = [None] + [FIRST_DAY + timedelta(days=d, seconds=s) for d in range(DAYS + 1) for s in (0, 12 * 3600)]
ACCOUNT = "111122223333"


def access_line(bucket: str, moment: datetime, request_id: str) -> str:
    when = moment.strftime("%d/%b/%Y:%H:%M:%S")
    return (f'{OWNER} {bucket} [{when} +0000] 192.0.2.3 arn:aws:iam::1:user/a {request_id} REST.GET.OBJECT k.txt '
            f'"GET /{bucket}/k.txt HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -')


def cloudtrail_event(moment: datetime, bucket: str | None, event_id: str) -> dict:
    event = {"eventVersion": "1.09", "eventTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventName": "GetObject",
             "eventSource": "s3.amazonaws.com", "eventID": event_id, "awsRegion": "us-east-1",
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}, "requestParameters": {}}
    if bucket:
        event["requestParameters"] = {"bucketName": bucket, "key": "k.txt"}
    else:  # an account-level call: kept by every --bucket
        event["eventName"] = "ListBuckets"
    return event


moments = st.builds(lambda day, second: FIRST_DAY + timedelta(days=day, seconds=second),
                    st.integers(0, DAYS - 1), st.sampled_from(EDGE_SECONDS))


def frozen(value: object) -> object:
    """A hashable copy of a row value (structs and lists included), for multisets of rows."""
    if isinstance(value, dict):
        return tuple((k, frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    return value


def lake_rows(lake: Lake) -> dict[str, Counter]:
    """Every row of every table, as multisets; log_file left out (a moved file keeps its first name)."""
    engine = DuckDBEngine(lake)
    found: dict[str, Counter] = {}
    for table_name in ("access_log", "cloudtrail", "rejects"):
        rows = engine.query(f"select * exclude (log_file) from {table_name}").to_pylist()
        found[table_name] = Counter(frozen(row) for row in rows)
    return found


def with_names(lake: Lake) -> dict[str, Counter]:
    """Every row with its log_file: what a repair must give back exactly."""
    engine = DuckDBEngine(lake)
    return {table_name: Counter(frozen(row) for row in engine.query(f"select * from {table_name}").to_pylist())
            for table_name in ("access_log", "cloudtrail", "rejects")}


def assert_nothing_doubled(lake: Lake) -> None:
    engine = DuckDBEngine(lake)
    for table_name in ("access_log", "rejects"):
        doubled = engine.query(f"select log_file, log_line, count(*) as n from {table_name} group by all "
                               "having n > 1").to_pylist()
        assert doubled == [], f"{table_name}: lines stored twice {doubled}"
    # Every generated request ID, event ID and damaged line is unique: a copy of a file read again repeats them.
    for table_name, column in (("access_log", "requestid"), ("cloudtrail", "eventid"), ("rejects", "raw_line")):
        doubled = engine.query(f"select {column}, count(*) as n from {table_name} group by all "
                               "having n > 1").to_pylist()
        assert doubled == [], f"{table_name}: stored twice {doubled}"



# A child process ingests and is killed: by itself at its k-th SQLite statement (so kills land inside the
# commit and between part writes, not only before or after the ingest), or by the test after a delay.
KILLED_INGEST = textwrap.dedent("""
    import os, signal, sqlite3, sys
    from datetime import datetime
    lake_dir, target, since, until, buckets, kill_at = sys.argv[1:7]
    statements = 0
    real_connect = sqlite3.connect
    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        def trace(statement):
            global statements
            statements += 1
            if statements == int(kill_at):
                os.kill(os.getpid(), signal.SIGKILL)
        connection.set_trace_callback(trace)
        return connection
    sqlite3.connect = connect
    from s3logq.ingest import IngestOptions, ingest
    from s3logq.lake import Lake
    from s3logq.sources import list_sources
    options = IngestOptions(since=datetime.fromisoformat(since) if since else None,
                            until=datetime.fromisoformat(until) if until else None,
                            buckets=tuple(b for b in buckets.split(",") if b))
    ingest(Lake(lake_dir), list_sources([target]), options)
""")


class LakeMachine(RuleBasedStateMachine):
    """The log folders and the lake, and what a clean ingest of the folders' files holds."""

    def __init__(self) -> None:
        super().__init__()
        self.workdir = Path(tempfile.mkdtemp(prefix="s3logq-stateful-"))
        self.logs = self.workdir / "logs"
        self.logs.mkdir()
        self.lake = Lake(self.workdir / "lake")
        self.folders: list[str] = []
        self.serial = 0
        self.events: list[dict] = []  # CloudTrail events written so far, to deliver one again
        self.complete = True  # the lake holds exactly a clean ingest (until a new file appears)
        self.kills = 0
        self.leftovers_possible = False  # a killed ingest may have left parts for the next ingest to remove
        self._clean: tuple[frozenset[str], dict[str, Counter]] | None = None

    def teardown(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- the model: a clean ingest of every file under logs/, cached by the set of file contents ---

    def clean(self) -> dict[str, Counter]:
        """A fresh lake's rows from one copy of each content (so copies cannot hide by doubling here too)."""
        files = {path.read_bytes(): path for path in sorted(self.logs.rglob("*")) if path.is_file()}
        contents = frozenset(files)
        if self._clean is None or self._clean[0] != contents:
            self.serial += 1
            unique, clean_lake = self.workdir / f"unique-{self.serial}", Lake(self.workdir / f"clean-{self.serial}")
            unique.mkdir()
            for content, path in files.items():
                copy = unique / path.relative_to(self.logs)
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(content)
            report = ingest(clean_lake, list_sources([str(unique)]))
            assert report.ok and report.files_same_content == 0, report.failures
            self._clean = (contents, lake_rows(clean_lake))
            shutil.rmtree(clean_lake.root)
            shutil.rmtree(unique)
        return self._clean[1]

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    # --- rules ---

    @initialize(folder_count=st.integers(1, 2))
    def make_folders(self, folder_count: int) -> None:
        for _ in range(folder_count):
            self.folders.append(self.next_id("folder"))
            (self.logs / self.folders[-1]).mkdir()

    @rule(data=st.data(), lines=st.lists(st.tuples(st.sampled_from(BUCKETS), moments), min_size=1, max_size=4),
          late=st.booleans(), damaged_line=st.booleans(), compress=st.booleans())
    def add_access_log(self, data: st.DataObject, lines: list, late: bool, damaged_line: bool,
                       compress: bool) -> None:
        """A new access-log file, named for its first row's day or delivered the next day."""
        folder = data.draw(st.sampled_from(self.folders))
        delivered = min(moment for _, moment in lines) + timedelta(days=int(late))
        text = "".join(access_line(bucket, moment, self.next_id("R")) + "\n" for bucket, moment in lines)
        if damaged_line:
            text += f"not a log line {self.next_id('X')}\n"
        name = f"{delivered:%Y-%m-%d-%H-%M-%S}-{self.next_id('F'):0>16}" + (".gz" if compress else "")
        path = self.logs / folder / "access" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(text.encode(), mtime=0) if compress else text.encode())
        self.complete = False

    @rule(data=st.data(), events=st.lists(st.tuples(st.sampled_from((*BUCKETS, None)), moments), min_size=1,
                                          max_size=3),
          redeliver=st.booleans(), compress=st.booleans())
    def add_cloudtrail_log(self, data: st.DataObject, events: list, redeliver: bool, compress: bool) -> None:
        """A new CloudTrail file; sometimes it delivers again an event an earlier file holds."""
        folder = data.draw(st.sampled_from(self.folders))
        records = [cloudtrail_event(moment, bucket, self.next_id("E")) for bucket, moment in events]
        if redeliver and self.events:
            records.append(data.draw(st.sampled_from(self.events)))
        self.events.extend(records)
        first = min(datetime.fromisoformat(r["eventTime"]) for r in records)
        name = f"{ACCOUNT}_CloudTrail_us-east-1_{first:%Y%m%dT%H%M}Z_{self.next_id('T')}.json"
        path = self.logs / folder / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / f"{first:%Y/%m/%d}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        document = orjson.dumps({"Records": records})
        if compress:
            path = path.with_name(name + ".gz")
            document = gzip.compress(document, mtime=0)
        path.write_bytes(document)
        self.complete = False

    @rule(data=st.data(), copy=st.booleans())
    def move_or_copy_folder(self, data: st.DataObject, copy: bool) -> None:
        """The same files under other paths: they add nothing."""
        folder = data.draw(st.sampled_from(self.folders))
        target = self.next_id("folder")
        if copy:
            shutil.copytree(self.logs / folder, self.logs / target)
        else:
            (self.logs / folder).rename(self.logs / target)
            self.folders.remove(folder)
        self.folders.append(target)

    @rule(data=st.data(), since=st.sampled_from(BOUNDS), until=st.sampled_from(BOUNDS),
          buckets=st.sampled_from([(), ("acme",), ("other",), BUCKETS]), whole_tree=st.booleans())
    def filtered_ingest(self, data: st.DataObject, since: datetime | None, until: datetime | None,
                        buckets: tuple[str, ...], whole_tree: bool) -> None:
        target = self.logs if whole_tree else self.logs / data.draw(st.sampled_from(self.folders))
        report = ingest(self.lake, list_sources([str(target)]), IngestOptions(since=since, until=until,
                                                                              buckets=buckets))
        assert report.ok, report.failures
        self.after_completed_ingest()

    @rule()
    def plain_ingest(self) -> None:
        report = ingest(self.lake, list_sources([str(self.logs)]))
        assert report.ok, report.failures
        assert report.files_changed == []
        self.after_completed_ingest()
        self.complete = True

    def after_completed_ingest(self) -> None:
        assert self.lake.unlisted_files() == [], "a killed ingest's leftovers outlived the next ingest"
        self.leftovers_possible = False

    @precondition(lambda self: self.kills < KILLS_PER_RUN)
    @rule(kill_at=st.one_of(st.integers(1, 60).map(lambda n: ("statement", n)),
                            st.floats(0.3, 2.5).map(lambda s: ("seconds", s))),
          since=st.sampled_from(BOUNDS), buckets=st.sampled_from([(), ("acme",)]))
    def killed_ingest(self, kill_at: tuple[str, float], since: datetime | None, buckets: tuple[str, ...]) -> None:
        """kill -9 of an ingest at a random moment: it committed all or nothing."""
        self.kills += 1
        how, when = kill_at
        command = [sys.executable, "-c", KILLED_INGEST, str(self.lake.root), str(self.logs),
                   since.isoformat() if since else "", "", ",".join(buckets),
                   str(int(when)) if how == "statement" else "0"]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if how == "seconds":
            try:
                child.wait(timeout=when)
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
        _, errors = child.communicate(timeout=120)
        assert child.returncode in (0, -signal.SIGKILL), errors.decode()
        event(f"kill by {how}: " + ("killed" if child.returncode else "finished first"))
        self.leftovers_possible = True

    @rule(data=st.data(), how=st.sampled_from(["delete", "truncate", "garbage", "append"]))
    def damage_a_part_then_repair(self, data: st.DataObject, how: str) -> None:
        """A part lost or damaged whose source files are all still where they were: repair gives back its rows."""
        parts = self.lake.query("select path from parts p where not exists (select 1 from part_sources s "
                                "where s.path = p.path and s.uri not in (select uri from sources)) order by path")
        repairable = [path for (path,) in parts if all(Path(uri).is_file() for (uri,) in self.lake.query(
            "select uri from part_sources where path = ?", (path,)))]
        event(f"damage: {how}" if repairable else "damage: no part with all its sources in place")
        if not repairable:
            return
        before = with_names(self.lake)
        path = self.lake.root / data.draw(st.sampled_from(repairable))
        content = path.read_bytes()
        if how == "delete":
            path.unlink()
        elif how == "truncate":
            path.write_bytes(content[: len(content) // 2])
        elif how == "garbage":
            path.write_bytes(b"PAR1" + bytes(len(content) - 8) + b"PAR1")  # its size, not Parquet
        else:
            path.write_bytes(content + b"\0")
        problems = check_lake(self.lake).problems
        assert [p.path for p in problems] == [str(path.relative_to(self.lake.root))]
        report = repair_lake(self.lake, reopen_source)
        assert report.not_restored == []
        assert report.parts_set_aside == [str(path.relative_to(self.lake.root))]
        assert with_names(self.lake) == before
        assert check_lake(self.lake).problems == []

    @rule()
    def check(self) -> None:
        report = check_lake(self.lake)
        assert report.problems == []
        if not self.leftovers_possible:
            assert report.unlisted == []

    # --- after every step ---

    @invariant()
    def holds_a_clean_ingest_or_less_and_nothing_twice(self) -> None:
        if not self.lake.exists():
            return
        assert_nothing_doubled(self.lake)
        found, clean = lake_rows(self.lake), self.clean()
        for table_name in found:
            if self.complete:
                assert found[table_name] == clean[table_name], f"{table_name}: not a clean ingest"
            else:
                extra = found[table_name] - clean[table_name]
                assert not extra, f"{table_name}: rows a clean ingest does not hold {list(extra)[:3]}"


# S3LOGQ_STATEFUL_SHRINK=0 reports the first failing sequence as found (shrinking one with a kill takes minutes).
PHASES = tuple(Phase) if os.environ.get("S3LOGQ_STATEFUL_SHRINK", "1") != "0" else (Phase.generate,)
LakeMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                         phases=PHASES,
                                         suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.filter_too_much])
test_lake_under_any_sequence = LakeMachine.TestCase
