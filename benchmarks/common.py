"""What the benchmarks share: git's identity, a repository committed whole, the fake agent, stomper itself."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ENV = {
    # Compiled once and kept, as an installed stomper's modules are: compiling them on every run
    # (PYTHONDONTWRITEBYTECODE, which some shells set) adds about 0.25 CPU-s to each.
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}

STOMPER = Path(sys.executable).with_name("stomper")
"""The console script of the stomper installed beside the benchmark's Python."""


def commit_everything(repo: Path) -> None:
    """Make `repo` a git repository on main whose one commit holds every file in it."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "broken"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=ENV)


def make_agent(where: Path, script: str) -> Path:
    """A fake agent: a shell script (its own start-up costs a few milliseconds), executable, in `where`."""
    path = where / "agent.sh"
    path.write_text(script)
    path.chmod(0o755)
    return path


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, env=ENV)


def run_before(argv: list[str], repo: Path, env: Mapping[str, str], break_again: Callable[[], None]) -> None:
    """For a `--warm` measurement: a run of `argv` before it, unmeasured, whose worktrees the measured one
    takes back; then the same files broken again with other bytes (`break_again`), so that each worktree
    taken back writes them, and committed."""
    subprocess.run(argv, cwd=repo, env=env, check=True, capture_output=True)
    break_again()
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "broken again")


def timed(argv_list: list[list[str]], cwd: Path, env: Mapping[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (the children's user + system) of running each argv in turn."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for argv in argv_list:
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def measure(
    cases: Mapping[str, Callable[[], tuple[float, float]]], repeat: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], list[float]]:
    """Each case's wall and CPU seconds over `repeat` rounds (every case once a round, so that a change of
    load hits each alike), and the load average at the start of each round."""
    walls: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    loads = []
    for _ in range(repeat):
        loads.append(os.getloadavg()[0])
        for name, case in cases.items():
            wall, cpu = case()
            walls[name].append(wall)
            cpus[name].append(cpu)
    return walls, cpus, loads
