"""The applier lands many fixes under one hold of its lock: one commit each, the branch moved once.

The promise is the same as for one fix (the record lands whole, or nothing
of the fix does); what changes is the cost: the checks, the user's index
and the branch are each read or written once for the batch, not per fix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper.apply import Applied, Applier, Fix, NotApplied
from stomper.events import EventLog
from stomper.worktree import Worktrees

FILES = [f"pkg/mod{n}.py" for n in range(10)]
ORIGINAL = "import os\n\nx = 1\n"
FIXED = "x = 1\n"


@pytest.fixture
async def fixes(repo: Path) -> AsyncIterator[list[Fix]]:
    """A verified fix of each of FILES, each made in a worktree of its own."""
    write(repo, {"pkg/__init__.py": "", **dict.fromkeys(FILES, ORIGINAL)})
    base = commit_all(repo)
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base, size=len(FILES))
    made = []
    for path in FILES:
        async with worktrees.checkout() as wt:
            write(wt.path, {path: FIXED})
            await wt.accept()
            made.append(Fix(path, wt.tree, await wt.changes(), await wt.patch(), f"fix(stomper): {path}\n", ()))
            await wt.reject()  # the next checkout starts from the base either way
    yield made
    await worktrees.close()


def applier(repo: Path) -> Applier:
    return Applier(
        repo, "", "commit", repo.parent / "patches", EventLog(repo.parent / "events.jsonl"), branch="refs/heads/main"
    )


def journal(repo: Path) -> list[tuple[str, str]]:
    lines = (repo.parent / "events.jsonl").read_text().splitlines()
    return [(event["event"], event["path"]) for event in map(json.loads, lines)]


def commits(repo: Path, since: str) -> list[list[str]]:
    """The files each commit since `since` touches, oldest first."""
    listed = git(repo, "rev-list", "--reverse", f"{since}..HEAD").split()
    return [git(repo, "show", "--name-only", "--format=", c).split() for c in listed]


async def test_a_batch_lands_one_commit_per_fix_and_moves_the_branch_once(repo: Path, fixes: list[Fix]) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()

    done = await applier(repo).apply_all(fixes)

    assert all(isinstance(d, Applied) and d.commit for d in done), done
    assert commits(repo, head) == [[path] for path in FILES]
    shorts = [d.commit for d in done if isinstance(d, Applied)]
    listed = git(repo, "rev-list", "--reverse", f"{head}..HEAD").split()
    assert [c[: len(s or "")] for c, s in zip(listed, shorts, strict=True)] == shorts
    messages = [git(repo, "log", "-1", "--format=%B", c) for c in listed]
    assert messages == [f"fix(stomper): {p}\n\n" for p in FILES]
    assert all((repo / path).read_text() == FIXED for path in FILES)
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    reflog = git(repo, "reflog", "--format=%gs", "main").splitlines()
    assert reflog[0] == f"commit: fix(stomper): {FILES[-1]} (and {len(FILES) - 1} fixes before it)"
    assert journal(repo) == [("applying", p) for p in FILES] + [("applied", p) for p in FILES]


async def test_what_a_batch_costs_does_not_grow_with_its_fixes(
    repo: Path, fixes: list[Fix], ran: list[tuple[str, ...]]
) -> None:
    landing = applier(repo)
    await landing.apply_all(fixes[:1])  # reads the settings it reads once
    ran.clear()
    await landing.apply_all(fixes[1:4])
    three = list(ran)
    ran.clear()
    await landing.apply_all(fixes[4:])

    assert len(ran) == len(three), (ran, three)
    assert sum("update-ref" in argv for argv in ran) == 1
    assert not any("commit-tree" in argv for argv in ran)
    assert all((repo / path).read_text() == FIXED for path in FILES)


async def test_a_fix_whose_file_the_user_changed_is_kept_and_the_others_land(repo: Path, fixes: list[Fix]) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / FILES[1]).write_text("x = 2  # the user's edit\n")

    done = await applier(repo).apply_all(fixes)

    refused = done[1]
    assert isinstance(refused, NotApplied)
    assert str(refused) == f"{FILES[1]} changed in your checkout since the run started; fix not applied"
    assert refused.patch_path is not None and refused.patch_path.read_bytes() == fixes[1].patch
    assert commits(repo, head) == [[FILES[0]], *([p] for p in FILES[2:])]
    assert (repo / FILES[1]).read_text() == "x = 2  # the user's edit\n"
    assert git(repo, "status", "--porcelain") == f" M {FILES[1]}\n"


async def test_a_batch_verified_together_lands_only_up_to_its_first_refusal(repo: Path, fixes: list[Fix]) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / FILES[1]).write_text("x = 2  # the user's edit\n")

    done = await applier(repo).apply_all(fixes, prefix=True)

    assert isinstance(done[0], Applied)
    assert isinstance(done[1], NotApplied)
    assert done[2:] == [None] * len(FILES[2:])
    assert commits(repo, head) == [[FILES[0]]]
    assert all((repo / p).read_text() == ORIGINAL for p in FILES[2:])
    assert journal(repo) == [("applying", FILES[0]), ("applied", FILES[0])]


async def test_a_branch_that_cannot_move_leaves_every_file_and_the_index_as_they_were(
    repo: Path, fixes: list[Fix]
) -> None:
    index, head = git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")
    (repo / ".git" / "refs" / "heads" / "main.lock").write_text("")  # another git holds the branch

    done = await applier(repo).apply_all(fixes)

    assert all(isinstance(d, NotApplied) and "git update-ref" in str(d) for d in done), done
    assert all((repo / path).read_text() == ORIGINAL for path in FILES)
    assert (git(repo, "ls-files", "--stage"), git(repo, "rev-parse", "HEAD")) == (index, head)
    (repo / ".git" / "refs" / "heads" / "main.lock").unlink()
    assert git(repo, "status", "--porcelain") == ""


async def test_two_fixes_of_one_file_never_land_one_on_the_other(repo: Path, fixes: list[Fix]) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    again = Fix(FILES[0], fixes[0].tree, fixes[0].changes, fixes[0].patch, "fix(stomper): again\n", ())

    done = await applier(repo).apply_all([fixes[0], again, fixes[1]])

    # The second was verified against the snapshot, which the first changed: it is refused, not stacked.
    assert isinstance(done[0], Applied) and isinstance(done[2], Applied)
    assert isinstance(done[1], NotApplied) and "changed in your checkout" in str(done[1])
    assert commits(repo, head) == [[FILES[0]], [FILES[1]]]


async def test_a_user_who_signs_gets_each_commit_of_a_batch_signed(
    repo: Path, fixes: list[Fix], tmp_path: Path
) -> None:
    gpg = tmp_path / "gpg"
    gpg.write_text(
        "#!/bin/sh\ncat >/dev/null\necho '[GNUPG:] SIG_CREATED D 1 8 00 1 ABCDEF' >&2\n"
        "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nby the test\\n-----END PGP SIGNATURE-----\\n'\n"
    )
    gpg.chmod(0o755)
    for setting in (("commit.gpgSign", "true"), ("gpg.program", str(gpg)), ("user.signingKey", "ABCDEF")):
        git(repo, "config", *setting)
    head = git(repo, "rev-parse", "HEAD").strip()

    done = await applier(repo).apply_all(fixes)

    assert all(isinstance(d, Applied) for d in done), done
    listed = git(repo, "rev-list", f"{head}..HEAD").split()
    assert len(listed) == len(FILES)
    assert all("\ngpgsig -----BEGIN PGP SIGNATURE-----" in git(repo, "cat-file", "commit", c) for c in listed)


async def test_a_batch_writes_each_file_as_gits_checkout_would(repo: Path, fixes: list[Fix]) -> None:
    # Only the first module is converted on checkout; the others are written as stored.
    (repo / ".gitattributes").write_text(f"{FILES[0]} text eol=crlf\n")
    git(repo, "add", ".gitattributes")
    git(repo, "commit", "--quiet", "-m", "attributes")

    done = await applier(repo).apply_all(fixes)

    assert all(isinstance(d, Applied) for d in done), done
    assert (repo / FILES[0]).read_bytes() == FIXED.replace("\n", "\r\n").encode()
    assert all((repo / p).read_bytes() == FIXED.encode() for p in FILES[1:])
    assert git(repo, "status", "--porcelain") == ""


async def test_a_batch_git_must_commit_itself_still_lands_one_commit_per_fix(
    repo: Path, fixes: list[Fix], ran: list[tuple[str, ...]]
) -> None:
    # A path with a line break cannot go through `cat-file --batch`: `commit-tree` makes every commit instead.
    odd = "pkg/odd\nname.py"
    write(repo, {odd: ORIGINAL})
    git(repo, "add", "--", odd)
    git(repo, "commit", "--quiet", "-m", "an odd name")
    head = git(repo, "rev-parse", "HEAD").strip()
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "odd", head)
    async with worktrees.checkout() as wt:
        write(wt.path, {odd: FIXED})
        await wt.accept()
        strange = Fix(odd, wt.tree, await wt.changes(), await wt.patch(), "fix(stomper): odd\n", ())
    await worktrees.close()

    done = await applier(repo).apply_all([fixes[0], strange, fixes[1]])

    assert all(isinstance(d, Applied) for d in done), done
    assert sum("commit-tree" in argv for argv in ran) == 3
    assert len(git(repo, "rev-list", f"{head}..HEAD").split()) == 3
    assert (repo / odd).read_text() == FIXED
    assert git(repo, "status", "--porcelain") == ""


async def test_a_user_whose_commits_are_not_utf8_gets_them_made_by_git_as_git_would(
    repo: Path, fixes: list[Fix], ran: list[tuple[str, ...]]
) -> None:
    # git marks such commits with an `encoding` header; the commits stomper makes in memory never would.
    git(repo, "config", "i18n.commitEncoding", "ISO-8859-1")
    head = git(repo, "rev-parse", "HEAD").strip()

    done = await applier(repo).apply_all(fixes[:3])

    assert all(isinstance(d, Applied) for d in done), done
    assert sum("commit-tree" in argv for argv in ran) == 3
    listed = git(repo, "rev-list", f"{head}..HEAD").split()
    assert len(listed) == 3
    assert all("\nencoding ISO-8859-1\n" in git(repo, "cat-file", "commit", c) for c in listed)
    assert git(repo, "status", "--porcelain") == ""
