"""A run's footprint in the repository, and cleaning up after runs that died.

Everything lives under the git directory, where `git status` never looks:

    .git/stomper/lock                    flock()ed by the one live run; holds its pid
    .git/stomper/state.sqlite            LangGraph checkpoints; thread id = run id
    .git/stomper/runs/<id>/run.json      what the run was asked to do, how it ended
    .git/stomper/runs/<id>/events.jsonl  what happened, a line at a time (see events.py)
    .git/stomper/runs/<id>/collected.json  what the tools found, until the run ends (see run.py)
    .git/stomper/worktrees/pool/<n>      the worktrees, kept from one run to the next (see pool.py)
    .git/stomper/worktrees/<id>/<n>      a run's worktrees with keep_worktrees off, gone when it ends
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
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError

from stomper.errors import StomperError

Status = Literal["running", "interrupted", "completed", "failed", "misconfigured"]
"""misconfigured: stopped by bad configuration found mid-run (a refused API key); not resumable."""
UNFINISHED: tuple[Status, ...] = ("running", "interrupted", "failed")
"""A run in any of these states can be resumed: "failed" ones too, since a fix may sit applied
but uncommitted after the error that stopped them."""


class RunInProgress(StomperError):
    """Another stomper run holds the repository."""


class BadRunRecord(StomperError):
    """A run record (`run.json`) that no stomper wrote; `stomper clean` removes it."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: not a stomper run record ({why}); `stomper clean` removes it")
        self.path = path


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
    whole: bool = False
    """No files were named: each tool checks what the project configures it to (`jobs.collect`), resumed too."""
    known: tuple[str, ...] = ()
    """Ids of the diagnostics `--baseline` and `--new-only` said to leave alone; left alone when resumed too."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> RunRecord:
        """The record `to_json` wrote (an older stomper's too: keys added since take their defaults).

        Raises `ValueError` naming the first thing in `data` that is not so.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        try:
            return _RECORD.validate_python(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise ValueError(f"{key}: {first['msg']}") from exc


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
        partial.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        os.replace(partial, path)

    def load(self, run_id: str) -> RunRecord:
        """The record of run `run_id`; raises `BadRunRecord` for one that is not a record."""
        path = self.run(run_id) / "run.json"
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise StomperError(f"no run {run_id!r} in {self.root / 'runs'}") from None
        except OSError as exc:
            raise BadRunRecord(path, exc.strerror or str(exc)) from exc
        except ValueError as exc:
            raise BadRunRecord(path, f"not JSON: {exc}") from exc
        return _record(path, data)

    def records(self) -> list[RunRecord]:
        """Every run recorded here, oldest first; a run whose process died counts as interrupted.

        Raises `BadRunRecord` for a record that cannot be read (see `unreadable`).
        """
        found = []
        for path in sorted((self.root / "runs").glob("*/run.json")):
            record = self.load(path.parent.name)
            if record.status == "running" and not alive(record.pid):
                record = replace(record, status="interrupted")
            found.append(record)
        return sorted(found, key=lambda r: r.started)

    def readable(self) -> tuple[list[RunRecord], list[BadRunRecord]]:
        """Every run recorded here, and the records that are not, for repairs that must not stop at one."""
        good, bad = [], []
        for path in sorted((self.root / "runs").glob("*/run.json")):
            try:
                good.append(self.load(path.parent.name))
            except BadRunRecord as exc:
                bad.append(exc)
        return good, bad

    def resumable(self, run_id: str | None) -> RunRecord:
        """The run `--resume` continues: the one named, or the last one that did not complete."""
        if run_id is not None:
            record = self.load(run_id)
            if record.status == "completed":
                raise StomperError(f"run {run_id} completed; there is nothing to resume")
            if record.status == "misconfigured":
                raise StomperError(f"run {run_id} stopped on bad configuration; fix it, then start a new run")
            return record
        unfinished = [r for r in self.records() if r.status in UNFINISHED]
        if not unfinished:
            raise StomperError("there is no interrupted run to resume (see `stomper runs`)")
        return unfinished[-1]

    @contextlib.contextmanager
    def lock(self) -> Iterator[int | None]:
        """Hold the repository for one run; yields the pid of a dead run that held it before, if any."""
        path = self.root / "lock"
        if self.root.exists() and not self.root.is_dir():
            raise StomperError(f"{self.root} is a file, where stomper keeps its state; move it away and try again")
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except IsADirectoryError:
                raise StomperError(
                    f"{path} is a directory, where stomper keeps its run lock; move it away and try again"
                ) from None
            except OSError as exc:
                raise StomperError(f"{path}: cannot take stomper's run lock: {exc.strerror}") from exc
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


_RECORD = TypeAdapter(RunRecord)


def _record(path: Path, data: object) -> RunRecord:
    try:
        return RunRecord.from_json(data)
    except ValueError as exc:
        raise BadRunRecord(path, str(exc)) from exc


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a pid reused by another process counts too).

    A zombie is dead: it holds no file and runs nothing more, and it stays
    until its parent reaps it, which may be late or never (a kill leaves a
    process's children to an init, and the init of a container may be a
    program that reaps nothing).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        # Gone since, unless there is no /proc to tell a zombie by (macOS).
        return not Path("/proc/self").is_dir()
    except OSError:
        return True
    # "pid (comm) state ...": comm may hold spaces and parentheses.
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")
    return True
