#!/usr/bin/env python3
"""Would a mypy daemon per pooled worktree verify faster than mypy with the worktree's cache?

    .venv/bin/python benchmarks/mypy_daemon.py [--source DIR] [--module NAME] [--repeat 7]

The subject is a copy of a package (by default stomper's own source, about
fifty modules under `mypy --strict`) in a fresh git repository. Each round
changes one module (a comment appended, as a fix changes a file) and checks
it three ways, in turn:

- `mypy MODULE` with the cache kept from the round before: what a pooled
  worktree does today (its cache lives beside it, `pool.caches_of`);
- `dmypy check MODULE` against a daemon that has already checked the package
  once (the daemon's own CPU is read from /proc, it is not our child's);
- a new daemon's first check, from a cache written by `mypy
  --cache-fine-grained` (`dmypy run -- --use-fine-grained-cache`): what each
  worktree of a run would pay once.

Wall-clock and CPU seconds, median (range). Results are written down in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, commit_everything, spread

BIN = Path(sys.executable).parent
MYPY, DMYPY = str(BIN / "mypy"), str(BIN / "dmypy")
CONFIG = "[tool.mypy]\nstrict = true\nignore_missing_imports = true\n"


def cpu_of(pid: int) -> float:
    """User + system seconds of a process that is not our child."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(argv: list[str], cwd: Path, daemon: int | None = None) -> tuple[float, float]:
    """Wall-clock and CPU seconds of `argv` (and of `daemon`'s work meanwhile)."""
    before = os.times()
    served = cpu_of(daemon) if daemon else 0.0
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system - before.children_system
    return wall, cpu + (cpu_of(daemon) - served if daemon else 0.0)


def daemon_pid(status: Path) -> int:
    return int(json.loads(status.read_text())["pid"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).parents[1] / "src" / "stomper")
    parser.add_argument("--module", default="verify.py", help="the module each round changes")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stomper-dmypy-") as scratch:
        repo = Path(scratch) / "repo"
        shutil.copytree(args.source, repo / "pkg", ignore=shutil.ignore_patterns("__pycache__"))
        (repo / "pyproject.toml").write_text(CONFIG)
        commit_everything(repo)
        target = repo / "pkg" / args.module
        name = str(target.relative_to(repo))
        warm, fresh = Path(scratch) / "warm", Path(scratch) / "fresh"
        status = Path(scratch) / "dmypy.json"
        dmypy = [DMYPY, "--status-file", str(status)]
        run([MYPY, "--cache-dir", str(warm), name], repo)
        run([MYPY, "--cache-dir", str(fresh), "--cache-fine-grained", name], repo)
        run([*dmypy, "start", "--", "--cache-dir", str(Path(scratch) / "served")], repo)
        pid = daemon_pid(status)
        run([*dmypy, "check", name], repo, pid)
        results: dict[str, list[tuple[float, float]]] = {"mypy, warm cache": [], "dmypy check": [], "new daemon": []}
        try:
            for n in range(args.repeat):
                with target.open("a") as file:
                    file.write(f"# round {n}\n")
                results["mypy, warm cache"].append(run([MYPY, "--cache-dir", str(warm), name], repo))
                results["dmypy check"].append(run([*dmypy, "check", name], repo, pid))
                other = Path(scratch) / f"dmypy-{n}.json"
                first = [DMYPY, "--status-file", str(other), "run", "--"]
                opts = ["--cache-dir", str(fresh), "--use-fine-grained-cache", name]
                wall, cpu = run([*first, *opts], repo)
                results["new daemon"].append((wall, cpu + cpu_of(daemon_pid(other))))
                subprocess.run([DMYPY, "--status-file", str(other), "kill"], cwd=repo, env=ENV, capture_output=True)
        finally:
            subprocess.run([*dmypy, "kill"], cwd=repo, env=ENV, capture_output=True)
        print(f"{args.source} ({len(list((repo / 'pkg').rglob('*.py')))} modules), {name} changed each round")
        for case, found in results.items():
            print(f"{case:20} wall {spread([w for w, _ in found])}  cpu {spread([c for _, c in found])}")


if __name__ == "__main__":
    main()
