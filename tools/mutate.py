"""Mutation testing (issue 17): `python tools/mutate.py sql` mutates the catalog SQL, `python tools/mutate.py
python` runs mutmut over the core modules. Both work on a copy of the last commit in a temporary folder, never
on the working tree (other sessions run tests there), and print the score and every surviving mutant.

A SQL mutant is one small change to one analysis file: a comparison edge (< and <=, > and >=), = and <>, AND
and OR, IS NULL and IS NOT NULL, or one predicate of a WHERE dropped (made TRUE). It is killed when the
analysis tests fail on it (or error, or time out). docs/mutation.md records the scores and why survivors live.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANALYSES = Path("s3logq/catalog/analyses")
# The tests an analysis's SQL answers to: its log type's analysis tests and the filter tests.
SQL_TESTS = {"access": ["tests/test_filters.py", "tests/test_analyses_access.py"],
             "cloudtrail": ["tests/test_filters.py", "tests/test_analyses_cloudtrail.py"]}
SQL_BAR = 0.90  # issue 17's bar for the catalog

_COMPARISON = re.compile(r"<=|>=|<>|!=|(?<![<>!|])=|<(?![=>])|>(?![=])")
_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "=": "<>", "<>": "=", "!=": "="}
_LOGICAL = re.compile(r"\b(AND|OR)\b")
_NULL_TEST = re.compile(r"\bIS NOT NULL\b|\bIS NULL\b")
_PREDICATE_LINE = re.compile(r"^(\s*)(WHERE|AND)\s+(?=\S)", re.MULTILINE)


@dataclass(frozen=True)
class Mutant:
    path: Path  # relative to the repository
    line: int
    what: str
    text: str  # the whole mutated file

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def committed_copy() -> Path:
    """The last commit, extracted to a temporary folder, its C extensions built there."""
    copy = Path(tempfile.mkdtemp(prefix="s3logq-mutate-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(copy)], input=archive, check=True)
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=copy, check=True,
                   capture_output=True)
    return copy


def _masked(sql: str) -> str:
    """The SQL with string literals and comments blanked (same length), so that no mutant lands in them."""
    out = list(sql)
    i = 0
    while i < len(sql):
        if sql[i] == "'":
            end = i + 1
            while end < len(sql) and not (sql[end] == "'" and sql[end + 1:end + 2] != "'"):
                end += 2 if sql[end:end + 2] == "''" else 1
            out[i:end + 1] = " " * (end + 1 - i)
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        else:
            i += 1
    return "".join(out)


def _predicate_end(masked: str, start: int) -> int:
    """Where the predicate starting at `start` ends: the end of its line, or further while parentheses are open."""
    depth, i = 0, start
    while i < len(masked):
        c = masked[i]
        depth += c == "("
        depth -= c == ")"
        if depth < 0:
            return i
        if c == "\n" and depth == 0:
            return i
        i += 1
    return i


def sql_mutants(path: Path, text: str) -> list[Mutant]:
    """Every mutant of one analysis file."""
    masked = _masked(text)
    mutants: list[Mutant] = []

    def add(start: int, end: int, replacement: str, what: str) -> None:
        line = text.count("\n", 0, start) + 1
        mutants.append(Mutant(path, line, what, text[:start] + replacement + text[end:]))

    for m in _COMPARISON.finditer(masked):
        add(m.start(), m.end(), _SWAP[m.group()], f"{m.group()} -> {_SWAP[m.group()]}")
    for m in _LOGICAL.finditer(masked):
        if m.group() == "AND" and re.search(r"\bBETWEEN\s+\S+\s+$", masked[:m.start()]):
            continue  # the AND of BETWEEN x AND y is not a logical operator
        other = "OR" if m.group() == "AND" else "AND"
        add(m.start(), m.end(), other, f"{m.group()} -> {other}")
    for m in _NULL_TEST.finditer(masked):
        other = "IS NULL" if m.group() == "IS NOT NULL" else "IS NOT NULL"
        add(m.start(), m.end(), other, f"{m.group()} -> {other}")
    for m in _PREDICATE_LINE.finditer(masked):
        end = _predicate_end(masked, m.end())
        dropped = " ".join(text[m.end():end].split())
        add(m.end(), end, "TRUE", f"{m.group(2)} {dropped} dropped")
    return mutants


def run_sql(only: list[str], keep: bool) -> int:
    """Every SQL mutant against its log type's analysis tests, in one pytest session per log type."""
    copy = committed_copy()
    print(f"copy of HEAD in {copy}", flush=True)
    out = copy / "sql-mutants.jsonl"
    started = time.monotonic()
    for log_type, tests in SQL_TESTS.items():
        files = sorted((copy / ANALYSES / log_type).glob("*.sql"))
        files = [f for f in files if not only or f.stem in only or f"{log_type}/{f.stem}" in only]
        if not files:
            continue
        env = {**os.environ, "PYTHONPATH": str(copy / "tools"), "S3LOGQ_MUTATE_OUT": str(out),
               "S3LOGQ_MUTATE_FILES": os.pathsep.join(str(f.relative_to(copy)) for f in files)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "sql_mutation_plugin",
                        *tests], cwd=copy, env=env, capture_output=True)
        print(f"{log_type}: {len(files)} files mutated ({time.monotonic() - started:.0f} s so far)", flush=True)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    failed = [test for line in lines for test in line.get("baseline_failed", [])]
    if failed:
        print("left out, failing on HEAD without a mutant: " + ", ".join(failed), flush=True)
    per_file: dict[str, list[int]] = {}
    survivors = []
    for line in lines:
        if "baseline_failed" in line:
            continue
        tally = per_file.setdefault(line["file"], [0, 0])
        tally[1] += 1
        if line["killed_by"]:
            tally[0] += 1
        else:
            survivors.append(f"{line['file']}:{line['line']}: {line['what']}")
    for file, (killed_here, total_here) in sorted(per_file.items()):
        print(f"  {Path(file).parent.name}/{Path(file).stem}: {killed_here}/{total_here}")
    killed, total = sum(k for k, _ in per_file.values()), sum(t for _, t in per_file.values())
    if not total:
        print("no mutant was run", file=sys.stderr)
        return 1
    print(f"\nSQL mutation score: {killed}/{total} killed = {100 * killed / total:.1f}%"
          f" ({time.monotonic() - started:.0f} s)")
    for survivor in survivors:
        print(f"  survived: {survivor}")
    if not keep:
        shutil.rmtree(copy, ignore_errors=True)
    return 0 if killed / total >= SQL_BAR else 1


def run_python(names: list[str], max_children: int, keep: bool) -> int:
    """mutmut over the modules [tool.mutmut] names (or the mutant names/globs given), on the copy."""
    copy = committed_copy()
    print(f"copy of HEAD in {copy}", flush=True)
    _deselect_failing(copy)
    mutmut = Path(sys.executable).with_name("mutmut")
    status = subprocess.run([str(mutmut), "run", "--max-children", str(max_children), *names], cwd=copy).returncode
    results = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=copy, capture_output=True,
                             text=True).stdout
    print(results)
    counts = _mutmut_counts(results)
    print("Python mutation results: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if not keep:
        shutil.rmtree(copy, ignore_errors=True)
    return status


def _deselect_failing(copy: Path) -> None:
    """Deselect, in the copy's mutmut settings, the tests that fail without any mutant (someone's unfinished
    change): mutmut refuses to start otherwise, and they would kill every mutant they reach."""
    pyproject = copy / "pyproject.toml"
    settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mutmut"]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *settings["pytest_add_cli_args_test_selection"]], cwd=copy, capture_output=True, text=True)
    failing = [line.split()[1] for line in run.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    if not failing:
        return
    print("left out, failing on HEAD without a mutant: " + ", ".join(failing), flush=True)
    arguments = settings.get("pytest_add_cli_args", []) + [a for test in failing for a in ("--deselect", test)]
    text = pyproject.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^pytest_add_cli_args = .*$", "pytest_add_cli_args = " + json.dumps(arguments), text)
    pyproject.write_text(text, encoding="utf-8")


def _mutmut_counts(results: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in results.splitlines():
        if ": " in line:
            status = line.rsplit(": ", 1)[1].strip()
            counts[status] = counts.get(status, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["sql", "python", "list-sql"])
    parser.add_argument("--only", nargs="*", default=[], help="SQL files to mutate (name or log-type/name)")
    parser.add_argument("--mutants", nargs="*", default=[], help="mutmut mutant names or globs (s3logq.lake*)")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut's parallel test runs")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()
    if args.part == "list-sql":
        for file in sorted((ROOT / ANALYSES).glob("*/*.sql")):
            for mutant in sql_mutants(file.relative_to(ROOT), file.read_text(encoding="utf-8")):
                print(mutant)
        return 0
    if args.part == "sql":
        return run_sql(args.only, args.keep)
    return run_python(args.mutants, args.max_children, args.keep)


if __name__ == "__main__":
    sys.exit(main())
