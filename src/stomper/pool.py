"""One worktree of a run's pool (`worktree.Worktrees`): reset between files, and kept from one run to the next.

Reset: everything a fixer left in the worktree or in its own git directory is
gone before the next file is handed out, by an index-driven update of what
changed, not a new checkout (`Pooled.reset`).

Kept (`keep_worktrees`): at a run's end each idle worktree is *parked*
(`Pooled.park`): what a reset needs is written beside it, where no fixer
can write (the index its last reset wrote, `<n>.trusted`, and `<n>.kept`,
written last), and git's record of it (`.git/worktrees/<n>`) is removed, so
that git and the editors that list worktrees no longer see it. The next run
takes it back (`Pooled.unpark`): it writes the record again and resets the
worktree to its own base, which writes only the files that differ. One it
cannot trust (moved, its repository's checkout settings changed, its record
taken by another worktree, its files beside it damaged) is removed and made
anew. A kill anywhere leaves either a parked worktree or one without `<n>.kept`,
which the next run's repair removes (`tidy`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from stat import S_ISREG

from stomper.gitops import git


def caches_of(worktree: Path) -> Path:
    """Where the tools keep their caches for `worktree`: beside it, not in it.

    A fixer may write its worktree (the sandbox lets it write nothing else); a
    cache it could write is a verdict it could forge (mypy trusts a cached
    module whose size and mtime match). The verifier points the tools here.
    """
    return _next_to(worktree, "caches")


@dataclass(frozen=True)
class Pooled:
    """One worktree of the pool, the files that tie it to the repository as git first wrote them, and its
    index as stomper's own git last wrote it."""

    path: Path
    admin: Path
    """Its own git directory, `.git/worktrees/<n>`."""
    dot_git: bytes
    """Its `.git` file."""
    admin_files: tuple[tuple[str, bytes], ...]
    """Every file of its git directory but the index, as they were when it was new (HEAD, `locked`, ...)."""
    index: bytes
    """Its index as the last checkout of the base wrote it, before any fixer ran: the base's entries,
    with the stats of the files as they were written."""
    index_mtime_ns: int
    """When that index was written. git compares the content of a file whose entry is as recent as its
    index (it may have changed again within the same tick), so the copy is put back with this mtime."""
    was: str = ""
    """Taken back from an earlier run: the commit that index is of, which the run's is not."""

    @property
    def own_index(self) -> Path:
        return own_index_of(self.path)

    def write_own_index(self) -> None:
        """stomper's own index for the next file: the base's entries as the last checkout wrote them."""
        self.own_index.write_bytes(self.index)
        # With its time: git compares the bytes of a file changed in the same tick as the index was written.
        os.utime(self.own_index, ns=(self.index_mtime_ns, self.index_mtime_ns))

    @classmethod
    def of(cls, path: Path, *, own: bool = False) -> Pooled:
        """The worktree at `path`, as its first checkout left it; with stomper's own index written, `own`."""
        dot_git = (path / ".git").read_bytes()
        admin = (path / dot_git.decode().removeprefix("gitdir:").strip()).resolve()
        files = sorted(p for p in admin.rglob("*") if p.is_file() and p.name != "index")
        kept = tuple((p.relative_to(admin).as_posix(), p.read_bytes()) for p in files)
        pooled = cls(path, admin, dot_git, kept, *_index_of(admin))
        if own:
            pooled.write_own_index()
        return pooled

    async def reset(self, base: str, caches: tuple[str, ...], *, changed: Sequence[str] | None = ()) -> Pooled:
        """Make the worktree as a new one of `base` (a commit, or a tree) would be, its caches kept; the
        worktree as reset.

        The git directory is rewritten first, before any git runs here, the
        index with it: the one stomper's last checkout wrote, not the one the
        fixer left, which could mark an entry skip-worktree or give it stats
        that hide an edit. That index holds the stats of the files as they
        were written, so the checkout (`read-tree --reset -u`, which compares
        each file's stats with its entry's) writes back only what changed
        since; with ctime compared (`STAT`), nothing a fixer wrote passes
        for untouched: a process can set a file's mtime back, not its ctime.
        With caches kept, each file written back gets a later whole-second
        mtime than the last fixer's version had: mypy trusts a cached file
        whose size and mtime are unchanged, and would judge the next file
        against that version.

        `changed`: when the index is of another base than `base` (a worktree
        taken back from an earlier run), the files the two hold differently
        (None: not known, git compares the index with `base`). They are
        written too, and get a later mtime as well. One whose bases differ in
        a `.gitattributes` is refused (`OSError`): git converts only what it
        writes, and the rest was written under the old attributes.
        """
        await asyncio.to_thread(self._restore_git_dir)
        await git(*STAT, "clean", "-d", "-ff", "-x", "--quiet", cwd=self.path)
        if changed is None:
            changed = await self._names("diff-index", "--cached", base)
        if any(Path(name).name == ".gitattributes" for name in changed):
            raise OSError(f"{self.path}: the attributes of its files changed since it was kept")
        stale = {}
        if caches:
            stale = await asyncio.to_thread(_mtimes, self.path, [*changed, *await self._names("diff-files")])
        await git(*STAT, "read-tree", "--reset", "-u", base, cwd=self.path)

        def settle() -> Pooled:
            _later(self.path, stale)
            # The index it wrote is as trustworthy as the first: written by git, before any fixer ran.
            index, mtime = _index_of(self.admin)
            pooled = replace(self, index=index, index_mtime_ns=mtime, was="")
            pooled.write_own_index()
            return pooled

        return await asyncio.to_thread(settle)

    async def _names(self, *diff: str) -> list[str]:
        """The paths a `git diff-*` of the worktree names."""
        listed = await git(*STAT, *diff[:1], "--name-only", "-z", *diff[1:], cwd=self.path)
        return [n for n in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if n]

    def park(self, settings: str, base: str) -> None:
        """Keep the worktree, as its last reset left it, for the next run (`unpark`); remove git's record of it.

        Written beside it, where no sandboxed fixer can write, each file whole
        or not at all: the index of its last reset (`<n>.trusted`), then
        `<n>.kept`: what ties it to the repository, `settings`
        (`checkout_settings`), the index's hash and `base`, the commit its
        last reset was to. A kill before `<n>.kept`
        leaves an earlier park's, if any: with the index beside it, whose
        stats of the files written since are stale (those are written again),
        or with another index, whose hash it does not name (the worktree is
        made anew). A kill before the record is gone leaves it to `tidy`.
        """
        _write_whole(_trusted_of(self.path), self.index)
        ties = {name: base64.b64encode(data).decode() for name, data in self.admin_files if name in _TIES}
        kept = {
            "format": _FORMAT,
            "worktree": str(self.path),
            "admin": str(self.admin),
            "dot_git": base64.b64encode(self.dot_git).decode(),
            "ties": ties,
            "index_sha256": hashlib.sha256(self.index).hexdigest(),
            "index_mtime_ns": self.index_mtime_ns,
            "settings": settings,
            "base": base,
        }
        _write_whole(_kept_of(self.path), json.dumps(kept).encode())
        _remove(self.admin)

    @classmethod
    def unpark(cls, path: Path, *, records: Path, settings: str, head: str, locked: bytes) -> Pooled | None:
        """The worktree parked at `path`, its record in `records` (`.git/worktrees`) made again, with `head`
        as its HEAD and `locked` its lock; to be reset (from `was`) before use. None when it cannot be trusted.
        """
        try:
            kept = json.loads(_kept_of(path).read_bytes())
            index = _trusted_of(path).read_bytes()
            admin = Path(kept["admin"])
            dot_git = base64.b64decode(kept["dot_git"])
            ties = {name: base64.b64decode(kept["ties"][name]) for name in _TIES}
            if (
                kept["format"] != _FORMAT
                or kept["worktree"] != str(path)
                or kept["settings"] != settings
                or hashlib.sha256(index).hexdigest() != kept["index_sha256"]
                or path.is_symlink()
                or not path.is_dir()
                or admin.name in ("", ".", "..")
                or admin.parent != records.resolve()
                or dot_git != f"gitdir: {admin}\n".encode()
                or ties["gitdir"] != f"{path.resolve() / '.git'}\n".encode()
            ):
                return None
            # Only a record of this worktree's own, which a kill left, may be written over.
            if (admin.exists() or admin.is_symlink()) and (
                admin.is_symlink() or _read(admin / "gitdir") != ties["gitdir"]
            ):
                return None
            admin.mkdir(parents=True, exist_ok=True)
            files = (*ties.items(), ("HEAD", f"{head}\n".encode()), ("locked", locked))
            was = str(kept["base"])
            return cls(path, admin, dot_git, tuple(sorted(files)), index, int(kept["index_mtime_ns"]), was)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _restore_git_dir(self) -> None:
        """Put the worktree's `.git` file and its own git directory back as git first wrote them.

        What a fixer left as it was is kept, and only that: a regular file,
        not linked elsewhere, holding the same bytes (the index with the same
        mtime too). Everything else goes, and what is missing is written: a
        file created costs far more than one read, in every reset.
        """
        if not self.admin.is_dir() or self.admin.is_symlink():
            raise OSError(f"{self.admin} is no longer a directory")
        _put(self.path / ".git", self.dot_git)
        wanted = {**dict(self.admin_files), "index": self.index}
        folders = {parent.as_posix() for name in wanted for parent in Path(name).parents} - {"."}
        for top, dirs, files in os.walk(self.admin, topdown=True):
            here = Path(top).relative_to(self.admin)
            for name in dirs:
                entry = Path(top) / name
                if (here / name).as_posix() not in folders or entry.is_symlink():
                    _remove(entry)
            dirs[:] = [name for name in dirs if (Path(top) / name).is_dir()]
            for name in files:
                if (here / name).as_posix() not in wanted:
                    (Path(top) / name).unlink()
        for name, data in wanted.items():
            mtime = self.index_mtime_ns if name == "index" else None
            _put(self.admin / name, data, mtime)


_FORMAT = 1
"""Of `<n>.kept`: one of another format is not taken back."""

_TIES = ("commondir", "gitdir")
"""The files of a worktree's record that tie it to the repository, kept with it; HEAD and the lock are the run's."""

STAT = (
    *("-c", "core.trustctime=true", "-c", "core.checkStat=default", "-c", "core.ignoreStat=false"),
    # The index is put back as bytes: one split in two (its shared part a file of its own) would not be whole.
    *("-c", "core.splitIndex=false"),
)
"""How a reset compares a file with its index entry: by every stat git keeps, ctime included."""


def _put(path: Path, data: bytes, mtime_ns: int | None = None) -> None:
    """Make `path` a regular file of `data` (last modified at `mtime_ns`, when given), writing it only if
    it is not one already."""
    try:
        stat = path.lstat()
    except FileNotFoundError:
        pass
    else:
        if (
            S_ISREG(stat.st_mode)
            and stat.st_nlink == 1
            and stat.st_size == len(data)
            and (mtime_ns is None or stat.st_mtime_ns == mtime_ns)
            and path.read_bytes() == data
        ):
            return
        _remove(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def _remove(path: Path) -> None:
    """Remove `path`: a directory with all it holds, a symbolic link itself, never what it points to."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def own_index_of(worktree: Path) -> Path:
    """Where stomper keeps its own index of `worktree`: beside it, where no fixer can write."""
    return _next_to(worktree, "index")


def _kept_of(worktree: Path) -> Path:
    return _next_to(worktree, "kept")


def _trusted_of(worktree: Path) -> Path:
    return _next_to(worktree, "trusted")


def _beside(worktree: Path) -> tuple[Path, ...]:
    """What stomper keeps beside a worktree of the pool."""
    return tuple(_next_to(worktree, what) for what in _BESIDE)


def _next_to(worktree: Path, what: str) -> Path:
    return worktree.parent / f"{worktree.name}.{what}"


def remove(worktree: Path) -> None:
    """Remove a worktree of the pool and all stomper keeps beside it (not git's record of it)."""
    _try_remove(worktree)
    remove_beside(worktree)


def remove_beside(worktree: Path) -> None:
    """Remove what stomper keeps beside a worktree of the pool."""
    for path in _beside(worktree):
        _try_remove(path)


def _try_remove(path: Path) -> None:
    """`_remove`, for what a run's end or the next run's repair clears away: what cannot be removed (a
    file made immutable, a directory a fixer left unwritable) stays for the next try, not failing a run."""
    with contextlib.suppress(OSError):
        _remove(path)


def parked(home: Path) -> list[Path]:
    """The worktrees parked in `home` for a run to take back, lowest number first."""
    found = [p for p in home.iterdir() if p.name.isdigit() and _kept_of(p).is_file()] if home.is_dir() else []
    return sorted(found, key=lambda p: int(p.name))


def footprint(home: Path) -> tuple[int, int]:
    """How many worktrees are parked in `home`, and the bytes they and what lies beside them take on disk."""
    kept = parked(home)
    taken = 0
    for top, _, files in os.walk(home):
        for name in files:
            with contextlib.suppress(OSError):
                taken += os.lstat(os.path.join(top, name)).st_blocks * 512
    return len(kept), taken


def tidy(home: Path, records: Path, *, keep: bool) -> int:
    """Leave in the pool's `home` only worktrees parked whole (`keep`), with what stomper keeps beside them,
    and in `records` (`.git/worktrees`) no record of one; how many worktrees were removed.

    Run after every run, and before the next (which may follow a kill): a
    worktree never parked (no `<n>.kept`), or all of them without `keep`,
    is removed, and whatever else is in `home` (a file a fixer without a
    sandbox wrote beside its worktree, a write a kill cut short). A removed
    one's record is left for `git worktree prune`, once unlocked; nothing
    else in `records` is touched.
    """
    if not home.is_dir():
        return 0
    removed = 0
    for entry in sorted(home.iterdir()):
        number, dot, what = entry.name.partition(".")
        if not number.isdigit() or (dot and what not in _BESIDE):
            _try_remove(entry)
        elif not dot:
            if keep and _kept_of(entry).is_file() and entry.is_dir() and not entry.is_symlink():
                continue
            remove(entry)
            removed += 1
        elif not (home / number).is_dir() or (home / number).is_symlink():
            _try_remove(entry)
    ours = {p.resolve() / ".git" for p in home.iterdir() if p.is_dir() and not p.is_symlink()}
    for record in sorted(records.iterdir()) if records.is_dir() else []:
        gitdir = (_read(record / "gitdir") or b"").decode(errors="replace").strip()
        if gitdir and Path(gitdir) in ours:
            _try_remove(record)
    with contextlib.suppress(OSError):
        home.rmdir()  # none kept
    return removed


_BESIDE = ("caches", "index", "kept", "trusted")
"""What stomper keeps beside a worktree `<n>` of the pool: `<n>.caches` (`caches_of`), `<n>.index`
(`own_index_of`), `<n>.kept` and `<n>.trusted` (`Pooled.park`)."""


async def checkout_settings(root: Path, common: Path) -> str:
    """What decides how git writes a checkout's files, as a hash: a worktree written under other settings
    is not taken back (`unpark`), whatever its stats say.

    The config git sees here (line endings, filters, symbolic links, file
    modes, case), and the repository's own attributes (`info/attributes`);
    those in the tree are the base's, compared when the worktree is reset.
    """
    found = await git("config", "-z", "--get-regexp", _CHECKOUT_KEYS, cwd=root, check=False)
    attributes = await asyncio.to_thread(_read, common / "info" / "attributes")
    return hashlib.sha256(found.stdout + b"\0\0" + (attributes or b"")).hexdigest()


_CHECKOUT_KEYS = (
    r"^(core\.(autocrlf|eol|symlinks|filemode|ignorecase|precomposeunicode|checkroundtripencoding|sparsecheckout"
    r"|sparsecheckoutcone)|filter\..*|extensions\..*)$"
)


def _write_whole(path: Path, data: bytes) -> None:
    """Write `path` so that a kill leaves the old file or the new one, never a part."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _index_of(admin: Path) -> tuple[bytes, int]:
    """A worktree's index and its mtime."""
    index = admin / "index"
    return index.read_bytes(), index.stat().st_mtime_ns


def _mtimes(root: Path, names: list[str]) -> dict[str, int]:
    found = {}
    for name in names:
        with contextlib.suppress(OSError):
            found[name] = int((root / name).lstat().st_mtime)
    return found


def _later(root: Path, stamps: dict[str, int]) -> None:
    for name, old in stamps.items():
        path = root / name
        with contextlib.suppress(OSError):
            if not path.is_symlink() and int(path.stat().st_mtime) <= old:
                os.utime(path, (old + 1, old + 1))
