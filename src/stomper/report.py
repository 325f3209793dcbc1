"""The outcome of a fix run and of each of its files, and their JSON form (`stomper fix --report`).

The JSON is the same, key for key and in the same order, for the same inputs
whatever order the branches finished in: files are sorted by path, and what
differs between two runs of the same inputs (run id, timings, commit ids)
sits apart under "run".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from stomper.diagnostics import Diagnostic
from stomper.fixers import Usage
from stomper.graph.steps import StepTimes

REPORT_VERSION = 1

Outcome = Literal["fixed", "partial", "suppressed", "failed", "skipped"]
"""suppressed: applied, and part of it is a suppression the project allows (`allow_suppressions`)."""


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
    steps: StepTimes = field(default_factory=StepTimes)
    """Where `seconds` went, step by step; their sum is at most `seconds`."""
    files: tuple[str, ...] = ()
    """The files of the work unit the branch fixed, `path` first (empty in a result from before units)."""

    @property
    def unit(self) -> tuple[str, ...]:
        return self.files or (self.path,)

    @property
    def applied(self) -> bool:
        return self.outcome in ("fixed", "partial", "suppressed")

    @property
    def fixed(self) -> int:
        return max(len(self.before) - len(self.remaining) - len(self.suppressed), 0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FileResult:
        """A result as `file_json` (and the journal, with its commit and seconds) wrote it; keys an older
        stomper did not write are taken as empty."""
        model = data.get("model") or {}
        return cls(
            path=str(data["path"]),
            outcome=data["outcome"],
            before=tuple(Diagnostic.from_json(d) for d in data.get("diagnostics_before", [])),
            remaining=tuple(Diagnostic.from_json(d) for d in data.get("diagnostics_remaining", [])),
            attempts=int(data.get("attempts", 0)),
            fixers=tuple(data.get("fixers", [])),
            detail=str(data.get("detail", "")),
            hint=str(data.get("hint", "")),
            seconds=float(data.get("seconds", 0.0)),
            usage=Usage(**model),
            commit=data.get("commit"),
            kept_patch=data.get("kept_patch"),
            suppressed=tuple(Diagnostic.from_json(d) for d in data.get("diagnostics_suppressed", [])),
            # A unit of the file alone is written as [path] and held as (): the same unit.
            files=() if tuple(data.get("files", [])) in ((), (str(data["path"]),)) else tuple(data["files"]),
        )


@dataclass(frozen=True)
class RunReport:
    run_id: str
    mode: str
    files: tuple[FileResult, ...]
    """One result per failing file, sorted by path."""
    clean: tuple[str, ...] = ()
    tool_errors: tuple[str, ...] = ()
    attempts: int = 0
    """Fixer attempts made, over all files."""
    seconds: float = 0.0
    combined_checks: int = 0
    """Checks of fixes put together by the integration queue (`stomper.integrate`)."""

    @property
    def remaining(self) -> int:
        return sum(len(f.remaining) for f in self.files)

    @property
    def fixed(self) -> int:
        return sum(f.fixed for f in self.files if f.applied)

    @property
    def suppressed(self) -> int:
        """Diagnostics silenced by a suppression the project allows, not fixed."""
        return sum(len(f.suppressed) for f in self.files if f.applied)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for f in self.files:
            total += f.usage
        return total

    @property
    def steps(self) -> StepTimes:
        """Each step's seconds summed over the files: branches run side by side, so the sum can exceed `seconds`."""
        total: dict[str, float] = {}
        for f in self.files:
            for step in fields(f.steps):
                total[step.name] = total.get(step.name, 0.0) + getattr(f.steps, step.name)
        return StepTimes(**total)

    @property
    def ok(self) -> bool:
        """Every selected diagnostic fixed (or suppressed as the project allows) and no tool failed."""
        return not self.tool_errors and all(
            f.outcome in ("fixed", "suppressed") and not f.remaining for f in self.files
        )

    def to_json(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "version": REPORT_VERSION,
            "mode": self.mode,
            "files": [file_json(f) for f in self.files],
            "tool_errors": list(self.tool_errors),
            "summary": {
                "files_failing": len(self.files),
                "files_fixed": sum(f.outcome == "fixed" for f in self.files),
                "files_partial": sum(f.outcome == "partial" for f in self.files),
                "files_suppressed": sum(f.outcome == "suppressed" for f in self.files),
                "files_failed": sum(f.outcome == "failed" for f in self.files),
                "files_skipped": sum(f.outcome == "skipped" for f in self.files),
                "files_clean": len(self.clean),
                "diagnostics_before": sum(len(f.before) for f in self.files),
                "diagnostics_fixed": self.fixed,
                "diagnostics_suppressed": self.suppressed,
                "diagnostics_remaining": self.remaining,
                "attempts": self.attempts,
                "model": _usage_json(usage),
            },
            "run": {
                "id": self.run_id,
                "seconds": round(self.seconds, 3),
                "steps": self.steps.to_json(),
                "combined_checks": self.combined_checks,
                "files": {
                    f.path: {
                        "seconds": round(f.seconds, 3),
                        "steps": f.steps.to_json(),
                        "commit": f.commit,
                        "agent_output": list(f.agent_output),
                    }
                    for f in self.files
                },
            },
        }


def file_json(f: FileResult) -> dict[str, Any]:
    """One file's result, as the report and the run's journal write it."""
    return {
        "path": f.path,
        "files": list(f.unit),
        "outcome": f.outcome,
        "detail": f.detail,
        "hint": f.hint,
        "attempts": f.attempts,
        "fixers": list(f.fixers),
        "diagnostics_before": [d.to_json() for d in f.before],
        "diagnostics_remaining": [d.to_json() for d in f.remaining],
        "diagnostics_suppressed": [d.to_json() for d in f.suppressed],
        "kept_patch": f.kept_patch,
        "model": _usage_json(f.usage),
    }


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "calls": usage.calls,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cost": round(usage.cost, 6),
    }
