"""Putting verified fixes into the user's checkout, one at a time.

Every change to the user's files goes through `Applier.apply`, under one
lock per run: git's index and the working tree are never written by two
branches at once. A patch is applied only to a file that is byte for byte
what the run started from; anything else keeps the patch under the git
directory and reports the file as not applied.

Before touching the checkout, the applier writes down in the run's journal
what the file is about to become. A run killed between applying and
recording that it applied is thereby recognised when it resumes: the file
already holds the fix, which is committed if it was not yet, never applied
twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stomper.diagnostics import Diagnostic
from stomper.errors import GitError, StomperError
from stomper.events import EventLog
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
    recovered: bool = False
    """The fix was already in the checkout, applied before an interruption."""
    remaining: tuple[Diagnostic, ...] = ()
    """For a recovered fix: what it left unfixed, as recorded when it was applied."""


@dataclass(frozen=True)
class Fix:
    """A verified change of one file."""

    path: str
    patch: bytes
    """The change as git wrote it."""
    content: bytes
    """What the file holds once the patch is applied."""
    original: bytes | None
    """What the file held in the snapshot: the checkout must still hold exactly that."""
    message: str
    remaining: tuple[Diagnostic, ...] = ()
    """What the fix leaves unfixed in the file."""


class Applier:
    def __init__(
        self,
        root: Path,
        base: str,
        mode: Mode,
        patches_dir: Path,
        journal: EventLog,
        git_identity: tuple[str, ...] = (),
        applied_before: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.root = root
        self.base = base
        self.mode = mode
        self.patches_dir = patches_dir
        self.journal = journal
        self.git_identity = git_identity
        self.applied_before = dict(applied_before or {})
        """path -> the journal's "applying" record of a resumed run (see `applied_before`)."""
        self.lock = asyncio.Lock()

    async def apply(self, fix: Fix, locked: Callable[[], None] | None = None) -> Applied:
        """Apply `fix` and, in commit mode, commit it; `locked` is called once the lock is held.

        Raises `NotApplied` when the file changed in the checkout since the
        snapshot or git refuses the patch; the checkout is then untouched.
        Once begun, the work under the lock runs to its end even if the run
        is cancelled meanwhile, so a file is never left half applied.
        """
        if self.mode == "diff":
            return Applied(commit=None)
        critical = asyncio.ensure_future(self._apply(fix, locked))
        try:
            return await asyncio.shield(critical)
        except asyncio.CancelledError:
            await critical
            raise

    async def recover(self, path: str) -> Applied | None:
        """The fix a resumed run had already applied to `path`, committing it if need be."""
        record = self.applied_before.get(path)
        if record is None or self.mode == "diff":
            return None
        remaining = tuple(Diagnostic.from_json(d) for d in record.get("remaining", []))
        async with self.lock:
            current = await asyncio.to_thread(_read, self.root / path)
            if current is None or _sha(current) != record["sha256"]:
                return None
            committed = await blob(self.root, "HEAD", path)
            if self.mode == "commit" and committed != current:
                message = f"fix(stomper): resolve diagnostics in {path}\n\nApplied before an interruption.\n"
                await git("add", "--", path, cwd=self.root)
                return Applied(commit=await self._commit(path, message), recovered=True, remaining=remaining)
            return Applied(commit=None, recovered=True, remaining=remaining)

    async def _apply(self, fix: Fix, locked: Callable[[], None] | None) -> Applied:
        with tempfile.NamedTemporaryFile(prefix="stomper-", suffix=".patch") as handle:
            await asyncio.to_thread(_write, Path(handle.name), fix.patch)
            async with self.lock:
                if locked is not None:
                    locked()
                if await asyncio.to_thread(_read, self.root / fix.path) != fix.original:
                    kept = await self._keep(fix)
                    reason = f"{fix.path} changed in your checkout since the run started; fix not applied"
                    raise NotApplied(reason, kept)
                self.journal.append(
                    {
                        "event": "applying",
                        "path": fix.path,
                        "sha256": _sha(fix.content),
                        "remaining": [d.to_json() for d in fix.remaining],
                    }
                )
                index = ["--index"] if self.mode == "commit" else []
                if index:
                    # Our git status runs without optional locks and so never refreshes the index: a
                    # checkout whose files were touched (copied, restored by a CI cache) would have
                    # `apply --index` refuse with "does not match index". Refreshing is part of the apply.
                    await git("update-index", "-q", "--refresh", cwd=self.root, check=False)
                try:
                    # git apply is all or nothing: a refused patch leaves no trace.
                    await git("apply", "--binary", *index, handle.name, cwd=self.root)
                except GitError as exc:
                    kept = await self._keep(fix)
                    raise NotApplied(f"{fix.path}: the fix no longer applies ({exc})", kept) from None
                commit = await self._commit(fix.path, fix.message) if self.mode == "commit" else None
                self.journal.append({"event": "applied", "path": fix.path, "commit": commit})
                return Applied(commit=commit)

    async def _commit(self, path: str, message: str) -> str | None:
        # Every commit would start `git maintenance run --auto`, while the other branches wait for
        # the lock; the user's own next commit runs it instead.
        quick = ("-c", "maintenance.auto=false")
        done = await git(*self.git_identity, *quick, "commit", "--no-verify", "-m", message, "--", path, cwd=self.root)
        # "[main 1a2b3c4] fix(stomper): ...": read here rather than ask git
        # again while the other branches wait for the lock.
        made = _COMMITTED.match(done.out)
        return made.group(1) if made else None

    async def _keep(self, fix: Fix) -> Path:
        kept = self.patches_dir / (fix.path.replace("/", "__") + ".patch")
        await asyncio.to_thread(kept.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(_write, kept, fix.patch)
        return kept


def applied_before(journal: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """From a run's journal, the fixes it began to apply: path -> "applying" record."""
    return {record["path"]: record for record in journal if record.get("event") == "applying"}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
