"""The applier on real repositories: the verified record lands, whole, on the run's branch, or nothing does."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper.apply import Applier, Fix, Mode, NotApplied, applied_before
from stomper.diagnostics import Diagnostic
from stomper.events import EventLog, read_events
from stomper.worktree import Worktree, Worktrees

TARGET = "pkg/mod.py"
ORIGINAL = "import os\n\nx = 1\n"
FIXED = "x = 1\n"


@pytest.fixture
async def wt(repo: Path) -> AsyncIterator[Worktree]:
    write(repo, {"pkg/__init__.py": "", TARGET: ORIGINAL})
    base = commit_all(repo)
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base)
    async with worktrees.checkout() as worktree:
        yield worktree
    await worktrees.close()


async def verified(wt: Worktree, files: dict[str, str]) -> Fix:
    write(wt.path, files)
    await wt.accept()
    return Fix(TARGET, wt.tree, await wt.changes(), await wt.patch(), f"fix(stomper): {TARGET}\n", ())


def applier(repo: Path, wt: Worktree, mode: Mode = "commit", journal: Path | None = None) -> Applier:
    log = journal or repo.parent / "events.jsonl"
    before = applied_before(read_events(log)) if log.exists() else {}
    return Applier(
        repo, wt.base, mode, repo.parent / "patches", EventLog(log), applied_before=before, branch="refs/heads/main"
    )


async def test_the_record_lands_not_what_the_worktree_holds_later(repo: Path, wt: Worktree) -> None:
    fix = await verified(wt, {TARGET: FIXED})
    (wt.path / TARGET).write_text("x = 666  # written after verification\n")

    applied = await applier(repo, wt).apply(fix)

    assert (repo / TARGET).read_text() == FIXED
    assert git(repo, "show", f"HEAD:{TARGET}") == FIXED
    assert git(repo, "log", "-1", "--format=%h %B") == f"{applied.commit} fix(stomper): {TARGET}\n\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "reflog", "-1", "--format=%gs", "main") == f"commit: fix(stomper): {TARGET}\n"


async def test_a_commit_that_cannot_land_leaves_checkout_and_index_as_they_were(repo: Path, wt: Worktree) -> None:
    fix = await verified(wt, {TARGET: FIXED})
    index, head = git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")
    lock = repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")  # another git holds the branch: update-ref fails after the file was written

    with pytest.raises(
        NotApplied, match=rf"^{TARGET}: the fix could not be applied \(git update-ref: .*\); your checkout"
    ):
        await applier(repo, wt).apply(fix)

    lock.unlink()
    assert (repo / TARGET).read_text() == ORIGINAL
    assert (git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")) == (index, head)
    assert git(repo, "status", "--porcelain") == ""
    assert (repo.parent / "patches" / "pkg__mod.py.patch").read_text() == fix.patch.decode()


async def test_every_file_of_an_allowed_wider_fix_lands_in_its_one_commit(repo: Path, wt: Worktree) -> None:
    fix = await verified(wt, {TARGET: FIXED, "pkg/helper.py": "y = 2\n"})

    await applier(repo, wt).apply(fix)

    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["pkg/helper.py", TARGET]
    assert (repo / "pkg" / "helper.py").read_text() == "y = 2\n"
    assert git(repo, "status", "--porcelain") == ""


async def test_no_commit_mode_writes_the_files_and_leaves_index_and_head(repo: Path, wt: Worktree) -> None:
    fix = await verified(wt, {TARGET: FIXED})
    index, head = git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")

    await applier(repo, wt, "no-commit").apply(fix)

    assert (repo / TARGET).read_text() == FIXED
    assert (git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")) == (index, head)


async def test_head_on_another_branch_stops_the_apply(repo: Path, wt: Worktree) -> None:
    fix = await verified(wt, {TARGET: FIXED})
    git(repo, "switch", "--quiet", "--detach")

    with pytest.raises(NotApplied, match=r"^HEAD moved from main to a detached HEAD since the run started"):
        await applier(repo, wt).apply(fix)

    assert (repo / TARGET).read_text() == ORIGINAL
    assert git(repo, "rev-list", "--count", "--all") == "1\n"


@pytest.mark.parametrize("autocrlf", ["false", "true"])
async def test_a_fix_applied_before_an_interruption_is_committed_once(
    repo: Path, wt: Worktree, tmp_path: Path, autocrlf: str
) -> None:
    git(repo, "config", "core.autocrlf", autocrlf)
    fix = await verified(wt, {TARGET: FIXED})
    journal = tmp_path / "journal.jsonl"
    # Written and journaled, not committed: where a run killed between the two leaves the checkout.
    await applier(repo, wt, "no-commit", journal).apply(fix)

    first = await applier(repo, wt, "commit", journal).recover(TARGET)
    again = await applier(repo, wt, "commit", journal).recover(TARGET)

    assert first is not None and first.recovered and first.commit is not None
    assert again is not None and again.recovered and again.commit is None
    assert git(repo, "rev-list", "--count", "HEAD") == "2\n"
    assert git(repo, "show", f"HEAD:{TARGET}") == FIXED
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("written_by", ["the previous stomper", "an older stomper, sha256 only"])
async def test_a_journal_an_earlier_stomper_wrote_is_recovered_from(
    repo: Path, wt: Worktree, tmp_path: Path, written_by: str
) -> None:
    fix = await verified(wt, {TARGET: FIXED})
    (repo / TARGET).write_text(FIXED)  # applied, not committed: where a kill after the journal line leaves it
    left = {"path": TARGET, "line": 1, "column": 1, "tool": "ruff", "code": "E501", "message": "long"}
    if written_by == "the previous stomper":
        (path, mode, blob), *_ = [[c.path, c.new_mode, c.new_blob] for c in fix.changes]
        applying = {"event": "applying", "path": TARGET, "changes": [[path, mode, blob]], "remaining": [left]}
    else:
        applying = {"event": "applying", "path": TARGET, "sha256": hashlib.sha256(FIXED.encode()).hexdigest()}
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps(applying) + "\n" + json.dumps({"event": "rolled-back", "path": "other.py"}) + "\n")

    recovered = await applier(repo, wt, "commit", journal).recover(TARGET)

    assert recovered is not None and recovered.recovered and recovered.commit is not None
    assert recovered.remaining == ((Diagnostic.from_json(left),) if "changes" in applying else ())
    assert git(repo, "show", f"HEAD:{TARGET}") == FIXED
    assert git(repo, "rev-list", "--count", "HEAD") == "2\n"
    assert git(repo, "status", "--porcelain") == ""


async def test_a_repository_of_sha256_objects_gets_its_fixes_too(tmp_path: Path) -> None:
    # The checkout is compared with the snapshot by blob id, hashed as the repository hashes.
    root = tmp_path / "sha256"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main", "--object-format=sha256")
    write(root, {"pkg/__init__.py": "", TARGET: ORIGINAL})
    base = commit_all(root)
    assert len(base) == 64
    worktrees = Worktrees(root, root / ".git" / "stomper", "run", base)
    try:
        async with worktrees.checkout() as wt:
            fix = await verified(wt, {TARGET: FIXED})
            applied = await applier(root, wt).apply(fix)
    finally:
        await worktrees.close()
    assert (root / TARGET).read_text() == FIXED
    assert git(root, "log", "-1", "--format=%h") == f"{applied.commit}\n"
    assert git(root, "status", "--porcelain") == ""
