"""Talking to git: real repositories, a linked worktree, a hook's environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper import gitops
from stomper.errors import GitError, NotAGitRepository


def test_open_repo_from_a_subdirectory(repo: Path) -> None:
    write(repo, {"pkg/a.py": ""})

    info = gitops.open_repo(repo / "pkg")

    assert (info.root, info.git_dir, info.has_commits, info.detached, info.branch) == (
        repo,
        repo / ".git",
        False,
        False,
        "main",
    )
    assert info.state_dir == repo / ".git" / "stomper"


def test_open_repo_in_a_linked_worktree_shares_the_common_git_dir(repo: Path, tmp_path: Path) -> None:
    commit_all(repo)
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "wt"))

    info = gitops.open_repo(tmp_path / "wt")

    assert (info.root, info.git_dir, info.detached, info.branch) == (
        (tmp_path / "wt").resolve(),
        repo / ".git",
        True,
        None,
    )


def test_open_repo_answers_for_the_snapshot_too(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"a.py": "", "HEAD": "a file named HEAD is no revision\n"})
    head = commit_all(repo)
    git(repo, "worktree", "add", "--quiet", "-b", "other", str(tmp_path / "wt"))
    # Under a git hook: the index git handed the hook is not the checkout's.
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "next-index.lock"))

    info = gitops.open_repo(repo)
    linked = gitops.open_repo(tmp_path / "wt")

    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    assert (info.head, info.head_tree, info.index, info.head_ref) == (
        head,
        tree,
        repo / ".git" / "index",
        "refs/heads/main",
    )
    assert (linked.head, linked.head_tree, linked.head_ref) == (head, tree, "refs/heads/other")
    assert linked.index == repo / ".git" / "worktrees" / "wt" / "index"


def test_open_repo_without_commits_has_no_head(repo: Path) -> None:
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "on main")
    git(repo, "checkout", "--quiet", "--orphan", "fresh")

    info = gitops.open_repo(repo)

    assert (info.has_commits, info.head, info.head_tree, info.head_ref) == (False, None, None, "refs/heads/fresh")


def test_open_repo_outside_git(tmp_path: Path) -> None:
    with pytest.raises(NotAGitRepository, match=r"is not inside a git repository$"):
        gitops.open_repo(tmp_path)


async def test_hook_variables_do_not_leak_into_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Under a git hook these point at the user's repository and index.
    write(repo, {"a.py": ""})
    git(repo, "add", "a.py")
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / "elsewhere.index"))
    monkeypatch.setenv("GIT_DIR", str(repo / "nowhere"))

    assert await gitops.listed_paths(repo) == ["a.py"]


async def test_paths_with_spaces_newlines_and_non_ascii(repo: Path) -> None:
    names = ["with space.py", "new\nline.py", "ünï.py"]
    write(repo, dict.fromkeys(names, ""))

    assert await gitops.listed_paths(repo) == sorted(names)


async def test_git_error_carries_gits_message(repo: Path) -> None:
    with pytest.raises(GitError, match=r"^git log: fatal: your current branch 'main' does not have any commits yet$"):
        await gitops.git("log", cwd=repo)


async def test_the_users_config_does_not_reach_stomper_s_git(repo: Path, tmp_path: Path) -> None:
    write(repo, {"pkg/mod.py": "a = 0\nx = 1\nb = 0\n"})
    commit_all(repo)
    ran = tmp_path / "ran"
    program = tmp_path / "program"
    program.write_text(f"#!/bin/sh\necho $0 >> {ran}\nexit 1\n")
    program.chmod(0o755)
    (tmp_path / "hooks").mkdir()
    for hook in ("post-commit", "pre-commit", "post-index-change", "reference-transaction"):
        (tmp_path / "hooks" / hook).symlink_to(program)
    for key, value in {
        "core.hooksPath": str(tmp_path / "hooks"),
        "core.fsmonitor": str(program),
        "core.pager": str(program),
        "diff.external": str(program),
        "diff.noprefix": "true",
        "diff.context": "0",
        "color.ui": "always",
    }.items():
        git(repo, "config", key, value)
    (repo / "pkg" / "mod.py").write_text("a = 0\nx = 2\nb = 0\n")

    diff = (await gitops.git("diff", cwd=repo)).out
    await gitops.git("add", "--all", cwd=repo)
    await gitops.git("-c", "user.name=a", "-c", "user.email=b@c", "commit", "--quiet", "-m", "m", cwd=repo)

    assert "--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -1,3 +1,3 @@\n a = 0\n-x = 1\n+x = 2\n b = 0\n" in diff
    assert "\x1b[" not in diff
    assert not ran.exists(), ran.read_text()


async def test_a_git_error_names_the_subcommand_past_config_options(repo: Path) -> None:
    with pytest.raises(GitError, match=r"^git log: "):
        await gitops.git("-c", "user.name=x", "log", cwd=repo)
