"""Diagnostics: their order, their JSON, and the identity that survives edits elsewhere in a file."""

from __future__ import annotations

from stomper.diagnostics import CheckResult, Diagnostic, ToolRun, fingerprint
from stomper.verify import Baseline


def diag(
    path: str, line: int, tool: str = "mypy", code: str = "misc", message: str = "m", symbol: str | None = None
) -> Diagnostic:
    return Diagnostic(path=path, line=line, column=1, tool=tool, code=code, message=message, symbol=symbol)


def test_check_result_sorts_by_place_and_groups_by_file() -> None:
    result = CheckResult(
        runs=(
            ToolRun(tool="mypy", diagnostics=(diag("b.py", 3), diag("a.py", 10))),
            ToolRun(tool="ruff", diagnostics=(diag("a.py", 2, tool="ruff"),)),
            ToolRun(tool="pytest", error="pytest exited with status 3: boom"),
        )
    )

    assert [(d.path, d.line) for d in result.diagnostics] == [("a.py", 2), ("a.py", 10), ("b.py", 3)]
    assert list(result.by_path()) == ["a.py", "b.py"]
    assert [run.tool for run in result.errors] == ["pytest"]


def test_json_round_trip() -> None:
    original = Diagnostic(
        path="a b/c.py",
        line=3,
        column=4,
        tool="ruff",
        code="F401",
        message="`os` imported but unused",
        end_line=3,
        end_column=6,
        fixable=True,
    )

    assert Diagnostic.from_json(original.to_json()) == original


def test_fingerprint_survives_lines_moving() -> None:
    before = ["import os", "x: int = 'a'"]
    after = ["", "", "import os", "x: int = 'a'"]
    moved = diag("a.py", 4, code="assignment", message="defined on line 2, see a.py:2:5")
    original = diag("a.py", 2, code="assignment", message="defined on line 4, see a.py:4:5")

    assert fingerprint(original, before) == fingerprint(moved, after)
    assert fingerprint(original, before) != fingerprint(diag("a.py", 2, code="other"), before)
    assert fingerprint(original, before) != fingerprint(original, ["import os", "x: int = 'b'"])


def test_pytest_failures_are_identified_by_test_id() -> None:
    first = diag("t.py", 5, tool="pytest", code="failed", message="test_a: assert 1 == 2", symbol="t::test_a")
    later = diag("t.py", 5, tool="pytest", code="failed", message="test_a: assert 1 == 3", symbol="t::test_a")

    assert fingerprint(first, ["", "", "", "", "def test_a():"]) == fingerprint(
        later, ["", "", "", "", "def test_a():"]
    )


def test_fingerprints_count_repeats() -> None:
    lines = ["import os", "import os"]
    twice = [diag("a.py", 1, code="F401"), diag("a.py", 2, code="F401")]
    prints = Baseline(tuple((d, fingerprint(d, lines)) for d in twice)).prints

    assert sum(prints.values()) == 2
    assert len(prints) == 1
    # A line the file no longer has still gives a fingerprint.
    assert fingerprint(diag("gone.py", 7), []) == fingerprint(diag("gone.py", 9), [])
