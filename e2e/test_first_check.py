"""A branch's first look at its file is the run's first check, when that check saw exactly the snapshot.

ruff judges a file by itself: what the run's first check found in a failing
file is what ruff would find in that file in a worktree of the snapshot, so
the branch does not run ruff again before its fixer. A `ruff` in front of
the real one logs where it runs and on what; the tests count the runs in
stomper's worktrees. When the checkout changed while the tools looked at it,
the check is no guide and each branch looks for itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from conftest import commit_all, git, stomper, write
from e2e.invariant import assert_gate_kept, check

REAL_RUFF = Path(sys.executable).with_name("ruff")
BROKEN = "def value() -> int:\n    return undefined_name\n"
FILES = [f"pkg/mod{n}.py" for n in range(3)]


def logging_ruff(tmp_path: Path, repo: Path, *, edit_on_first: bool = False) -> tuple[dict[str, str], Path]:
    """An environment whose `ruff` logs (cwd, argv) as a JSON line, then runs the real ruff.

    `edit_on_first`: the first ruff run in the checkout itself also changes
    `notes.txt` there, as a user's editor would while the tools run.
    """
    bin_dir, log = tmp_path / "bin", tmp_path / "ruff-calls.jsonl"
    bin_dir.mkdir()
    edit = (
        f"if os.getcwd() == {str(repo)!r} and not os.path.exists({str(log)!r}):\n"
        f"    open(os.path.join({str(repo)!r}, 'notes.txt'), 'a').write('edited meanwhile\\n')\n"
        if edit_on_first
        else ""
    )
    (bin_dir / "ruff").write_text(
        f"#!{sys.executable}\nimport json, os, sys\n{edit}"
        f"with open({str(log)!r}, 'a') as log:\n    log.write(json.dumps([os.getcwd(), sys.argv[1:]]) + '\\n')\n"
        f"os.execv({str(REAL_RUFF)!r}, [{str(REAL_RUFF)!r}, *sys.argv[1:]])\n"
    )
    (bin_dir / "ruff").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def checks_in_worktrees(log: Path, repo: Path) -> dict[str, int]:
    """How often ruff checked each of FILES alone in one of stomper's worktrees: a branch's checks.

    (Not the checkout's, not a `--fix`, not the report's last check of all of them together.)
    """
    counts = dict.fromkeys(FILES, 0)
    for cwd, argv in (json.loads(line) for line in log.read_text().splitlines()):
        named = [p for p in FILES if p in argv]
        if cwd.startswith(str(repo / ".git" / "stomper" / "worktrees")) and argv[:1] == ["check"] and len(named) == 1:
            counts[named[0]] += 1
    return counts


def fix(repo: Path, tmp_path: Path, env: dict[str, str]) -> Path:
    """`stomper fix` with an agent that fixes the file; the path of its report."""
    agent = tmp_path / "agent.sh"
    agent.write_text("#!/bin/sh\nsed -i 's/undefined_name/0/' \"$1\"\n")
    agent.chmod(0o755)
    report = tmp_path / "report.json"
    argv = ["fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff", "--report", str(report)]
    done = stomper(repo, *argv, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return report


def test_each_branch_takes_its_files_findings_from_the_runs_first_check(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "notes.txt": "", **dict.fromkeys(FILES, BROKEN)})
    commit_all(repo)
    before = check(repo, "--tools", "ruff")
    env, log = logging_ruff(tmp_path, repo)

    report = fix(repo, tmp_path, env)

    # Once each, after its fix: the findings before it were the run's first check's.
    assert checks_in_worktrees(log, repo) == dict.fromkeys(FILES, 1)
    assert all("undefined_name" not in (repo / p).read_text() for p in FILES)
    assert git(repo, "status", "--porcelain") == ""
    assert_gate_kept(repo, before, report, "--tools", "ruff")


def test_a_checkout_that_changed_while_the_tools_ran_is_no_guide(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/__init__.py": "", "notes.txt": "", **dict.fromkeys(FILES, BROKEN)})
    commit_all(repo)
    env, log = logging_ruff(tmp_path, repo, edit_on_first=True)

    report = fix(repo, tmp_path, env)

    # Before and after the fix: the branch looked for itself.
    assert checks_in_worktrees(log, repo) == dict.fromkeys(FILES, 2)
    assert all("undefined_name" not in (repo / p).read_text() for p in FILES)
    assert (repo / "notes.txt").read_text() == "edited meanwhile\n"
    assert [f["outcome"] for f in json.loads(report.read_text())["files"]] == ["fixed"] * len(FILES)
