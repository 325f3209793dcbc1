"""The shared refs a fixer may not change, and the fingerprint that spares a git read when none did."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import commit_all, git, write

from stomper import proc, refs
from stomper.refs import RefState

RACY = 0.05
"""Seconds a ref file must be older than a fingerprint for it to count (the real margin is 2 s)."""


@pytest.fixture(autouse=True)
def _short_racy_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refs, "_RACY_NS", int(RACY * 1e9))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The git subcommands run that read refs (`for-each-ref`), as they run."""
    seen: list[str] = []
    real = proc.run

    async def counted(argv: Sequence[str], **kwargs: Any) -> proc.Completed:
        seen.extend(arg for arg in argv if arg in ("for-each-ref", "symbolic-ref"))
        return await real(argv, **kwargs)

    monkeypatch.setattr(proc, "run", counted)
    return seen


def settled() -> None:
    """Wait until what was just written is older than the fingerprint's racy margin."""
    time.sleep(RACY * 2)


@pytest.fixture
def base(repo: Path) -> str:
    write(repo, {"mod.py": "x = 1\n"})
    commit = commit_all(repo)
    git(repo, "branch", "kept")
    git(repo, "tag", "v1")
    commit_all(repo, "a second commit")
    settled()
    return commit


async def take(repo: Path) -> RefState:
    return await RefState.take(repo, repo / ".git", "refs/heads/main")


async def test_refs_nobody_touched_are_not_read_again(repo: Path, base: str, reads: list[str]) -> None:
    state = await take(repo)
    assert reads.count("for-each-ref") == 1

    for _ in range(5):
        assert await state.restore() == []
    commit_all(repo, "stomper lands a fix on the landing branch")
    assert await state.restore() == []

    assert reads.count("for-each-ref") == 1
    assert reads.count("symbolic-ref") == 1


async def test_a_ref_rewritten_in_place_with_its_mtime_put_back_is_caught(repo: Path, base: str) -> None:
    state = await take(repo)
    assert await state.restore() == []
    kept = repo / ".git" / "refs" / "heads" / "kept"
    before = kept.stat()
    head = git(repo, "rev-parse", "HEAD").strip()

    with kept.open("r+") as handle:  # same inode, same size: only the times tell
        handle.write(head + "\n")
    os.utime(kept, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (kept.stat().st_ino, kept.stat().st_size, kept.stat().st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    settled()  # not caught as just changed: caught by its ctime

    assert await state.restore() == ["refs/heads/kept"]
    assert git(repo, "rev-parse", "kept").strip() == base


async def test_refs_packed_mid_run_are_read_again_and_then_trusted(repo: Path, base: str, reads: list[str]) -> None:
    state = await take(repo)
    git(repo, "pack-refs", "--all")  # what `git gc` may do meanwhile

    assert await state.restore() == []
    assert reads.count("for-each-ref") == 2
    settled()
    assert await state.restore() == []
    assert await state.restore() == []
    assert reads.count("for-each-ref") == 3  # the read after the pack was racy: once more, then trusted

    packed = repo / ".git" / "packed-refs"
    before = packed.stat()
    head = git(repo, "rev-parse", "HEAD").strip()
    packed.write_text(packed.read_text().replace(base, head))  # a packed ref moved, its mtime put back
    os.utime(packed, ns=(before.st_atime_ns, before.st_mtime_ns))
    settled()

    assert await state.restore() == ["refs/heads/kept", "refs/tags/v1"]
    assert git(repo, "rev-parse", "kept", "v1").split() == [base, base]


async def test_a_stash_dropped_with_its_times_put_back_is_caught(repo: Path, base: str) -> None:
    (repo / "mod.py").write_text("stashed\n")
    git(repo, "stash", "push", "--quiet")
    git(repo, "stash", "list")
    settled()
    state = await take(repo)
    assert await state.restore() == []
    log = repo / ".git" / "logs" / "refs" / "stash"
    before = log.stat()

    log.write_bytes(log.read_bytes().replace(b"WIP", b"XYZ"))
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
    settled()

    assert await state.restore() == ["the stash"]
    assert b"WIP" in log.read_bytes()


async def test_the_branch_the_user_switches_to_is_still_not_watched(repo: Path, base: str, reads: list[str]) -> None:
    state = await take(repo)
    assert await state.restore() == []

    git(repo, "switch", "--quiet", "kept")
    (repo / "mod.py").write_text("x = 2\n")
    commit_all(repo, "the user's own commit on the branch they switched to")
    settled()
    assert await state.restore() == []
    git(repo, "branch", "-f", "v2", "HEAD")  # another ref: a fixer's

    assert await state.restore() == ["refs/heads/v2"]
    assert reads.count("for-each-ref") == 3
