"""Worktrees a killed run left: removed and pruned by the next run, which prunes only when git has something to prune.

`remove_leftovers` runs first thing in every run and in `stomper clean`. Most
runs start with nothing left behind, and then start no `git worktree prune`;
each case here is a state a kill (or a user) can leave, and checks both that
git's records end up as `git worktree prune` would leave them and whether
the prune ran (the `ran` fixture logs every process stomper starts).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import commit_all, git, write

from stomper.worktree import LOCK_REASON, remove_leftovers


def prunes(ran: list[tuple[str, ...]]) -> int:
    return sum(1 for argv in ran if "worktree" in argv and "prune" in argv)


def records(repo: Path) -> list[str]:
    home = repo / ".git" / "worktrees"
    return sorted(p.name for p in home.iterdir()) if home.is_dir() else []


def project(repo: Path) -> Path:
    write(repo, {"a.py": "a = 1\n"})
    commit_all(repo)
    return repo / ".git" / "stomper"


async def test_nothing_left_behind_starts_no_prune(repo: Path, tmp_path: Path, ran: list[tuple[str, ...]]) -> None:
    state = project(repo)
    # A user's own linked worktree, alive, and one locked whose directory is away (a removable disk).
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "mine"))
    git(repo, "worktree", "add", "--quiet", "--detach", "--lock", str(tmp_path / "away"))
    shutil.rmtree(tmp_path / "away")

    assert (await remove_leftovers(repo, state))[0] == []

    assert prunes(ran) == 0, ran
    assert records(repo) == ["away", "mine"]
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 3


async def test_a_killed_runs_worktree_is_removed_and_pruned(repo: Path, ran: list[tuple[str, ...]]) -> None:
    state = project(repo)
    # As a run adds its worktrees: locked, naming the run.
    path = state / "worktrees" / "run1" / "0"
    git(repo, "worktree", "add", "--quiet", "--detach", "--lock", "--reason", LOCK_REASON + "run1", str(path))

    assert (await remove_leftovers(repo, state))[0] == ["run1"]

    assert prunes(ran) == 1, ran
    assert records(repo) == []
    assert not path.exists()


async def test_records_unlocked_but_not_pruned_are_pruned(repo: Path, ran: list[tuple[str, ...]]) -> None:
    # A kill after the unlock and before the prune: no directory, no lock, only git's stale record.
    state = project(repo)
    path = state / "worktrees" / "run1" / "0"
    git(repo, "worktree", "add", "--quiet", "--detach", str(path))
    shutil.rmtree(state / "worktrees")

    assert (await remove_leftovers(repo, state))[0] == []

    assert prunes(ran) == 1, ran
    assert records(repo) == []


async def test_a_record_git_never_finished_is_pruned(repo: Path, ran: list[tuple[str, ...]]) -> None:
    # A kill inside `git worktree add` before it wrote anything but the record's directory.
    state = project(repo)
    (repo / ".git" / "worktrees" / "0").mkdir(parents=True)

    await remove_leftovers(repo, state)

    assert prunes(ran) == 1, ran
    assert records(repo) == []
    assert git(repo, "worktree", "list").count("\n") == 1


async def test_a_users_stale_worktree_is_pruned_as_git_would(
    repo: Path, tmp_path: Path, ran: list[tuple[str, ...]]
) -> None:
    state = project(repo)
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "gone"))
    git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / "kept"))
    shutil.rmtree(tmp_path / "gone")

    await remove_leftovers(repo, state)

    assert prunes(ran) == 1, ran
    assert records(repo) == ["kept"]
