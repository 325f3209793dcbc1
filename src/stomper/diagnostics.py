"""What the quality tools report, in one shape for all of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem a quality tool found at one place.

    `path` is relative to the repository root, with forward slashes; lines
    and columns count from 1.
    """

    path: str
    line: int
    column: int
    tool: str
    code: str
    message: str
    end_line: int | None = None
    end_column: int | None = None
    fixable: bool = False
    """The tool itself can fix it (ruff's safe fixes)."""
    symbol: str | None = None
    """A name the tool gives the problem that no fix changes, e.g. a pytest test id."""
    url: str | None = field(default=None, compare=False)
    """Where the tool documents this code, when it says (ruff does)."""

    def __str__(self) -> str:
        """`path:line:column: [tool code] message`, as the prompts, the feedback and the hook say it."""
        return f"{self.path}:{self.line}:{self.column}: [{self.tool} {self.code}] {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(**data)


@dataclass(frozen=True)
class ToolRun:
    """The outcome of one run of one tool: its diagnostics, or why it failed."""

    tool: str
    diagnostics: tuple[Diagnostic, ...] = ()
    error: str | None = None
    executable: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class CheckResult:
    """Everything one check found, diagnostics sorted by place."""

    runs: tuple[ToolRun, ...] = field(default_factory=tuple)
    skipped: tuple[str, ...] = ()
    """Selected files left unchecked, each with why: "skipped a.py: it is a binary file"."""

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return sorted(d for run in self.runs for d in run.diagnostics)

    @property
    def errors(self) -> list[ToolRun]:
        return [run for run in self.runs if run.error is not None]

    def by_path(self) -> dict[str, list[Diagnostic]]:
        grouped: dict[str, list[Diagnostic]] = {}
        for diag in self.diagnostics:
            grouped.setdefault(diag.path, []).append(diag)
        return grouped


_NUMBERS = re.compile(r"\bline \d+\b|:\d+(:\d+)?\b")
_SPACE = re.compile(r"\s+")


def fingerprint(diag: Diagnostic, source_lines: Sequence[str]) -> tuple[str, str, str, str]:
    """Identity of a diagnostic that survives edits elsewhere in the file.

    Line numbers move when a fixer adds or removes lines above a problem, so
    two diagnostics are the same when tool, code, message (with positions
    blanked) and the text of the flagged line agree.
    """
    message = diag.symbol or _SPACE.sub(" ", _NUMBERS.sub("#", diag.message)).strip()
    text = source_lines[diag.line - 1].strip() if 0 < diag.line <= len(source_lines) else ""
    return (diag.tool, diag.code, message, text)
