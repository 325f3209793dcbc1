#!/usr/bin/env python3
"""How `stomper fix` scales with --parallel: 16 failing files, a fake agent of fixed latency.

    .venv/bin/python benchmarks/parallel.py [--files 16] [--latency 1.0] [--tools ruff] [--levels 1,2,4,8] [--repeat 3]
                                            [--compare-src DIR] [--warm]

For each level it makes a fresh git repository of FILES modules, each with one
problem ruff cannot fix (F821, an undefined name), and runs
`stomper fix --fixer agent --parallel N` with an agent that sleeps LATENCY
seconds and writes the fix: a shell script, so that its own start-up (a few
milliseconds) does not add to the latency it stands for. It prints the run's own time (from the JSON
report: snapshot, check, every branch, apply; Python start-up excluded), the
process's wall time (with the range of the runs), and the speedup of each over --parallel 1.
`--compare-src DIR` also runs every level with `PYTHONPATH=DIR` (e.g. the
`src` of an older checkout, from `git archive`), alternating with the
installed stomper run by run, so that a change of load hits both alike; it
then adds each one's CPU seconds (user + system of the process tree).
`--warm` measures the second run in each repository, after one at the same
level that fixed the same files, which were then broken again with other
bytes and committed: it takes back the worktrees the first kept.
Results are written down in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, STOMPER, commit_everything, make_agent, run_before

AGENT = """\
#!/bin/sh
sleep {latency}
sed -i 's/undefined_name/0/' "$1"
"""


def make_repo(where: Path, files: int) -> Path:
    repo = where / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    break_all(repo, files)
    commit_everything(repo)
    return repo


def break_all(repo: Path, files: int, name: str = "value") -> None:
    for n in range(files):
        (repo / "pkg" / f"mod{n:02}.py").write_text(f"def {name}{n}() -> int:\n    return undefined_name\n")


def run(
    files: int, latency: float, tools: str, parallel: int, env: dict[str, str], warm: bool = False
) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory(prefix="stomper-bench-") as scratch:
        repo = make_repo(Path(scratch), files)
        agent = make_agent(Path(scratch), AGENT.format(latency=latency))
        report = Path(scratch) / "report.json"
        fix = [str(STOMPER), "fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", tools]
        fix += ["--parallel", str(parallel)]
        if warm:
            run_before(fix, repo, env, lambda: break_all(repo, files, "again"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(
            [*fix, "--report", str(report)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if done.returncode != 0:
            sys.exit(f"stomper failed at --parallel {parallel}:\n{done.stdout}\n{done.stderr}")
        data = json.loads(report.read_text())
        assert data["summary"]["files_fixed"] == files, data["summary"]
        return data["run"]["seconds"], wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--tools", default="ruff")
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--repeat", type=int, default=3, help="runs per level; the median is shown")
    parser.add_argument("--compare-src", type=Path, help="also run stomper with PYTHONPATH=DIR, alternating")
    parser.add_argument("--warm", action="store_true", help="measure the run after one fixing the same files")
    args = parser.parse_args()
    versions = {"": ENV}
    if args.compare_src is not None:
        versions[" [compare]"] = {**ENV, "PYTHONPATH": str(args.compare_src.resolve())}
    print(
        f"{args.files} files, agent latency {args.latency}s, tools {args.tools}, {os.cpu_count()} cores, "
        f"median of {args.repeat} runs, load average {os.getloadavg()[0]:.1f}"
    )
    cpu_head = f" {'CPU s':>6}" if len(versions) > 1 else ""
    print(f"{'parallel':>19} {'run s':>8} {'speedup':>8} {'wall s':>8} {'speedup':>8}{cpu_head}  wall range")
    base: dict[str, tuple[float, float]] = {}
    for level in (int(n) for n in args.levels.split(",")):
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in versions}
        for _ in range(args.repeat):
            for name, env in versions.items():
                runs[name].append(run(args.files, args.latency, args.tools, level, env, args.warm))
        for name, done in runs.items():
            run_s = statistics.median(r[0] for r in done)
            wall_s = statistics.median(r[1] for r in done)
            first = base.setdefault(name, (run_s, wall_s))
            cpu = f" {statistics.median(r[2] for r in done):>6.2f}" if len(versions) > 1 else ""
            speedups = f"{first[0] / run_s:>7.2f}x {wall_s:>8.2f} {first[1] / wall_s:>7.2f}x"
            walls = [r[1] for r in done]
            print(f"{level:>8}{name:>11} {run_s:>8.2f} {speedups}{cpu}  {min(walls):.2f}-{max(walls):.2f}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
