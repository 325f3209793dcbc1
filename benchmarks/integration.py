#!/usr/bin/env python3
"""What checking dependents and the combined result costs: the same fixes, with and without anything to check.

    .venv/bin/python benchmarks/integration.py [--sizes 16,64] [--latency 0.5] [--parallel 4] [--repeat 1]

For each size it makes two repositories of SIZE modules, each with one mypy
error a fake agent fixes after LATENCY seconds, and one test file:

- apart: no module imports another, and the test imports none of them. Each
  fix is verified on its own file, meets no other fix, and lands unchecked.
- meeting: `pkg/app.py` imports every module and the test imports `app`.
  Each fix is verified with app.py (mypy) and the test (pytest) as its
  dependents, and every fix reads every module through app.py, so every fix
  but the first meets the ones before it and is checked together with them
  in the integration queue.

It runs `stomper fix --tools mypy,pytest --parallel P` on each and prints the
run's own time (from the JSON report), the process's wall time, the
integration queue's combined checks, and the ratio of meeting to apart.
Results are written down in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, STOMPER, commit_everything, make_agent

AGENT = """\
#!/bin/sh
sleep {latency}
sed -i 's/return "broken"/return 0/' "$1"
"""


def make_repo(where: Path, size: int, meeting: bool) -> Path:
    repo = where / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    for n in range(size):
        (repo / "pkg" / f"mod{n:02}.py").write_text(f'def value{n}() -> int:\n    return "broken"\n')
    if meeting:
        lines = [f"from pkg.mod{n:02} import value{n}" for n in range(size)]
        total = " + ".join(f"int(value{n}())" for n in range(size))
        (repo / "pkg" / "app.py").write_text("\n".join(lines) + f"\n\n\ndef total() -> int:\n    return {total}\n")
        (repo / "tests" / "test_app.py").write_text(
            "from pkg import app\n\n\ndef test_app() -> None:\n    assert app\n"
        )
    else:
        (repo / "tests" / "test_app.py").write_text("def test_app() -> None:\n    assert True\n")
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n')
    commit_everything(repo)
    return repo


def run(size: int, meeting: bool, latency: float, parallel: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="stomper-bench-") as scratch:
        repo = make_repo(Path(scratch), size, meeting)
        agent = make_agent(Path(scratch), AGENT.format(latency=latency))
        report = Path(scratch) / "report.json"
        argv = [str(STOMPER), "fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "mypy,pytest"]
        started = time.monotonic()
        done = subprocess.run(
            [*argv, "--parallel", str(parallel), "--report", str(report)],
            cwd=repo,
            env=ENV,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"stomper failed ({'meeting' if meeting else 'apart'}, {size}):\n{done.stdout}\n{done.stderr}")
        data = json.loads(report.read_text())
        assert data["summary"]["files_fixed"] == size, data["summary"]
        return data["run"]["seconds"], wall, data["run"]["combined_checks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,64")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the median is shown")
    args = parser.parse_args()
    print(
        f"agent latency {args.latency}s, tools mypy+pytest, --parallel {args.parallel}, "
        f"{os.cpu_count()} cores, median of {args.repeat} runs"
    )
    print(f"{'files':>5} {'layout':>8} {'run s':>8} {'wall s':>8} {'checks':>7} {'ratio':>6}")
    for size in (int(n) for n in args.sizes.split(",")):
        apart = 0.0
        for meeting in (False, True):
            runs = [run(size, meeting, args.latency, args.parallel) for _ in range(args.repeat)]
            run_s = statistics.median(r[0] for r in runs)
            wall_s = statistics.median(r[1] for r in runs)
            checks = statistics.median(r[2] for r in runs)
            apart = apart or run_s
            layout = "meeting" if meeting else "apart"
            print(
                f"{size:>5} {layout:>8} {run_s:>8.2f} {wall_s:>8.2f} {checks:>7.0f} {run_s / apart:>5.2f}x", flush=True
            )


if __name__ == "__main__":
    main()
