"""Start-up cost: every command imports s3logq.cli, so no heavy module may be imported there (issue 12)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

FIXTURES = Path(__file__).parent / "fixtures"

# Each costs 0.05-0.3 s to import; only the commands that read rows, query or fetch may pay for it.
HEAVY = ("pyarrow", "numpy", "duckdb", "rich", "boto3", "botocore", "pandas", "sqlglot")

_PROBE = """
import sys
sys.argv = ["s3logq"] + sys.argv[1:]
from s3logq.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
print("|".join(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})), file=sys.stderr)
"""


def _heavy_after(*arguments: str) -> tuple[list[str], str]:
    """The heavy modules loaded by a fresh interpreter that ran `s3logq ARGUMENTS`, and its stdout."""
    probe = _PROBE.format(heavy=set(HEAVY))
    done = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True, text=True, timeout=60)
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return [name for name in last.split("|") if name], done.stdout


def test_help_imports_no_heavy_module() -> None:
    loaded, shown = _heavy_after("--help")
    assert "Commands:" in shown  # the probe really ran the CLI
    assert loaded == []


def test_subcommand_help_imports_no_heavy_module() -> None:
    loaded, shown = _heavy_after("run", "--help")
    assert "Usage:" in shown
    assert loaded == []


def test_analyses_imports_arrow_but_no_engine() -> None:
    """Listing the catalog builds an Arrow table and prints it, but never starts DuckDB or boto3."""
    loaded, shown = _heavy_after("analyses", "--format", "csv")
    assert "object-access" in shown
    assert "pyarrow" in loaded
    assert not {"duckdb", "boto3", "botocore"} & {name.split(".")[0] for name in loaded}


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The hand-written access-log and CloudTrail fixtures, ingested: a lake of a few dozen rows."""
    lake = Lake(tmp_path_factory.mktemp("startup-lake"))
    ingest(lake, list_sources([str(FIXTURES / "access"), str(FIXTURES / "cloudtrail")]), IngestOptions(workers=1))
    return str(lake.root)


@pytest.mark.parametrize("output", [[], ["--format", "csv"], ["--format", "json"], ["--vertical"]])
def test_run_of_a_small_answer_imports_no_arrow(small_lake: str, output: list[str]) -> None:
    """`run` to a terminal, csv or json fetches a small answer as Python values: pyarrow and numpy cost ~0.15 s."""
    loaded, shown = _heavy_after("--lake", small_lake, "run", "requests", "--logs", "access", *output)
    assert "REST.GET.OBJECT" in shown  # the probe really printed rows
    assert not {"pyarrow", "numpy", "pandas", "boto3", "botocore", "sqlglot"} & {n.split(".")[0] for n in loaded}
    assert "duckdb" in loaded


def test_run_to_a_plain_terminal_table_imports_no_rich(small_lake: str) -> None:
    """Piped, an ASCII table is drawn by s3logq itself: rich takes ~50 ms to import and lay out 50 rows."""
    loaded, shown = _heavy_after("--lake", small_lake, "run", "lifecycle-stats")
    assert "┃ action" in shown
    assert "rich" not in {name.split(".")[0] for name in loaded}


def test_parquet_still_comes_from_arrow(small_lake: str, tmp_path: Path) -> None:
    """The other side of the test above: parquet needs Arrow, so the probe does see pyarrow when it is loaded."""
    target = tmp_path / "rows.parquet"
    loaded, _ = _heavy_after("--lake", small_lake, "run", "requests", "--logs", "access", "--output", str(target))
    assert target.stat().st_size > 0 and "pyarrow" in loaded
