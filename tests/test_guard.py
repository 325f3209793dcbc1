"""The guard on real worktrees of real repositories: what no fix may do, whatever verification says."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper import guard
from stomper.config import StomperSettings
from stomper.guard import Seal, UnsafeChange, check_change
from stomper.worktree import ChangedAfterVerification, Worktree, Worktrees, blobs, changes

TARGET = "pkg/mod.py"

ORIGINAL = b"import os\n\nx = 1\n"
"""What the target holds before any fixer runs."""


@pytest.fixture
async def wt(repo: Path) -> AsyncIterator[Worktree]:
    write(repo, {"pkg/__init__.py": "", TARGET: ORIGINAL.decode(), "pkg/data.bin": "text\n"})
    base = commit_all(repo)
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base)
    async with worktrees.checkout() as worktree:
        yield worktree
    await worktrees.close()


async def verdict(wt: Worktree, **settings: object) -> str | None:
    """None when the accepted change may be applied, else why not."""
    await wt.accept()
    try:
        patch = await wt.patch()
        await check_change(wt, TARGET, patch, StomperSettings.model_validate(settings), original=ORIGINAL)
    except UnsafeChange as exc:
        return str(exc)
    return None


async def test_an_ordinary_fix_passes(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")

    assert await verdict(wt) is None


async def test_deleting_the_target(wt: Worktree) -> None:
    (wt.path / TARGET).unlink()

    assert await verdict(wt) == f"the fix deletes {TARGET}; not applied"


async def test_renaming_the_target(wt: Worktree) -> None:
    (wt.path / TARGET).rename(wt.path / "pkg/renamed.py")

    assert await verdict(wt) == f"the fix renames {TARGET} to pkg/renamed.py; not applied"


async def test_emptying_the_target(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("")

    assert await verdict(wt) == f"the fix empties {TARGET}; not applied"


async def test_making_the_target_binary(wt: Worktree) -> None:
    (wt.path / TARGET).write_bytes(b"x = 1  # \0\n")

    assert await verdict(wt) == f"the fix makes {TARGET} a binary file; not applied"


async def test_a_nested_repository(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    nested = wt.path / "vendor"
    nested.mkdir()
    git(nested, "init", "--quiet")
    commit_all(nested)

    assert await verdict(wt, allow_other_files=True) == "the fix adds a nested git repository at vendor; not applied"


@pytest.mark.parametrize(
    ("points_to", "escapes"),
    [("/etc/passwd", True), ("../../up", True), ("../.git/config", True), ("../pkg/data.bin", False), ("x", False)],
)
async def test_symbolic_links_may_not_lead_out(wt: Worktree, points_to: str, escapes: bool) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    (wt.path / "pkg" / "link").symlink_to(points_to)

    said = await verdict(wt, allow_other_files=True)

    expected = f"the fix adds a symbolic link pkg/link pointing outside the repository ({points_to}); not applied"
    assert said == (expected if escapes else None)


async def test_other_files_need_allow_other_files(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    (wt.path / "pkg/data.bin").unlink()
    (wt.path / "new.py").write_text("y = 2\n")

    assert await verdict(wt) == "the fix also changed new.py, pkg/data.bin; not applied"
    assert await verdict(wt, allow_other_files=True) is None


async def test_the_patch_size_limit(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n" + "# comment\n" * 100)
    await wt.accept()
    size = len(await wt.patch())

    assert await verdict(wt, max_patch_bytes=size) is None
    said = await verdict(wt, max_patch_bytes=size - 1)
    assert said == f"the fix is a {size}-byte patch, more than max_patch_bytes ({size - 1}); not applied"


async def test_the_seal_holds_while_nothing_of_git_is_touched(wt: Worktree) -> None:
    seal = await Seal.take(wt)
    (wt.path / TARGET).write_text("x = 1\n")
    await wt.accept()

    await seal.check()


def _make_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


TAMPERING: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "dotgit-file": (lambda wt, common: _append(wt / ".git", f"gitdir: {common}\n"), ".git (the worktree's own)"),
    "dotgit-dir": (lambda wt, common: _make_dir(wt / ".git"), ".git (the worktree's own)"),
    "hook": (lambda wt, common: _append(common / "hooks" / "post-commit", "#!/bin/sh\n"), ".git/hooks"),
    "config": (lambda wt, common: _append(common / "config", "[core]\n\tfsmonitor = evil\n"), ".git/config"),
    "attributes": (
        lambda wt, common: _append(common / "info" / "attributes", "*.py filter=x\n"),
        ".git/info/attributes",
    ),
    "config-worktree": (
        lambda wt, common: _append(common / "config.worktree", "[core]\n\thooksPath = /tmp\n"),
        ".git/config.worktree",
    ),
    "commondir": (
        lambda wt, common: _append(common / "worktrees" / "0" / "commondir", "x"),
        ".git/worktrees/0/commondir",
    ),
}


@pytest.mark.parametrize("how", TAMPERING)
async def test_the_seal_names_what_was_tampered_with(wt: Worktree, repo: Path, how: str) -> None:
    tamper, named = TAMPERING[how]
    seal = await Seal.take(wt)
    (repo / ".git" / "info").mkdir(exist_ok=True)

    tamper(wt.path, repo / ".git")

    with pytest.raises(UnsafeChange, match=rf"^the fixer changed git's own files \({re.escape(named)}\); not applied$"):
        await seal.check()


@pytest.fixture
def files_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each watched file the seal reads from here on; every file counts as changed long ago (`guard.RECENT`),
    as in a repository not made a moment ago."""
    monkeypatch.setattr(guard, "RECENT", -3600.0)
    monkeypatch.setattr(guard, "_DIGESTS", {})
    read: list[Path] = []
    real = Path.read_bytes

    def logged(path: Path) -> bytes:
        read.append(path)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", logged)
    return read


@pytest.mark.parametrize("how", TAMPERING)
async def test_a_file_read_once_still_names_the_tampering(
    wt: Worktree, repo: Path, how: str, files_read: list[Path]
) -> None:
    tamper, named = TAMPERING[how]
    (repo / ".git" / "info").mkdir(exist_ok=True)
    await Seal.take(wt)  # reads every watched file
    seal = await Seal.take(wt)
    files_read.clear()
    await seal.check()
    assert [p for p in files_read if not {"refs", "logs"} & set(p.parts)] == []  # nothing changed, nothing read

    tamper(wt.path, repo / ".git")

    with pytest.raises(UnsafeChange, match=rf"^the fixer changed git's own files \({re.escape(named)}\); not applied$"):
        await seal.check()


async def test_a_rewrite_of_the_same_size_with_its_mtime_put_back_breaks_the_seal(
    wt: Worktree, repo: Path, files_read: list[Path]
) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 0\n")
    seal = await Seal.take(wt)
    await seal.check()
    before = hook.stat()

    hook.write_text("#!/bin/sh\nrm -rf\n")  # as many bytes
    os.utime(hook, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert hook.stat().st_size == before.st_size
    with pytest.raises(UnsafeChange, match=r"^the fixer changed git's own files \(\.git/hooks\); not applied$"):
        await seal.check()


async def test_a_file_rewritten_as_it_was_does_not_break_the_seal(
    wt: Worktree, repo: Path, files_read: list[Path]
) -> None:
    # As git does to its config when `git branch -D` removes a section the branch never had.
    seal = await Seal.take(wt)
    config = repo / ".git" / "config"
    config.write_bytes(config.read_bytes())

    await seal.check()


async def test_refs_changed_through_a_worktree_are_put_back(repo: Path) -> None:
    write(repo, {TARGET: ORIGINAL.decode()})
    base = commit_all(repo)
    git(repo, "branch", "kept")
    git(repo, "tag", "v1")
    git(repo, "pack-refs", "--all")
    (repo / TARGET).write_text("stashed\n")
    git(repo, "stash", "push", "--quiet")
    refs, stash = git(repo, "for-each-ref"), git(repo, "stash", "list")
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base)
    async with worktrees.checkout() as wt:
        seal = await Seal.take(wt)

        git(wt.path, "branch", "-D", "kept")
        git(wt.path, "tag", "-d", "v1")
        git(wt.path, "branch", "new/nested")
        git(wt.path, "stash", "drop", "--quiet")
        git(repo, "pack-refs", "--all")  # what `git gc` may do meanwhile
        with pytest.raises(UnsafeChange, match=r"^the fixer changed the repository's refs \(.*refs/heads/new/nested"):
            await seal.check()

        now = "".join(line for line in git(repo, "for-each-ref").splitlines(True) if "\trefs/stomper/" not in line)
        assert (now, git(repo, "stash", "list")) == (refs, stash)
        # What the put-back ref pointed at is kept, in case the change was the user's own.
        assert git(repo, "for-each-ref", "--format=%(refname)", "refs/stomper/kept/").endswith("/heads/new/nested\n")
        git(repo, "branch", "new")  # nothing left in the way
        git(repo, "branch", "-D", "new")
        await seal.check()
    await worktrees.close()
    git(repo, "stash", "pop", "--quiet")
    assert (repo / TARGET).read_text() == "stashed\n"


async def test_the_branch_the_checkout_is_on_is_not_the_seals(wt: Worktree, repo: Path) -> None:
    seal = await Seal.take(wt)

    (repo / "pkg" / "mod.py").write_text("x = 2\n")
    commit_all(repo, "the user's own commit")
    git(repo, "switch", "--quiet", "-c", "elsewhere")

    await seal.check()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "elsewhere\n"


async def test_what_changed_while_it_was_verified_is_not_accepted(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    record = await wt.record()
    (wt.path / TARGET).write_text("x = 666\n")  # a leftover process, while the tools looked

    with pytest.raises(
        ChangedAfterVerification, match=f"files changed in the worktree while the fix was verified \\({TARGET}\\)"
    ):
        await wt.accept(record)
    assert wt.tree == wt.base


async def test_the_fix_is_the_record_not_the_worktree(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    await wt.accept()
    (wt.path / TARGET).write_text("x = 666\n")
    git(wt.path, "add", "--all")

    assert await wt.verified_blob(TARGET) == b"x = 1\n"
    assert b"666" not in await wt.patch()
    assert [c.path for c in await wt.changes()] == [TARGET]


async def test_a_mode_change_is_refused(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    (wt.path / TARGET).chmod(0o755)

    assert await verdict(wt) == f"the fix changes the mode of {TARGET} (100644 to 100755); not applied"


async def test_a_rejected_attempt_the_agent_staged_is_thrown_away(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    await wt.accept()
    (wt.path / TARGET).write_text("broken(\n")
    (wt.path / "junk.py").write_text("junk\n")
    git(wt.path, "add", "--all")

    await wt.reject()

    assert (wt.path / TARGET).read_text() == "x = 1\n"
    assert not (wt.path / "junk.py").exists()
    assert git(wt.path, "diff", "--cached", "--name-only", wt.base) == f"{TARGET}\n"
    assert "broken" not in (await wt.patch()).decode()


async def test_ruff_may_empty_a_file_of_unused_imports(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("")
    await wt.accept()

    await check_change(wt, TARGET, await wt.patch(), StomperSettings(), original=ORIGINAL, may_empty=True)


async def test_changes_without_renames_are_what_git_lists_without_looking_for_them(wt: Worktree) -> None:
    # One diff-tree, renames found, serves both the guard and the applier (which takes no renames).
    (wt.path / "pkg" / "data.bin").rename(wt.path / "pkg-data.bin")
    (wt.path / "pkg" / "a-b.py").write_text("x = 1\n")
    (wt.path / TARGET).write_text("x = 2\n")
    await wt.accept()

    assert [c.status for c in await wt.changes(renames=True)].count("R") == 1
    assert await wt.changes() == await changes(wt.path, wt.base, wt.tree)


async def test_the_original_and_the_verified_bytes_in_one_read(wt: Worktree) -> None:
    (wt.path / TARGET).write_bytes(b"x = 1\n\n\0binary\n")
    (wt.path / "pkg" / "data.bin").unlink()
    await wt.accept()

    assert await wt.blobs(TARGET) == (ORIGINAL, b"x = 1\n\n\0binary\n")
    assert await wt.blobs("pkg/data.bin") == (b"text\n", None)
    assert await wt.blobs("pkg") == (None, None)  # a directory is no file
    assert await wt.blobs("nowhere.py") == (None, None)
    assert await blobs(wt.path, (wt.base, "odd\nname.py"), (wt.tree, TARGET)) == [None, b"x = 1\n\n\0binary\n"]
