"""What a fixer's change may not do, however well it verifies.

The tools judge whether an edit fixes the file; this module judges whether
it is an edit of the file at all. Two checks, both before anything of the
fixer's reaches the user's checkout:

- `Seal.check`, after every attempt and before any git command runs in the
  worktree again: the worktree's `.git` file and the git directory's
  control files (config, per-worktree config, hooks, attributes) are as
  they were. A fixer that rewrote `.git` could point the next `git add` at
  the user's own index; one that set `core.hooksPath` or `core.fsmonitor`
  would have its programs run by stomper's git. The refs all worktrees
  share (branches, tags, the stash, `packed-refs`) are put back as they
  were (see `stomper.refs`) and the attempt is refused.
- `check_change`, once, on the verified record relative to the base: it
  stays inside the repository, out of `.git`, adds no symbolic link that
  leads out nor a nested repository, keeps the target a text file by that
  name (and, from an AI, not an empty one) and its mode as it was, touches
  no other file (unless `allow_other_files`), adds no credential value from
  the environment (`stomper.redact`), and is no larger than `max_patch_bytes`.

Both raise `UnsafeChange`, which fails the file with its message.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import redact
from stomper.config import StomperSettings
from stomper.errors import StomperError
from stomper.gitops import git
from stomper.refs import RefState
from stomper.worktree import Worktree

_SYMLINK = "120000"
_GITLINK = "160000"
_CONTROL = ("config", "config.worktree", "hooks", "info/attributes")
"""Paths in the common git directory that make git run programs or change what it writes."""
_ADMIN = ("commondir", "config.worktree")
"""Paths in the worktree's own git directory that say which repository it belongs to."""
RECENT = 2.0
"""Seconds: the stats of a watched file changed this recently do not stand for its bytes (`_DIGESTS`)."""


class UnsafeChange(StomperError):
    """A fixer's change does something no fix may do; it is not applied."""


@dataclass(frozen=True)
class Seal:
    """The git plumbing of one worktree as it was before any fixer ran."""

    worktree: Path
    watched: tuple[tuple[str, Path], ...]
    """(name shown to the user, path) of what must not change."""
    prints: tuple[str, ...]
    refs: RefState | None = None
    """The shared refs as they were, put back by `check` when a fixer changed them."""

    @classmethod
    async def take(cls, wt: Worktree, refs: RefState | None = None) -> Seal:
        def look() -> tuple[list[tuple[str, Path]], tuple[str, ...]]:
            common, admin = _git_dirs(wt.path)
            watched = [(".git (the worktree's own)", wt.path / ".git")]
            watched += [(f".git/{name}", common / name) for name in _CONTROL]
            watched += [(f".git/{admin.relative_to(common).as_posix()}/{name}", admin / name) for name in _ADMIN]
            # The per-worktree config of the user's other linked worktrees, and any a fixer adds.
            watched += [(".git/worktrees/*/config.worktree", common / "worktrees")]
            return watched, _prints(watched)

        watched, prints = await asyncio.to_thread(look)
        return cls(wt.path, tuple(watched), prints, refs or wt.refs)

    async def check(self) -> None:
        """Raise `UnsafeChange` naming what changed, if anything did; changed refs are put back first."""
        now = await asyncio.to_thread(_prints, self.watched)
        changed = [name for (name, _), old, new in zip(self.watched, self.prints, now, strict=True) if old != new]
        restored = await self.refs.restore() if self.refs is not None else []
        if changed:
            raise UnsafeChange(f"the fixer changed git's own files ({', '.join(changed)}); not applied")
        if restored:
            raise UnsafeChange(
                f"the fixer changed the repository's refs ({', '.join(restored)}); they were put back "
                "(what they pointed at is kept under refs/stomper/kept/), not applied"
            )


def _git_dirs(worktree: Path) -> tuple[Path, Path]:
    """The common git directory and the worktree's own, read as git reads them (`.git`, then `commondir`)."""
    admin = Path(worktree / ".git").read_text().removeprefix("gitdir:").strip()
    own = (worktree / admin).resolve()
    return (own / (own / "commondir").read_text().strip()).resolve(), own


def _prints(watched: Sequence[tuple[str, Path]]) -> tuple[str, ...]:
    return tuple("\n".join(f"{p.relative_to(path)}: {_print(p)}" for p in _walk(name, path)) for name, path in watched)


def _walk(name: str, path: Path) -> list[Path]:
    if name.endswith("/*/config.worktree"):
        return sorted(path.glob("*/config.worktree"))
    if path.is_dir() and not path.is_symlink():
        return sorted(p for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
    return [path] if os.path.lexists(path) else []


_DIGESTS: dict[tuple[int, ...], str] = {}
"""The sha256 of a watched file by its stats (device, inode, size, mtime, ctime) when it was read.

Every seal of a run watches the same control files, and nothing changes
them in an ordinary run: each is read once, not at every look. Whatever
changes a file changes its ctime, which no process can set back, so stats
seen once are not seen again after a change, and the bytes they name are
still the file's. Only stats older than `RECENT` seconds when the file was
read are kept: another change within the same tick of the file system's
clock could leave them as they are."""
_DIGESTS_KEPT = 4096


def _print(path: Path) -> str:
    try:
        since = time.time() - RECENT
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            return f"link {os.readlink(path)}"
        if not stat.S_ISREG(info.st_mode):
            return f"mode {info.st_mode:o}"
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        digest = _DIGESTS.get(key)
        if digest is None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if max(info.st_ctime, info.st_mtime) < since:
                if len(_DIGESTS) >= _DIGESTS_KEPT:
                    _DIGESTS.clear()
                _DIGESTS[key] = digest
        return f"{info.st_mode:o} {digest}"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"


@dataclass(frozen=True)
class Entry:
    """One line of `git diff --raw`."""

    old_mode: str
    new_mode: str
    new_sha: str
    status: str
    """A, M, D, T, or R (renamed, `old` set)."""
    path: str
    old: str | None = None


async def check_change(
    wt: Worktree,
    path: str,
    patch: bytes,
    settings: StomperSettings,
    *,
    original: bytes | None,
    may_empty: bool = False,
    unit: Sequence[str] = (),
    entries: Sequence[Entry] | None = None,
    verified: bytes | None = None,
) -> None:
    """Raise `UnsafeChange` if the verified change of `path` in `wt` (its record) must not be applied.

    `original` is what the file held before any fixer ran. `may_empty`: the
    change may leave the file empty, as ruff does to a file of nothing but
    unused imports; from an AI, an empty file is a wiped one. `unit`: the
    other files of its work unit (`stomper.units`), which the change may
    edit as it may edit `path`, and no other. `entries`: the
    part of the record that is this change (`entries_of`), when the record
    holds the changes of a batch of files, each landed on its own, and
    `verified`: the bytes of `path` in the record, when the caller read them
    from it already.
    """
    if entries is None:
        entries = await entries_of(wt)
    for entry in entries:
        for name in filter(None, (entry.path, entry.old)):
            parts = name.split("/")
            if any(part.lower() == ".git" for part in parts):
                raise UnsafeChange(f"the fix writes inside .git ({name}); not applied")
            if name.startswith("/") or ".." in parts:
                raise UnsafeChange(f"the fix reaches outside the repository ({name}); not applied")
        if entry.new_mode == _GITLINK:
            raise UnsafeChange(f"the fix adds a nested git repository at {entry.path}; not applied")
        if entry.new_mode == _SYMLINK and entry.path == path and entry.old_mode != _SYMLINK:
            raise UnsafeChange(f"the fix turns {path} into a symbolic link; not applied")
        if entry.new_mode == _SYMLINK and entry.old_mode != _SYMLINK:
            target = (await git("cat-file", "blob", entry.new_sha, cwd=wt.path)).stdout.decode("utf-8", "replace")
            if _escapes(entry.path, target):
                raise UnsafeChange(
                    f"the fix adds a symbolic link {entry.path} pointing outside the repository ({target}); not applied"
                )
    own = list(dict.fromkeys([path, *unit]))
    for name in own:
        mine = next((e for e in entries if name in (e.path, e.old)), None)
        if mine is not None and mine.status == "R":
            raise UnsafeChange(f"the fix renames {name} to {mine.path}; not applied")
        if mine is not None and mine.status == "D":
            raise UnsafeChange(f"the fix deletes {name}; not applied")
    for entry in entries:
        modes = (entry.old_mode, entry.new_mode)
        if entry.status in ("M", "T") and modes[0] != modes[1] and _SYMLINK not in modes:
            # Verification runs the tools, not the file: an executable bit is nothing it checked.
            raise UnsafeChange(
                f"the fix changes the mode of {entry.path} ({entry.old_mode} to {entry.new_mode}); not applied"
            )
    touched = {name for e in entries for name in (e.path, e.old) if name}
    for name in own:
        if name in touched:
            old = original if name == path else await _base_blob(wt, name)
            new = verified if name == path and verified is not None else (await wt.verified_blob(name) or b"")
            _still_text(name, old or b"", new, may_empty)
    others = sorted(touched - set(own))
    if others and not settings.allow_other_files:
        raise UnsafeChange(f"the fix also changed {', '.join(others)}; not applied")
    if (holder := redact.introduced(patch)) is not None:
        raise UnsafeChange(f"the fix writes the value of {holder}, a credential, into the code; not applied")
    if len(patch) > settings.max_patch_bytes:
        raise UnsafeChange(
            f"the fix is a {len(patch)}-byte patch, more than max_patch_bytes ({settings.max_patch_bytes}); not applied"
        )


async def _base_blob(wt: Worktree, path: str) -> bytes | None:
    done = await git("cat-file", "blob", f"{wt.base}:{path}", cwd=wt.path, check=False)
    return done.stdout if done.returncode == 0 else None


def _still_text(path: str, old: bytes, new: bytes, may_empty: bool) -> None:
    # git's own test for binary: a NUL byte in the first 8000.
    if b"\0" in new[:8000] and b"\0" not in old[:8000]:
        raise UnsafeChange(f"the fix makes {path} a binary file; not applied")
    if not new and old and not may_empty:
        raise UnsafeChange(f"the fix empties {path}; not applied")


async def entries_of(wt: Worktree) -> list[Entry]:
    """What the record of `wt` changes relative to its base, renames found."""
    return [
        Entry(c.old_mode, c.new_mode, c.new_blob or "0" * 40, c.status, c.path, old=c.renamed_from)
        for c in await wt.changes(renames=True)
    ]


def _escapes(link: str, target: str) -> bool:
    """Whether a symbolic link at `link` (relative to the root) to `target` leads out of the repository or into .git."""
    if target.startswith("/"):
        return True
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link), target))
    parts = resolved.split("/")
    return resolved == ".." or parts[0] == ".." or any(p.lower() == ".git" for p in parts)
