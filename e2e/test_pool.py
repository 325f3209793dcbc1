"""One worktree fixing file after file (`--parallel 1`): what the first file's agent left is gone for the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit_all, fake_agent, git, stomper, write


@pytest.mark.parametrize(
    "mess",
    [
        {"also": {"pkg/stray.py": "x = 1\n", "build.log": "ignored\n"}},
        {"git_file": "gitdir: /nowhere\n"},
        {"also": {"pkg/b.py": "def b() -> int:\n    return 2\n"}, "stage": True},
    ],
    ids=["stray-files", "git-file", "staged-other-file"],
)
def test_the_next_file_starts_as_in_a_new_worktree(repo: Path, tmp_path: Path, mess: dict[str, object]) -> None:
    write(
        repo,
        {
            ".gitignore": "*.log\n",
            "pkg/__init__.py": "",
            "pkg/a.py": "def a() -> int:\n    return undefined_a\n",
            "pkg/b.py": "def b() -> int:\n    return undefined_b\n",
        },
    )
    base = commit_all(repo)
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "pkg/a.py": {"content": "def a() -> int:\n    return 1\n", **mess},
                "pkg/b.py": {"content": "def b() -> int:\n    return 2\n"},
            }
        )
    )
    agent = fake_agent(plan)
    done = stomper(repo, "fix", "--parallel", "1", "--tools", "ruff", "--fixer", "agent", "--agent", agent)

    calls = [json.loads(line)["file"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls[0] == "pkg/a.py" and "pkg/b.py" in calls, calls
    assert "fixed pkg/b.py" in done.stdout + done.stderr, done
    assert git(repo, "rev-list", "--count", f"{base}..HEAD").strip() == "1", done
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["pkg/b.py"]
    assert (repo / "pkg" / "b.py").read_text() == "def b() -> int:\n    return 2\n"
    assert not (repo / "pkg" / "stray.py").exists() and not (repo / "build.log").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
