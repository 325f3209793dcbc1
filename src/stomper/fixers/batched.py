"""ruff's part of a file's fix, as the run's batch made it (`stomper.graph.batch`).

A file the batch fixed with ruff but that still needs an AI goes to its own
branch with the blob ruff's fix made of it (`FileJob.batched`). There this
fixer stands in for the ruff fixer: it writes that blob into the worktree
instead of running ruff again, and the branch verifies it on the file's own
scope, as it verifies ruff's fix, before the AI fixers take on what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

from stomper.diagnostics import Diagnostic
from stomper.fixers import Fixer, FixOutcome, FixRequest
from stomper.gitops import git


class FromBatch:
    name: ClassVar[str] = "ruff"
    ai: ClassVar[bool] = False
    imports: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ruff: Fixer, blob: str) -> None:
        self.ruff = ruff
        self.blob = blob

    def handles(self, diagnostic: Diagnostic) -> bool:
        return self.ruff.handles(diagnostic)

    async def fix(self, request: FixRequest) -> FixOutcome:
        # As git's checkout would write it: the batch's worktree had it so, before `git add` stored it.
        done = await git(
            "cat-file", "--filters", f"--path={request.path}", self.blob, cwd=request.worktree, check=False
        )
        if done.returncode != 0:
            return FixOutcome(error=f"ruff's fix of {request.path} in the run's batch is gone from git's objects")
        await asyncio.to_thread((request.worktree / request.path).write_bytes, done.stdout)
        return FixOutcome()


def fixers_for(batched: str | None, fixers: Sequence[Fixer]) -> tuple[Fixer, ...]:
    """The fixer chain of a file's branch: ruff replaced by what the batch made of the file, if it did."""
    if batched is None:
        return tuple(fixers)
    return tuple(FromBatch(f, batched) if f.name == "ruff" and not f.ai else f for f in fixers)
