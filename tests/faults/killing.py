"""Killing stomper together with every process it started, at a chosen or a random moment.

stomper starts each child (git, an agent, a tool) in a session of its own,
so a signal to stomper's process group does not reach them. `kill_tree`
finds every descendant through `/proc`, stops them all (a stopped process
cannot fork, so the search reaches a fixed point once every one of them has
stopped), then kills them all with SIGKILL and waits until they are gone:
what a closed terminal, an out-of-memory kill or a cancelled CI job leaves
behind.

`git_that_pauses` puts a `git` in front of the real one that halts the run,
every time and however loaded the machine, at one of two moments:

- `worktree-add`: `git worktree add` waits inside, when git has begun the
  worktree's record (locked, HEAD all zeros) and runs `git update-ref` to
  finish it: the pause is in that child, found through GIT_EXEC_PATH;
- `index-lock`: the git that lands a fix in the checkout, `git update-index
  --index-info`, is stopped (SIGSTOP) while it holds `.git/index.lock`. It
  takes the lock before it reads its entries, and the entries are kept
  from it until it is stopped, so it is still there, lock held, however
  loaded the machine. (A git that holds the lock only a few milliseconds,
  such as `git commit`, is not paused: watching for its lock can miss it,
  and the pause would come at the next file's apply.)

- `ref-lock-before` and `ref-lock-after`: the git that moves the branch to
  the fixes' last commit (`git update-ref`) leaves what it leaves when killed
  holding its locks (the branch's and HEAD's, whose reflog it writes too), a
  window of microseconds no watcher can hit: before it moved the branch,
  both locks; after it renamed the branch's lock into place, HEAD's alone.

Either way the marker file is written, with the paused process's pid, once
that process is paused; it stays paused until it is killed.

`git_that_waits` puts a `git` in front of the real one that waits, before it
runs, the first time its arguments hold some given words (`update-ref` and
`refs/stomper/runs/`: a run recorded, its ref not yet made).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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
at = 0
while at + 1 < len(args) and args[at] == "-c":
    at += 2
landing = args[at:at + 1] == ["update-index"] and "--index-info" in args
own_index = "GIT_INDEX_FILE" in os.environ  # a temporary index, not the checkout's
moving = [arg for arg in args[at:] if arg.startswith("refs/heads/")] if args[at:at + 1] == ["update-ref"] else []
if pause.startswith("ref-lock") and moving and not marker.exists() and Path.cwd() == Path({checkout!r}):
    # What a git moving the branch leaves when killed while it holds the branch's lock and HEAD's
    # (it locks HEAD too, to write HEAD's reflog): both, before the branch moved; HEAD's alone, after
    # it renamed the branch's lock into place and before it removed HEAD's.
    asked = [REAL, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir"]
    own, common = map(Path, subprocess.run(asked, capture_output=True, text=True, check=True).stdout.split())
    if pause == "ref-lock-after":
        subprocess.run([REAL, *args], check=True)
    else:
        (common / (moving[0] + ".lock")).write_text(args[at + 1:][-2] + "\n")
    (own / "HEAD.lock").write_text("")  # a linked worktree's HEAD is its own
    marker.with_suffix(".new").write_text(str(os.getpid()))
    marker.with_suffix(".new").replace(marker)
    while True:
        time.sleep(60)
if pause != "index-lock" or not landing or own_index or marker.exists() or Path.cwd() != Path({checkout!r}):
    os.execv(REAL, [REAL, *args])
# Landings take turns (the applier's lock): the first `skip` of them go through.
landed = marker.with_suffix(".landed")
count = int(landed.read_text()) if landed.exists() else 0
if count < {skip}:
    landed.write_text(str(count + 1))
    os.execv(REAL, [REAL, *args])
# `update-index --index-info` takes the lock, then reads its entries: held back, they keep it waiting there.
data = sys.stdin.buffer.read()
child = subprocess.Popen([REAL, *args], stdin=subprocess.PIPE)
asked = [REAL, "rev-parse", "--path-format=absolute", "--git-dir"]
lock = Path(subprocess.run(asked, capture_output=True, text=True, check=True).stdout.strip()) / "index.lock"
while not lock.exists():
    assert child.poll() is None, "git update-index exited without taking the lock"
    time.sleep(0.005)
os.kill(child.pid, signal.SIGSTOP)
stat = Path(f"/proc/{{child.pid}}/stat")
while stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
    time.sleep(0.005)
marker.with_suffix(".new").write_text(str(child.pid))
marker.with_suffix(".new").replace(marker)
while True:
    time.sleep(60)
"""

_UPDATE_REF = r"""#!/bin/sh
# git worktree add runs this to write the new worktree's HEAD; wait first.
unset GIT_EXEC_PATH
if [ "$1" = update-ref ] && [ ! -e {marker} ]; then
    echo $$ > {marker}.new && mv {marker}.new {marker}
    exec sleep 600
fi
exec {real} "$@"
"""


def git_that_pauses(bin_dir: Path, pause: str, marker: Path, checkout: Path, skip: int = 0) -> dict[str, str]:
    """The environment for a stomper whose `git` pauses at `pause` ("worktree-add", "index-lock", or
    "ref-lock-before" / "ref-lock-after": the git that moves the branch, leaving the locks it would if killed
    before or after it moved it).

    `skip`: with "index-lock", the landings that go through before the one that pauses.
    """
    assert pause in ("worktree-add", "index-lock", "ref-lock-before", "ref-lock-after"), pause
    exec_dir = bin_dir / "exec"
    exec_dir.mkdir(parents=True)
    _executable(exec_dir / "git", _UPDATE_REF.format(marker=marker, real=REAL_GIT))
    wrapper = _WRAPPER.format(
        python=sys.executable,
        real=REAL_GIT,
        marker=str(marker),
        pause=pause,
        exec_dir=str(exec_dir),
        checkout=str(checkout),
        skip=skip,
    )
    _executable(bin_dir / "git", wrapper)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


_WAITING = """#!{python}
import os, sys, time
from pathlib import Path

marker = Path({marker!r})
args = sys.argv[1:]
if not marker.exists() and all(any(word in arg for arg in args) for word in {words!r}):
    marker.with_suffix(".new").write_text(str(os.getpid()))
    marker.with_suffix(".new").replace(marker)
    time.sleep(600)
os.execv({real!r}, [{real!r}, *args])
"""


def git_that_waits(bin_dir: Path, marker: Path, *words: str) -> dict[str, str]:
    """The environment for a stomper whose `git` waits, the first time its arguments hold all `words`, until killed.

    `marker` is written, with the waiting process's pid, once it waits.
    """
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "git", _WAITING.format(python=sys.executable, marker=str(marker), words=words, real=REAL_GIT))
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, ppid, start time) of a live process, from `/proc/<pid>/stat`; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), fields[19]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_tree(run: subprocess.Popen[str]) -> None:
    """SIGKILL `run` and all its descendants at once, as if the machine had pulled the plug on them.

    Returns once every one of them is gone: a process sent SIGKILL runs on
    (holding its files, and showing in /proc as what it was) until the
    kernel has torn it down.
    """
    stopped: dict[int, str] = {}
    todo = {run.pid}
    while todo:
        for pid in todo:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        # kill() only queues the signal: a process that has not stopped yet may still start
        # another, which a search made now would miss. Search again once all have stopped.
        stopped |= _until_stopped(todo)
        todo = descendants(run.pid) - stopped.keys()
    for pid in (run.pid, *stopped):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run.communicate(timeout=60)
    _wait_gone({pid: start for pid, start in stopped.items() if pid != run.pid})


def kill(*pids: int) -> None:
    """SIGKILL these processes, which are not ours to wait for, and return once they are gone."""
    alive = {pid: stat[2] for pid in pids if (stat := _stat(pid)) is not None}
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _wait_gone(alive)


def _until_stopped(pids: set[int], within: float = 120.0) -> dict[int, str]:
    """Wait until each of `pids` has stopped or is gone; pid -> start time of those still there."""
    settled: dict[int, str] = {}
    deadline = time.monotonic() + within
    for pid in pids:
        while (stat := _stat(pid)) is not None and stat[0] not in "TtZX":
            assert time.monotonic() < deadline, f"process {pid} does not stop: {stat}"
            time.sleep(0.005)
        if stat is not None:
            settled[pid] = stat[2]
    return settled


def _wait_gone(pids: dict[int, str], within: float = 120.0) -> None:
    """Wait until each process (pid -> its start time) has exited; a zombie counts as gone."""
    deadline = time.monotonic() + within
    for pid, start in pids.items():
        while (stat := _stat(pid)) is not None and stat[2] == start and stat[0] not in "ZX":
            assert time.monotonic() < deadline, f"process {pid} outlived its SIGKILL: {stat}"
            time.sleep(0.005)
