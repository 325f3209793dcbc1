"""A fixer that does what no fix may: its change is refused, the user's checkout untouched.

Each case runs the real `stomper fix` on a real repository with the fake
agent (a real executable) scripted to misbehave, then checks the file's
result and that the checkout holds nothing but verified fixes (see
`checkout_state`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_AGENT, STOMPER, commit_all, fake_agent, git, process_gone, write

from stomper import proc
from stomper.fixers import agent
from tests.faults.checkout_state import CheckoutState, assert_only_fixed

TARGET = "pkg/mod.py"
BROKEN = "import os\n\n\ndef value() -> int:\n    return 1\n"
FIXED = "def value() -> int:\n    return 1\n"


def project(repo: Path, extra: dict[str, str] | None = None) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN, "notes.txt": "the user's\n", **(extra or {})})
    commit_all(repo, "broken")


def fix(
    repo: Path, tmp_path: Path, plan: dict[str, dict[str, Any]], *args: str, env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Run stomper fix with the fake agent only and return the report's results by path."""
    script = tmp_path / "agent" / "script.json"
    script.parent.mkdir(exist_ok=True)
    script.write_text(json.dumps(plan))
    report = tmp_path / "report.json"
    agent = fake_agent(script)
    done = subprocess.run(
        [
            str(STOMPER),
            "fix",
            "--tools",
            "ruff",
            "--fixer",
            "agent",
            "--agent",
            agent,
            "--max-attempts",
            "1",
            "--report",
            str(report),
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return {f["path"]: f for f in json.loads(report.read_text())["files"]}


def refused(results: dict[str, dict[str, Any]], detail: str) -> None:
    assert results[TARGET]["outcome"] == "failed", results[TARGET]
    assert detail in results[TARGET]["detail"]


@pytest.mark.parametrize(
    ("step", "detail"),
    [
        ({"content": ""}, f"the fix empties {TARGET}; not applied"),
        ({"content": FIXED, "binary": True}, f"the fix makes {TARGET} a binary file; not applied"),
        ({"symlink": "outside.py"}, f"the fix turns {TARGET} into a symbolic link; not applied"),
        ({"content": FIXED, "also": {"pkg/extra.py": "x = 1\n"}}, "the fix also changed pkg/extra.py; not applied"),
        # Deleted or moved away, the file fails verification before the guard sees it.
        ({"delete": True}, "E902"),
        ({"rename": "pkg/moved.py"}, "E902"),
    ],
    ids=["emptied", "binary", "symlink", "other-file", "deleted", "renamed"],
)
def test_a_change_no_fix_may_make_is_refused(repo: Path, tmp_path: Path, step: dict[str, Any], detail: str) -> None:
    project(repo)
    if "symlink" in step:
        outside = tmp_path / step["symlink"]
        outside.write_text(FIXED)
        step = {"symlink": str(outside)}
    before = CheckoutState.capture(repo)

    refused(fix(repo, tmp_path, {TARGET: step}), detail)

    assert_only_fixed(repo, before)


@pytest.mark.parametrize("points_to", ["/etc/passwd", "../../outside", "../.git/config"])
def test_a_symbolic_link_out_of_the_repository_is_refused_even_with_allow_other_files(
    repo: Path, tmp_path: Path, points_to: str
) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(
        repo,
        tmp_path,
        {TARGET: {"content": FIXED, "links": {"pkg/link": points_to}}},
        env={"STOMPER_ALLOW_OTHER_FILES": "true"},
    )

    refused(results, f"the fix adds a symbolic link pkg/link pointing outside the repository ({points_to})")
    assert_only_fixed(repo, before)


def test_a_symbolic_link_inside_the_repository_is_another_file(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    refused(fix(repo, tmp_path, {TARGET: {"content": FIXED, "links": {"pkg/link": "mod.py"}}}), "also changed pkg/link")

    assert_only_fixed(repo, before)


def test_a_patch_over_max_patch_bytes_is_refused(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(
        repo, tmp_path, {TARGET: {"content": FIXED + "# padding\n" * 50}}, env={"STOMPER_MAX_PATCH_BYTES": "400"}
    )

    refused(results, "-byte patch, more than max_patch_bytes (400); not applied")
    assert_only_fixed(repo, before)


def test_a_change_within_max_patch_bytes_is_applied(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED}}, env={"STOMPER_MAX_PATCH_BYTES": "400"})

    assert results[TARGET]["outcome"] == "fixed"
    assert_only_fixed(repo, before, {TARGET: FIXED})


def test_a_worktree_git_file_aimed_at_the_users_repository_is_caught_before_git_runs_there(
    repo: Path, tmp_path: Path
) -> None:
    # Were `git add --all` run in the worktree now, it would stage the
    # worktree's files in the user's own index.
    project(repo, {"stray.py": "x = 1\n"})
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED, "git_file": f"gitdir: {repo / '.git'}\n"}})

    refused(results, "the fixer changed git's own files (.git (the worktree's own)); not applied")
    assert_only_fixed(repo, before)


def test_a_git_directory_written_in_the_worktree_is_refused(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED, "write_git": {"hooks/post-commit": "#!/bin/sh\n"}}})

    refused(results, "the fixer changed git's own files (.git (the worktree's own)); not applied")
    assert_only_fixed(repo, before)


def test_a_hook_planted_in_the_repository_fails_the_file_and_is_named(repo: Path, tmp_path: Path) -> None:
    project(repo)
    ran = tmp_path / "hook-ran"
    before = CheckoutState.capture(repo)

    results = fix(
        repo,
        tmp_path,
        {TARGET: {"content": FIXED, "git_dir": {"hooks/post-commit": f"#!/bin/sh\ntouch {ran}\n"}}},
    )

    refused(results, "the fixer changed git's own files (.git/hooks); not applied")
    # Nothing was committed, so the planted hook never ran; it is the user's to remove.
    assert not ran.exists()
    assert (repo / ".git" / "hooks" / "post-commit").exists()
    assert_only_fixed(repo, before)


def test_an_edit_the_agent_staged_itself_is_still_thrown_away_when_rejected(repo: Path, tmp_path: Path) -> None:
    # ruff fixes the unused import (verified); the agent then stages an
    # edit that breaks the file. Only ruff's fix may reach the checkout.
    project(repo, {TARGET: "import os\n\nvalue = undefined_name\n"})
    before = CheckoutState.capture(repo)

    results = fix(
        repo,
        tmp_path,
        {TARGET: {"content": "value = undefined_name\nimport sys\n", "stage": True}},
        "--fixer",
        "auto",
    )

    assert results[TARGET]["outcome"] == "partial", results[TARGET]
    assert_only_fixed(repo, before, {TARGET: "\nvalue = undefined_name\n"})


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_an_edit_the_agent_staged_and_hid_from_git_is_not_what_lands(repo: Path, tmp_path: Path, flag: str) -> None:
    # The agent stages an edit the tools would refuse, marks its index entry so
    # that git takes the file for unchanged, then writes a fix the tools accept.
    # What is verified is the file; what lands must be the same bytes.
    project(repo)
    before = CheckoutState.capture(repo)
    hidden = "import sys\n\n\ndef value() -> int:\n    return 2\n"

    results = fix(repo, tmp_path, {TARGET: {"hide": {"content": hidden, "flag": flag}, "content": FIXED}})

    assert results[TARGET]["outcome"] == "fixed", results[TARGET]
    assert_only_fixed(repo, before, {TARGET: FIXED})


def test_an_agent_flooding_its_output_is_drained_and_its_last_words_reported(repo: Path, tmp_path: Path) -> None:
    project(repo, {"pkg/other.py": BROKEN})
    before = CheckoutState.capture(repo)

    results = fix(
        repo,
        tmp_path,
        {
            TARGET: {"flood_mb": 50, "content": FIXED},
            "pkg/other.py": {"flood_mb": 50, "say": "gave up: out of ideas", "exit": 3},
        },
    )

    assert results[TARGET]["outcome"] == "fixed"
    assert results["pkg/other.py"]["outcome"] == "failed"
    assert (
        results["pkg/other.py"]["detail"] == "1 attempt failed: the agent exited with status 3: gave up: out of ideas"
    )
    assert_only_fixed(repo, before, {TARGET: FIXED})


async def test_of_a_50_mib_flood_only_the_agents_bound_is_kept(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({TARGET: {"flood_mb": 50}}))

    done = await proc.run(
        [sys.executable, str(FAKE_AGENT), str(script), TARGET],
        cwd=tmp_path,
        stdin=b"the prompt",
        timeout=60,
        max_output=agent.MAX_OUTPUT,
    )

    assert done.returncode == 0
    assert (len(done.stdout), done.truncated) == (agent.MAX_OUTPUT, True)
    assert done.stdout.startswith(b"flood flood ")


def test_children_an_agent_leaves_behind_are_killed(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"spawn_sleeper": True, "content": FIXED}})

    assert results[TARGET]["outcome"] == "fixed"
    assert process_gone(int((tmp_path / "agent" / "sleeper.pid").read_text()))
    assert_only_fixed(repo, before, {TARGET: FIXED})


def test_an_agent_that_never_exits_is_killed_with_its_children(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"spawn_sleeper": True, "hang": True}}, env={"STOMPER_AGENT__TIMEOUT": "1"})

    refused(results, "ran longer than 1s and was killed")
    assert process_gone(int((tmp_path / "agent" / "sleeper.pid").read_text()))
    assert_only_fixed(repo, before)
    assert git(repo, "status", "--porcelain") == ""


def test_ruff_emptying_a_file_of_unused_imports_is_a_fix(repo: Path, tmp_path: Path) -> None:
    project(repo, {TARGET: "import os\n"})
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {}, "--fixer", "ruff")

    assert results[TARGET]["outcome"] == "fixed"
    assert_only_fixed(repo, before, {TARGET: ""})


def test_a_file_written_beside_the_worktree_is_no_part_of_the_fix_and_is_removed(repo: Path, tmp_path: Path) -> None:
    project(repo)
    before = CheckoutState.capture(repo)

    results = fix(repo, tmp_path, {TARGET: {"content": FIXED, "also": {"../stray.py": "x = 1\n"}}})

    assert results[TARGET]["outcome"] == "fixed"
    assert_only_fixed(repo, before, {TARGET: FIXED})
    assert not list((repo / ".git" / "stomper").rglob("stray.py"))
