"""The deterministic fixer: ruff's own fixes, no AI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from stomper import proc
from stomper.diagnostics import Diagnostic
from stomper.fixers import FixOutcome, FixRequest

TIMEOUT = 120.0


class RuffFixer:
    name: ClassVar[str] = "ruff"
    ai: ClassVar[bool] = False
    imports: ClassVar[tuple[str, ...]] = ()  # it runs ruff as a process

    def __init__(self, executable: str, *, unsafe_fixes: bool = False, format: bool = False) -> None:
        self.executable = executable
        self.unsafe_fixes = unsafe_fixes
        self.format = format

    def handles(self, diagnostic: Diagnostic) -> bool:
        return diagnostic.tool == "ruff" and (diagnostic.fixable or self.unsafe_fixes)

    async def fix(self, request: FixRequest) -> FixOutcome:
        return await self.fix_files(request.worktree, [request.path])

    async def fix_files(self, worktree: Path, paths: Sequence[str]) -> FixOutcome:
        """ruff's fixes for every one of `paths` in one run (`stomper.graph.batch`), as `fix` makes them for one."""
        unsafe = ["--unsafe-fixes"] if self.unsafe_fixes else []
        commands = [["check", "--fix", "--exit-zero", "--quiet", *unsafe, "--", *paths]]
        if self.format:
            commands.append(["format", "--quiet", "--", *paths])
        for args in commands:
            done = await proc.run([self.executable, *args], cwd=worktree, timeout=TIMEOUT)
            if done.returncode != 0:
                said = done.err.strip().splitlines()[-1:] or ["no output"]
                return FixOutcome(error=f"ruff {args[0]} exited with status {done.returncode}: {said[0][:300]}")
        return FixOutcome()
