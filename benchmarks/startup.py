#!/usr/bin/env python3
"""What stomper costs when there is nothing to fix: its fixed cost, and the hook against the tools it runs.

    .venv/bin/python benchmarks/startup.py [--repeat 11] [--compare-src DIR]

In a fresh git repository of a small package (three modules, one test file,
all clean), it times, run after run in turn so that a change of load hits
every case alike:

- `stomper fix --tools ruff` with nothing to fix, next to `ruff check` of the
  same files: the difference is stomper's fixed cost;
- `stomper check --tools ruff`, likewise;
- `stomper fix --hook` with nothing staged;
- `stomper fix --hook` on a clean commit of three staged files (ruff, mypy
  and pytest, the default tools) next to ruff, mypy and pytest run directly:
  `ruff check FILES` (ruff-pre-commit), `mypy FILES` (mirrors-mypy) and
  `pytest -q` (a local pytest hook), one after the other, as pre-commit runs
  them.

Each line shows the median wall-clock seconds and CPU seconds (user + system
of the whole process tree, which the machine's load disturbs less) with the
range over the runs. `--compare-src DIR` also runs every stomper case with
`PYTHONPATH=DIR` (e.g. the `src` of an older checkout, from `git archive`),
for a before-and-after measured in the same conditions.
Results are written down in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import ENV, git, measure, spread, timed

BIN = Path(sys.executable).parent

FILES = {
    "pkg/__init__.py": "",
    "pkg/shapes.py": "def area(width: int, height: int) -> int:\n    return width * height\n",
    "pkg/names.py": "def greet(name: str) -> str:\n    return f'hello {name}'\n",
    "tests/test_shapes.py": "from pkg.shapes import area\n\n\ndef test_area() -> None:\n    assert area(2, 3) == 6\n",
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n',
}
STAGED = ["pkg/shapes.py", "pkg/names.py", "tests/test_shapes.py"]


def make_repo(where: Path) -> Path:
    repo = where / "repo"
    for name, text in FILES.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "clean")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=11, help="runs of each case; the median and range are shown")
    parser.add_argument("--compare-src", type=Path, help="also run stomper with PYTHONPATH=DIR")
    args = parser.parse_args()
    stomper, ruff, mypy, pytest = (str(BIN / name) for name in ("stomper", "ruff", "mypy", "pytest"))
    code = ["pkg/__init__.py", "pkg/shapes.py", "pkg/names.py", "tests/test_shapes.py"]
    versions: dict[str, dict[str, str]] = {"": ENV}
    if args.compare_src is not None:
        versions[" [compare]"] = {**ENV, "PYTHONPATH": str(args.compare_src.resolve())}

    with tempfile.TemporaryDirectory(prefix="stomper-bench-") as scratch:
        repo = make_repo(Path(scratch))
        staged = Path(scratch) / "staged"
        subprocess.run(["cp", "-a", str(repo), str(staged)], check=True)
        for name in STAGED:
            (staged / name).write_text((staged / name).read_text() + "\n\nVERSION = 2\n")
        git(staged, "add", *STAGED)

        cases: dict[str, Callable[[], tuple[float, float]]] = {}
        for tag, env in versions.items():
            cases[f"stomper fix --tools ruff, nothing to fix{tag}"] = lambda env=env: timed(
                [[stomper, "fix", "--tools", "ruff"]], repo, env
            )
            cases[f"stomper check --tools ruff{tag}"] = lambda env=env: timed(
                [[stomper, "check", "--tools", "ruff"]], repo, env
            )
            cases[f"stomper fix --hook, nothing staged{tag}"] = lambda env=env: timed(
                [[stomper, "fix", "--hook"]], repo, env
            )
            cases[f"stomper fix --hook, clean 3-file commit{tag}"] = lambda env=env: timed(
                [[stomper, "fix", "--hook"]], staged, env
            )
        cases["ruff check, same files"] = lambda: timed([[ruff, "check", *code]], repo, ENV)
        cases["ruff + mypy + pytest, clean 3-file commit"] = lambda: timed(
            [[ruff, "check", *STAGED], [mypy, *STAGED], [pytest, "-q", "-p", "no:cacheprovider"]], staged, ENV
        )
        for case in cases.values():  # warm the caches (mypy's, the page cache) once
            case()
        walls, cpus, loads = measure(cases, args.repeat)

    print(
        f"{os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f} during the runs, "
        f"median (range) of {args.repeat} runs"
    )
    print(f"{'case':<58} {'wall s':>18} {'CPU s':>18}")
    for name in cases:
        print(f"{name:<58} {spread(walls[name]):>18} {spread(cpus[name]):>18}")


if __name__ == "__main__":
    main()
