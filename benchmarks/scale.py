#!/usr/bin/env python3
"""Does `stomper fix` keep its promise at a thousand files? Time, per-file cost, memory and each step's share.

    .venv/bin/python benchmarks/scale.py [--cases big,small,sparse] [--repeat 1] [--latency 0.5] [--parallel 16]
    .venv/bin/python benchmarks/scale.py --cases sparse --profile /tmp/stomper.prof   # cProfile of stomper itself
    .venv/bin/python benchmarks/scale.py --cases small --repeat 3 --compare-src /tmp/old/src   # and an older src
    .venv/bin/python benchmarks/scale.py --cases sparse --scratch /var/tmp   # the repositories made under /var/tmp
    .venv/bin/python benchmarks/scale.py --cases small,sparse --warm   # the run after one that fixed the same files

Three cases, each a fresh git repository of modules each with one problem
ruff cannot fix (F821, an undefined name) or none, fixed by
`stomper fix --fixer agent --tools ruff --parallel 16` with an agent (a shell
script, as in `parallel.py`) that sleeps LATENCY seconds and writes the fix:

- `big`: 1000 failing files in a 1001-file repository;
- `small`: 100 failing files in a 101-file repository;
- `sparse`: the same 100 failing files in a 1001-file repository (900 clean).

For each it prints the run's own time (from the JSON report; Python start-up
excluded) against the ideal (files x latency / parallel), the per-file cost
(run time / failing files) and the overhead per file beyond the agent's
share ((run - ideal) / files); peak memory: the largest resident set of the
process tree, summed over its processes, sampled from /proc every 100 ms,
stomper's own process's peak, and the largest single process as the kernel
counts it (`RUSAGE_CHILDREN`); and each step's share of the time the
branches spent (`run.steps` of the report: worktree, fixer, verify,
integration, apply, and "other", the rest of the files' seconds), as a share
and in milliseconds per file. (A fix's `apply` includes the landing of the
fixes after it in the integration queue's batch, so the sum of `apply` is
more than the time the apply lock was held.) With `--warm`, the run
measured is the second in its repository, after one that fixed the same
files, which were then broken again (their function renamed, so that each
worktree taken back writes them) and committed: it takes back the
worktrees the first kept (`keep_worktrees`). Cases run in turn,
repetition after repetition, so that a change of load hits each alike.
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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import ENV, STOMPER, commit_everything, make_agent, run_before

AGENT = """\
#!/bin/sh
sleep {latency}
sed -i 's/undefined_name/0/' "$1"
"""

CASES = {"big": (1000, 1001), "small": (100, 101), "sparse": (100, 1001)}
"""name: (failing files, files in the repository)."""
STEPS = ("worktree", "fixer", "verify", "integration", "apply")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def make_repo(where: Path, failing: int, files: int) -> Path:
    repo = where / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    break_again(repo, failing, files)
    commit_everything(repo)
    return repo


def break_again(repo: Path, failing: int, files: int, name: str = "value") -> None:
    """Write the modules, the failing ones spread evenly among the clean ones, as they would be in a real tree;
    their functions called `name`."""
    step = (files - 1) // failing
    for n in range(files - 1):
        fails = n % step == 0 and n // step < failing
        if fails or name == "value":
            body = "undefined_name" if fails else str(n)
            (repo / "pkg" / f"mod{n:04}.py").write_text(f"def {name}{n}() -> int:\n    return {body}\n")


class Sampler(threading.Thread):
    """The peak resident set of a process and its descendants, summed, from /proc."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_tree = 0
        self.peak_root = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            children: dict[int, list[int]] = {}
            rss: dict[int, int] = {}
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    stat = Path(f"/proc/{entry.name}/stat").read_text()
                    statm = Path(f"/proc/{entry.name}/statm").read_text()
                except OSError:
                    continue  # gone meanwhile
                # The command may hold spaces and parentheses: the fields after the last ")" are fixed.
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
                rss[int(entry.name)] = int(statm.split()[1]) * PAGE
            tree, todo = 0, [self.pid]
            while todo:
                pid = todo.pop()
                tree += rss.get(pid, 0)
                todo += children.get(pid, [])
            self.peak_tree = max(self.peak_tree, tree)
            self.peak_root = max(self.peak_root, rss.get(self.pid, 0))


@dataclass
class Run:
    run_s: float
    wall_s: float
    peak_tree: int
    peak_root: int
    steps: dict[str, float]
    file_seconds: float
    load: float
    cpu_own: float
    """CPU seconds of stomper's own process."""
    cpu_children: float
    """CPU seconds of every process it started (and they started), once waited for."""


@dataclass
class Case:
    name: str
    failing: int
    files: int
    env: dict[str, str] = field(default_factory=lambda: ENV)
    runs: list[Run] = field(default_factory=list)


def run_once(
    case: Case, latency: float, parallel: int, profile: Path | None, where: Path | None, warm: bool = False
) -> Run:
    with tempfile.TemporaryDirectory(prefix="stomper-bench-", dir=where) as scratch:
        repo = make_repo(Path(scratch), case.failing, case.files)
        agent = make_agent(Path(scratch), AGENT.format(latency=latency))
        report = Path(scratch) / "report.json"
        fix = ["fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff"]
        fix += ["--parallel", str(parallel)]
        if warm:
            run_before(
                [str(STOMPER), *fix], repo, case.env, lambda: break_again(repo, case.failing, case.files, "again")
            )
        argv = [str(STOMPER)]
        if profile is not None:
            argv = [sys.executable, "-m", "cProfile", "-o", str(profile), str(STOMPER)]
        argv += [*fix, "--report", str(report)]
        load = os.getloadavg()[0]
        started = time.monotonic()
        with open(Path(scratch) / "out", "w+") as out, open(Path(scratch) / "err", "w+") as err:
            proc = subprocess.Popen(argv, cwd=repo, env=case.env, stdout=out, stderr=err)
            sampler = Sampler(proc.pid)
            sampler.start()
            own, children = cpu_seconds(proc.pid)
            proc.wait()
            wall = time.monotonic() - started
            sampler.done.set()
            sampler.join()
            if proc.returncode != 0:
                out.seek(0)
                err.seek(0)
                sys.exit(f"stomper failed on {case.name}:\n{out.read()[-3000:]}\n{err.read()[-3000:]}")
        data = json.loads(report.read_text())
        assert data["summary"]["files_fixed"] == case.failing, data["summary"]
        file_seconds = sum(f["seconds"] for f in data["run"]["files"].values())
        return Run(
            data["run"]["seconds"],
            wall,
            sampler.peak_tree,
            sampler.peak_root,
            data["run"]["steps"],
            file_seconds,
            load,
            own,
            children,
        )


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the process `pid` itself and of the children it waited for, once it exited.

    Read from /proc while it is a zombie (waited for without reaping), so
    that the figures are its final ones.
    """
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime (the list starts at field 3).
    utime, stime, cutime, cstime = (int(f) / TICKS for f in fields[11:15])
    return utime + stime, cutime + cstime


def spread(values: list[float], fmt: str = ".2f") -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def mib(n: float) -> float:
    return n / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="big,small,sparse", help=f"some of {', '.join(CASES)}")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case; the median and range are shown")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--profile", type=Path, help="run stomper under cProfile, writing its stats here")
    parser.add_argument("--compare-src", type=Path, help="also run each case with PYTHONPATH=DIR (an older src)")
    parser.add_argument(
        "--scratch", type=Path, help="make the repositories under DIR rather than the system's temporary directory"
    )
    parser.add_argument(
        "--warm", action="store_true", help="measure a second run in each repository, after one fixing the same files"
    )
    args = parser.parse_args()
    cases = [Case(name, *CASES[name]) for name in args.cases.split(",")]
    if args.compare_src is not None:
        older = {**ENV, "PYTHONPATH": str(args.compare_src.resolve())}
        cases += [Case(f"{name} [compare]", *CASES[name], env=older) for name in args.cases.split(",")]
    for n in range(args.repeat):
        for case in cases:
            run = run_once(case, args.latency, args.parallel, args.profile, args.scratch, args.warm)
            case.runs.append(run)
            print(
                f"# {case.name} run {n + 1}: {run.run_s:.2f} s, load {run.load:.1f}, "
                f"CPU s {run.cpu_own:.2f} + {run.cpu_children:.2f}",
                file=sys.stderr,
                flush=True,
            )

    print(
        f"{os.cpu_count()} cores, agent {args.latency} s, --parallel {args.parallel}, --tools ruff, "
        f"median (range) of {args.repeat} run(s), load average {min(r.load for c in cases for r in c.runs):.1f}-"
        f"{max(r.load for c in cases for r in c.runs):.1f} at the starts"
    )
    print()
    print(
        "| case | failing / files | ideal s | run s | x ideal | wall s | ms per file | overhead ms per file "
        "| CPU s stomper | CPU s children |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in cases:
        ideal = c.failing * args.latency / args.parallel
        runs = [r.run_s for r in c.runs]
        print(
            f"| {c.name} | {c.failing} / {c.files} | {ideal:.2f} | {spread(runs)} | "
            f"{spread([r / ideal for r in runs])} | {spread([r.wall_s for r in c.runs])} | "
            f"{spread([1000 * r / c.failing for r in runs], '.0f')} | "
            f"{spread([1000 * (r - ideal) / c.failing for r in runs], '.0f')} | "
            f"{spread([r.cpu_own for r in c.runs])} | {spread([r.cpu_children for r in c.runs])} |"
        )
    print()
    print("| case | peak RSS of the tree MiB | stomper's own MiB |")
    print("|---|---:|---:|")
    for c in cases:
        print(
            f"| {c.name} | {spread([mib(r.peak_tree) for r in c.runs], '.0f')} | "
            f"{spread([mib(r.peak_root) for r in c.runs], '.0f')} |"
        )
    # ru_maxrss is in KiB on Linux: the largest single process any case waited for.
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\nlargest single process (RUSAGE_CHILDREN): {largest:.0f} MiB")
    print()
    print("Each step's share of the time the files' branches spent (their seconds summed):")
    print()
    print(f"| case | {' | '.join(STEPS)} | other |")
    print(f"|---|{'---:|' * (len(STEPS) + 1)}")
    for c in cases:
        shares = []
        for step in STEPS:
            shares.append(spread([100 * r.steps[step] / r.file_seconds for r in c.runs], ".0f") + "%")
        other = [100 * (r.file_seconds - sum(r.steps.values())) / r.file_seconds for r in c.runs]
        print(f"| {c.name} | {' | '.join(shares)} | {spread(other, '.0f')}% |")
    print()
    print("The same in milliseconds per file:")
    print()
    print(f"| case | {' | '.join(STEPS)} | other | file s |")
    print(f"|---|{'---:|' * (len(STEPS) + 2)}")
    for c in cases:
        cells = [spread([1000 * r.steps[step] / c.failing for r in c.runs], ".0f") for step in STEPS]
        cells.append(spread([1000 * (r.file_seconds - sum(r.steps.values())) / c.failing for r in c.runs], ".0f"))
        cells.append(spread([r.file_seconds / c.failing for r in c.runs]))
        print(f"| {c.name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
