"""Start-up cost: every command imports s3logq.cli, so no heavy module may be imported there (issue 12)."""

from __future__ import annotations

import subprocess
import sys

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
