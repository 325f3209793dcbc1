"""Killing stomper together with every process it started, at a chosen or a random moment.

stomper starts each child (git, an agent, a tool) in a session of its own,
so a signal to stomper's process group does not reach them. `kill_tree`
finds every descendant through `/proc`, stops them all (a stopped process
cannot fork, so the search reaches a fixed point), then kills them all with
SIGKILL: what a closed terminal, an out-of-memory kill or a cancelled CI job
leaves behind.

`git_that_pauses` puts a `git` in front of the real one that halts the run at
the two moments no hook can be relied on for:

- `worktree-add`: `git worktree add` waits inside, when git has begun the
  worktree's record (locked, HEAD all zeros) and runs `git update-ref` to
  finish it: the pause is in that child, found through GIT_EXEC_PATH;
- `index-lock`: the git that lands a fix in the checkout (`git commit`, or
  `git update-index` where the commit is made with plumbing) is stopped
  (SIGSTOP) as soon as `.git/index.lock` exists and, once stopped, still
  holds it. An `update-index --index-info` is kept from its entries until
  then: it takes the lock before it reads them.

Either way the marker file is written, with the paused process's pid, and
the git waits to be killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

REAL_GIT = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()

_WRAPPER = r"""#!{python}
import os, signal, subprocess, sys, time
from pathlib import Path

REAL = {real!r}
marker = Path({marker!r})
pause = {pause!r}
args = sys.argv[1:]
if pause == "worktree-add" and "worktree" in args and "add" in args and not marker.exists():
    os.environ["GIT_EXEC_PATH"] = {exec_dir!r}
    os.execv(REAL, [REAL, *args])
lock = Path({checkout!r}) / ".git" / "index.lock"
at = 0
while at + 1 < len(args) and args[at] == "-c":
    at += 2
landing = args[at] in ("commit", "update-index")
own_index = "GIT_INDEX_FILE" in os.environ  # a temporary index, not the checkout's
if pause != "index-lock" or not landing or own_index or marker.exists() or Path.cwd() != Path({checkout!r}):
    os.execv(REAL, [REAL, *args])
# `update-index --index-info` takes the lock, then reads its entries: held back, they keep it waiting there.
data = sys.stdin.buffer.read() if "--index-info" in args else None
child = subprocess.Popen([REAL, *args], stdin=None if data is None else subprocess.PIPE)
while child.poll() is None:
    if lock.exists():
        os.kill(child.pid, signal.SIGSTOP)
        if lock.exists():
            marker.write_text(str(child.pid))
            while True:
                time.sleep(60)
        os.kill(child.pid, signal.SIGCONT)
        if data is not None:
            child.communicate(data)
sys.exit(child.returncode)
"""

_UPDATE_REF = r"""#!/bin/sh
# git worktree add runs this to write the new worktree's HEAD; wait first.
unset GIT_EXEC_PATH
if [ "$1" = update-ref ] && [ ! -e {marker} ]; then
    echo $$ > {marker}
    exec sleep 600
fi
exec {real} "$@"
"""


def git_that_pauses(bin_dir: Path, pause: str, marker: Path, checkout: Path) -> dict[str, str]:
    """The environment for a stomper whose `git` pauses at `pause` ("worktree-add" or "index-lock")."""
    exec_dir = bin_dir / "exec"
    exec_dir.mkdir(parents=True)
    (exec_dir / "git").write_text(_UPDATE_REF.format(marker=marker, real=REAL_GIT))
    (exec_dir / "git").chmod(0o755)
    wrapper = bin_dir / "git"
    wrapper.write_text(
        _WRAPPER.format(
            python=sys.executable,
            real=REAL_GIT,
            marker=str(marker),
            pause=pause,
            exec_dir=str(exec_dir),
            checkout=str(checkout),
        )
    )
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_tree(run: subprocess.Popen[str]) -> None:
    """SIGKILL `run` and all its descendants at once, as if the machine had pulled the plug on them."""
    stopped: set[int] = set()
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, signal.SIGSTOP)
        found = descendants(run.pid) - stopped
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        stopped |= found
    for pid in (run.pid, *stopped):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=60)
