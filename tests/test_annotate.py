"""Inline annotations: GitHub workflow commands and GitLab Code Quality, from stomper check and the library."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import commit_all, stomper, write

from stomper.annotate import github, gitlab
from stomper.diagnostics import Diagnostic

ODD = Diagnostic(
    path="pkg/a,b:c.py", line=3, column=2, tool="mypy", code="misc", message="100% wrong\nsecond line", end_line=3
)


def test_github_escapes_what_would_end_a_property_or_the_message() -> None:
    (line,) = github([ODD]).splitlines()
    assert line == (
        "::error file=pkg/a%2Cb%3Ac.py,line=3,col=2,endLine=3,title=mypy misc::"
        "pkg/a,b:c.py:3:2: misc 100%25 wrong%0Asecond line"
    )


def test_a_diagnostic_without_a_line_annotates_the_file() -> None:
    whole = Diagnostic(path="a.py", line=-1, column=0, tool="mypy", code="error", message="bad module")
    assert github([whole]) == "::error file=a.py,title=mypy error::a.py:-1:0: error bad module\n"
    (issue,) = json.loads(gitlab([whole], {}))
    assert issue["location"] == {"path": "a.py", "lines": {"begin": 1, "end": 1}}


def test_check_prints_github_annotations_and_gitlab_code_quality(repo: Path) -> None:
    write(repo, {"a.py": "import os\n", "b.py": "import sys\n\nx = undefined\n"})
    commit_all(repo)

    done = stomper(repo, "check", "--tools", "ruff", "--output-format", "github")
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "::error file=a.py,line=1,col=8,endLine=1,endColumn=10,title=ruff F401::"
        "a.py:1:8: F401 `os` imported but unused",
        "::error file=b.py,line=1,col=8,endLine=1,endColumn=11,title=ruff F401::"
        "b.py:1:8: F401 `sys` imported but unused",
        "::error file=b.py,line=3,col=5,endLine=3,endColumn=14,title=ruff F821::"
        "b.py:3:5: F821 Undefined name `undefined`",
    ]

    done = stomper(repo, "check", "--tools", "ruff", "--output-format", "gitlab")
    assert done.returncode == 1, done.stderr
    issues = json.loads(done.stdout)
    assert [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues] == [
        ("ruff/F401", "a.py", 1),
        ("ruff/F401", "b.py", 1),
        ("ruff/F821", "b.py", 3),
    ]
    assert all(len(i["fingerprint"]) == 32 for i in issues)
    assert len({i["fingerprint"] for i in issues}) == 3
    # Lines moving does not change an issue's fingerprint, so GitLab sees the same issue.
    write(repo, {"b.py": "# moved\nimport sys\n\nx = undefined\n"})
    moved = json.loads(stomper(repo, "check", "--tools", "ruff", "--output-format", "gitlab").stdout)
    assert [i["fingerprint"] for i in moved] == [i["fingerprint"] for i in issues]


def test_check_refuses_an_unknown_format(repo: Path) -> None:
    write(repo, {"a.py": "X = 1\n"})
    commit_all(repo)
    done = stomper(repo, "check", "--output-format", "sarif")
    assert done.returncode == 2
    assert "'sarif' is not one of 'table', 'json', 'github', 'gitlab'" in done.stderr
