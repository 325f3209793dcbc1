"""Diagnostics: their order, their JSON, and the identity that survives edits elsewhere in a file."""

from __future__ import annotations

from stomper.diagnostics import CheckResult, Diagnostic, LineMap, ToolRun, identity, match


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


def test_identity_ignores_positions_and_reading_hints() -> None:
    moved = diag("a.py", 4, code="assignment", message="defined on line 2, see a.py:2:5")
    original = diag("a.py", 2, code="assignment", message="defined on line 4, see a.py:4:5")
    hinted = diag(
        "a.py", 2, code="import-not-found", message='No module "x" (See https://mypy.rtd.io/x#missing-imports)'
    )

    assert identity(original) == identity(moved)
    assert identity(original) != identity(diag("a.py", 2, code="other"))
    assert identity(hinted) == identity(diag("a.py", 9, code="import-not-found", message='No module "x"'))


def test_pytest_failures_are_identified_by_test_id() -> None:
    first = diag("t.py", 5, tool="pytest", code="failed", message="test_a: assert 1 == 2", symbol="t::test_a")
    later = diag("t.py", 9, tool="pytest", code="failed", message="test_a: assert 1 == 3", symbol="t::test_a")

    assert match([first], [later], {"t.py": LineMap.between(["x"] * 5, ["y"] * 9)}) == ([], [])


def test_a_diagnostic_on_an_unchanged_line_must_be_where_the_diff_moved_it() -> None:
    before = ["import os", "import sys", "x = undefined_a", "y = undefined_b"]
    after = ["x = undefined_a", "y = undefined_b"]
    line_map = LineMap.between(before, after)
    old = [diag("m.py", 1, code="F401"), diag("m.py", 3, code="F821"), diag("m.py", 4, code="F821")]

    new, gone = match(old, [diag("m.py", 1, code="F821"), diag("m.py", 2, code="F821")], {"m.py": line_map})
    assert (new, [(d.line, d.code) for d in gone]) == ([], [(1, "F401")])
    # The same code and message on a line where none was before is a new one, not an old one moved.
    new, gone = match(old[1:2], [diag("m.py", 2, code="F821")], {"m.py": line_map})
    assert [d.line for d in new] == [2]
    assert [d.line for d in gone] == [3]


def test_a_diagnostic_left_on_a_rewritten_line_is_the_old_one() -> None:
    before = ["def f(n):", '    return u"%s items" % n']
    after = ["def f(n):", '    return "%s items" % n']
    old = [diag("m.py", 2, tool="ruff", code="UP025"), diag("m.py", 2, tool="ruff", code="UP031")]

    new, gone = match(old, [diag("m.py", 2, tool="ruff", code="UP031")], {"m.py": LineMap.between(before, after)})

    assert new == []
    assert [d.code for d in gone] == ["UP025"]


def test_repeats_are_counted_and_a_file_without_a_map_did_not_change() -> None:
    twice = [diag("a.py", 1, code="F401"), diag("a.py", 2, code="F401")]

    new, gone = match(twice, [*twice, diag("a.py", 3, code="F401")], {})

    assert [d.line for d in new] == [3]
    assert gone == []
