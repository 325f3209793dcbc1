"""What flows through the graph.

Nodes return partial updates; the `Annotated` reducers merge the branches'
results, so each file's result is counted exactly once whatever order the
branches finish in.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypedDict

from stomper.apply import Applier
from stomper.diagnostics import Diagnostic
from stomper.fixers import Fixer, Usage
from stomper.graph.steps import StepTimes
from stomper.integrate import Integration
from stomper.project import Project
from stomper.units import Gates
from stomper.verify import Verifier
from stomper.worktree import Worktrees

Outcome = Literal["fixed", "partial", "suppressed", "failed", "skipped"]
"""suppressed: applied, and part of it is a suppression the project allows (`allow_suppressions`)."""


@dataclass(frozen=True)
class FileJob:
    """One work unit (a failing file and the files its failures run through), as the fan-out hands it to its branch."""

    index: int
    path: str
    diagnostics: tuple[Diagnostic, ...]
    """What the tools found in the unit's files."""
    files: tuple[str, ...] = ()
    """The unit's files (`stomper.units`), `path` first: every file the fix may change. Empty: `path` alone."""
    after: tuple[str, ...] = ()
    """The `path`s of earlier jobs that share a file with this one: it starts once they are done,
    from the state with their fixes landed (`stomper.units`)."""

    @property
    def unit(self) -> tuple[str, ...]:
        return self.files or (self.path,)


@dataclass(frozen=True)
class FileResult:
    """How one file's branch ended."""

    path: str
    outcome: Outcome
    before: tuple[Diagnostic, ...]
    remaining: tuple[Diagnostic, ...]
    attempts: int = 0
    fixers: tuple[str, ...] = ()
    detail: str = ""
    """Why the file is not (all) fixed, in the user's words."""
    hint: str = ""
    """What the user can do about what is left."""
    seconds: float = 0.0
    usage: Usage = field(default_factory=Usage)
    commit: str | None = None
    patch: str | None = None
    """The applied (or, with --diff, proposed) change as git wrote it."""
    kept_patch: str | None = None
    """Where a verified patch that could not be applied was saved."""
    agent_output: tuple[str, ...] = ()
    """Where each agent attempt's output was kept, in attempt order."""
    suppressed: tuple[Diagnostic, ...] = ()
    """Diagnostics the applied change silenced with an allowed suppression rather than fixed."""
    files: tuple[str, ...] = ()
    """The files of the unit the branch fixed, `path` first (empty in a result from before units)."""
    steps: StepTimes = field(default_factory=StepTimes)
    """Where `seconds` went, step by step; their sum is at most `seconds`."""

    @property
    def unit(self) -> tuple[str, ...]:
        return self.files or (self.path,)

    @property
    def applied(self) -> bool:
        return self.outcome in ("fixed", "partial", "suppressed")

    @property
    def fixed(self) -> int:
        return max(len(self.before) - len(self.remaining) - len(self.suppressed), 0)


class RunState(TypedDict, total=False):
    jobs: list[FileJob]
    """Every failing file, in path order: with `clean` and `tool_errors`, the graph's input
    (`stomper.graph.jobs.collect`)."""
    clean: list[str]
    """Selected files with nothing to fix."""
    tool_errors: list[str]
    results: Annotated[list[FileResult], operator.add]
    attempts: Annotated[int, operator.add]
    report: Any
    """The `stomper.report.RunReport`, set once by the deferred `report` node."""


class BranchState(TypedDict):
    job: FileJob


@dataclass(frozen=True)
class RunContext:
    """Everything a run shares that is not state: built before the graph runs, never checkpointed."""

    project: Project
    run_id: str
    fixers: tuple[Fixer, ...]
    verifier: Verifier
    worktrees: Worktrees
    applier: Applier
    queue: Integration
    """Where verified fixes are combined and checked together before the applier lands them."""
    gates: Gates = field(default_factory=Gates)
    """Which units are done: a unit that shares a file with an earlier one waits for it (`stomper.units`)."""
