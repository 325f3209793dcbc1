#!/usr/bin/env python3
"""Affected tests against the whole suite, on a real project: time per verified file.

    .venv/bin/python benchmarks/affected.py CLONE [--commit REF] [--modules a.py,b.py] [--install "pytest pretend"]

CLONE is a local clone of a Python project whose tests run with pytest (for
the figures in benchmarks/README.md, pypa/packaging). The benchmark clones it
into a temporary directory at REF, makes the project's own virtualenv there
(`.venv`, the project installed editable with the packages `--install`
names), plants a function with an unused variable (ruff F841) at the end of
each module named by `--modules`, and commits. Then it runs
`stomper fix MODULES --fixer agent --tools ruff,pytest --parallel 1` twice on
fresh copies, once with `verify_tests = "affected"` (the default) and once
with `"all"`: the agent (a shell script) puts the module back as it was, and stomper
verifies each file with the tests that import it, or with the whole suite.
It prints, for each, the run's own time, the time per verified file, and how
many test files verification ran for each module. Results are written down
in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, STOMPER, make_agent

AGENT = """\
#!/bin/sh
cp "{originals}/$1" "$1"
"""
PLANTED = "\n\ndef _planted() -> None:\n    unused = 1\n"


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, env=ENV)


def prepare(clone: Path, ref: str, modules: list[str], install: list[str], where: Path) -> Path:
    """The project at `ref` with its own virtualenv and one planted problem per module, committed."""
    repo = where / "project"
    git("clone", "--quiet", str(clone), str(repo), cwd=where)
    git("checkout", "--quiet", ref, cwd=repo)
    subprocess.run([sys.executable, "-m", "venv", str(repo / ".venv")], check=True)
    pip = [str(repo / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-e", str(repo), *install], check=True)
    # The virtualenv is the project's, not part of its history.
    with (repo / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write(".venv/\n")
    for module in modules:
        path = repo / module
        original = where / "originals" / module
        original.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, original)
        path.write_text(path.read_text() + PLANTED)
    git("commit", "--quiet", "-am", "planted", cwd=repo)
    return repo


def run(project: Path, modules: list[str], verify_tests: str, where: Path) -> dict[str, object]:
    repo = where / verify_tests
    shutil.copytree(project, repo, symlinks=True)
    agent = make_agent(where, AGENT.format(originals=where / "originals"))
    report = where / f"{verify_tests}.json"
    argv = [str(STOMPER), "fix", *modules, "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff,pytest"]
    started = time.monotonic()
    done = subprocess.run(
        [*argv, "--parallel", "1", "--report", str(report)],
        cwd=repo,
        env={**ENV, "STOMPER_VERIFY_TESTS": verify_tests},
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    data = json.loads(report.read_text()) if report.exists() else {}
    if not data:
        sys.exit(f"stomper wrote no report ({verify_tests}):\n{done.stdout}\n{done.stderr}")
    return {"data": data, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clone", type=Path)
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument(
        "--modules",
        default="src/packaging/metadata.py,src/packaging/pylock.py,src/packaging/requirements.py,src/packaging/version.py",
    )
    parser.add_argument("--install", default="pytest pretend hypothesis tomli_w pip")
    args = parser.parse_args()
    modules = args.modules.split(",")
    with tempfile.TemporaryDirectory(prefix="stomper-bench-") as scratch:
        where = Path(scratch)
        project = prepare(args.clone.resolve(), args.commit, modules, args.install.split(), where)
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from stomper import imports
        from stomper.tools.config import pytest_testpaths

        listed = subprocess.run(["git", "ls-files"], cwd=project, capture_output=True, text=True, check=True)
        graph = imports._scan(project, [p for p in listed.stdout.splitlines() if p.endswith(".py")])
        roots = pytest_testpaths(project)
        everything = len(graph.all_tests(roots))
        print(f"{args.clone.name} at {args.commit}: {len(modules)} planted files, {everything} test files in all")
        for module in modules:
            print(f"  {module}: {len(graph.tests(module, roots))} affected test files")
        print(f"{'verify_tests':>12} {'run s':>8} {'wall s':>8} {'per file s':>10} {'fixed':>6}")
        for verify_tests in ("affected", "all"):
            result = run(project, modules, verify_tests, where)
            data: dict = result["data"]  # type: ignore[assignment]
            seconds = data["run"]["seconds"]
            fixed = data["summary"]["files_fixed"]
            per_file = seconds / max(fixed, 1)
            print(f"{verify_tests:>12} {seconds:>8.2f} {result['wall']:>8.2f} {per_file:>10.2f} {fixed:>6}", flush=True)
            for path, timing in sorted(data["run"]["files"].items()):
                print(f"{'':>12} {path}: {timing['seconds']:.2f} s", flush=True)


if __name__ == "__main__":
    main()
