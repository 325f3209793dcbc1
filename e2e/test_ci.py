"""`stomper fix` in CI: SARIF of what remains, one patch of every fix, a branch of one commit per fix."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import commit_all, git, stomper, write
from tests.test_sarif import github_problems

from stomper.config import is_ci

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
    """The checkout's Python files (what is in its git directory is not the checkout's)."""
    found = (p for p in sorted(root.rglob("*.py")) if p.relative_to(root).parts[0] != ".git")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in found}


def where(result: dict[str, Any]) -> tuple[str, str, int]:
    location = result["locations"][0]["physicalLocation"]
    return (location["artifactLocation"]["uri"], result["ruleId"], location["region"]["startLine"])


def apply_fix(text: str, fix: dict[str, Any]) -> str:
    """What a SARIF consumer makes of a fix: its replacements on the analysed file, last first."""
    (change,) = fix["artifactChanges"]
    for r in sorted(change["replacements"], key=lambda r: -r["deletedRegion"]["charOffset"]):
        at, length = r["deletedRegion"]["charOffset"], r["deletedRegion"]["charLength"]
        text = text[:at] + r["insertedContent"]["text"] + text[at + length :]
    return text


def test_sarif_is_of_the_analysed_commit_with_its_verified_fixes(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "stomper.sarif"
    original = files(project)

    done = ci_stomper(project, "fix", "--branch", "stomper/fixes", "--sarif", str(out))

    assert done.returncode == 1, done.stderr
    log = json.loads(out.read_text())
    jsonschema.validate(log, json.loads(SCHEMA.read_text()))
    assert github_problems(log) == []
    results = log["runs"][0]["results"]
    # Everything the analysed commit has, fixed or not, where it is in that commit:
    # c.py's undefined name is on line 6 there (line 5 only once the import is gone).
    assert [where(r) for r in results] == [
        ("pkg/a.py", "ruff/F401", 1),
        ("pkg/b.py", "ruff/F401", 1),
        ("pkg/c.py", "ruff/F401", 1),
        ("pkg/c.py", "ruff/F821", 6),
        ("pkg/d.py", "ruff/F821", 2),
    ]
    assert original["pkg/c.py"].decode().splitlines()[5] == "    return missing"
    fixed = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results if "fixes" in r}
    assert sorted(fixed) == ["pkg/a.py", "pkg/b.py", "pkg/c.py"]
    assert fixed["pkg/c.py"]["ruleId"] == "ruff/F401"  # the undefined name has no fix
    for path, result in fixed.items():
        (fix,) = result["fixes"]
        assert apply_fix(original[path].decode(), fix) == git(project, "show", f"stomper/fixes:{path}")
    prints = [r["partialFingerprints"]["stomper/v1"] for r in results]
    assert len(set(prints)) == len(prints)
    assert prints == [r["partialFingerprints"]["primaryLocationLineHash"] for r in results]
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["ruff/F401"]["fullDescription"]["text"] == "Checks for unused imports."
    assert rules["ruff/F821"]["help"]["markdown"].startswith("## What it does")
    assert rules["ruff/F821"]["helpUri"] == "https://docs.astral.sh/ruff/rules/undefined-name"


def test_fingerprints_survive_a_line_shift_and_regions_follow_it(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "a.py": UNDEFINED, "b.py": UNDEFINED})
    commit_all(repo)
    first = tmp_path / "first.sarif"
    assert ci_stomper(repo, "fix", "--diff", "--sarif", str(first)).returncode == 1
    write(repo, {"a.py": '"""Now with a docstring."""\n\nLIMIT = 3\n\n\n' + UNDEFINED})
    commit_all(repo)
    second = tmp_path / "second.sarif"
    assert ci_stomper(repo, "fix", "--diff", "--sarif", str(second)).returncode == 1

    def prints(path: Path) -> dict[tuple[str, int], str]:
        results = json.loads(path.read_text())["runs"][0]["results"]
        return {where(r)[::2]: r["partialFingerprints"]["stomper/v1"] for r in results}

    before, after = prints(first), prints(second)
    assert list(before) == [("a.py", 2), ("b.py", 2)]
    assert list(after) == [("a.py", 7), ("b.py", 2)]
    assert after[("a.py", 7)] == before[("a.py", 2)]
    assert after[("b.py", 2)] == before[("b.py", 2)]
    # The same problem in another file is another alert.
    assert before[("a.py", 2)] != before[("b.py", 2)]


def test_ci_exit_status_is_the_analysed_commits_even_when_everything_was_fixed(repo: Path, tmp_path: Path) -> None:
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "a.py": UNUSED})
    commit_all(repo)

    done = ci_stomper(repo, "fix", "--branch", "fixes")
    assert done.returncode == 1, done.stderr
    assert "0 remaining" in done.stdout
    assert git(repo, "show", "fixes:a.py") == CLEAN

    # The team whose gate is the fix branch says so.
    gate = stomper(repo, "fix", "--branch", "fixes-2", env={"CI": "true", "STOMPER_CI_EXIT": "fixed"})
    assert gate.returncode == 0, gate.stderr
    # Outside CI the exit status is the fixed tree's, as it always was.
    assert stomper(repo, "fix", "--no-commit").returncode == 0


def test_fix_prints_github_annotations_of_the_analysed_commit(project: Path) -> None:
    done = ci_stomper(project, "fix", "--diff", "--output-format", "github")

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines == [
        "::error file=pkg/a.py,line=1,col=8,endLine=1,endColumn=10,title=ruff F401::"
        "pkg/a.py:1:8: F401 `os` imported but unused (stomper has a verified fix)",
        "::error file=pkg/b.py,line=1,col=8,endLine=1,endColumn=12,title=ruff F401::"
        "pkg/b.py:1:8: F401 `json` imported but unused (stomper has a verified fix)",
        "::error file=pkg/c.py,line=1,col=8,endLine=1,endColumn=10,title=ruff F401::"
        "pkg/c.py:1:8: F401 `os` imported but unused (stomper has a verified fix)",
        "::error file=pkg/c.py,line=6,col=12,endLine=6,endColumn=19,title=ruff F821::"
        "pkg/c.py:6:12: F821 Undefined name `missing`",
        "::error file=pkg/d.py,line=2,col=12,endLine=2,endColumn=19,title=ruff F821::"
        "pkg/d.py:2:12: F821 Undefined name `missing`",
    ]
    assert "diagnostic(s) fixed" in done.stderr  # the summary moved out of the way


def test_fix_writes_a_gitlab_code_quality_report(project: Path) -> None:
    done = ci_stomper(project, "fix", "--diff", "--output-format", "gitlab")

    assert done.returncode == 1, done.stderr
    issues = json.loads(done.stdout)
    assert [(i["location"]["path"], i["check_name"], i["location"]["lines"]["begin"]) for i in issues] == [
        ("pkg/a.py", "ruff/F401", 1),
        ("pkg/b.py", "ruff/F401", 1),
        ("pkg/c.py", "ruff/F401", 1),
        ("pkg/c.py", "ruff/F821", 6),
        ("pkg/d.py", "ruff/F821", 2),
    ]
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    assert {i["severity"] for i in issues} == {"major"}
    assert issues[0]["description"].endswith("(stomper has a verified fix)")


def test_without_the_models_key_ci_falls_back_to_ruff_in_one_line(project: Path) -> None:
    (project / "stomper.toml").write_text('tools = ["ruff"]\nmodel = "openai:gpt-4o-mini"\nfixer = "llm"\n')
    commit_all(project, "use a model")
    env = {"CI": "true", "OPENAI_API_KEY": ""}

    done = stomper(project, "fix", "--branch", "fixes", env=env)

    assert done.returncode == 1, done.stderr
    said = [line for line in done.stderr.splitlines() if "OPENAI_API_KEY" in line]
    assert said == [
        "stomper: no OPENAI_API_KEY in the environment (pull requests from forks get no secrets); "
        "fixing without the model openai:gpt-4o-mini"
    ]
    assert git(project, "show", "fixes:pkg/a.py") == CLEAN  # ruff's fixes are still made


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
