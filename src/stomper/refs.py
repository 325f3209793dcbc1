"""The repository's refs, kept so that a fixer's change to them can be undone.

All worktrees share one set of refs: an agent's `git stash pop` in its
worktree pops the user's stash, its `git branch x` leaves a branch in the
user's repository. `RefState` holds every ref (what `git for-each-ref`
lists, symbolic ones as such) and the stash's reflog, which holds the
stash's entries, as they were when the run's first worktree was made;
`Seal.check` compares them after every attempt and puts back whatever
changed, through git (`update-ref --stdin`, one transaction), so that
refs packed meanwhile, by `git gc` or `git pack-refs`, are no trap.

Left out: stomper's own refs (`refs/stomper/`), the branch the run
commits to, which stomper itself moves, and the branch the user's checkout
is on now (the user may switch to a new branch mid-run; the applier then
stops). Any other ref change during a run is taken for a fixer's and put
back: a run is not the time for the user's own `git stash` or `git branch`.
What a put-back ref pointed at is kept under `refs/stomper/kept/<time>/`, so
that a change that was the user's own loses nothing (`stomper clean --all`
leaves those refs alone; delete them with `git update-ref -d`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stomper.gitops import git, head_ref

_OWN = "refs/stomper/"
_KEPT = "refs/stomper/kept/"
_STASH = "refs/stash"
_FORMAT = "%(refname)%00%(objectname)%00%(symref)"


@dataclass
class RefState:
    """The refs of a repository at one moment, and how to go back to it."""

    root: Path
    common: Path
    landing: str | None
    """The ref stomper commits to (e.g. `refs/heads/main`): not watched."""
    refs: Mapping[str, str] = field(default_factory=dict)
    """Ref name -> object id, or `ref: <target>` for a symbolic ref."""
    stash_log: bytes | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def take(cls, root: Path, common: Path, landing: str | None) -> RefState:
        state = cls(root, common, landing)
        state.refs, state.stash_log = await state._read()
        return state

    async def restore(self) -> list[str]:
        """Put back every ref that changed since `take`; the names of those that had."""
        async with self._lock:
            now, stash_log = await self._read()
            changed = sorted(name for name in {*now, *self.refs} if now.get(name) != self.refs.get(name))
            if stash_log != self.stash_log and _STASH not in changed:
                changed.append("the stash")
            if not changed:
                return []
            await self._keep(now, stash_log)
            await self._put_back(now)
            await asyncio.to_thread(self._put_back_stash_log)
            return changed

    async def _read(self) -> tuple[dict[str, str], bytes | None]:
        done = await git("for-each-ref", f"--format={_FORMAT}", cwd=self.root)
        skip = {self.landing, await head_ref(self.root)}
        refs = {}
        for line in done.out.splitlines():
            name, target, symref = line.split("\0")
            if not name.startswith(_OWN) and name not in skip:
                refs[name] = f"ref: {symref}" if symref else target
        stash_log = None
        with contextlib.suppress(FileNotFoundError):
            stash_log = await asyncio.to_thread((self.common / "logs" / _STASH).read_bytes)
        return refs, stash_log

    async def _put_back(self, now: Mapping[str, str]) -> None:
        commands = []
        for name in sorted({*now, *self.refs}):
            old, new = self.refs.get(name), now.get(name)
            if old == new:
                continue
            if old is not None and old.startswith("ref: "):
                await git("symbolic-ref", name, old.removeprefix("ref: "), cwd=self.root)
            elif old is None:
                symbolic = new is not None and new.startswith("ref: ")
                commands.append(f"option no-deref\ndelete {name}\n" if symbolic else f"delete {name} {new}\n")
            else:
                commands.append(f"update {name} {old}\n")
        if commands:
            message = "stomper: put back a ref a fixer changed"
            await git("update-ref", "-m", message, "--stdin", cwd=self.root, stdin="".join(commands).encode())

    async def _keep(self, now: Mapping[str, str], stash_log: bytes | None) -> None:
        """Keep what the changed refs now point at under `refs/stomper/kept/`: a change that was the
        user's own (a `git stash` mid-run) is then put back without losing what it held."""
        targets = {
            name: now[name] for name in now if now[name] != self.refs.get(name) and not now[name].startswith("ref: ")
        }
        old_entries = set((self.stash_log or b"").splitlines())
        for n, line in enumerate((stash_log or b"").splitlines()):
            if line not in old_entries and len(fields := line.split(b" ", 2)) == 3:
                targets[f"stash-entry-{n}"] = fields[1].decode()
        if not targets:
            return
        stamp = time.strftime("%Y%m%dT%H%M%S")
        commands = "".join(
            f"update {_KEPT}{stamp}/{name.removeprefix('refs/')} {target}\n" for name, target in targets.items()
        )
        await git("update-ref", "--stdin", cwd=self.root, stdin=commands.encode(), check=False)

    def _put_back_stash_log(self) -> None:
        path = self.common / "logs" / _STASH
        if self.stash_log is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".stomper-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.stash_log)
            os.replace(scratch, path)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
