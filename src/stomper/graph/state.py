"""What flows through the graph.

Nodes return partial updates; the `Annotated` reducers merge the branches'
results, so each file's result is counted exactly once whatever order the
branches finish in.

`FileResult` and `Outcome` live in `stomper.report` and are named here
too: the checkpoints of an older stomper name them by this module.
"""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from stomper.apply import Applier
from stomper.diagnostics import Diagnostic
from stomper.fixers import Fixer
from stomper.integrate import Integration
from stomper.project import Project
from stomper.report import FileResult, Outcome
from stomper.units import Gates
from stomper.verify import Known, Verifier
from stomper.worktree import Worktrees

__all__ = ["BranchState", "FileJob", "FileResult", "Outcome", "RunContext", "RunState"]


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
    batched: str | None = None
    """The blob ruff's fix of this file became in the run's batch (`stomper.graph.batch`), verified with
    the rest of the batch: its branch starts from it instead of running ruff, and fixes what it left."""

    @property
    def unit(self) -> tuple[str, ...]:
        return self.files or (self.path,)


class RunState(TypedDict, total=False):
    jobs: list[FileJob]
    """Every failing file, in path order: with `clean` and `tool_errors`, the graph's input
    (`stomper.graph.jobs.collect`)."""
    clean: list[str]
    """Selected files with nothing to fix."""
    pending: list[FileJob]
    """The files the batch left to a branch of their own, in path order; set once by the `batch` node."""
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
    fixing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    """A turn to run a fixer: `--parallel` of them. The pool holds spare worktrees beyond these
    (`worktree.pool_size`), so that the next file is reset, sealed and looked at while the fixers work."""
    checked: Known = field(default_factory=dict)
    """What the run's first check found in files it vouches for in the snapshot, by (tool, file): a branch's
    first look at its file (its baseline) takes these rather than running the tool again (`jobs.vouched`)."""
    gates: Gates = field(default_factory=Gates)
    """Which units are done: a unit that shares a file with an earlier one waits for it (`stomper.units`)."""
    early: dict[str, asyncio.Future[FileResult]] = field(default_factory=dict)
    """Branches started before the graph, while LangGraph was imported, by path: the graph's `fix_file`
    node waits for its file's instead of starting it again (`stomper.graph.preload`)."""
