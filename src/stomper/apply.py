"""Putting verified fixes into the user's checkout, one at a time.

Every change to the user's files goes through `Applier.apply`, under one
lock per run: git's index and the working tree are never written by two
branches at once. A patch is applied only to a file that is byte for byte
what the run started from; anything else keeps the patch under the git
directory and reports the file as not applied.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stomper.errors import GitError, StomperError
from stomper.gitops import git
from stomper.worktree import blob

Mode = Literal["commit", "no-commit", "diff"]
_COMMITTED = re.compile(r"\[[^\]]*?([0-9a-f]{7,})\]")


class NotApplied(StomperError):
    """A verified fix could not be put into the checkout; its patch was kept."""

    def __init__(self, reason: str, patch_path: Path | None) -> None:
        super().__init__(reason)
        self.patch_path = patch_path


@dataclass(frozen=True)
class Applied:
    commit: str | None
    """The (abbreviated) id of the commit made for the fix, in commit mode."""


class Applier:
    def __init__(
        self, root: Path, base: str, mode: Mode, patches_dir: Path, git_identity: tuple[str, ...] = ()
    ) -> None:
        self.root = root
        self.base = base
        self.mode = mode
        self.patches_dir = patches_dir
        self.git_identity = git_identity
        self.lock = asyncio.Lock()

    async def apply(self, path: str, patch: bytes, message: str) -> Applied:
        """Apply `patch` (which changes only `path`) and, in commit mode, commit it.

        Raises `NotApplied` when the file changed in the checkout since the
        snapshot or git refuses the patch; the checkout is then untouched.
        """
        if self.mode == "diff":
            return Applied(commit=None)
        original = await blob(self.root, self.base, path)
        with tempfile.NamedTemporaryFile(prefix="stomper-", suffix=".patch") as handle:
            await asyncio.to_thread(_write, Path(handle.name), patch)
            async with self.lock:
                if await asyncio.to_thread(_read, self.root / path) != original:
                    kept = await self._keep(path, patch)
                    raise NotApplied(f"{path} changed in your checkout since the run started; fix not applied", kept)
                index = ["--index"] if self.mode == "commit" else []
                try:
                    # git apply is all or nothing: a refused patch leaves no trace.
                    await git("apply", "--binary", *index, handle.name, cwd=self.root)
                except GitError as exc:
                    kept = await self._keep(path, patch)
                    raise NotApplied(f"{path}: the fix no longer applies ({exc})", kept) from None
                if self.mode != "commit":
                    return Applied(commit=None)
                done = await git(*self.git_identity, "commit", "--no-verify", "-m", message, "--", path, cwd=self.root)
            # "[main 1a2b3c4] fix(stomper): ...": read here rather than ask git
            # again while the other branches wait for the lock.
            made = _COMMITTED.match(done.out)
            return Applied(commit=made.group(1) if made else None)

    async def _keep(self, path: str, patch: bytes) -> Path:
        kept = self.patches_dir / (path.replace("/", "__") + ".patch")
        await asyncio.to_thread(kept.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(_write, kept, patch)
        return kept


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
