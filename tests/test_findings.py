"""Stable ids and verified fixes as replacements on the analysed file, against git's own patches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from stomper.diagnostics import Diagnostic
from stomper.findings import file_fix, resolved, stable_ids
from stomper.graph.state import FileResult
from stomper.sarif import FileFix


def git_patch(tmp_path: Path, before: bytes, after: bytes) -> str:
    """The patch git itself writes for a change of a.py, as a fix's patch is."""
    repo = tmp_path / "r"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True).stdout  # noqa: E731
    run("init", "-q")
    (repo / "a.py").write_bytes(before)
    run("add", "a.py")
    run("commit", "-qm", "x")
    (repo / "a.py").write_bytes(after)
    return run("diff", "--no-color").decode()


def applied(text: str, fix: FileFix) -> str:
    for r in sorted(fix.replacements, key=lambda r: -r.offset):
        text = text[: r.offset] + r.inserted + text[r.offset + r.length :]
    return text


LONG = "".join(f"x{n} = {n}\n" for n in range(40))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("import os\nimport sys\n\nprint(sys.argv)\n", "import sys\n\nprint(sys.argv)\n"),
        # Two hunks, far apart.
        ("import os\n" + LONG + "y = 1  \n", LONG + "y = 1\n"),
        # Lines added only.
        (LONG, "import sys\n" + LONG + "z = 2\n"),
        # No newline at the end, before or after.
        ("a = 1\nb = 2", "a = 1\nb = 3"),
        ("a = 1\nb = 2", "a = 1\nb = 2\n"),
        ("a = 1\nb = 2\n", "a = 1\nb = 2"),
        # Carriage returns and non-ASCII text: offsets count characters.
        ("s = 'é'\r\nimport os\r\n", "s = 'é'\r\n"),
        ("", "import sys\n"),
    ],
)
def test_a_fix_is_exact_replacements_on_the_analysed_file(tmp_path: Path, before: str, after: str) -> None:
    patch = git_patch(tmp_path, before.encode(), after.encode())
    fix = file_fix(patch, "a.py", before, "d")
    assert fix is not None
    assert applied(before, fix) == after


def test_a_patch_that_does_not_match_the_file_gives_no_fix(tmp_path: Path) -> None:
    patch = git_patch(tmp_path, b"a = 1\nb = 2\n", b"a = 1\nb = 3\n")
    assert file_fix(patch, "a.py", "a = 1\nb = 9\n", "d") is None
    assert file_fix(patch, "other.py", "a = 1\nb = 2\n", "d") is None


def d(line: int, code: str = "F821", message: str = "Undefined name `x`", path: str = "a.py") -> Diagnostic:
    return Diagnostic(path=path, line=line, column=1, tool="ruff", code=code, message=message)


def test_ids_follow_the_text_not_the_line_and_tell_twins_apart() -> None:
    first = stable_ids([d(1), d(3)], {"a.py": "x\ny = 1\nx\n"})
    moved = stable_ids([d(2), d(5)], {"a.py": "# new\nx\ny = 1\n\nx\n"})
    assert sorted(first.values()) == sorted(moved.values())
    assert first[d(1)].endswith(":1") and first[d(3)].endswith(":2")
    other_file = stable_ids([d(1, path="b.py")], {"b.py": "x\n"})
    assert other_file[d(1, path="b.py")] != first[d(1)]


def test_resolved_are_those_a_fix_made_go_even_when_lines_moved() -> None:
    before = (d(1, "F401", "`os` imported but unused"), d(6), d(7, "E501", "Line too long (130 > 88)"))
    result = FileResult(
        path="a.py",
        outcome="partial",
        before=before,
        remaining=(d(5), d(6, "E501", "Line too long (130 > 88)")),
        patch="diff --git a/a.py b/a.py\n",
    )
    assert resolved(result) == [before[0]]
    assert resolved(FileResult(path="a.py", outcome="failed", before=before, remaining=before)) == []
