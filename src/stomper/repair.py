"""Repairing what a killed run left behind: first thing in the next run, and in `stomper clean`.

A run may be killed anywhere, its children with it (a closed terminal, an
out-of-memory kill, a CI job cancelled). Under the run lock, so that no run
of ours is alive, this is what such a kill can leave and what repairs it:

- worktrees under `.git/stomper/worktrees/`, and git's records of them in
  `.git/worktrees/`, half made if the kill came during `git worktree add`
  (which makes `git gc` and `git fsck` fail): removed, unlocked and pruned
  (`worktree.remove_leftovers`; `git worktree prune` runs only when a record
  is left for it to prune); but one kept for the next run
  (`worktrees/pool/<n>`, with its `<n>.kept`) is parked again, its record
  removed (`pool.tidy`), and the next run resets it like any other;
- the locks of a git that was landing a fix: `.git/index.lock` (staging
  it), and the branch's and `HEAD.lock` (moving the branch, which locks HEAD
  too, to write its reflog; a kill after it renamed the branch's lock into
  place and before it removed HEAD's leaves that one alone; a linked
  worktree's index and HEAD are in its own git directory): removed, but
  only when the run's journal shows an apply that never ended (its process
  is dead: we hold the run lock) and no live process holds the lock open or
  is a git working in the checkout (read in `/proc`); otherwise `LockHeld`;
- `.git/next-index-<pid>.lock`, which `git commit -- <path>` makes, of a
  git that is no longer alive: no process has the pid, or it is a zombie,
  or one that is not a git working in the checkout (the pid went to another);
- `refs/stomper/runs/<id>` of a run that has no record, or that completed,
  and the lock of one a kill left inside the `git update-ref` that made it
  (no live process holding it or git working in the checkout);
- with `stomper clean`: unreadable run records and a checkpoint file that is
  not a database.

A fix applied but not committed is left where it is: `stomper fix --resume`
recognises it from the journal and commits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from stomper import gitops, records
from stomper.errors import StomperError
from stomper.events import read_events
from stomper.refs import git_dir_of
from stomper.runs import UNFINISHED, RunDir, RunRecord, alive
from stomper.worktree import remove_leftovers


class LockHeld(StomperError):
    """git's index lock may still be held by a live process; stomper does not take it over."""


async def repair(root: Path, rundir: RunDir, *, keep: bool = True) -> tuple[list[str], list[str]]:
    """Repair what dead runs left, and remove the worktrees kept for the next run unless `keep`; the ids of
    the dead runs whose worktrees were cleaned up (removed, or parked again when kept), and a line per
    other repair."""
    leftovers, unkept = await remove_leftovers(root, rundir.root, keep=keep)
    records, _ = await asyncio.to_thread(rundir.readable)
    notes = [f"removed {worktree_count(unkept)} kept for the next run"] if unkept and not keep else []
    notes += await asyncio.to_thread(_landing_locks, root, rundir, records)
    notes += await asyncio.to_thread(_partial_commit_locks, root, rundir.root)
    notes += await asyncio.to_thread(_run_ref_locks, root, rundir.root)
    notes += await _refs(root, {r.run_id: r for r in records}, rundir)
    return leftovers, notes


def worktree_count(n: int) -> str:
    """`1 worktree`, `3 worktrees`."""
    return f"{n} worktree" if n == 1 else f"{n} worktrees"


async def forget_unreadable(root: Path, rundir: RunDir) -> list[str]:
    """Remove run records that are not records and a checkpoint file that is not a database."""
    notes = []
    _, bad = await asyncio.to_thread(rundir.readable)
    for record in bad:
        await asyncio.to_thread(shutil.rmtree, record.path.parent, True)
        notes.append(f"removed {record.path.parent}, whose run record cannot be read")
    if not await asyncio.to_thread(_is_database, rundir.checkpoints):
        await asyncio.to_thread(rundir.checkpoints.unlink)
        notes.append(f"removed {rundir.checkpoints}, which is not a database")
    records, _ = await asyncio.to_thread(rundir.readable)
    return notes + await _refs(root, {r.run_id: r for r in records}, rundir)


def _landing_locks(root: Path, rundir: RunDir, records: list[RunRecord]) -> list[str]:
    for record in records:
        # No need to ask whether the run's process is alive: the run lock we hold says it is not,
        # and its pid may belong to another process by now.
        if record.status not in UNFINISHED or not rundir.events(record.run_id).exists():
            continue
        locks = [lock for lock in _landing_locks_of(record, rundir.root.parent) if lock.exists()]
        pending = _apply_pending(rundir, record.run_id) if locks else None
        if pending is None:
            continue
        notes = []
        for lock in locks:
            holder = _holder(root, lock, rundir.root)
            if holder is not None:
                raise LockHeld(
                    f"{lock} is held by {holder}, and stomper run {record.run_id} was applying {pending} when it"
                    " stopped; once no git runs in this repository, remove the lock and resume"
                )
            lock.unlink(missing_ok=True)
            notes.append(f"removed {lock}, left by the git of stomper run {record.run_id} killed applying {pending}")
        return notes
    return []


def _landing_locks_of(record: RunRecord, common: Path) -> list[Path]:
    """The locks a git landing a fix of `record`'s run takes: the index's and HEAD's in its checkout's own git
    directory (a linked worktree's are its own), the branch's in the `common` one."""
    own = git_dir_of(Path(record.checkout), common) if record.checkout else common
    locks = [own / "index.lock", own / "HEAD.lock"]
    branch = record.branch or ""
    if branch.startswith("refs/heads/") and ".." not in branch.split("/"):
        locks.append(common / f"{branch}.lock")
    return locks


def _partial_commit_locks(root: Path, state_dir: Path) -> list[str]:
    """Remove the `next-index-<pid>.lock` that `git commit -- <path>` makes, of a git no longer alive.

    The name holds the pid of the git that made it: no other process takes
    that lock, so once that one is dead the file is only litter. A process
    that has the pid now and is not a git working in the checkout is not
    the one that made it.
    """
    notes = []
    for lock in sorted(state_dir.parent.glob("next-index-*.lock")):
        pid = lock.name.removeprefix("next-index-").removesuffix(".lock")
        if pid.isdigit() and (not alive(int(pid)) or _git_in_checkout(Path("/proc") / pid, root, state_dir) is False):
            lock.unlink(missing_ok=True)
            notes.append(f"removed {lock}, left by a git (pid {pid}) that was killed committing")
    return notes


def _run_ref_locks(root: Path, state_dir: Path) -> list[str]:
    """Remove the lock of a run's ref (`refs/stomper/runs/<id>.lock`) that a git killed making it left.

    The refs are stomper's alone and no run of ours is alive (we hold the run
    lock); a live git that holds one (a `git pack-refs`) or works in the
    checkout keeps it.
    """
    notes = []
    for lock in sorted((state_dir.parent / "refs" / "stomper" / "runs").glob("*.lock")):
        if lock.is_file() and _holder(root, lock, state_dir) is None:
            lock.unlink(missing_ok=True)
            notes.append(f"removed {lock}, left by a git killed making the ref of stomper run {lock.stem}")
    return notes


def _apply_pending(rundir: RunDir, run_id: str) -> str | None:
    """The file the run was applying when it died, if its journal says it never finished."""
    try:
        journal = records.journal(read_events(rundir.events(run_id)))
    except (OSError, StomperError):
        return None
    return records.pending(journal)


def _holder(root: Path, lock: Path, state_dir: Path) -> str | None:
    """A live process that holds `lock` open or is a git working in the checkout; None when there is none."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return "a git this system does not let stomper see (no /proc)"
    for entry in proc.iterdir():
        if not entry.name.isdigit() or entry.name == str(os.getpid()):
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == str(lock) for fd in (entry / "fd").iterdir()):
                return f"process {entry.name}"
        if _git_in_checkout(entry, root, state_dir):
            return f"a running git (pid {entry.name})"
    return None


def _git_in_checkout(process: Path, root: Path, state_dir: Path) -> bool | None:
    """Whether the process of `/proc/<pid>` is a git working in the checkout; None when /proc does not say."""
    if not (process.parent / "self" / "fd").is_dir():
        return None
    try:
        exe = Path(os.readlink(process / "exe")).name
        cwd = Path(os.readlink(process / "cwd"))
    except FileNotFoundError:
        return False  # gone, or a zombie
    except OSError:
        return None
    return (exe == "git" or exe.startswith("git-")) and cwd.is_relative_to(root) and not cwd.is_relative_to(state_dir)


async def _refs(root: Path, records: dict[str, RunRecord], rundir: RunDir) -> list[str]:
    """Delete the run refs no unfinished run needs (a record that cannot be read keeps its ref)."""
    done = await gitops.git("for-each-ref", "--format=%(refname)", "refs/stomper/runs/", cwd=root)
    notes = []
    for ref in done.out.split():
        run_id = ref.removeprefix("refs/stomper/runs/")
        record = records.get(run_id)
        if record is not None and record.status in UNFINISHED:
            continue
        if record is None and (rundir.run(run_id) / "run.json").exists():
            continue
        await gitops.git("update-ref", "-d", ref, cwd=root)
        notes.append(f"deleted {ref}, which no unfinished run needs")
    return notes


def _is_database(path: Path) -> bool:
    if not path.exists():
        return True
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("pragma schema_version").fetchall()
    except sqlite3.DatabaseError:
        return False
    return True
