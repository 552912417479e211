"""Check the lake's parts against its manifest, and repair it by reading the affected source files again.

A repair works in two committed steps, so that it can be interrupted: damaged parts first leave `parts` for
`lost_parts` (with the source files whose rows they held) and their files are moved aside, never deleted;
then each lost part's rows are read again from its sources, kept only where the healthy parts lack them,
and written as new parts in the same transaction that forgets the lost part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s3logq.lake import Lake, iso_utc
from s3logq.sources import SourceFile

if TYPE_CHECKING:
    import pyarrow as pa

DAMAGED_FOLDER = "damaged"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the lake: a part (or the manifest) and what is wrong with it."""

    path: str
    table_name: str | None
    day: str | None
    what: str


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    parts_checked: int = 0
    unlisted: list[str] = field(default_factory=list)  # Parquet files the manifest does not list: left alone


@dataclass
class RepairReport:
    parts_set_aside: list[str] = field(default_factory=list)
    parts_restored: list[str] = field(default_factory=list)
    rows_restored: int = 0
    not_restored: list[tuple[str, str]] = field(default_factory=list)  # (lost part, why)


def check_lake(lake: Lake) -> CheckReport:
    """Every part the manifest lists: present, of its size, readable as Parquet, with its row count."""
    import pyarrow.parquet as pq

    report = CheckReport()
    verdict = lake.query("PRAGMA quick_check")
    if verdict and verdict[0][0] != "ok":
        report.problems.append(Problem(str(lake.manifest_path), None, None, f"integrity check: {verdict[0][0]}"))
        return report
    for path, table_name, day, rows, size in lake.query("SELECT path, table_name, day, rows, bytes FROM parts "
                                                        "ORDER BY path"):
        report.parts_checked += 1
        what = _part_problem(lake.root / path, rows, size, pq)
        if what:
            report.problems.append(Problem(path, table_name, day, what))
    for path, table_name, day in lake.query("SELECT path, table_name, day FROM lost_parts ORDER BY path"):
        report.problems.append(Problem(path, table_name, day, "set aside as damaged; its rows are not restored yet"))
    report.unlisted = lake.unlisted_files()
    return report


def _part_problem(file: Path, rows: int, size: int, pq: object) -> str | None:
    if not file.is_file():
        return "missing"
    actual = file.stat().st_size
    if actual != size:
        return f"size {actual:,} bytes, the manifest says {size:,}"
    try:
        parquet = pq.ParquetFile(file)  # type: ignore[attr-defined]
        if parquet.metadata.num_rows != rows:
            return f"{parquet.metadata.num_rows:,} rows, the manifest says {rows:,}"
        for group in range(parquet.num_row_groups):  # every page decoded: damage past the footer shows here
            parquet.read_row_group(group)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the finding
        return f"unreadable: {str(error).splitlines()[0] if str(error) else type(error).__name__}"
    return None


def repair_lake(lake: Lake, reopen: Callable[[str], SourceFile | None]) -> RepairReport:
    """Set damaged parts aside and restore their rows from their source files (`reopen` finds a file by uri)."""
    from s3logq.ingest import exclusive_lock

    report = RepairReport()
    with exclusive_lock(lake):
        damaged = [p for p in check_lake(lake).problems if p.table_name and "set aside" not in p.what]
        report.parts_set_aside = _set_aside(lake, damaged)
        for path, table_name, day, sources in _lost_parts(lake):
            _restore(lake, path, table_name, day, sources, reopen, report)
    return report


def _set_aside(lake: Lake, damaged: list[Problem]) -> list[str]:
    """Move damaged parts from `parts` to `lost_parts` (one transaction), then their files to damaged/."""
    if not damaged:
        return []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with lake.transaction() as connection:
        for problem in damaged:
            connection.execute("INSERT OR REPLACE INTO lost_parts SELECT path, table_name, day, ?, ? FROM parts "
                               "WHERE path = ?", (problem.what, iso_utc(datetime.now(UTC)), problem.path))
            connection.execute("DELETE FROM parts WHERE path = ?", (problem.path,))
    for problem in damaged:
        file = lake.root / problem.path
        if file.exists():
            target = lake.root / DAMAGED_FOLDER / stamp / problem.path
            target.parent.mkdir(parents=True, exist_ok=True)
            file.rename(target)
    return [problem.path for problem in damaged]


def _lost_parts(lake: Lake) -> list[tuple[str, str, str | None, list[str]]]:
    lost = lake.query("SELECT path, table_name, day FROM lost_parts ORDER BY path")
    return [(path, table_name, day, [uri for (uri,) in lake.query(
        "SELECT uri FROM part_sources WHERE path = ? ORDER BY uri", (path,))]) for path, table_name, day in lost]


def _restore(lake: Lake, path: str, table_name: str, day: str | None, uris: list[str],
             reopen: Callable[[str], SourceFile | None], report: RepairReport) -> None:
    """Read a lost part's sources again; store the rows of its table and day that the lake lacks."""
    import pyarrow as pa

    from s3logq.ingest import Candidate, parse_chunk
    from s3logq.reader import ContentClaims
    from s3logq.writer import PartWriter

    if not uris:
        report.not_restored.append((path, "the manifest does not say which files it came from (an older lake)"))
        return
    recorded = dict(lake.query(f"SELECT uri, content FROM sources WHERE uri IN ({','.join('?' * len(uris))})",
                               uris))
    files: list[SourceFile] = []
    for uri in uris:
        source = reopen(uri)
        if source is None:
            report.not_restored.append((path, f"{uri} is no longer there"))
            return
        files.append(source)
    chunk = parse_chunk([Candidate(f) for f in files], ContentClaims({}))
    for parsed in chunk.files:
        if parsed.error:
            report.not_restored.append((path, f"{parsed.source.uri}: {parsed.error}"))
            return
        expected = recorded.get(parsed.source.uri)
        if expected and parsed.content != expected:
            report.not_restored.append((path, f"{parsed.source.uri} changed since it was ingested"))
            return
    ingest_id = lake.new_ingest_id()
    lake.begin_ingest(ingest_id, datetime.now(UTC))
    writer = PartWriter(lake, ingest_id, None, None, ())
    for log_type, table, rejects in chunk.tables:
        if table_name == "rejects":
            missing = _missing_lines(lake, "rejects", None, [(r.log_file, r.log_line) for r in rejects])
            writer.add(log_type, None, [r for r in rejects if (r.log_file, r.log_line) in missing])
            continue
        if (log_type == "access") != (table_name == "access_log") or table is None or table.num_rows == 0:
            continue
        table = _of_day(table, table_name, day)
        if table_name == "access_log":
            keys = list(zip(table.column("log_file").to_pylist(), table.column("log_line").to_pylist(), strict=True))
            missing = _missing_lines(lake, table_name, day, keys)
            table = table.filter(pa.array([key in missing for key in keys]))
        writer.add(log_type, table, [])  # CloudTrail: the writer keeps only events the lake lacks
    parts = writer.finish()
    rows = sum(p.rows for p in parts)
    lake.commit_repair(ingest_id, parts, path)
    report.parts_restored.append(path)
    report.rows_restored += rows


def _of_day(table: pa.Table, table_name: str, day: str | None) -> pa.Table:
    import pyarrow.compute as pc

    time_column = "request_time" if table_name == "access_log" else "event_time"
    return table.filter(pc.equal(pc.strftime(table.column(time_column), format="%Y-%m-%d"), day))


def _missing_lines(lake: Lake, table_name: str, day: str | None,
                   keys: Iterable[tuple[str, int]]) -> set[tuple[str, int]]:
    """The (file, line) pairs among `keys` that no healthy part of the table (and day) holds."""
    import duckdb

    keys = set(keys)
    parts = [p for p in lake.parts(table_name) if day is None or p.day == day]
    if not parts or not keys:
        return keys
    files = sorted({file for file, _ in keys})
    connection = duckdb.connect()
    present = connection.execute(
        "SELECT DISTINCT log_file, log_line FROM read_parquet($parts, union_by_name = true) "
        "WHERE list_contains($files, log_file)",
        {"parts": [str(lake.root / p.path) for p in parts], "files": files}).fetchall()
    return keys - {(file, int(line)) for file, line in present}


def reopen_source(uri: str, **s3_options: Any) -> SourceFile | None:
    """The source file a uri names, if it is still there (local path or s3://bucket/key)."""
    from s3logq.sources import SourceError, list_sources

    try:
        return next((f for f in list_sources([uri], **s3_options) if f.uri == uri), None)
    except SourceError:
        return None


def damage_summary(lake: Lake) -> str | None:
    """One line on missing or set-aside parts (cheap: no Parquet is read), or None for a sound lake."""
    missing = sum(1 for (path,) in lake.query("SELECT path FROM parts") if not (lake.root / path).is_file())
    lost = lake.query("SELECT count(*) FROM lost_parts")[0][0] if lake.exists() else 0
    if not (missing or lost):
        return None
    found = [f"{missing} part(s) missing"] * bool(missing) + [f"{lost} part(s) set aside, rows not restored"] * bool(lost)
    return f"damage: {', '.join(found)}; see `s3logq --lake {lake.root} lake check`, mend with `lake repair`"
