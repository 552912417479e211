"""Bad and odd input, as a skeptical user gives it: one `error:` line and a non-zero exit, never a traceback,
the lake unchanged by a command that failed, and every unreadable log line or record kept in `rejects`."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3logq.cli import cli

OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
LINES = [
    f'{OWNER} acme [01/Mar/2024:10:00:0{i} +0000] 192.0.2.{i} arn:aws:iam::1:user/a R{i} REST.GET.OBJECT k{i}.txt '
    f'"GET /acme/k{i}.txt HTTP/1.1" 200 - 10 10 5 4 "-" "curl/8" - HOST SigV4 X AuthHeader e TLSv1.3 - -'
    for i in range(3)
]


def invoke(lake: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--lake", str(lake), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr: str) -> str:
    """The single `error: ...` line a failed command prints."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder and its content's digest."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "2024-03-01-10-05-00-AAAA").write_text("\n".join(LINES) + "\n")
    return folder


@pytest.fixture
def lake(logs: Path, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    code, _, stderr = invoke(lake, "ingest", str(logs))
    assert code == 0, stderr
    return lake


@pytest.mark.parametrize("damage", [b"", b"not a database, just text\n" * 200])
@pytest.mark.parametrize("command", [["status"], ["run", "requests"], ["sql", "select count(*) from access_log"],
                                     ["ingest", "LOGS"]])
def test_a_damaged_manifest_is_one_error_line_and_nothing_is_deleted(lake: Path, logs: Path, damage: bytes,
                                                                     command: list[str]) -> None:
    (lake / "manifest.sqlite").write_bytes(damage)  # an empty manifest used to make ingest delete every part
    (logs / "2024-03-02-10-05-00-BBBB").write_text(LINES[0].replace("01/Mar", "02/Mar") + "\n")
    before = snapshot(lake)
    code, _, stderr = invoke(lake, *[str(logs) if arg == "LOGS" else arg for arg in command])
    assert code == 1
    assert "manifest" in one_error_line(stderr) and "damaged" in stderr
    assert snapshot(lake) == before


def test_a_manifest_truncated_past_its_header_is_one_error_line(lake: Path) -> None:
    manifest = lake / "manifest.sqlite"
    content = manifest.read_bytes()
    assert len(content) > 3 * 4096
    manifest.write_bytes(content[:4096])  # the header page is intact, the tables' pages are gone
    code, _, stderr = invoke(lake, "status")
    assert code == 1 and "damaged" in one_error_line(stderr)


def test_parts_without_a_manifest_are_an_error_not_an_empty_lake(lake: Path, logs: Path) -> None:
    (lake / "manifest.sqlite").unlink()
    before = snapshot(lake)
    for command in (["run", "requests"], ["ingest", str(logs)]):
        code, _, stderr = invoke(lake, *command)
        assert code == 1 and "no manifest.sqlite" in one_error_line(stderr)
    assert snapshot(lake) == before


def test_a_new_lake_still_starts_from_nothing(logs: Path, tmp_path: Path) -> None:
    code, out, _ = invoke(tmp_path / "new", "ingest", str(logs))
    assert code == 0 and "3 access_log rows" in out
    code, out, _ = invoke(tmp_path / "new", "ingest", str(logs))
    assert code == 0 and "1 files already ingested" in out


TRAIL = {"Records": [{"eventTime": "2024-03-01T10:00:00Z", "eventName": "GetObject", "eventID": "e1",
                      "eventSource": "s3.amazonaws.com", "requestParameters": {"bucketName": "acme", "key": "k"}}]}


@pytest.fixture
def two_day_lake(logs: Path, tmp_path: Path) -> Path:
    """Access logs of 03-01 (3 + 2000 rows) and 03-02 (1 row), one CloudTrail event, one rejected line: one part
    each. 2000 rows of distinct keys make the 03-01 part mostly column data, so its first half is no footer."""
    many = [LINES[0].replace("k0.txt", f"many/{n:05d}.txt").replace(" R0 ", f" R{n}X ") for n in range(2000)]
    (logs / "2024-03-01-11-05-00-MANY").write_text("\n".join(many) + "\n")
    (logs / "2024-03-02-10-05-00-BBBB").write_text(LINES[0].replace("01/Mar", "02/Mar") + "\nnot a log line\n")
    (logs / "111122223333_CloudTrail_us-east-1_20240301T1000Z_abc.json").write_text(json.dumps(TRAIL))
    lake = tmp_path / "lake"
    code, _, stderr = invoke(lake, "ingest", str(logs))
    assert code == 0, stderr
    return lake


def damage_part(part: Path, how: str) -> None:
    content = part.read_bytes()
    if how == "delete":
        part.unlink()
    elif how == "truncate":
        part.write_bytes(content[: len(content) // 2])
    else:  # the footer intact, the column data scrambled: seen only when the rows are read
        part.write_bytes(content[:4] + bytes(b ^ 0x5A for b in content[4: len(content) // 2])
                         + content[len(content) // 2:])


@pytest.mark.parametrize("how", ["truncate", "delete", "scramble"])
def test_a_damaged_part_fails_only_the_queries_that_need_its_table_and_day(two_day_lake: Path, how: str) -> None:
    lake = two_day_lake
    (part,) = (lake / "access_log" / "day=2024-03-01").glob("*.parquet")
    damage_part(part, how)
    # what needs the part: one line naming it, exit 1 (the lake is damaged; the command was right)
    for command in (["run", "requests", "--format", "csv"], ["sql", "select max(key) from access_log"],
                    ["sql", 'select count(distinct key) from "ACCESS_LOG"'],
                    ["run", "requests", "--since", "2024-03-01T10:00:01Z", "--until", "2024-03-01T12:00:00Z"]):
        code, _, stderr = invoke(lake, *command)
        assert code == 1, (command, stderr)
        line = one_error_line(stderr)
        assert f"access_log part {part}" in line, line
    # what does not: answers as before
    code, out, stderr = invoke(lake, "run", "requests", "--since", "2024-03-02", "--format", "json")
    assert code == 0, stderr
    assert [r["key"] for r in json.loads(out)] == ["k0.txt"]
    code, out, stderr = invoke(lake, "sql", "select (select count(*) from cloudtrail) as events, "
                               "(select count(*) from rejects) as rejected", "--format", "json")
    assert code == 0, stderr
    assert json.loads(out) == [{"events": 1, "rejected": 1}]
    code, out, stderr = invoke(lake, "sql", "select 'access_log' as name", "--format", "csv")
    assert code == 0 and out.splitlines()[1] == '"access_log"', stderr  # a string is not the table


def test_a_query_error_on_a_sound_lake_is_still_a_usage_error(two_day_lake: Path) -> None:
    for query in ("select nope from access_log", "select 'a'::int from access_log",
                  "select regexp_matches(key, '(') from access_log"):
        code, _, stderr = invoke(two_day_lake, "sql", query)
        assert code == 2 and "part" not in one_error_line(stderr), stderr


def test_a_broken_link_in_a_folder_fails_that_file_by_name_and_the_rest_is_ingested(logs: Path,
                                                                                   tmp_path: Path) -> None:
    (logs / "2024-03-01-11-00-00-LINK").symlink_to(tmp_path / "gone")
    code, out, stderr = invoke(tmp_path / "lake", "ingest", str(logs))
    assert code == 1 and "Traceback" not in stderr
    assert f"error: {logs}/2024-03-01-11-00-00-LINK: cannot read: No such file or directory" in stderr.splitlines()
    assert "3 access_log rows" in out


def test_a_broken_link_given_by_name_says_so(tmp_path: Path) -> None:
    (tmp_path / "link.log").symlink_to(tmp_path / "gone")
    code, _, stderr = invoke(tmp_path / "lake", "ingest", str(tmp_path / "link.log"))
    assert code == 2 and "broken symbolic link" in one_error_line(stderr)
    assert not (tmp_path / "lake").exists()


def test_a_file_whose_name_looks_like_a_glob_is_read_as_itself(tmp_path: Path) -> None:
    log = tmp_path / "access[1]%s.log"
    log.write_text("\n".join(LINES) + "\n")
    code, out, stderr = invoke(tmp_path / "lake", "ingest", str(log))
    assert code == 0, stderr
    assert "3 access_log rows" in out


def test_a_file_name_that_is_not_utf8_is_ingested_under_an_escaped_name(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / b"caf\xe9.log".decode("utf-8", "surrogateescape")).write_text("\n".join(LINES) + "\n")
    lake = tmp_path / "lake"
    code, out, stderr = invoke(lake, "ingest", str(folder))
    assert code == 0, stderr
    code, out, _ = invoke(lake, "sql", "select distinct log_file from access_log", "--format", "json")
    assert json.loads(out) == [{"log_file": f"{folder}/caf\\xe9.log"}]
    code, out, _ = invoke(lake, "ingest", str(folder))
    assert code == 0 and "1 files already ingested" in out


def test_cloudtrail_records_without_a_readable_time_are_rejects_not_rows_outside_the_range(tmp_path: Path) -> None:
    good = {"eventTime": "2024-03-01T10:00:00Z", "eventName": "GetObject", "eventID": "e1"}
    records = [good, {**good, "eventID": "e2", "eventTime": "2024-13-45T99:00:00Z"},
               {"eventName": "PutObject", "eventID": "e3"}, {**good, "eventID": "e4", "eventTime": 12345}]
    trail = tmp_path / "111122223333_CloudTrail_us-east-1_20240301T1000Z_abc.json"
    trail.write_text(json.dumps({"Records": records}))
    lake = tmp_path / "lake"
    code, out, stderr = invoke(lake, "ingest", str(trail))
    assert code == 0, stderr
    assert "1 cloudtrail rows" in out and "3 lines rejected" in out and "outside" not in out
    code, out, _ = invoke(lake, "sql", "select log_file, log_line, reason from rejects order by log_line", "-f", "json")
    assert json.loads(out) == [
        {"log_file": str(trail), "log_line": 2, "reason": 'eventTime is not an ISO-8601 time: "2024-13-45T99:00:00Z"'},
        {"log_file": str(trail), "log_line": 3, "reason": "record without eventTime"},
        {"log_file": str(trail), "log_line": 4, "reason": "eventTime is not an ISO-8601 time: 12345"}]
    code, out, _ = invoke(lake, "status", "--format", "json")
    assert json.loads(out)[0]["rejected_lines"] == 3


def test_sql_intervals_are_written_as_iso_durations_and_parquet_says_what_it_cannot_hold(lake: Path,
                                                                                        tmp_path: Path) -> None:
    query = "select interval 1 day as a, interval '1 month 2 days 3.5 seconds' as b, interval 0 second as c"
    code, out, stderr = invoke(lake, "sql", query, "--format", "csv")
    assert code == 0, stderr
    assert out.splitlines() == ['"a","b","c"', '"P1D","P1M2DT3.5S","PT0S"']
    code, out, _ = invoke(lake, "sql", query, "--format", "json")
    assert json.loads(out) == [{"a": "P1D", "b": "P1M2DT3.5S", "c": "PT0S"}]
    target = tmp_path / "out.parquet"
    code, _, stderr = invoke(lake, "sql", query, "--output", str(target))
    assert code == 1 and "parquet cannot hold column a (month_day_nano_interval)" in one_error_line(stderr)
    assert list(tmp_path.glob("*out.parquet*")) == []  # no file, and no half-written one


def test_a_format_that_contradicts_the_output_extension_is_refused(lake: Path, tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    code, _, stderr = invoke(lake, "run", "requests", "--format", "json", "--output", str(target))
    assert code == 2 and "--format json does not match --output" in one_error_line(stderr)
    assert not target.exists()
    code, _, stderr = invoke(lake, "run", "requests", "--format", "csv", "--output", str(tmp_path / "rows.txt"))
    assert code == 0 and (tmp_path / "rows.txt").read_text().startswith('"request_time"')


@pytest.mark.parametrize("target", ["s3://", "s3:///"])
def test_report_to_an_s3_uri_without_a_bucket_says_so(lake: Path, target: str) -> None:
    code, _, stderr = invoke(lake, "report", "--output", target)
    assert code == 1 and one_error_line(stderr) == f"error: no bucket in '{target}' (expected s3://bucket/prefix/)"


@pytest.mark.parametrize("option", [["--output", "s3:///results/"], ["--report", "s3://"]])
def test_investigate_refuses_an_s3_target_without_a_bucket_before_it_ingests(logs: Path, tmp_path: Path,
                                                                             option: list[str]) -> None:
    lake = tmp_path / "fresh-lake"
    code, _, stderr = invoke(lake, "investigate", "--logs", str(logs), "--analysis", "requests",
                             "--since", "2024-03-01", "--until", "2024-03-02", *option)
    assert code == 1 and "no bucket in 's3://" in one_error_line(stderr)
    assert not lake.exists()


def test_a_lake_or_demo_folder_that_cannot_be_made_is_named_in_the_error(logs: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, stderr = invoke(blocker / "lake", "ingest", str(logs))
    assert code == 1 and one_error_line(stderr) == (
        f"error: cannot make the lake folder {blocker / 'lake'}: Not a directory")
    code, _, stderr = invoke(tmp_path / "lake", "demo", "--dir", str(blocker / "demo"))
    assert code == 1 and one_error_line(stderr) == f"error: {blocker / 'demo' / 'access'}: Not a directory"
    assert not (tmp_path / "lake").exists()


def test_output_below_a_file_says_which_file_is_in_the_way(lake: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, stderr = invoke(lake, "run", "requests", "--output", str(blocker / "rows.csv"))
    assert code == 1 and one_error_line(stderr) == (
        f"error: cannot write {blocker / 'rows.csv'}: {blocker} is a file, not a folder")


@pytest.mark.parametrize("query", ["", "  ;\n"])
def test_empty_sql_is_a_usage_error_not_zero_rows(lake: Path, query: str) -> None:
    code, out, stderr = invoke(lake, "sql", query)
    assert code == 2 and one_error_line(stderr) == "error: no SQL given" and out == ""


# --- FIFOs, sockets and devices: named, never opened ---------------------------------------------------------

def ingest_in_a_child(lake: Path, *sources: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point, in a process of its own with a deadline: a FIFO that is opened hangs it for good."""
    entry_point = Path(sys.executable).parent / "s3logq"
    return subprocess.run([str(entry_point), "--lake", str(lake), "ingest", *map(str, sources)],
                          capture_output=True, text=True, timeout=60)


def test_a_fifo_socket_and_device_link_in_a_folder_are_named_and_skipped_and_the_rest_is_ingested(
        logs: Path, tmp_path: Path) -> None:
    os.mkfifo(logs / "2024-03-01-11-00-00-FIFO")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(logs / "2024-03-01-12-00-00-SOCK"))
    (logs / "2024-03-01-13-00-00-ZERO").symlink_to("/dev/zero")  # read, it never ends
    try:
        result = ingest_in_a_child(tmp_path / "lake", logs)
    finally:
        listener.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "3 access_log rows" in result.stdout
    errors = result.stderr.splitlines()
    assert errors == [
        f"error: {logs}/2024-03-01-11-00-00-FIFO: is a FIFO (named pipe), not a log file: skipped without opening it",
        f"error: {logs}/2024-03-01-12-00-00-SOCK: is a socket, not a log file: skipped without opening it",
        f"error: {logs}/2024-03-01-13-00-00-ZERO: is a character device, not a log file: skipped without opening it",
        "3 file(s) could not be read; the rest was committed"]


def test_a_fifo_named_directly_is_said_not_silently_passed_over(tmp_path: Path) -> None:
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    result = ingest_in_a_child(tmp_path / "lake", fifo)
    assert result.returncode == 1
    assert f"error: {fifo}: is a FIFO (named pipe), not a log file: skipped without opening it" in result.stderr


# --- the edges of the calendar --------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["ingest", "LOGS", "--until", "9999-12-31"],
    ["ingest", "LOGS", "--since", "0001-01-01"],
    ["run", "requests", "--since", "9999-12-31T23:59:59-01:00"],
    ["run", "requests", "--until", "0001-01-01T00:30:00+01:00"],
    ["run", "requests", "--since", "2024-01-01", "--until", "9999-12-31T23:59:59.999999"],
    ["report", "--until", "9999-12-31"],
    ["investigate", "--logs", "LOGS", "--analysis", "requests", "--until", "9999-12-31"],
])
def test_a_time_at_the_edge_of_the_calendar_is_one_usage_line(lake: Path, logs: Path, command: list[str]) -> None:
    code, out, stderr = invoke(lake, *[str(logs) if arg == "LOGS" else arg for arg in command])
    assert code == 2 and "is outside the times s3logq handles" in one_error_line(stderr)


@pytest.mark.parametrize("since, until, rows", [
    ("0001-01-08", "9999-12-24", 3),  # the widest range there is: everything
    ("9999-12-23", "9999-12-24", 0),
    ("0001-01-08", "0001-01-09", 0),
])
def test_the_first_and_last_days_s3logq_handles_answer(lake: Path, logs: Path, since: str, until: str,
                                                       rows: int) -> None:
    code, out, stderr = invoke(lake, "run", "requests", "--since", since, "--until", until, "--format", "csv")
    assert code == 0, stderr
    assert len(out.splitlines()) == 1 + rows
    code, out, stderr = invoke(lake, "ingest", str(logs), "--since", since, "--until", until)
    assert code == 0, stderr


# --- exit codes: 1 for what went wrong at run time, 2 for what the user asked wrongly ----------------------

def test_output_to_a_full_device_says_disk_full_and_exits_1(lake: Path) -> None:
    entry_point = Path(sys.executable).parent / "s3logq"
    with open("/dev/full", "wb") as full:
        result = subprocess.run([str(entry_point), "--lake", str(lake), "sql", "select * from range(100000)",
                                 "--format", "csv"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 1
    assert one_error_line(result.stderr).startswith("error: disk full")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root with CAP_SYS_ADMIN; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_ingest_onto_a_full_disk_says_disk_full_and_exits_1(tiny_disk: Path, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    lines = [LINES[0].replace("k0.txt", f"k{n:06d}-{n * 7919 % 100003}.txt").replace(" R0 ", f" R{n}Q ")
             for n in range(20_000)]
    (big / "2024-03-01-10-05-00-BIG").write_text("\n".join(lines) + "\n")
    code, _, stderr = invoke(tiny_disk / "lake", "ingest", str(big))
    assert code == 1
    line = one_error_line(stderr)
    assert line.startswith("error: disk full") and "damaged" not in line


def test_a_file_replaced_by_a_fifo_after_it_was_listed_is_refused_not_waited_on(tmp_path: Path) -> None:
    from s3logq.formats import UnreadableFile
    from s3logq.sources import list_sources

    log = tmp_path / "2024-03-01-10-05-00-AAAA"
    log.write_text("\n".join(LINES) + "\n")
    (source,) = list_sources([str(log)])
    log.unlink()
    os.mkfifo(log)  # opened for reading with blocking I/O, this waits for a writer that never comes
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(source.read())
        except Exception as error:  # noqa: BLE001 - the outcome is checked below
            outcome.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # let the stuck reader go: a writer that closes at once ends its wait
        os.close(os.open(log, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
        pytest.fail("reading the FIFO waited for a writer")
    (error,) = outcome
    assert isinstance(error, UnreadableFile) and "is a FIFO" in str(error)
