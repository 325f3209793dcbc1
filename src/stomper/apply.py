"""Putting verified fixes into the user's checkout, one at a time.

Every change to the user's files goes through `Applier.apply`, under one
lock per run: git's index and the working tree are never written by two
branches at once. A patch is applied only to a file that is byte for byte
what the run started from; anything else keeps the patch under the git
directory and reports the file as not applied.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stomper.errors import GitError, StomperError
from stomper.gitops import git
from stomper.worktree import blob

Mode = Literal["commit", "no-commit", "diff"]


class NotApplied(StomperError):
    """A verified fix could not be put into the checkout; its patch was kept."""

    def __init__(self, reason: str, patch_path: Path | None) -> None:
        super().__init__(reason)
        self.patch_path = patch_path


@dataclass(frozen=True)
class Applied:
    commit: str | None
    """The commit made for the fix (commit mode only)."""


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
        async with self.lock:
            original = await blob(self.root, self.base, path)
            current = await asyncio.to_thread(_read, self.root / path)
            if current != original:
                kept = await self._keep(path, patch)
                raise NotApplied(f"{path} changed in your checkout since the run started; fix not applied", kept)
            index = ["--index"] if self.mode == "commit" else []
            with tempfile.NamedTemporaryFile(prefix="stomper-", suffix=".patch") as handle:
                await asyncio.to_thread(_write, Path(handle.name), patch)
                try:
                    await git("apply", "--check", "--binary", *index, handle.name, cwd=self.root)
                    await git("apply", "--binary", *index, handle.name, cwd=self.root)
                except GitError as exc:
                    kept = await self._keep(path, patch)
                    raise NotApplied(f"{path}: the fix no longer applies ({exc})", kept) from None
            if self.mode != "commit":
                return Applied(commit=None)
            await git(*self.git_identity, "commit", "--quiet", "--no-verify", "-m", message, "--", path, cwd=self.root)
            sha = (await git("rev-parse", "HEAD", cwd=self.root)).out.strip()
            return Applied(commit=sha)

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
