#!/usr/bin/env python3
"""The pre-commit hook on a commit of many files that ruff alone can fix, against the tools run once.

    .venv/bin/python benchmarks/hook_batch.py [--files 200] [--repeat 5] [--compare-src DIR]

In a fresh git repository of a package of `--files` modules (and one test
file), every module gets an unused import and is staged; then, run after run
in turn so that a change of load hits every case alike:

- `stomper fix --hook --tools ruff`: ruff's fixes of every file, in one batch;
- `stomper fix --hook`: the same with ruff, mypy and pytest (the default tools);
- `ruff check --fix` on the staged files (what ruff-pre-commit runs);
- `ruff check --fix`, `mypy` on the staged files and `pytest -q`, one after
  the other, as pre-commit runs ruff-pre-commit, mirrors-mypy and a local
  pytest hook: the tools run once each.

Before every run the files are put back as staged (`git checkout -- .`), so
each run fixes all of them. Each line shows the median wall-clock seconds and
CPU seconds (user + system of the whole process tree) with the range over the
runs. `--compare-src DIR` also runs both stomper cases with `PYTHONPATH=DIR`
(the `src` of an older checkout, from `git archive`). Results are written
down in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import ENV, git, measure, spread, timed

BIN = Path(sys.executable).parent
MODULE = "def value_{n}() -> int:\n    return {n}\n"
TEST = "from pkg.mod000 import value_0\n\n\ndef test_value() -> None:\n    assert value_0() == 0\n"
PYPROJECT = '[project]\nname = "pkg"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n'


def make_repo(where: Path, count: int) -> tuple[Path, list[str]]:
    """A clean package committed, then every module given an unused import and staged."""
    repo = where / "repo"
    modules = [f"pkg/mod{n:03}.py" for n in range(count)]
    files = {"pkg/__init__.py": "", "tests/test_pkg.py": TEST, "pyproject.toml": PYPROJECT}
    files |= {path: MODULE.format(n=n) for n, path in enumerate(modules)}
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "clean")
    for n, path in enumerate(modules):
        (repo / path).write_text("import json\n\n" + MODULE.format(n=n))
    git(repo, "add", *modules)
    return repo, modules


def from_staged(argv_list: list[list[str]], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """`timed`, from the staged state: what the last case fixed is undone first."""
    git(cwd, "checkout", "--", ".")
    return timed(argv_list, cwd, env)


def check_fixed(repo: Path, modules: list[str]) -> None:
    """The run fixed every module (a benchmark of a run that did nothing would flatter it)."""
    left = [m for m in modules if (repo / m).read_text().startswith("import json")]
    if left:
        raise SystemExit(f"{len(left)} module(s) not fixed, e.g. {left[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200, help="staged modules, each with an unused import")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case; the median and range are shown")
    parser.add_argument("--compare-src", type=Path, help="also run stomper with PYTHONPATH=DIR")
    args = parser.parse_args()
    stomper, ruff, mypy, pytest = (str(BIN / name) for name in ("stomper", "ruff", "mypy", "pytest"))
    versions: dict[str, dict[str, str]] = {"": ENV}
    if args.compare_src is not None:
        versions[" [compare]"] = {**ENV, "PYTHONPATH": str(args.compare_src.resolve())}

    with tempfile.TemporaryDirectory(prefix="stomper-bench-") as scratch:
        repo, modules = make_repo(Path(scratch), args.files)
        cases: dict[str, Callable[[], tuple[float, float]]] = {}
        for tag, env in versions.items():
            cases[f"stomper fix --hook --tools ruff{tag}"] = lambda env=env: from_staged(
                [[stomper, "fix", "--hook", "--tools", "ruff"]], repo, env
            )
            cases[f"stomper fix --hook (ruff, mypy, pytest){tag}"] = lambda env=env: from_staged(
                [[stomper, "fix", "--hook"]], repo, env
            )
        cases["ruff check --fix"] = lambda: from_staged([[ruff, "check", "--fix", *modules]], repo, ENV)
        cases["ruff check --fix + mypy + pytest"] = lambda: from_staged(
            [[ruff, "check", "--fix", *modules], [mypy, *modules], [pytest, "-q", "-p", "no:cacheprovider"]],
            repo,
            ENV,
        )
        for case in cases.values():  # warm the caches (mypy's, the page cache) once; each must fix all
            case()
            check_fixed(repo, modules)
        walls, cpus, loads = measure(cases, args.repeat)

    print(
        f"{os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f} during the runs, "
        f"{args.files} staged files, median (range) of {args.repeat} runs"
    )
    print(f"{'case':<52} {'wall s':>18} {'CPU s':>18}")
    for name in cases:
        print(f"{name:<52} {spread(walls[name]):>18} {spread(cpus[name]):>18}")


if __name__ == "__main__":
    main()
