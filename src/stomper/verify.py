"""Is a fixer's edit a fix? Re-run the tools in the worktree and compare.

An edit is accepted only when it removes diagnostics and introduces none.
Diagnostics are compared by fingerprint (tool, code, message, text of the
flagged line), not by line number, so that an edit that shifts lines does not
look like it fixed one problem and introduced another. Failing tests count
wherever they are: a fix in one file must not break a test in another.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import explain
from stomper.diagnostics import Diagnostic, fingerprint
from stomper.tools import Tool, run_tools

Print = tuple[str, str, str, str]


@dataclass(frozen=True)
class Baseline:
    """Diagnostics, each with its fingerprint taken on the text it was found on."""

    items: tuple[tuple[Diagnostic, Print], ...]

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d, _ in self.items)

    @property
    def prints(self) -> Counter[Print]:
        return Counter(p for _, p in self.items)


@dataclass(frozen=True)
class Verdict:
    after: Baseline
    new: tuple[Diagnostic, ...]
    fixed: int
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return self.error is None and not self.new and self.fixed > 0

    def feedback(self) -> str:
        """Why the attempt was rejected, in words an AI can act on."""
        if self.error is not None:
            return f"The tools could not check your change: {self.error}"
        if self.new:
            lines = ["Your change introduced these problems:"]
            lines += [f"- {d}" for d in self.new]
            return "\n".join(lines)
        return "Your change did not fix any of the problems."

    def reason(self) -> str:
        """Why the attempt was rejected, in the user's words (`stomper.explain`)."""
        if self.error is not None:
            return f"the tools could not check the fix: {self.error}"
        if self.new:
            return explain.introduced(self.new)
        return "the fix removed none of the problems"


@dataclass(frozen=True)
class Verifier:
    """Runs the enabled tools in a worktree, on the one file and on the tests."""

    tools: Sequence[Tool]
    executables: Mapping[str, str]
    test_paths: Sequence[str]
    timeout: float

    async def baseline(self, worktree: Path, path: str, diagnostics: Iterable[Diagnostic]) -> Baseline:
        relevant = [d for d in diagnostics if _relevant(d, path)]
        texts = await asyncio.to_thread(lambda: {p: _lines(worktree / p) for p in {d.path for d in relevant}})
        return Baseline(tuple((d, fingerprint(d, texts[d.path])) for d in sorted(relevant)))

    async def verify(self, worktree: Path, path: str, before: Baseline) -> Verdict:
        file_tools = [t for t in self.tools if t.name != "pytest"]
        test_tools = [t for t in self.tools if t.name == "pytest"]
        env = _worktree_env(worktree)
        on_file, on_tests = await asyncio.gather(
            run_tools(file_tools, [path], cwd=worktree, executables=self.executables, timeout=self.timeout, env=env),
            run_tools(
                test_tools, self.test_paths, cwd=worktree, executables=self.executables, timeout=self.timeout, env=env
            ),
        )
        errors = [f"{run.tool}: {run.error}" for run in (*on_file.errors, *on_tests.errors)]
        found = [d for d in (*on_file.diagnostics, *on_tests.diagnostics) if _relevant(d, path)]
        after = await self.baseline(worktree, path, found)
        unexplained = after.prints - before.prints
        new = []
        for diag, mark in after.items:
            if unexplained[mark] > 0:
                unexplained[mark] -= 1
                new.append(diag)
        fixed = sum((before.prints - after.prints).values())
        return Verdict(after=after, new=tuple(new), fixed=fixed, error="; ".join(errors) or None)


def _relevant(diag: Diagnostic, path: str) -> bool:
    return diag.path == path or diag.tool == "pytest"


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8", "replace").splitlines()
    except OSError:
        return []


def _worktree_env(worktree: Path) -> dict[str, str]:
    # Bytecode would show up as new files in the worktree; the worktree's own
    # sources must win over an editable install of the user's checkout; and a
    # ruff cache in a worktree that is about to go is time spent for nothing.
    paths = [str(worktree / "src"), str(worktree)]
    if existing := os.environ.get("PYTHONPATH"):
        paths.append(existing)
    return {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(paths),
        "RUFF_NO_CACHE": "true",
    }
