"""One worktree fixing file after file (`--parallel 1`): what the first file's agent left is gone for the next."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import commit_all, fake_agent, git, stomper, stray_worktrees, write


def project(repo: Path, tmp_path: Path, b: str, plan: dict[str, object]) -> tuple[str, Path]:
    """pkg/a.py failing and pkg/b.py holding `b`, committed; the commit, and the agent's script `plan`."""
    files = {".gitignore": "*.log\n", "pkg/__init__.py": "", "pkg/a.py": "def a() -> int:\n    return undefined_a\n"}
    write(repo, {**files, "pkg/b.py": b})
    script = tmp_path / "plan.json"
    script.write_text(json.dumps(plan))
    return commit_all(repo), script


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
    base, plan = project(
        repo,
        tmp_path,
        "def b() -> int:\n    return undefined_b\n",
        {
            "pkg/a.py": {"content": "def a() -> int:\n    return 1\n", **mess},
            "pkg/b.py": {"content": "def b() -> int:\n    return 2\n"},
        },
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


def _gits(trace: Path) -> list[str]:
    """Each git command git's trace shows, past stomper's `-c` settings; the trace emptied."""
    found = [re.sub(r"^(-c \S+ )*", "", m[1]) for m in re.finditer(r"trace: built-in: git (.*)", trace.read_text())]
    trace.write_text("")
    return found


def test_the_next_run_takes_back_the_worktree_the_last_run_kept(repo: Path, tmp_path: Path) -> None:
    base, plan = project(
        repo,
        tmp_path,
        "def b() -> int:\n    return 2\n",
        {
            "pkg/a.py": {"content": "def a() -> int:\n    return 1\n", "also": {"build.log": "left\n"}},
            "pkg/b.py": {"content": "def b() -> int:\n    return 3\n"},
        },
    )
    trace = tmp_path / "trace"
    env = {"GIT_TRACE": str(trace)}
    args = ("fix", "--tools", "ruff", "--fixer", "agent", "--agent", fake_agent(plan))
    state = repo / ".git" / "stomper"

    done = stomper(repo, *args, env=env)
    assert done.returncode == 0 and "fixed pkg/a.py" in done.stdout + done.stderr, done
    first = _gits(trace)
    assert sum(1 for g in first if g.startswith("worktree add")) == 1, first
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    (kept,) = (p for p in (state / "worktrees" / "pool").iterdir() if p.name.isdigit())
    assert kept.with_suffix(".kept").is_file() and not stray_worktrees(state)
    init = (kept / "pkg" / "__init__.py").stat().st_ino

    # The next run, with b.py failing now: in the same worktree, reset, not checked out again.
    (repo / "pkg" / "b.py").write_text("def b() -> int:\n    return undefined_b\n")
    commit_all(repo)
    done = stomper(repo, *args, env=env)
    assert done.returncode == 0 and "fixed pkg/b.py" in done.stdout + done.stderr, done
    second = _gits(trace)
    assert not [g for g in second if g.startswith(("worktree add", "reset --hard"))], second
    assert (kept / "pkg" / "__init__.py").stat().st_ino == init
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["pkg/b.py"]
    assert git(repo, "rev-list", "--count", f"{base}..HEAD").strip() == "3"
    assert not (repo / "build.log").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not stray_worktrees(state)
    listing = stomper(repo, "runs")
    assert listing.returncode == 0
    kept_line = next(line for line in listing.stdout.splitlines() if "kept for the next run" in line)
    assert kept_line.startswith("1 worktree kept for the next run (") and "MiB in " in kept_line, kept_line

    # A run told to keep none removes those kept, and keeps none of its own.
    (repo / "pkg" / "a.py").write_text("def a() -> int:\n    return undefined_a\n")
    commit_all(repo)
    done = stomper(repo, *args, env={"STOMPER_KEEP_WORKTREES": "false"})
    assert done.returncode == 0 and "fixed pkg/a.py" in done.stdout + done.stderr, done
    assert "removed 1 worktree kept for the next run" in done.stderr, done
    assert not (state / "worktrees").exists() or not any((state / "worktrees").iterdir())
    assert "kept for the next run" not in stomper(repo, "runs").stdout
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1

    # `stomper clean` gives the disk back.
    (repo / "pkg" / "b.py").write_text("def b() -> int:\n    return undefined_b\n")
    commit_all(repo)
    assert stomper(repo, *args).returncode == 0
    assert (state / "worktrees" / "pool").is_dir()
    done = stomper(repo, "clean")
    assert done.returncode == 0 and "removed 1 worktree kept for the next run" in done.stdout, done
    assert not (state / "worktrees" / "pool").exists()
