"""`stomper fix` in CI: SARIF of what remains, one patch of every fix, a branch of one commit per fix."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from conftest import commit_all, git, stomper, write

from stomper.ci import is_ci

SCHEMA = Path(__file__).resolve().parents[1] / "tests" / "data" / "sarif-schema-2.1.0.json"

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"
UNDEFINED = "def value() -> int:\n    return missing\n"


def ci_stomper(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """stomper as a CI job runs it: CI=true in the environment."""
    return stomper(repo, *args, env={"CI": "true"})


@pytest.fixture
def project(repo: Path) -> Path:
    """Two files ruff fixes, one it fixes in part, one it cannot fix, one clean; all committed."""
    write(
        repo,
        {
            "stomper.toml": 'tools = ["ruff"]\n',
            "pkg/a.py": UNUSED,
            "pkg/b.py": "import json\n" + CLEAN,
            "pkg/c.py": UNUSED + UNDEFINED,
            "pkg/d.py": UNDEFINED,
            "pkg/ok.py": CLEAN,
        },
    )
    commit_all(repo, "project")
    return repo


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def test_sarif_holds_what_remains_and_validates(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "stomper.sarif"

    done = ci_stomper(project, "fix", "--sarif", str(out))

    assert done.returncode == 1, done.stderr
    log = json.loads(out.read_text())
    jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    results = log["runs"][0]["results"]
    where = [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]) for r in results]
    assert where == [("pkg/c.py", "ruff/F821"), ("pkg/d.py", "ruff/F821")]
    # c.py lost its unused import: the undefined name is where it is now, one line up.
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert log["runs"][0]["invocations"] == [{"executionSuccessful": True}]


def test_branch_holds_one_commit_per_fixed_file_and_the_checkout_is_untouched(project: Path) -> None:
    head = git(project, "rev-parse", "HEAD")
    before = files(project)
    (project / "untracked.txt").write_text("mine\n")

    done = ci_stomper(project, "fix", "--branch", "stomper/fixes")

    assert done.returncode == 1, done.stderr
    assert "branch stomper/fixes: 3 commit(s)" in done.stderr
    assert git(project, "rev-parse", "HEAD") == head
    assert git(project, "branch", "--show-current") == "main\n"
    assert files(project) == before
    assert git(project, "status", "--porcelain") == "?? untracked.txt\n"
    assert git(project, "diff", "--cached") == ""
    commits = git(project, "rev-list", "--reverse", "main..stomper/fixes").split()
    assert len(commits) == 3
    touched = [git(project, "show", "--format=", "--name-only", c) for c in commits]
    assert touched == ["pkg/a.py\n", "pkg/b.py\n", "pkg/c.py\n"]
    subjects = git(project, "log", "--format=%s", "main..stomper/fixes").splitlines()
    assert subjects == [f"fix(stomper): resolve ruff F401 in pkg/{n}.py" for n in "cba"]
    assert git(project, "show", "stomper/fixes:pkg/a.py") == CLEAN
    assert git(project, "show", "stomper/fixes:pkg/c.py") == CLEAN + UNDEFINED
    assert git(project, "rev-parse", "stomper/fixes~3") == head
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=project, check=True, capture_output=True)

    again = ci_stomper(project, "fix", "--branch", "stomper/fixes")
    assert again.returncode == 2
    assert "stomper: error: --branch stomper/fixes: the branch exists already" in again.stderr


def test_the_patch_applies_to_the_original_tree_and_gives_what_a_normal_run_gives(
    project: Path, tmp_path: Path
) -> None:
    patch = tmp_path / "fixes.patch"
    normal = tmp_path / "normal"
    shutil.copytree(project, normal)
    original = files(project)

    done = ci_stomper(project, "fix", "--diff", "--patch", str(patch))
    assert done.returncode == 1, done.stderr
    assert files(project) == original  # --diff changes nothing
    assert ci_stomper(normal, "fix").returncode == 1

    subprocess.run(["git", "apply", "--check", str(patch)], cwd=project, check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=project, check=True)
    assert files(project) == files(normal)
    assert files(project)["pkg/a.py"] == CLEAN.encode()


def test_nothing_to_fix_makes_no_branch_and_an_empty_patch(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "ok.py": CLEAN})
    commit_all(repo)
    patch = tmp_path / "fixes.patch"

    done = ci_stomper(repo, "fix", "--branch", "fixes", "--patch", str(patch))

    assert done.returncode == 0, done.stderr
    assert "branch fixes: not created, there is no fix to commit" in done.stderr
    assert git(repo, "branch", "--list") == "* main\n"
    assert patch.read_bytes() == b""


def test_a_bad_branch_name_is_refused_before_the_run(project: Path) -> None:
    done = ci_stomper(project, "fix", "--branch", "no..dots")
    assert done.returncode == 2
    assert done.stderr.strip() == "stomper: error: --branch no..dots: not a valid branch name"
    assert git(project, "log", "--format=%s") == "project\n"


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("TRUE", True), ("1", True), ("false", False), ("", False)]
)
def test_ci_is_read_from_the_environment(value: str, expected: bool) -> None:
    assert is_ci({"CI": value}) is expected
