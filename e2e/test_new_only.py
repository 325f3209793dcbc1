"""Only what a change introduced: `--new-only --base REF`, and the recorded ratchet of `stomper baseline`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import commit_all, git, stomper, write

UNUSED = "import os\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"


def ci(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stomper(repo, *args, env={"CI": "true"})


@pytest.fixture
def legacy(repo: Path) -> Path:
    """main has old debt in old.py; the branch `pr` adds new.py with a problem of its own."""
    write(repo, {"stomper.toml": 'tools = ["ruff"]\n', "old.py": UNUSED, "also_old.py": UNUSED})
    commit_all(repo, "legacy")
    git(repo, "checkout", "--quiet", "-b", "pr")
    # The pull request also moves the old debt down a line: still old.
    write(repo, {"new.py": UNUSED, "old.py": "# a comment above\n" + UNUSED})
    commit_all(repo, "the pull request")
    return repo


def test_new_only_fixes_and_reports_only_what_the_pull_request_brought(legacy: Path, tmp_path: Path) -> None:
    sarif = tmp_path / "out.sarif"

    done = ci(legacy, "fix", "--new-only", "--base", "main", "--branch", "fixes", "--sarif", str(sarif))

    assert done.returncode == 1, done.stderr
    touched = git(legacy, "log", "--format=", "--name-only", "pr..fixes").split()
    assert touched == ["new.py"]
    assert git(legacy, "show", "fixes:new.py") == CLEAN
    assert git(legacy, "show", "fixes:old.py") == "# a comment above\n" + UNUSED
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results] == ["new.py"]
    # No worktree of the merge base is left behind.
    assert git(legacy, "worktree", "list").count("\n") == 1


def test_without_new_only_the_old_debt_is_fixed_too(legacy: Path) -> None:
    done = ci(legacy, "fix", "--branch", "fixes")
    assert done.returncode == 1, done.stderr
    touched = sorted(git(legacy, "log", "--format=", "--name-only", "pr..fixes").split())
    assert touched == ["also_old.py", "new.py", "old.py"]


def test_a_pull_request_with_only_old_debt_passes_with_new_only(legacy: Path) -> None:
    git(legacy, "checkout", "--quiet", "-b", "docs-only", "main")
    write(legacy, {"README.md": "words\n"})
    commit_all(legacy, "docs")
    assert ci(legacy, "fix", "--new-only", "--base", "main", "--branch", "f").returncode == 0
    assert ci(legacy, "fix", "--branch", "g").returncode == 1


def test_check_new_only_lists_only_the_new_diagnostic(legacy: Path) -> None:
    done = stomper(legacy, "check", "--new-only", "--base", "main", "--format", "json")
    assert done.returncode == 1, done.stderr
    assert [d["path"] for d in json.loads(done.stdout)["diagnostics"]] == ["new.py"]


def test_a_recorded_baseline_leaves_the_old_debt_alone(legacy: Path) -> None:
    git(legacy, "checkout", "--quiet", "main")
    made = stomper(legacy, "baseline")
    assert made.returncode == 0, made.stderr
    assert "recorded 2 diagnostic(s) of 2 file(s) in .stomper-baseline.json" in made.stderr
    recorded = json.loads((legacy / ".stomper-baseline.json").read_text())
    assert recorded["version"] == 1 and len(recorded["fingerprints"]) == 2
    (legacy / ".stomper-baseline.json").rename(legacy.parent / "baseline.json")
    git(legacy, "checkout", "--quiet", "pr")

    done = stomper(legacy, "check", "--baseline", str(legacy.parent / "baseline.json"), "--format", "json")

    assert done.returncode == 1, done.stderr
    assert [d["path"] for d in json.loads(done.stdout)["diagnostics"]] == ["new.py"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--new-only"], "--new-only needs --base REF"),
        (["--base", "main"], "--base is the ref of --new-only"),
        (["--new-only", "--base", "nope"], "--base nope: git knows no such commit"),
        (["--baseline", "missing.json"], "--baseline missing.json: cannot be read"),
    ],
)
def test_bad_new_only_options_are_one_line_and_exit_2(legacy: Path, args: list[str], said: str) -> None:
    done = ci(legacy, "fix", "--diff", *args)
    assert done.returncode == 2
    # The last line says what is wrong (a usage error has click's usage above it).
    assert said in done.stderr.strip().splitlines()[-1], done.stderr
