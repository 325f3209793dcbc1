"""What the quality tools report, in one shape for all of them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    related: tuple[str, ...] = field(default=(), compare=False)
    """Other files the problem runs through, as the tool named them (relative to where it ran):
    the files of a failing test's traceback entries, in pytest's order."""
    detail: str = field(default="", compare=False)
    """What the tool said beyond the message: a failing test's traceback."""

    def __str__(self) -> str:
        """`path:line:column: [tool code] message`, as the prompts, the feedback and the hook say it."""
        return f"{self.path}:{self.line}:{self.column}: [{self.tool} {self.code}] {self.message}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # What the fixers are shown, not part of the documented shape (docs/json-schema.md).
        del data["related"], data["detail"]
        return data

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
# mypy attaches "(See https://...#missing-imports)" to the first such error of a run only.
_HINT = re.compile(r"\s*\(See https?://[^)]*\)")
_SPACE = re.compile(r"\s+")

Identity = tuple[str, str, str]


def identity(diag: Diagnostic) -> Identity:
    """What makes two diagnostics the same problem, wherever it sits.

    A pytest failure is its test id; anything else is tool, code and message,
    with positions and the tools' reading hints taken out.
    """
    if diag.symbol:
        return (diag.tool, "", diag.symbol)
    message = _SPACE.sub(" ", _NUMBERS.sub("#", _HINT.sub("", diag.message))).strip()
    return (diag.tool, diag.code, message)


def fingerprint(diag: Diagnostic, source_lines: Sequence[str]) -> tuple[str, str, str, str]:
    """A diagnostic's stable id across analyses: tool, code, message (positions blanked), flagged line's text.

    For ids that must not move when lines do (SARIF's fingerprints, `--baseline`);
    the verifier matches through the edit's diff instead (`match`), which a fix
    that rewrites the flagged line does not fool.
    """
    message = diag.symbol or _SPACE.sub(" ", _NUMBERS.sub("#", diag.message)).strip()
    text = source_lines[diag.line - 1].strip() if 0 < diag.line <= len(source_lines) else ""
    return (diag.tool, diag.code, message, text)


@dataclass(frozen=True)
class LineMap:
    """Where the lines of one file went through an edit, from the edit's own diff."""

    moved: Mapping[int, int]
    """Each unchanged line (1-based) before the edit, to its line after it."""
    hunks: tuple[tuple[int, int, int, int], ...]
    """Each changed region: lines [start, end) before it became lines [start, end) after it."""
    shift: int = 0
    """Lines added minus lines removed: where a line past the end of the file went."""

    @classmethod
    def between(cls, before: Sequence[str], after: Sequence[str]) -> LineMap:
        moved: dict[int, int] = {}
        hunks = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
            if op == "equal":
                moved.update((i1 + k + 1, j1 + k + 1) for k in range(i2 - i1))
            else:
                hunks.append((i1 + 1, i2 + 1, j1 + 1, j2 + 1))
        return cls(moved=moved, hunks=tuple(hunks), shift=len(after) - len(before))

    def exact(self, line: int) -> int | None:
        """Where an unchanged line went; None for a line the edit changed."""
        if line in self.moved:
            return self.moved[line]
        if any(start <= line < max(end, start + 1) for start, end, _, _ in self.hunks):
            return None
        return line + self.shift

    def region(self, line: int) -> range:
        """The lines after the edit that a changed line may have become."""
        for start, end, after_start, after_end in self.hunks:
            if start <= line < max(end, start + 1):
                # A deleted region has no lines of its own: what it held may
                # now be reported on the line after it.
                return range(after_start, max(after_end, after_start + 1))
        return range(0)


def match(
    before: Iterable[Diagnostic], after: Iterable[Diagnostic], maps: Mapping[str, LineMap]
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """(new, gone): diagnostics after an edit that were not there before, and those the edit removed.

    A diagnostic is the same one after the edit when its identity agrees and
    its line is where the edit's diff moved the old one (an unchanged line), or
    inside the region the diff rewrote (a changed line). A file without a map
    did not change. A pytest failure is the same failure wherever its test moved.
    """
    pool: dict[tuple[str, Identity], list[Diagnostic]] = {}
    for diag in sorted(before):
        pool.setdefault((diag.path, identity(diag)), []).append(diag)
    unmatched = sorted(after)

    def take(fits: Callable[[Diagnostic, Diagnostic], bool]) -> None:
        nonlocal unmatched
        left = []
        for diag in unmatched:
            candidates = pool.get((diag.path, identity(diag)), [])
            found = next((old for old in candidates if fits(old, diag)), None)
            if found is None:
                left.append(diag)
            else:
                candidates.remove(found)
        unmatched = left

    def exact(old: Diagnostic, new: Diagnostic) -> bool:
        line_map = maps.get(old.path)
        return (old.line if line_map is None else line_map.exact(old.line)) == new.line

    def rewritten(old: Diagnostic, new: Diagnostic) -> bool:
        line_map = maps.get(old.path)
        return line_map is not None and new.line in line_map.region(old.line)

    take(exact)
    take(rewritten)
    take(lambda old, new: old.symbol is not None)
    gone = sorted(d for candidates in pool.values() for d in candidates)
    return unmatched, gone
