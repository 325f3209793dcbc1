"""Commits made in memory (`stomper.commits`) hold exactly the trees git's own index would write.

The oracle is git itself: the same changes staged on a temporary index and
written with `git write-tree` (`apply.tree_with`), for every shape of change a
fix can make, in repositories of SHA-1 and of SHA-256 objects.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper import commits
from stomper.apply import tree_with
from stomper.worktree import Change

FILES = {
    "a.py": "a\n",
    "a-b.py": "ab\n",
    "a/x.py": "x\n",
    "pkg/__init__.py": "",
    "pkg/mod.py": "m\n",
    "pkg/sub/deep.py": "d\n",
    "pkg/sub/other.py": "o\n",
    "tools/run.sh": "#!/bin/sh\n",
}


def blob(repo: Path, text: str) -> str:
    done = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=text.encode(), capture_output=True)
    return done.stdout.decode().strip()


def changed(path: str, new: str | None, mode: str = "100644", old: str | None = None) -> Change:
    return Change(path, "100644", old, mode if new else "000000", new, "M" if new else "D")


def deleted(repo: Path, path: str) -> Change:
    return changed(path, None, old=git(repo, "rev-parse", f"HEAD:{path}").strip())


Shape = Callable[[Callable[[str], str], Callable[[str], Change]], list[Change]]
"""(a blob of this text, a deletion of this path) -> a fix's changes."""

SHAPES: dict[str, Shape] = {
    "a file at the top": lambda b, d: [changed("a.py", b("a2\n"))],
    "a file three levels down": lambda b, d: [changed("pkg/sub/deep.py", b("d2\n"))],
    "a new file in a new directory": lambda b, d: [changed("pkg/new/deeper/n.py", b("n\n"))],
    "names that sort around a directory": lambda b, d: [changed("a-b.py", b("1\n")), changed("a/x.py", b("2\n"))],
    "the last file of a directory deleted": lambda b, d: [d("a/x.py")],
    "a whole subtree emptied": lambda b, d: [d("pkg/sub/deep.py"), d("pkg/sub/other.py")],
    "a file made executable": lambda b, d: [changed("tools/run.sh", b("#!/bin/sh\n"), "100755")],
    "a symbolic link": lambda b, d: [changed("pkg/link", b("mod.py"), "120000")],
    # git keeps names as bytes; stomper reads them as git wrote them (surrogate escapes for what is not UTF-8).
    "names that are not UTF-8": lambda b, d: [changed(os.fsdecode(b"caf\xe9/m\xe9.py"), b("x\n"))],
}


@pytest.mark.parametrize("objects", ["sha1", "sha256"])
@pytest.mark.parametrize("shape", SHAPES)
async def test_a_commit_made_in_memory_holds_the_tree_git_writes(tmp_path: Path, objects: str, shape: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", f"--object-format={objects}", "-b", "main")
    write(repo, FILES)
    head = commit_all(repo)
    changes = SHAPES[shape](lambda text: blob(repo, text), lambda path: deleted(repo, path))

    (made,) = await commits.make(repo, head, [(changes, "fix(stomper): one\n\nbody\n")], commits.Signature(repo))

    assert git(repo, "rev-parse", f"{made}^{{tree}}").strip() == await tree_with(repo, head, changes)
    assert git(repo, "rev-parse", f"{made}^").strip() == head
    assert git(repo, "log", "-1", "--format=%B", made) == "fix(stomper): one\n\nbody\n\n"
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


async def test_each_commit_of_a_chain_holds_the_fixes_before_it(repo: Path) -> None:
    write(repo, FILES)
    head = commit_all(repo)
    first = [changed("pkg/mod.py", blob(repo, "m2\n"))]
    second = [changed("pkg/sub/deep.py", blob(repo, "d2\n"))]
    third = [changed("pkg/mod.py", blob(repo, "m3\n")), deleted(repo, "a/x.py")]

    fixes = [(first, "one\n"), (second, "two\n"), (third, "three\n")]
    made = await commits.make(repo, head, fixes, commits.Signature(repo))

    assert [git(repo, "rev-parse", f"{c}^").strip() for c in made] == [head, *made[:2]]
    expected = head
    for commit, changes in zip(made, (first, second, third), strict=True):
        expected = await tree_with(repo, expected, changes)
        assert git(repo, "rev-parse", f"{commit}^{{tree}}").strip() == expected


async def test_the_identity_is_the_one_git_would_use(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, FILES)
    head = commit_all(repo)
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2001-02-03T04:05:06+0100")
    identity = ("-c", "user.name=Stomper Bot", "-c", "user.email=bot@example.invalid")
    monkeypatch.delenv("GIT_AUTHOR_NAME", raising=False)
    monkeypatch.delenv("GIT_AUTHOR_EMAIL", raising=False)

    who = commits.Signature(repo, identity)
    (made,) = await commits.make(repo, head, [([changed("a.py", blob(repo, "z\n"))], "m\n")], who)

    assert git(repo, "log", "-1", "--format=%an <%ae> %ad", "--date=iso-strict", made) == (
        "Stomper Bot <bot@example.invalid> 2001-02-03T04:05:06+01:00\n"
    )


async def test_a_path_under_what_is_a_file_in_head_is_left_to_git(repo: Path) -> None:
    write(repo, FILES)
    head = commit_all(repo)

    with pytest.raises(commits.Unsupported):
        await commits.make(
            repo, head, [([changed("a.py/inner.py", blob(repo, "i\n"))], "m\n")], commits.Signature(repo)
        )


async def test_a_signature_asked_once_still_dates_each_commit_as_git_would(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo, FILES)
    head = commit_all(repo)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.delenv(name, raising=False)
    who = commits.Signature(repo)
    first = (await commits.make(repo, head, [([changed("a.py", blob(repo, "1\n"))], "one\n")], who))[0]

    second = (await commits.make(repo, first, [([changed("a.py", blob(repo, "2\n"))], "two\n")], who))[0]
    git_now = git(repo, "var", "GIT_COMMITTER_IDENT").strip()
    monkeypatch.delenv("TZ")
    time.tzset()

    line = next(x for x in git(repo, "cat-file", "commit", second).splitlines() if x.startswith("committer "))
    name, stamp, zone = line.removeprefix("committer ").rsplit(" ", 2)
    assert (name, zone) == tuple(git_now.rsplit(" ", 2)[::2])
    assert zone == "+0530"
    assert abs(int(stamp) - int(git_now.rsplit(" ", 2)[1])) < 60
