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

Reading the refs takes two git processes, and a run checks them twice per
attempt; almost always nothing changed. So each check first takes a
fingerprint of where git keeps them (`_fingerprint`: every file under
`refs/` but stomper's own and the landing branch's, `packed-refs`,
`reftable/`, HEAD, the stash's reflog, each by inode, size, mtime and ctime),
and reads through git only when it differs from the last one taken before a
read that found the refs as they were. A process can set a file's mtime back
(`os.utime`), but not its ctime, which the kernel sets to its own clock on
every change, `utime` included; a fingerprint whose files changed too
shortly before it was taken (`_RACY_NS`, where the file system's clock may
not have ticked yet) is never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
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
_RACY_NS = 2_000_000_000
"""A file changed this shortly before a fingerprint was taken may change again with the same times
(file systems stamp from a clock that ticks in steps, of up to a second or two on some)."""

Fingerprint = tuple[tuple[str, int, int, int, int, int], ...]
"""(path relative to the git directory, mode, inode, size, mtime_ns, ctime_ns) of each file that holds refs."""


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
    _own_dir: Path | None = None
    """The git directory of the checkout at `root` (its HEAD, its per-worktree refs)."""
    _quiet: Fingerprint | None = None
    """The fingerprint taken just before the last read that found the refs as they were."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def take(cls, root: Path, common: Path, landing: str | None) -> RefState:
        state = cls(root, common, landing)
        state._own_dir = await asyncio.to_thread(git_dir_of, root, common)
        before = await state._fingerprint()
        state.refs, state.stash_log, _ = await state._read()
        state._quiet = before
        return state

    async def restore(self) -> list[str]:
        """Put back every ref that changed since `take`; the names of those that had."""
        async with self._lock:
            before = await self._fingerprint()
            if before is not None and before == self._quiet:
                return []
            now, stash_log, head = await self._read()
            # The branch the user switched to since is theirs now, as it is left out of `now`.
            was = {name: target for name, target in self.refs.items() if name != head}
            changed = sorted(name for name in {*now, *was} if now.get(name) != was.get(name))
            if stash_log != self.stash_log and _STASH not in changed:
                changed.append("the stash")
            if not changed:
                self._quiet = before
                return []
            self._quiet = None
            await self._keep(now, was, stash_log)
            await self._put_back(now, was)
            await asyncio.to_thread(self._put_back_stash_log)
            return changed

    async def _fingerprint(self) -> Fingerprint | None:
        """Where the refs are kept, file by file; None when it cannot be trusted (a file changed just now)."""
        return await asyncio.to_thread(_fingerprint, self.common, self._own_dir, self.landing)

    async def _read(self) -> tuple[dict[str, str], bytes | None, str | None]:
        """The refs but those left out, the stash's reflog, and the branch the checkout is on."""
        done = await git("for-each-ref", f"--format={_FORMAT}", cwd=self.root)
        head = await head_ref(self.root)
        skip = {self.landing, head}
        refs = {}
        for line in done.out.splitlines():
            name, target, symref = line.split("\0")
            if not name.startswith(_OWN) and name not in skip:
                refs[name] = f"ref: {symref}" if symref else target
        stash_log = None
        with contextlib.suppress(FileNotFoundError):
            stash_log = await asyncio.to_thread((self.common / "logs" / _STASH).read_bytes)
        return refs, stash_log, head

    async def _put_back(self, now: Mapping[str, str], was: Mapping[str, str]) -> None:
        commands = []
        for name in sorted({*now, *was}):
            old, new = was.get(name), now.get(name)
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

    async def _keep(self, now: Mapping[str, str], was: Mapping[str, str], stash_log: bytes | None) -> None:
        """Keep what the changed refs now point at under `refs/stomper/kept/`: a change that was the
        user's own (a `git stash` mid-run) is then put back without losing what it held."""
        targets = {name: now[name] for name in now if now[name] != was.get(name) and not now[name].startswith("ref: ")}
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


def git_dir_of(root: Path, common: Path) -> Path:
    """The git directory of the checkout at `root`: `common` itself, or a linked worktree's own."""
    dot_git = root / ".git"
    if dot_git.is_file():
        own = dot_git.read_text(encoding="utf-8", errors="surrogateescape").removeprefix("gitdir:").strip()
        return (root / own).resolve()
    return common


def _fingerprint(common: Path, own: Path | None, landing: str | None) -> Fingerprint | None:
    """The files that hold the refs `RefState` watches, by their stats (see the module's docstring)."""
    skipped = {landing, f"{landing}.lock"} if landing else set()
    places = [(common, "refs"), (common, "reftable"), (common, "packed-refs"), (common, "HEAD")]
    places.append((common, f"logs/{_STASH}"))
    if own is not None and own != common:
        places += [(own, "refs"), (own, "HEAD")]
    found = []
    for n, (top, name) in enumerate(places):
        for path in _files(top / name):
            relative = path.relative_to(top).as_posix()
            if top == common and relative in skipped:
                continue
            found += _stats(f"{n}:{relative}", path)
    now = time.time_ns()
    if any(max(mtime, ctime) > now - _RACY_NS for *_, mtime, ctime in found):
        return None
    return tuple(found)


def _stats(name: str, path: Path) -> list[tuple[str, int, int, int, int, int]]:
    """`path`'s entry in a fingerprint; a directory by what it is, not by when its entries changed."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return []  # gone meanwhile: missing from this fingerprint, so it differs from the last one
    if stat.S_ISDIR(info.st_mode):
        return [(name, info.st_mode, info.st_ino, 0, 0, 0)]
    found = [(name, info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)]
    if stat.S_ISLNK(info.st_mode):  # a ref kept as a symbolic link: what it leads to counts too
        with contextlib.suppress(OSError):
            to = path.stat()
            found.append((f"{name} ->", to.st_mode, to.st_ino, to.st_size, to.st_mtime_ns, to.st_ctime_ns))
    return found


def _files(path: Path) -> list[Path]:
    """`path` itself and, when it is a directory, every non-directory below it but stomper's own refs."""
    if not os.path.lexists(path):
        return []
    found = [path]
    if not path.is_dir() or path.is_symlink():
        return found
    for parent, dirs, files in os.walk(path):
        if Path(parent) == path and path.name == "refs":
            dirs[:] = [d for d in dirs if d != _OWN.split("/")[1]]
        dirs.sort()
        found += [Path(parent) / name for name in sorted(files)]
        found += [Path(parent) / name for name in dirs if os.path.islink(os.path.join(parent, name))]
    return found
