"""Is a fixer's edit a fix? Re-run the tools in the worktree and compare.

A change to one file is judged on its scope: the file itself, the files that
import it, directly or through others (mypy checks them: a renamed function
breaks its callers), and the tests that import it (pytest runs only those).
Each tool runs the same way before the first attempt and after every one, so
a diagnostic that was there before cannot pass for one the change made.

An edit is accepted only when it changes something, adds no suppression the
project does not allow (`stomper.suppressions`), removes diagnostics and
introduces none. "The same diagnostic after the edit" follows the edit's own
diff: one on an unchanged line must be where that line went, one on a
rewritten line anywhere in what replaced it (`diagnostics.match`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stomper import explain, sandbox, together
from stomper.diagnostics import Diagnostic, LineMap, match
from stomper.environ import derived
from stomper.errors import ToolError
from stomper.imports import ImportGraph
from stomper.pool import caches_of
from stomper.suppressions import TEST_SPEC, Suppression, added
from stomper.tools import Confine, Tool, run_tools


@dataclass(frozen=True)
class Scope:
    """What a change to `paths` is verified on."""

    paths: tuple[str, ...]
    """The files changed."""
    dependents: tuple[str, ...] = ()
    """Files that import them, directly or not."""
    tests: tuple[str, ...] = ()
    """Test files that import them, directly or not (themselves, when they are tests)."""

    @classmethod
    def union(cls, scopes: Sequence[Scope]) -> Scope:
        """One scope that checks everything each of `scopes` checks."""
        paths = tuple(dict.fromkeys(p for s in scopes for p in s.paths))
        return cls(
            paths=paths,
            dependents=tuple(dict.fromkeys(d for s in scopes for d in s.dependents if d not in paths)),
            tests=tuple(dict.fromkeys(t for s in scopes for t in s.tests)),
        )

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.paths, *self.dependents, *self.tests)))

    def for_tool(self, tool: Tool) -> list[str]:
        if tool.reach == "tests":
            return list(self.tests)
        if tool.reach == "dependents":
            return [*self.paths, *self.dependents]
        return list(self.paths)


Known = Mapping[tuple[str, str], tuple[Diagnostic, ...]]
"""What the tools found in one state of the files, by (tool, file)."""


@dataclass(frozen=True)
class Baseline:
    """What the tools found in a scope, and the text of its files when they found it."""

    scope: Scope
    diagnostics: tuple[Diagnostic, ...]
    texts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    after: Baseline
    new: tuple[Diagnostic, ...] = ()
    gone: tuple[Diagnostic, ...] = ()
    error: str | None = None
    unchanged: bool = False
    suppressions: tuple[Suppression, ...] = ()
    """Suppressions the change adds that the project allows: accepted, reported as suppressed."""
    forbidden: tuple[Suppression, ...] = ()
    """Suppressions the change adds that the project does not allow: the change is no fix."""

    @property
    def fixed(self) -> int:
        return len(self.gone)

    @property
    def accepted(self) -> bool:
        return self.error is None and not self.unchanged and not self.forbidden and not self.new and self.fixed > 0

    def feedback(self) -> str:
        """Why the attempt was rejected, in words an AI can act on."""
        if self.error is not None:
            return f"The tools could not check your change: {self.error}"
        if self.unchanged:
            return "Your change changed nothing."
        if self.forbidden:
            lines = ["Your change silences the tools instead of fixing the code; remove these and fix the problems:"]
            lines += [f"- {s}" for s in self.forbidden]
            if any(s.kind in TEST_SPEC for s in self.forbidden):
                lines += [
                    "A failing test is the specification: do not change what it asserts or the values it "
                    "expects, skip it or delete it. Fix the code it tests so that it passes as written."
                ]
            return "\n".join(lines)
        if self.new:
            lines = ["Your change introduced these problems:"]
            lines += [f"- {d}" for d in self.new]
            return "\n".join(lines)
        return "Your change did not fix any of the problems."

    def reason(self) -> str:
        """Why the attempt was rejected, in the user's words (`stomper.explain`)."""
        if self.error is not None:
            return f"the tools could not check the fix: {self.error}"
        if self.unchanged:
            return "the fix changed nothing"
        if self.forbidden:
            return (
                f"the fix silences the tools instead of fixing the code ({', '.join(str(s) for s in self.forbidden)})"
            )
        if self.new:
            return explain.introduced(self.new)
        return "the fix removed none of the problems"


@dataclass(frozen=True)
class Verifier:
    """Runs the enabled tools in a worktree on the scope of one file's change (or of a batch's, `Scope.union`)."""

    tools: Sequence[Tool]
    executables: Mapping[str, str]
    timeout: float
    graph: ImportGraph = field(default_factory=ImportGraph)
    test_roots: tuple[str, ...] = ()
    """pytest's `testpaths`: only tests there are the project's tests."""
    allow_suppressions: Collection[str] = ()
    all_tests: bool = False
    """Verify with every test of the project (`verify_tests = "all"`), not only those importing the change."""
    bwrap: str | None = None
    """bubblewrap, when the run's agents are confined: the tools then run confined too (they run the fix's code)."""
    _stamps: _Stamps = field(default_factory=lambda: _Stamps(), compare=False, repr=False)

    def scope(self, path: str) -> Scope:
        return Scope(
            paths=(path,),
            dependents=tuple(self.graph.dependents(path)),
            tests=tuple(
                self.graph.all_tests(self.test_roots) if self.all_tests else self.graph.tests(path, self.test_roots)
            ),
        )

    async def reads(self, worktree: Path, scope: Scope) -> frozenset[str]:
        """Every file a change to which could change the verdict on `scope`, as it is in `worktree`.

        ruff judges a file by itself; mypy and pytest by the file and all it
        imports, directly or not (imports the change added included).
        """

        def reach() -> frozenset[str]:
            found = set(scope.paths)
            for tool in self.tools:
                if tool.reach != "file":
                    found |= self.graph.reach(scope.for_tool(tool), worktree, scope.paths)
            return frozenset(found)

        return await asyncio.to_thread(reach)

    async def baseline(self, worktree: Path, scope: Scope, known: Known | None = None) -> Baseline:
        """What the tools find in `scope` now; raises `ToolError` when one cannot run.

        `known`: what the tools found in this very state before, by (tool,
        file); those files are not checked by that tool again. A tool's
        findings in a file do not depend on what other files it was given.
        """
        diagnostics, errors = await self._check(worktree, scope, known or {})
        if errors:
            raise ToolError(f"The tools could not check the file before any change: {errors}")
        return Baseline(scope, diagnostics, await _texts(worktree, scope.files))

    async def verify(self, worktree: Path, before: Baseline) -> Verdict:
        """Judge the worktree as it is now against `before`, on `before`'s scope."""
        scope = before.scope
        texts = await _texts(worktree, scope.files)
        changed = [p for p in scope.files if texts[p] != before.texts.get(p)]
        if not changed:
            return Verdict(after=before, unchanged=True)
        found = [s for p in changed for s in added(p, before.texts.get(p, ""), texts[p], _failing_tests(before, p))]
        allowed = tuple(s for s in found if s.allowed(self.allow_suppressions))
        forbidden = tuple(s for s in found if not s.allowed(self.allow_suppressions))
        if forbidden:
            return Verdict(after=before, forbidden=forbidden)
        diagnostics, errors = await self._check(worktree, scope)
        after = Baseline(scope, diagnostics, texts)
        maps = {p: LineMap.between(before.texts[p].splitlines(), texts[p].splitlines()) for p in changed}
        new, gone = match(before.diagnostics, diagnostics, maps)
        return Verdict(after=after, new=tuple(new), gone=tuple(gone), error=errors or None, suppressions=allowed)

    def _confinement(self, worktree: Path) -> Confine | None:
        """How the tools run in `worktree`: writing it, their scratch and their caches (`caches_of`), no more.

        The caches' directory must exist (`_prepare`): inside, the one it would be made in is read-only.
        """
        bwrap = self.bwrap
        if bwrap is None:
            return None

        def confine(scratch: Path) -> list[str]:
            return sandbox.tool_argv_prefix(bwrap, worktree, (scratch, caches_of(worktree)))

        return confine

    def _prepare(self, worktree: Path, files: Sequence[str]) -> None:
        """Before the tools look: new mtimes for new contents (`_Stamps`), and the directory of their caches."""
        self._stamps.refresh(worktree, files)
        if self.bwrap is not None:
            caches_of(worktree).mkdir(exist_ok=True)

    def covered(self, scope: Scope) -> frozenset[tuple[str, str]]:
        """Each (tool, file) the tools check for `scope`."""
        return frozenset((tool.name, path) for tool in self.tools for path in scope.for_tool(tool))

    async def _check(
        self, worktree: Path, scope: Scope, known: Known | None = None
    ) -> tuple[tuple[Diagnostic, ...], str]:
        known = known or {}
        await asyncio.to_thread(self._prepare, worktree, scope.files)
        env = _worktree_env(worktree)
        confine = self._confinement(worktree)
        todo = {tool.name: [p for p in scope.for_tool(tool) if (tool.name, p) not in known] for tool in self.tools}
        results = await together.gather(
            *(
                run_tools(
                    [tool],
                    todo[tool.name],
                    cwd=worktree,
                    executables=self.executables,
                    timeout=self.timeout,
                    env=env,
                    confine=confine,
                )
                for tool in self.tools
                if todo[tool.name]
            )
        )
        errors = "; ".join(f"{run.tool}: {run.error}" for result in results for run in result.errors)
        found = [d for result in results for d in result.diagnostics]
        found += [d for pair in self.covered(scope) if pair in known for d in known[pair]]
        return tuple(sorted(found)), errors


class _Stamps:
    """Gives every new content of a file a modification time of its own.

    mypy trusts its cache for a file whose size and whole-second mtime are
    what it recorded; a fixer that rewrites a file within the second with as
    many bytes (`-> int` to `-> str`) would be judged on the old content.
    """

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[int, str]] = {}

    def refresh(self, worktree: Path, paths: Sequence[str]) -> None:
        for path in paths:
            full = worktree / path
            try:
                text, mtime = full.read_text("utf-8", "replace"), int(full.stat().st_mtime)
            except OSError:
                continue
            seen = self._seen.get(full)
            if seen is not None and seen[1] != text and mtime <= seen[0]:
                mtime = seen[0] + 1
                os.utime(full, (mtime, mtime))
            self._seen[full] = (mtime, text)


def _failing_tests(before: Baseline, path: str) -> set[str]:
    """The names of the test functions in `path` that failed in `before`."""
    return {
        (d.symbol or "").rpartition("::")[2].partition("[")[0]
        for d in before.diagnostics
        if d.tool == "pytest" and d.code == "failed" and d.path == path
    }


async def _texts(worktree: Path, paths: Sequence[str]) -> dict[str, str]:
    def read(path: str) -> str:
        try:
            return (worktree / path).read_text("utf-8", "replace")
        except OSError:
            return ""

    return await asyncio.to_thread(lambda: {p: read(p) for p in paths})


def _worktree_env(worktree: Path) -> dict[str, str]:
    # Bytecode would show up as new files in the worktree; the worktree's own
    # sources must win over an editable install of the user's checkout; a
    # ruff cache in a worktree is time spent for nothing; and mypy's cache lives
    # where the fixer cannot write it (`pool.caches_of`).
    paths = [str(worktree / "src"), str(worktree)]
    if existing := os.environ.get("PYTHONPATH"):
        paths.append(existing)
    return {
        **derived(dict),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(paths),
        "RUFF_NO_CACHE": "true",
        "MYPY_CACHE_DIR": str(caches_of(worktree) / ".mypy_cache"),
    }


def by_tool_and_file(
    covered: frozenset[tuple[str, str]], diagnostics: Sequence[Diagnostic]
) -> dict[tuple[str, str], tuple[Diagnostic, ...]]:
    """`diagnostics` as `Known`, every pair of `covered` present (with nothing, where nothing was found)."""
    found: dict[tuple[str, str], list[Diagnostic]] = {pair: [] for pair in covered}
    for d in diagnostics:
        if (d.tool, d.path) in found:
            found[(d.tool, d.path)].append(d)
    return {pair: tuple(ds) for pair, ds in found.items()}
