"""Snapshots, per-file worktrees, and putting verified changes back.

A run starts from a *snapshot*: a commit whose tree is the user's working
tree as it was (tracked and untracked files, ignored ones left out), made
through a temporary index so the user's own index is never touched. Each file
is fixed in a detached worktree of that snapshot under the git directory, so
nothing stomper does shows up in `git status`. Inside a worktree, git's index
holds the last *verified* state of the fix, whose tree is also remembered: an
attempt that verification rejects is thrown away by restoring the index and
the files from that tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from stomper.gitops import git


async def snapshot(root: Path) -> str:
    """A commit of the working tree at `root` as it is now.

    HEAD itself when nothing differs from it. The user's index is copied,
    never written, which also lets git reuse its cached file stats.
    """
    head = (await git("rev-parse", "--verify", "--quiet", "HEAD", cwd=root, check=False)).out.strip()
    index = Path((await git("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=root)).out.strip())
    with tempfile.TemporaryDirectory(prefix="stomper-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if index.exists():
            await asyncio.to_thread(shutil.copyfile, index, env["GIT_INDEX_FILE"])
        await git("add", "--all", cwd=root, env=env)
        tree = (await git("write-tree", cwd=root, env=env)).out.strip()
    if head and (await git("rev-parse", "HEAD^{tree}", cwd=root)).out.strip() == tree:
        return head
    parents = ["-p", head] if head else []
    done = await git("commit-tree", tree, *parents, "-m", "stomper: snapshot of the working tree", cwd=root)
    return done.out.strip()


async def blob(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of `path` at `commit`, or None when it has no such file."""
    done = await git("cat-file", "blob", f"{commit}:{path}", cwd=root, check=False)
    return done.stdout if done.returncode == 0 else None


@dataclass
class Worktree:
    """A detached checkout of the snapshot where one file is fixed."""

    path: Path
    base: str
    verified: str = ""
    """The tree of the last verified state; the base's until an attempt is accepted."""

    async def accept(self) -> None:
        """Record the files as they are now as the last verified state."""
        await git("add", "--all", cwd=self.path)
        self.verified = (await git("write-tree", cwd=self.path)).out.strip()

    async def reject(self) -> None:
        """Throw away everything since the last verified state.

        The index is restored from the verified tree, not trusted: an agent
        that ran `git add` would otherwise have its rejected edit kept.
        """
        await git("read-tree", "--reset", "-u", self.verified or self.base, cwd=self.path)
        await git("checkout", "--quiet", "--", ".", cwd=self.path)
        await git("clean", "-d", "--force", "--quiet", cwd=self.path)

    async def read(self, path: str) -> bytes:
        """The bytes of `path` in the worktree."""
        return await asyncio.to_thread((self.path / path).read_bytes)

    async def patch(self) -> bytes:
        """The verified change as git writes it: binary-safe, new files included."""
        done = await git("diff", "--cached", "--binary", "--full-index", "--no-renames", self.base, cwd=self.path)
        return done.stdout


LOCK_REASON = "stomper run "
"""How git's record of a stomper worktree (`.git/worktrees/<n>/locked`) begins: it is locked from
the moment `git worktree add` begins it, so that a half-made one left by a kill is known as ours."""


class Worktrees:
    """The worktrees of one run, all under `<git dir>/stomper/worktrees/<run id>/`.

    git's own bookkeeping of worktrees is not safe against concurrent
    `worktree add`/`remove` (one reads another's half-written entry), so
    registering and unregistering take turns; checking the files out and
    deleting them, the slow part, runs in parallel.

    Each worktree is added locked, with the run named as the reason: git
    then never prunes it behind our back, and one that a kill left half
    made (git writes `locked` first and HEAD, all zeros, before its real
    value) is recognised by `remove_leftovers` as stomper's, to unlock and prune.
    """

    def __init__(self, root: Path, state_dir: Path, run_id: str, base: str, caches: tuple[str, ...] = ()) -> None:
        self.root = root
        self.state_dir = state_dir
        self.home = state_dir / "worktrees" / run_id
        self.run_id = run_id
        self.base = base
        self.caches = caches
        """Tool caches (e.g. .mypy_cache) copied from the checkout into each worktree: a warm
        mypy checks a file in a fraction of the time a cold one takes."""
        self._registry = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def checkout(self, name: str) -> AsyncIterator[Worktree]:
        path = self.home / name
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        try:
            async with self._registry:
                await git(
                    "worktree",
                    "add",
                    "--detach",
                    "--no-checkout",
                    "--lock",
                    "--reason",
                    LOCK_REASON + self.run_id,
                    "--quiet",
                    str(path),
                    self.base,
                    cwd=self.root,
                )
            await git("reset", "--hard", "--quiet", cwd=path)
            await asyncio.to_thread(self._seed, path)
            yield Worktree(path=path, base=self.base)
        finally:
            await asyncio.shield(self._remove(path))

    def _seed(self, path: Path) -> None:
        # Copied, not linked: mypy's cache is an SQLite database that a
        # worktree's mypy would otherwise write into the user's copy of.
        for name in self.caches:
            if (self.root / name).is_dir():
                shutil.copytree(self.root / name, path / name, symlinks=True, dirs_exist_ok=True)

    async def _remove(self, path: Path) -> None:
        # git's entry for the worktree goes stale with its directory and is
        # unlocked and pruned once, in `close`; pruning here would make every branch wait.
        await asyncio.to_thread(shutil.rmtree, path, True)

    async def close(self) -> None:
        """Remove the run's directory once every worktree is gone, and git's records of them."""
        await asyncio.to_thread(shutil.rmtree, self.home, True)
        async with self._registry:
            await asyncio.to_thread(_unlock, self.state_dir, self.run_id)
            await git("worktree", "prune", cwd=self.root, check=False)


async def remove_leftovers(root: Path, state_dir: Path) -> list[str]:
    """Remove every stomper worktree, and git's records of them; the ids of the runs they belonged to.

    Only with the run lock held: no run is alive then to own one. Run first
    thing by the next run and by `stomper clean`, this repairs whatever a
    kill left, even in the middle of `git worktree add`.
    """
    removed = await asyncio.to_thread(_remove_directories, state_dir / "worktrees")
    unlocked = await asyncio.to_thread(_unlock, state_dir, None)
    await git("worktree", "prune", cwd=root)
    return sorted(set(removed) | set(unlocked))


def _remove_directories(home: Path) -> list[str]:
    removed = []
    for directory in sorted(home.glob("*")) if home.is_dir() else []:
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory.name)
    return removed


def _unlock(state_dir: Path, run_id: str | None) -> list[str]:
    """Unlock git's records of stomper's worktrees (of `run_id`, or of every run), so that prune sees them.

    A record is stomper's when its lock names a stomper run, or (made by an
    older stomper, locked only while being added) when it points under
    `state_dir/worktrees`. Returns the run ids found in the locks.
    """
    records = state_dir.parent / "worktrees"
    home = (state_dir / "worktrees").resolve()
    runs = []
    for record in sorted(records.iterdir()) if records.is_dir() else []:
        reason = _read_text(record / "locked")
        if reason is None:
            continue
        owner = reason.removeprefix(LOCK_REASON).strip() if reason.startswith(LOCK_REASON) else None
        gitdir = _read_text(record / "gitdir")
        ours = owner is not None or (gitdir is not None and Path(gitdir.strip()).is_relative_to(home))
        if ours and (run_id is None or owner == run_id):
            (record / "locked").unlink(missing_ok=True)
            if owner:
                runs.append(owner)
    return runs


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None
