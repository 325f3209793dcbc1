"""mypy's JSON lines, as the real mypy writes them (tests/data/tools/mypy*)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.mypy import Mypy
from tests.tools.conftest import Capture


def mypy(path: str, line: int, column: int, end: tuple[int, int | None], code: str, message: str) -> Diagnostic:
    return Diagnostic(
        tool="mypy", path=path, line=line, column=column, end_line=end[0], end_column=end[1], code=code, message=message
    )


# mypy writes 0-based columns; stomper's are 1-based like ruff's, end exclusive.
TYPE_ERRORS = [
    mypy(
        "dir with space/my mod.py",
        3,
        14,
        (3, 20),
        "assignment",
        'Incompatible types in assignment (expression has type "str", variable has type "int")',
    ),
    mypy(
        "pkg/mod.py",
        2,
        1,
        (2, 2),
        "import-not-found",
        'Cannot find implementation or library stub for module named "nothere"'
        " (See https://mypy.readthedocs.io/en/stable/running_mypy.html#missing-imports)",
    ),
    mypy("pkg/mod.py", 6, 12, (6, 22), "return-value", 'Incompatible return value type (got "str", expected "int")'),
    # mypy gives this one no column (-1): it is the line's.
    mypy("pkg/mod.py", 15, 1, (15, None), "unused-ignore", 'Unused "type: ignore" comment'),
]


@pytest.mark.parametrize("case", ["mypy", "mypy-pretty"])
def test_parse_real_output(captured: Callable[[str], Capture], case: str) -> None:
    capture = captured(case)

    assert Mypy().parse(capture.done, capture.scratch, capture.cwd, capture.paths) == TYPE_ERRORS


def test_syntax_error_is_a_diagnostic_not_a_crash(captured: Callable[[str], Capture]) -> None:
    capture = captured("mypy-syntax")
    assert capture.done.returncode == 2

    found = Mypy().parse(capture.done, capture.scratch, capture.cwd, capture.paths)

    # A blocking error stops mypy: pkg/mod.py's errors are not reported at all.
    assert found == [
        mypy("broken.py", 1, 8, (1, 9), "syntax", "Expected a parameter or the end of the parameter list"),
        mypy("broken.py", 1, 9, (1, 10), "syntax", "Expected `)`, found newline"),
    ]


def test_notes_alone_are_not_diagnostics(tmp_path: Path) -> None:
    note = (
        b'{"file": "a.py", "line": 1, "column": 0, "message": "Revealed type is \\"int\\"",'
        b' "hint": null, "code": "misc", "severity": "note"}\n'
    )
    done = Completed(argv=("mypy",), returncode=0, stdout=note, stderr=b"", seconds=0.0)

    assert Mypy().parse(done, tmp_path, tmp_path, ["a.py"]) == []


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr"),
    [
        (2, b"", b"mypy: can't read file 'a.py': No such file or directory\n"),
        (2, b"a.py: error: Duplicate module named 'a'\n", b""),
        (1, b'{"file": "a.py", "line": "one"}\n', b""),
        # Exit 1 says mypy found errors; none readable is not "clean".
        (1, b"a.py:1: error: something in the text format\n", b""),
    ],
    ids=["cannot-read-file", "blocking-text-error", "bad-json-line", "errors-but-none-readable"],
)
def test_unreadable_output_is_a_tool_error(tmp_path: Path, returncode: int, stdout: bytes, stderr: bytes) -> None:
    done = Completed(argv=("mypy",), returncode=returncode, stdout=stdout, stderr=stderr, seconds=0.0)

    with pytest.raises(ToolError, match=r"^mypy "):
        Mypy().parse(done, tmp_path, tmp_path, ["a.py"])
