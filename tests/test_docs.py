"""The README's terminal sessions on the demo lake are real: each `$ .venv/bin/s3logq --lake demo-lake ...` line
runs on a lake built from `s3logq demo`'s sample logs, exits 0, and prints what the README shows after it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3logq.cli import cli
from s3logq.demo import generate
from s3logq.ingest import IngestOptions, ingest
from s3logq.lake import Lake
from s3logq.sources import list_sources

README = Path(__file__).parent.parent / "README.md"
PROMPT = "$ .venv/bin/s3logq --lake demo-lake "


def sessions() -> list[tuple[str, list[str]]]:
    """Each README command on the demo lake, with the lines the README prints after it (up to the next prompt)."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL):
        printed: list[str] | None = None  # the lines after the current prompt of this block
        for line in block.splitlines():
            if line.startswith(PROMPT):
                printed = []
                found.append((line[len(PROMPT):], printed))
            elif line.startswith("$ "):
                printed = None
            elif printed is not None:
                printed.append(line)
    return found


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("docs")
    generate(root / "demo-logs")
    lake = Lake(root / "demo-lake")
    assert ingest(lake, list_sources([str(root / "demo-logs")]), IngestOptions(workers=2)).ok
    return lake


def test_the_readme_shows_sessions_on_the_demo_lake() -> None:
    commands = [command for command, _ in sessions()]
    assert len(commands) >= 5 and any("lifecycle-stats" in c for c in commands)


@pytest.mark.parametrize("command, shown", sessions(), ids=[c for c, _ in sessions()])
def test_a_readme_session_runs_and_prints_what_the_readme_shows(demo_lake: Lake, command: str,
                                                                 shown: list[str]) -> None:
    result = CliRunner().invoke(cli, ["--lake", str(demo_lake.root), *shlex.split(command)])
    assert result.exit_code == 0, result.stderr or result.output
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    expected = [line.rstrip() for line in shown]
    if not expected:  # the README shows the command only: it must answer with rows, not an empty table
        assert re.match(r"[1-9][\d,]* rows", printed[-1]), printed[-1:]
        return
    if "..." in expected:  # the README shows the first lines only
        expected = expected[: expected.index("...")]
        printed = printed[: len(expected)]
    assert printed == expected


def test_every_command_has_help_and_a_line_in_the_readme() -> None:
    import click

    readme = README.read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        subcommands = command.commands.items() if isinstance(command, click.Group) else [("", command)]
        for sub, leaf in subcommands:
            path = f"s3logq {name} {sub}".strip()
            assert leaf.help, f"{path} has no help"
            assert f"`{path}" in readme, f"{path} is not in the README"
