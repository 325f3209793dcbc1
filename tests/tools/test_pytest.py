"""pytest's JUnit XML (xunit1), as the real pytest writes it (tests/data/tools/pytest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stomper.diagnostics import Diagnostic
from stomper.errors import ToolError
from stomper.proc import Completed
from stomper.tools.pytest import Pytest
from tests.tools.conftest import Capture


def failure(path: str, line: int, code: str, message: str, symbol: str) -> Diagnostic:
    return Diagnostic(tool="pytest", path=path, line=line, column=1, code=code, message=message, symbol=symbol)


def test_parse_real_report(captured: Callable[[str], Capture]) -> None:
    capture = captured("pytest")

    found = Pytest().parse(capture.done, capture.scratch, capture.cwd, capture.paths)

    # Lines are those of the `def`; a module that fails to import has none.
    assert found == [
        failure(
            "tests/test_broken.py",
            1,
            "error",
            "tests.test_broken: ModuleNotFoundError: No module named 'nothere_at_all'",
            "::tests.test_broken",
        ),
        failure("tests/test_a.py", 8, "failed", "test_fail: assert (1 + 1) == 3", "tests.test_a::test_fail"),
        failure(
            "tests/test_a.py",
            17,
            "error",
            'test_fixture_error: failed on setup with "RuntimeError: fixture exploded"',
            "tests.test_a::test_fixture_error",
        ),
        failure(
            "tests/test_a.py",
            22,
            "failed",
            "test_method: AssertionError: letters differ",
            "tests.test_a.TestGroup::test_method",
        ),
        failure(
            "tests/dir with space/test_spaced.py",
            1,
            "failed",
            "test_spaced: ValueError: bad value",
            "tests.dir with space.test_spaced::test_spaced",
        ),
    ]


def test_paths_reported_below_another_rootdir_are_mapped_back(tmp_path: Path) -> None:
    # Without a config file pytest's rootdir is the common ancestor of the
    # files it is given, and it writes paths relative to that.
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="test_one" name="test_x" file="test_one.py" line="4">'
        '<failure message="assert False">text</failure></testcase></testsuite></testsuites>'
    )
    done = Completed(argv=("pytest",), returncode=1, stdout=b"", stderr=b"", seconds=0.0)

    found = Pytest().parse(done, tmp_path, tmp_path, ["tests/unit/test_one.py"])

    assert found == [failure("tests/unit/test_one.py", 5, "failed", "test_x: assert False", "test_one::test_x")]


def test_no_report_is_a_tool_error(tmp_path: Path) -> None:
    done = Completed(argv=("pytest",), returncode=1, stdout=b"", stderr=b"", seconds=0.0)

    with pytest.raises(ToolError, match=r"^pytest wrote no readable report"):
        Pytest().parse(done, tmp_path, tmp_path, ["test_a.py"])


def test_garbled_report_is_a_tool_error(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text("<testsuites><testcase")
    done = Completed(argv=("pytest",), returncode=1, stdout=b"", stderr=b"", seconds=0.0)

    with pytest.raises(ToolError, match=r"^pytest wrote no readable report"):
        Pytest().parse(done, tmp_path, tmp_path, ["test_a.py"])
