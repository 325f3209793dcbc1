"""The repository's refs as files, kept so that a fixer's change to them can be undone.

All worktrees share one set of refs: an agent's `git stash pop` in its
worktree pops the user's stash, its `git branch x` leaves a branch in the
user's repository. `RefFiles` holds the bytes of every ref file of the
common git directory (loose refs, `packed-refs`, the reflogs of refs) as
they were when the run's first worktree was made; `Seal.check` compares
them after every attempt and puts back whatever changed.

Left out: stomper's own refs (`refs/stomper/`), the branch the run
commits to, which stomper itself moves, and the branch the user's checkout
is on now (the user may switch to a new branch mid-run; the applier then
stops). Any other ref change during a run is taken for a fixer's and put
back: a run is not the time for the user's own `git stash` or `git branch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_OWN = ("refs/stomper/", "logs/refs/stomper/")


@dataclass
class RefFiles:
    """The ref files of a common git directory at one moment, and how to go back to it."""

    common: Path
    landing: str | None
    """The ref stomper commits to (e.g. `refs/heads/main`): not watched."""
    files: Mapping[str, bytes] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def take(cls, common: Path, landing: str | None) -> RefFiles:
        taken = cls(common, landing)
        taken.files = await asyncio.to_thread(taken._read)
        return taken

    async def restore(self) -> list[str]:
        """Put back every ref file that changed since `take`; the names of those that had."""
        async with self._lock:
            return await asyncio.to_thread(self._restore)

    def _read(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        names = ["packed-refs"]
        for top in (self.common / "refs", self.common / "logs" / "refs"):
            names += [p.relative_to(self.common).as_posix() for p in top.rglob("*") if not p.is_dir()]
        current = _head_target(self.common)
        skip = {name for ref in (self.landing, current) if ref for name in (ref, f"logs/{ref}")}
        for name in names:
            if name.startswith(_OWN) or name in skip:
                continue
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                found[name] = (self.common / name).read_bytes()
        return found

    def _restore(self) -> list[str]:
        now = self._read()
        changed = sorted(name for name in {*now, *self.files} if now.get(name) != self.files.get(name))
        for name in changed:
            path = self.common / name
            old = self.files.get(name)
            if old is None:
                path.unlink(missing_ok=True)
                _prune_empty(path.parent, self.common)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                _replace(path, old)
        return changed


def _head_target(common: Path) -> str | None:
    """The ref the main checkout's HEAD names (`refs/heads/x`), if it names one."""
    try:
        head = (common / "HEAD").read_text().strip()
    except OSError:
        return None
    return head.removeprefix("ref: ") if head.startswith("ref: ") else None


def _replace(path: Path, data: bytes) -> None:
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".stomper-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def _prune_empty(directory: Path, top: Path) -> None:
    """Remove the directories a removed ref leaves empty: an empty `refs/heads/x/` would block a branch `x`."""
    keep = {top / "refs", top / "logs" / "refs", top / "refs" / "heads", top / "refs" / "tags"}
    while directory not in keep and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
