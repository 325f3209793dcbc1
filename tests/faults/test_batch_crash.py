"""Killing stomper, with all its children, while it lands its batch of ruff's fixes; then resuming.

The batch lands through the applier's journal, all its files under one hold
of the lock: each written, then the index staged once, then the branch moved
once to the last of their commits. A kill while the index is being staged
leaves files written but none of them committed (and, had the queue split
the batch, earlier files committed); `stomper fix --resume` must finish the
run with every file committed exactly once and nothing left behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import STOMPER, commit_all, fake_agent, git, write

from tests.faults.killing import git_that_pauses, kill_tree
from tests.faults.test_crash import assert_nothing_left, stomper, wait_for

UNUSED = "import json\nimport sys\n\nprint(sys.argv)\n"
CLEAN = "import sys\n\nprint(sys.argv)\n"


def test_a_kill_while_the_batch_lands_is_resumed_and_nothing_lands_twice(repo: Path, tmp_path: Path) -> None:
    files = [f"pkg/mod{n}.py" for n in range(5)]
    write(repo, {"pkg/__init__.py": "", **dict.fromkeys(files, UNUSED)})
    base = commit_all(repo, "unused imports")
    marker = tmp_path / "paused"
    # The first landing's `update-index` of the checkout's index is stopped holding the index lock.
    env = git_that_pauses(tmp_path / "bin", "index-lock", marker, repo)
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--fixer", "ruff"]
    run = subprocess.Popen(
        argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    wait_for(marker, run)

    kill_tree(run)

    assert git(repo, "rev-list", f"{base}..HEAD") == ""
    written = git(repo, "diff", "HEAD", "--name-only").split()
    assert written, "the kill came before any file was written"
    assert all((repo / p).read_text() == CLEAN for p in written)
    assert all((repo / p).read_text() == UNUSED for p in files if p not in written)

    done = stomper(repo, "fix", "--resume")

    assert done.returncode == 0, done.stdout + done.stderr
    assert all((repo / p).read_text() == CLEAN for p in files)
    commits = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    touched = [git(repo, "show", "--name-only", "--format=", c).split() for c in commits]
    assert sorted(touched) == [[p] for p in files], touched
    assert git(repo, "status", "--porcelain") == ""
    assert_nothing_left(repo)


def test_a_kill_in_a_branch_after_the_batch_is_resumed_with_the_batchs_results_in_the_report(
    repo: Path, tmp_path: Path
) -> None:
    # The batch, done before the graph is built, lands a.py and b.py; c.py's branch is killed in its agent.
    write(repo, {"pkg/__init__.py": "", "pkg/a.py": UNUSED, "pkg/b.py": UNUSED, "pkg/c.py": "value = undefined\n"})
    base = commit_all(repo, "unused imports and an undefined name")
    marker, script = tmp_path / "agent-started", tmp_path / "agent" / "script.json"
    script.parent.mkdir()
    script.write_text(json.dumps({"pkg/c.py": {"mark": str(marker), "hang": True}}))
    agent = fake_agent(script)
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--agent", agent]
    run = subprocess.Popen(
        argv, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    wait_for(marker, run)

    kill_tree(run)

    assert len(git(repo, "rev-list", f"{base}..HEAD").split()) == 2
    script.write_text(json.dumps({"pkg/c.py": {"content": "value = 1\n"}}))
    done = stomper(repo, "fix", "--resume", "--report", str(tmp_path / "report.json"))

    assert done.returncode == 0, done.stdout + done.stderr
    files = {f["path"]: f for f in json.loads((tmp_path / "report.json").read_text())["files"]}
    # The batch's results come back from the graph's checkpoint: not redone, not lost.
    assert {p: (f["outcome"], f["fixers"]) for p, f in files.items()} == {
        "pkg/a.py": ("fixed", ["ruff"]),
        "pkg/b.py": ("fixed", ["ruff"]),
        "pkg/c.py": ("fixed", ["agent"]),
    }
    # The agent's calls, each logged as it ends (the killed one never did): c.py's alone.
    calls = [json.loads(line)["file"] for line in (script.parent / "calls.jsonl").read_text().splitlines()]
    assert calls == ["pkg/c.py"]
    commits = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    touched = [git(repo, "show", "--name-only", "--format=", c).split() for c in commits]
    assert sorted(touched) == [["pkg/a.py"], ["pkg/b.py"], ["pkg/c.py"]]
    assert (repo / "pkg/a.py").read_text() == CLEAN and (repo / "pkg/c.py").read_text() == "value = 1\n"
    assert git(repo, "status", "--porcelain") == ""
    assert_nothing_left(repo)
