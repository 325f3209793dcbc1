"""Fixers: what edits a file in its worktree.

A fixer gets a `FixRequest` (the worktree, the file, what is still wrong
with it and, on a retry, why the last attempt was rejected), edits files in
the worktree in place, and says how it went in a `FixOutcome`. It never
applies anything to the user's checkout and never decides whether its edit is
good: verification and retries live in the per-file branch
(`stomper.graph.branch`), for every fixer alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from stomper.diagnostics import Diagnostic


@dataclass(frozen=True)
class Usage:
    """What an attempt cost in model calls (zero for fixers without a model)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost + other.cost,
        )


@dataclass(frozen=True)
class FixRequest:
    """One attempt at one file."""

    worktree: Path
    """The worktree's root: the fixer's working directory."""
    path: str
    """The file to fix, relative to `worktree`, with forward slashes."""
    diagnostics: tuple[Diagnostic, ...]
    """What is still wrong with the file (paths relative to `worktree`)."""
    attempt: int
    """1 for the first attempt of this fixer on this file."""
    max_attempts: int
    feedback: str | None = None
    """Why verification rejected the previous attempt, to be passed on to an AI."""
    files: tuple[str, ...] = ()
    """The work unit's files, `path` first: every file the attempt may edit (`stomper.units`).
    Empty: `path` alone."""

    @property
    def unit(self) -> tuple[str, ...]:
        return self.files or (self.path,)


@dataclass(frozen=True)
class FixOutcome:
    """How an attempt went, before verification."""

    error: str | None = None
    """The attempt failed (agent exit status, unusable reply); said back on a retry."""
    stop: str | None = None
    """No further attempt should be made (e.g. a budget is spent), and why."""
    usage: Usage = field(default_factory=Usage)
    log: str | None = None
    """Where the attempt's output was kept (an agent's stdout and stderr), if it was."""


class Fixer(Protocol):
    """Edits one file in a worktree to remove diagnostics."""

    name: ClassVar[str]
    ai: ClassVar[bool]
    """Uses an AI, so gets `max_attempts` tries with feedback; otherwise one try."""

    @property
    def imports(self) -> tuple[str, ...] | None:
        """The modules `fix` imports the first time it runs, beyond those the fixer imported when made.

        A run imports them on its import thread before it starts any branch
        beside that thread (`stomper.graph.preload`); None when the fixer cannot
        tell, and then no branch starts until the thread is done.
        """

    def handles(self, diagnostic: Diagnostic) -> bool:
        """Whether this fixer can do anything about `diagnostic`."""

    async def fix(self, request: FixRequest) -> FixOutcome:
        """Edit `request.path` inside `request.worktree`.

        Expected failures come back as `FixOutcome.error`; `FixerError` is
        raised only when the fixer cannot work at all (bad configuration, a
        refused API key), and stops the whole run with exit 2.
        """
