"""ruff's JSON, as the real ruff writes it (tests/data/tools/ruff)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.ruff import Ruff
from tests.tools.conftest import Capture


def ruff(path: str, line: int, column: int, end: tuple[int, int], code: str, message: str, fixable: bool) -> Diagnostic:
    return Diagnostic(
        tool="ruff",
        path=path,
        line=line,
        column=column,
        end_line=end[0],
        end_column=end[1],
        code=code,
        message=message,
        fixable=fixable,
    )


def test_parse_real_output(captured: Callable[[str], Capture]) -> None:
    capture = captured("ruff")

    found = Ruff().parse(capture.done, capture.scratch, capture.cwd, capture.paths)

    assert found == [
        ruff(
            "broken.py", 1, 7, (1, 8), "invalid-syntax", "Expected a parameter or the end of the parameter list", False
        ),
        ruff("broken.py", 1, 8, (2, 1), "invalid-syntax", "Expected `)`, found newline", False),
        ruff("dir with space/my mod.py", 1, 8, (1, 11), "F401", "`sys` imported but unused", True),
        ruff("pkg/mod.py", 1, 1, (2, 15), "I001", "Import block is un-sorted or un-formatted", True),
        ruff("pkg/mod.py", 2, 8, (2, 15), "F401", "`nothere` imported but unused", True),
        # An unsafe fix is not one stomper's check calls fixable.
        ruff("pkg/mod.py", 10, 13, (10, 17), "E711", "Comparison to `None` should be `cond is None`", False),
        ruff("pkg/mod.py", 11, 16, (11, 30), "F821", "Undefined name `undefined_name`", False),
    ]


def test_clean_run_is_no_diagnostics(tmp_path: Path) -> None:
    done = Completed(argv=("ruff",), returncode=0, stdout=b"[]", stderr=b"", seconds=0.0)

    assert Ruff().parse(done, tmp_path, tmp_path, ["a.py"]) == []


@pytest.mark.parametrize(
    ("returncode", "stdout"),
    [
        (1, b"error: Failed to parse pyproject.toml"),
        (0, b'{"not": "a list"}'),
        (1, b'[{"filename": "a.py"}]'),
        # Exit 1 says ruff found something; nothing readable is not "clean".
        (1, b""),
    ],
    ids=["not-json", "not-a-list", "missing-fields", "findings-but-no-output"],
)
def test_unreadable_output_is_a_tool_error(tmp_path: Path, returncode: int, stdout: bytes) -> None:
    done = Completed(argv=("ruff",), returncode=returncode, stdout=stdout, stderr=b"", seconds=0.0)

    with pytest.raises(ToolError, match=r"^ruff "):
        Ruff().parse(done, tmp_path, tmp_path, ["a.py"])
