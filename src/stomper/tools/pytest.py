"""pytest, read through a JUnit XML report written to a private directory."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.paths import Reach, relative, test_files

_REPORT = "junit.xml"
_FRAME = re.compile(r"^(?P<path>[^\s:][^:\n]*\.pyi?):(?P<line>\d+): ", re.M)
"""Where a traceback entry is, as pytest writes it: `src/pkg/calc.py:9: in parse`, `tests/t.py:5: AssertionError`."""
MAX_DETAIL = 8000
"""Characters of a failure's traceback kept: its end, where the exception was raised."""


class Pytest:
    name: ClassVar[str] = "pytest"
    executable: ClassVar[str] = "pytest"
    # 1: tests failed, 2: collection errors (reported in the XML), 5: no tests.
    ok_returncodes: ClassVar[frozenset[int]] = frozenset({0, 1, 2, 5})
    # Only the tests that import a changed module can be changed by it.
    reach: ClassVar[Reach] = "tests"

    def select(self, paths: Sequence[str], root: Path) -> list[str]:
        return test_files(paths)

    def own_selection(self, root: Path) -> list[str] | None:
        # No arguments: pytest collects what the project says (testpaths, python_files, norecursedirs).
        return []

    def command(self, paths: Sequence[str], scratch: Path) -> list[str]:
        return [
            "-q",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            "-o",
            "junit_family=xunit1",
            f"--junitxml={scratch / _REPORT}",
            *(["--", *paths] if paths else []),
        ]

    def parse(self, done: Completed, scratch: Path, cwd: Path, paths: Sequence[str]) -> list[Diagnostic]:
        report = scratch / _REPORT
        try:
            root = ET.parse(report).getroot()
        except (OSError, ET.ParseError) as exc:
            raise ToolError(f"pytest wrote no readable report (exit {done.returncode}): {exc}") from None
        diagnostics = []
        for case in root.iter("testcase"):
            problem = case.find("failure")
            code = "failed"
            if problem is None:
                problem, code = case.find("error"), "error"
            if problem is None:
                continue
            name = case.get("name", "")
            path = _given_path(case.get("file") or _module_path(case.get("classname") or name), paths)
            # xunit1 writes the 0-based line of the test function.
            line = int(case.get("line", "-1")) + 1
            summary = _reason(problem).splitlines()
            text = problem.text or ""
            diagnostics.append(
                Diagnostic(
                    tool="pytest",
                    path=relative(path, cwd),
                    line=max(line, 1),
                    column=1,
                    code=code,
                    message=f"{name}: {summary[0] if summary else code}"[:500],
                    symbol=_test_id(case),
                    related=_frames(text, cwd),
                    detail=text if len(text) <= MAX_DETAIL else "...\n" + text[-MAX_DETAIL:],
                )
            )
        return diagnostics


def _frames(text: str, cwd: Path) -> tuple[str, ...]:
    """The files of a traceback's entries, in its order (the test first), relative to `cwd`, each once."""
    return tuple(dict.fromkeys(relative(hit["path"], cwd) for hit in _FRAME.finditer(text)))


def _reason(problem: ET.Element) -> str:
    message = (problem.get("message") or "").strip()
    if message == "collection failure":
        # The reason is the exception pytest printed last, on its `E` lines.
        raised = [line[1:].strip() for line in (problem.text or "").splitlines() if line.startswith("E ")]
        message = raised[-1] if raised else message
    return message or (problem.text or "").strip()


def _given_path(reported: str, paths: Sequence[str]) -> str:
    """The path we gave pytest for `reported`, which pytest wrote relative to its rootdir."""
    matches = [p for p in paths if p == reported or p.endswith("/" + reported)]
    return matches[0] if len(matches) == 1 else reported


def _module_path(dotted: str) -> str:
    return dotted.replace(".", "/") + ".py"


def _test_id(case: ET.Element) -> str:
    return f"{case.get('classname', '')}::{case.get('name', '')}"
