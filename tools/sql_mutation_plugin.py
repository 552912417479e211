"""A pytest plugin that runs the collected tests once per SQL mutant, in one session (tools/mutate.py sql).

One session instead of one pytest process per mutant: the imports and the fixture lakes are made once per
mutant at most, not once per process start, which makes ~1,000 mutants a matter of minutes. The tests that
name the mutated analysis run first, and a mutant stops at its first failing test.
Inputs (environment): S3LOGQ_MUTATE_FILES, the SQL files to mutate (os.pathsep-separated, relative to the
root); S3LOGQ_MUTATE_OUT, a JSON-lines file that gets one line per mutant.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from _pytest.runner import runtestprotocol

sys.path.insert(0, str(Path(__file__).parent))
from mutate import sql_mutants  # noqa: E402


def _run(session: pytest.Session, items: list[pytest.Item], stop_at_first: bool = True) -> list[str]:
    """The node IDs of the failing tests (only the first, with stop_at_first); every fixture torn down after."""
    failed = []
    try:
        for index, item in enumerate(items):
            following = items[index + 1] if index + 1 < len(items) else None
            reports = runtestprotocol(item, log=False, nextitem=following)
            if any(report.failed for report in reports):
                failed.append(item.nodeid)
                if stop_at_first:
                    break
    finally:
        session._setupstate.teardown_exact(None)
    return failed


def _first_about(name: str, items: list[pytest.Item]) -> list[pytest.Item]:
    """The items whose ID names the analysis first, each group in collection order."""
    tokens = (f"/{name}/", name.replace("-", "_"))
    return sorted(items, key=lambda item: not any(t in item.nodeid for t in tokens))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    files = os.environ.get("S3LOGQ_MUTATE_FILES")
    if not files:
        return None
    out = Path(os.environ["S3LOGQ_MUTATE_OUT"])
    root = Path(session.config.rootpath)
    with out.open("a", encoding="utf-8") as results:
        # A test that fails without any mutant (someone's unfinished change) could kill every mutant: it is
        # left out, and named in the results.
        baseline = _run(session, session.items, stop_at_first=False)
        if baseline:
            results.write(json.dumps({"baseline_failed": baseline}) + "\n")
        items = [item for item in session.items if item.nodeid not in baseline]
        for relative in files.split(os.pathsep):
            path = root / relative
            original = path.read_text(encoding="utf-8")
            ordered = _first_about(path.stem, items)
            try:
                for mutant in sql_mutants(Path(relative), original):
                    path.write_text(mutant.text, encoding="utf-8")
                    killed_by = _run(session, ordered)
                    results.write(json.dumps({"file": relative, "line": mutant.line, "what": mutant.what,
                                              "killed_by": killed_by[0] if killed_by else None}) + "\n")
                    results.flush()
            finally:
                path.write_text(original, encoding="utf-8")
    return True
