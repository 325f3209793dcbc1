"""A run's footprint in the repository, and cleaning up after runs that died.

Everything lives under the git directory, where `git status` never looks:

    .git/stomper/lock                    flock()ed by the one live run; holds its pid
    .git/stomper/state.sqlite            LangGraph checkpoints; thread id = run id
    .git/stomper/runs/<id>/run.json      what the run was asked to do, how it ended
    .git/stomper/runs/<id>/events.jsonl  what happened, a line at a time (see events.py)
    .git/stomper/worktrees/<id>/<n>      the run's worktrees, gone when it ends
    .git/stomper/patches/<id>/           verified fixes that could not be applied
    refs/stomper/runs/<id>               keeps an unfinished run's snapshot from `git gc`

The lock is an flock, so a run killed with SIGKILL releases it with its last
breath; the pid inside is there to name the holder, and to tell that a run
which never reached its end left things behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from stomper.errors import StomperError

Status = Literal["running", "interrupted", "completed", "failed"]


class RunInProgress(StomperError):
    """Another stomper run holds the repository."""


@dataclass(frozen=True)
class RunRecord:
    """What a run was asked to do, and how far it got."""

    run_id: str
    pid: int
    started: float
    status: Status
    mode: str
    base: str
    """The snapshot commit the run's worktrees start from."""
    files: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    finished: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    branch: str | None = None
    """The branch HEAD was on when the run started (`refs/heads/main`); fixes land there or nowhere."""
    checkout: str | None = None
    """The working tree the run started in; it is resumed there only (linked worktrees share the runs)."""


class RunDir:
    """The `.git/stomper` directory of one repository."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir

    @property
    def checkpoints(self) -> Path:
        return self.root / "state.sqlite"

    def run(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def worktrees(self, run_id: str) -> Path:
        return self.root / "worktrees" / run_id

    def patches(self, run_id: str) -> Path:
        return self.root / "patches" / run_id

    def events(self, run_id: str) -> Path:
        return self.run(run_id) / "events.jsonl"

    def save(self, record: RunRecord) -> None:
        path = self.run(record.run_id) / "run.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(record), indent=2) + "\n")
        os.replace(partial, path)

    def load(self, run_id: str) -> RunRecord:
        path = self.run(run_id) / "run.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise StomperError(f"no run {run_id!r} in {self.root / 'runs'}") from None
        except ValueError as exc:
            raise StomperError(f"{path}: unreadable run record: {exc}") from None
        data["files"] = tuple(data.get("files", ()))
        return RunRecord(**data)

    def records(self) -> list[RunRecord]:
        """Every run recorded here, oldest first; a run whose process died counts as interrupted."""
        found = []
        for path in sorted((self.root / "runs").glob("*/run.json")):
            record = self.load(path.parent.name)
            if record.status == "running" and not _alive(record.pid):
                record = replace(record, status="interrupted")
            found.append(record)
        return sorted(found, key=lambda r: r.started)

    def resumable(self, run_id: str | None) -> RunRecord:
        """The run `--resume` continues: the one named, or the last interrupted one."""
        if run_id is not None:
            record = self.load(run_id)
            if record.status == "completed":
                raise StomperError(f"run {run_id} completed; there is nothing to resume")
            return record
        interrupted = [r for r in self.records() if r.status in ("interrupted", "running")]
        if not interrupted:
            raise StomperError("there is no interrupted run to resume (see `stomper runs`)")
        return interrupted[-1]

    def leftovers(self, keep: str | None = None) -> list[str]:
        """Remove the worktree directories of runs other than `keep`; the run ids they belonged to.

        Called with the lock held, so no other run is alive to own them.
        """
        removed = []
        for directory in sorted((self.root / "worktrees").glob("*")):
            if directory.name != keep:
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory.name)
        return removed

    @contextlib.contextmanager
    def lock(self) -> Iterator[int | None]:
        """Hold the repository for one run; yields the pid of a dead run that held it before, if any."""
        path = self.root / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunInProgress(
                    f"another stomper run (pid {holder}) is working on this repository; wait for it to finish"
                ) from None
            # The file may have been unlinked by the previous holder between
            # our open and our flock: then the lock we hold is on nothing.
            if _same_file(fd, path):
                break
            os.close(fd)
        stale = os.read(fd, 64).decode(errors="replace").strip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield int(stale) if stale.isdigit() else None
        finally:
            path.unlink(missing_ok=True)
            os.close(fd)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
