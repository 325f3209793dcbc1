"""The run's pool of worktrees: reused file after file, and each reuse as clean as a new worktree."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper.pool import caches_of
from stomper.worktree import Worktree, Worktrees, working_tree

FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": "a = 1\n",
    "pkg/b.py": "b = 2\n",
    "untouched.py": "c = 3\n",
    ".gitignore": "*.log\nbuild/\n",
}


def pool(repo: Path, base: str, size: int = 1, caches: tuple[str, ...] = ()) -> Worktrees:
    return Worktrees(repo, repo / ".git" / "stomper", "run", base, caches=caches, size=size)


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symbolic links as their target), `.git` and `.mypy_cache` left out."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if name.split("/")[0] in (".git", ".mypy_cache") or (path.is_dir() and not path.is_symlink()):
            continue
        found[name] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def git_dir_of(wt: Worktree) -> dict[str, bytes]:
    """The worktree's own git directory, file by file (the index by what it lists, not its stats)."""
    admin = Path(git(wt.path, "rev-parse", "--path-format=absolute", "--git-dir").strip())
    found = {p.relative_to(admin).as_posix(): p.read_bytes() for p in sorted(admin.rglob("*")) if p.is_file()}
    found["index"] = git(wt.path, "ls-files", "--stage", "-v", "--debug").encode()
    for stat in ("ctime", "mtime", "dev", "uid", "size"):  # stats differ between any two checkouts
        found["index"] = b"\n".join(
            line for line in found["index"].splitlines() if not line.strip().startswith(stat.encode())
        )
    return found


def state(wt: Worktree) -> tuple[dict[str, bytes], dict[str, bytes], str, str, str]:
    return (
        files_of(wt.path),
        git_dir_of(wt),
        (wt.path / ".git").read_text(),
        git(wt.path, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        git(wt.path, "rev-parse", "HEAD").strip(),
    )


def leave_a_mess(wt: Worktree) -> None:
    """What an agent may leave behind in a worktree and in its own git directory."""
    admin = Path(git(wt.path, "rev-parse", "--path-format=absolute", "--git-dir").strip())
    write(wt.path, {"stray.py": "import os\n", "pkg/new/deep.py": "x = 1\n", "debug.log": "ignored\n"})
    write(wt.path, {"build/out.txt": "ignored too\n"})
    (wt.path / "pkg" / "a.py").write_text("a = 'staged'\n")
    git(wt.path, "add", "pkg/a.py")
    (wt.path / "pkg" / "b.py").write_text("b = 'hidden by skip-worktree'\n")
    git(wt.path, "update-index", "--skip-worktree", "pkg/b.py")
    (wt.path / "pkg" / "__init__.py").unlink()
    (admin / "info").mkdir(exist_ok=True)
    (admin / "info" / "exclude").write_text("*.py\n")
    (admin / "info" / "sparse-checkout").write_text("/pkg/\n")
    (admin / "config.worktree").write_text("[core]\n\tsparseCheckout = true\n")
    (admin / "MERGE_HEAD").write_text(wt.base + "\n")
    git(wt.path, "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-qm", "agent's commit")
    (wt.path / ".git").write_text("gitdir: /nowhere\n")


async def test_the_next_file_sees_nothing_the_last_fixer_left(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    fresh = pool(repo, base, size=2)
    async with fresh.checkout() as first, fresh.checkout() as second:
        new = state(second)
        leave_a_mess(first)
        used = first.path
    async with fresh.checkout() as again:
        assert again.path in (used, second.path)
    async with fresh.checkout() as wt, fresh.checkout() as other:
        for reused in (wt, other):
            got = state(reused)
            assert got[0] == new[0] == {name: text.encode() for name, text in FILES.items()}
            assert got[1].keys() == new[1].keys()
            assert got[1]["index"] == new[1]["index"]
            assert got[3] == new[3] == ""
            assert got[4] == base
            assert got[2] == new[2].removesuffix(f"{second.path.name}\n") + f"{reused.path.name}\n"
            assert "info/exclude" not in got[1]
            assert "config.worktree" not in got[1]
    await fresh.close()


async def test_reuse_writes_only_what_the_last_fixer_changed_and_keeps_the_cache(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    (repo / ".mypy_cache").mkdir()
    (repo / ".mypy_cache" / "seed").write_text("from the user's checkout\n")
    (repo / ".mypy_cache" / ".gitignore").write_text("*\n")  # as mypy writes it
    worktrees = pool(repo, base, caches=(".mypy_cache",))
    async with worktrees.checkout() as wt:
        untouched = (wt.path / "untouched.py").stat()
        # The cache lives beside the worktree, where a fixer confined to the worktree cannot forge it.
        assert not (wt.path / ".mypy_cache").exists()
        (caches_of(wt.path) / ".mypy_cache" / "written").write_text("by this worktree's mypy\n")
        (wt.path / ".mypy_cache").mkdir()
        (wt.path / ".mypy_cache" / "forged").write_text("by the fixer\n")
        (wt.path / "pkg" / "a.py").write_text("a = 'changed'\n")
    async with worktrees.checkout() as again:
        assert again.path == wt.path
        assert (again.path / "untouched.py").stat().st_mtime_ns == untouched.st_mtime_ns
        assert (again.path / "untouched.py").stat().st_ino == untouched.st_ino
        assert (again.path / "pkg" / "a.py").read_text() == "a = 1\n"
        cache = caches_of(again.path) / ".mypy_cache"
        assert sorted(p.name for p in cache.iterdir()) == [".gitignore", "seed", "written"]
        assert not (again.path / ".mypy_cache").exists()
        assert git(again.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo / ".mypy_cache" / "written").exists()
    await worktrees.close()


async def test_no_more_worktrees_than_the_pool_holds_and_none_after_close(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    worktrees = pool(repo, base, size=2)
    busy: set[Path] = set()
    overlaps: list[int] = []
    used: set[Path] = set()

    async def one(n: int) -> None:
        async with worktrees.checkout() as wt:
            assert wt.path not in busy, "a worktree handed out twice at once"
            busy.add(wt.path)
            used.add(wt.path)
            overlaps.append(len(busy))
            (wt.path / f"left-by-{n}.py").write_text("x = 1\n")
            await asyncio.sleep(0.01)
            assert {p.name for p in wt.path.glob("left-by-*")} == {f"left-by-{n}.py"}
            busy.discard(wt.path)

    await asyncio.gather(*(one(n) for n in range(8)))
    assert len(used) == 2
    assert max(overlaps) <= 2

    entered: list[Path] = []

    async def third() -> None:
        async with worktrees.checkout() as wt:
            entered.append(wt.path)

    async with worktrees.checkout() as a:
        async with worktrees.checkout() as b:
            assert a.path != b.path
            waiting = asyncio.create_task(third())
            for _ in range(20):
                await asyncio.sleep(0)
            assert entered == [], "a third worktree handed out while the pool's two were busy"
        await waiting
        assert entered == [b.path]
    await worktrees.close()
    assert not worktrees.home.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (repo / ".git" / "worktrees").exists() or not any((repo / ".git" / "worktrees").iterdir())


async def test_a_worktree_past_resetting_is_replaced_by_a_new_one(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    worktrees = pool(repo, base)
    async with worktrees.checkout() as wt:
        admin = Path(git(wt.path, "rev-parse", "--path-format=absolute", "--git-dir").strip())
        first = wt.path
    admin.rename(admin.with_name("elsewhere"))
    admin.symlink_to(admin.with_name("elsewhere"))
    async with worktrees.checkout() as again:
        assert again.path != first
        assert not first.exists()
        assert files_of(again.path) == {name: text.encode() for name, text in FILES.items()}
    await worktrees.close()
    assert not worktrees.home.exists()
    # git's records of them too, the link and what it pointed to.
    assert not (repo / ".git" / "worktrees").exists(), list((repo / ".git" / "worktrees").iterdir())
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_close_forgets_the_runs_worktrees_and_leaves_the_users_records_alone(repo: Path, tmp_path: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    # The user's: a worktree in use, a locked one, and one whose directory is gone (git would prune it).
    git(repo, "worktree", "add", "--detach", "-q", str(tmp_path / "mine"), base)
    git(repo, "worktree", "add", "--detach", "-q", "--lock", "--reason", "on a usb stick", str(tmp_path / "away"), base)
    git(repo, "worktree", "add", "--detach", "-q", str(tmp_path / "gone"), base)
    shutil.rmtree(tmp_path / "gone")
    records = sorted(p.name for p in (repo / ".git" / "worktrees").iterdir())
    worktrees = pool(repo, base, size=2)
    async with worktrees.checkout(), worktrees.checkout():
        pass
    assert len(list((repo / ".git" / "worktrees").iterdir())) == len(records) + 2

    await worktrees.close()

    assert sorted(p.name for p in (repo / ".git" / "worktrees").iterdir()) == records
    assert (repo / ".git" / "worktrees" / "away" / "locked").read_text().strip() == "on a usb stick"
    listed = git(repo, "worktree", "list", "--porcelain")
    assert str(tmp_path / "mine") in listed and str(tmp_path / "away") in listed
    assert str(worktrees.home) not in listed


@pytest.mark.parametrize("kind", ["directory", "symlink"])
async def test_a_tracked_file_turned_into_something_else_comes_back(repo: Path, kind: str) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    worktrees = pool(repo, base)
    async with worktrees.checkout() as wt:
        target = wt.path / "pkg" / "a.py"
        target.unlink()
        if kind == "directory":
            write(wt.path, {"pkg/a.py/inside.py": "x = 1\n"})
        else:
            target.symlink_to(repo / "untouched.py")
    async with worktrees.checkout() as again:
        assert again.path == wt.path
        assert files_of(again.path) == {name: text.encode() for name, text in FILES.items()}
        assert not (again.path / "pkg" / "a.py").is_symlink()
    await worktrees.close()


async def test_a_file_written_back_is_never_as_old_as_the_fixers_version(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    (repo / ".mypy_cache").mkdir()
    worktrees = pool(repo, base, caches=(".mypy_cache",))
    async with worktrees.checkout() as wt:
        edited = wt.path / "pkg" / "a.py"
        edited.write_text("a = 9\n")  # as many bytes as the base's, as mypy's cache would not notice
        future = int(edited.stat().st_mtime) + 100
        os.utime(edited, (future, future))
    async with worktrees.checkout() as again:
        assert again.path == wt.path
        assert edited.read_text() == "a = 1\n"
        assert int(edited.stat().st_mtime) > future
    await worktrees.close()


async def test_a_checkout_cancelled_while_resetting_leaves_nothing_running(repo: Path) -> None:
    # A run that stops (a refused API key, Ctrl-C) cancels branches waiting
    # for a worktree; a reset that went on regardless would fail once
    # `close` removed its directory, and print its traceback at exit.
    write(repo, FILES)
    base = commit_all(repo)
    worktrees = pool(repo, base)

    async def take() -> None:
        async with worktrees.checkout():
            pass

    for delay in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08):
        async with worktrees.checkout() as wt:
            leave_a_mess(wt)
        taking = asyncio.create_task(take())
        await asyncio.sleep(delay)
        taking.cancel()
        await asyncio.gather(taking, return_exceptions=True)
        assert asyncio.all_tasks() == {asyncio.current_task()}, f"still running after a cancel at {delay}s"
    await worktrees.close()
    assert not worktrees.home.exists()


@pytest.mark.parametrize("trusting", [False, True])
async def test_an_edit_with_its_size_and_mtime_put_back_is_still_undone(repo: Path, trusting: bool) -> None:
    # The reset writes back only the files whose stats differ from the first checkout's; an
    # agent can set the mtime back, not the ctime, whatever the user's git is told to trust.
    write(repo, FILES)
    base = commit_all(repo)
    if trusting:  # the user's git told to look at mtime and size only
        git(repo, "config", "core.trustctime", "false")
        git(repo, "config", "core.checkStat", "minimal")
    worktrees = pool(repo, base)
    async with worktrees.checkout():
        time.sleep(1.1)  # the files written by the first checkout no longer as recent as any index
    async with worktrees.checkout() as wt:
        edited = wt.path / "pkg" / "a.py"
        before = edited.stat()
        # Past the second of the reset's index, as a slow agent's edit is: git no longer takes the
        # entry for racy (and compares its content) but trusts its stats.
        time.sleep(1.1)
        with edited.open("r+") as handle:
            handle.write("a = 9\n")
        os.utime(edited, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = edited.stat()
        assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    async with worktrees.checkout() as again:
        assert again.path == wt.path
        assert files_of(again.path) == {name: text.encode() for name, text in FILES.items()}
        assert git(again.path, "status", "--porcelain", "--untracked-files=all") == ""
    await worktrees.close()


async def test_a_split_index_of_the_users_is_no_trap_for_reuse(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    git(repo, "config", "core.splitIndex", "true")
    git(repo, "config", "splitIndex.maxPercentChange", "0")  # a new shared index at every write
    worktrees = pool(repo, base)
    paths = set()
    for n in range(4):
        async with worktrees.checkout() as wt:
            paths.add(wt.path)
            assert files_of(wt.path) == {name: text.encode() for name, text in FILES.items()}
            (wt.path / "pkg" / "a.py").write_text(f"a = {n + 10}\n")
            git(wt.path, "add", "--all")
    assert len(paths) == 1, "a worktree was replaced rather than reset"
    await worktrees.close()


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
async def test_a_record_is_of_the_files_whatever_the_worktrees_index_says(repo: Path, flag: str) -> None:
    # The worktree's index is the agent's to write: an entry it marks so that git no longer
    # looks at the file must not make the record (what lands) differ from the file (what is verified).
    write(repo, FILES)
    base = commit_all(repo)
    worktrees = pool(repo, base)
    async with worktrees.checkout() as wt:
        (wt.path / "pkg" / "a.py").write_text("a = 'unverified'\n")
        git(wt.path, "add", "pkg/a.py")
        git(wt.path, "update-index", flag, "pkg/a.py")
        (wt.path / "pkg" / "a.py").write_text("a = 'verified'\n")
        record = await wt.record()
        assert git(wt.path, "cat-file", "blob", f"{record}:pkg/a.py") == "a = 'verified'\n"
        await wt.accept(record)
        assert wt.tree == record
    await worktrees.close()


async def test_a_snapshot_sees_an_edit_made_in_the_second_of_the_users_git_add(repo: Path) -> None:
    # An edit in the same second as the index was written, to the same size, has the stats
    # of its entry; git compares such an entry's content only while the index is as old as it.
    write(repo, FILES)
    commit_all(repo)
    target = repo / "pkg" / "a.py"
    for _ in range(5):
        second = int(time.time())
        target.write_text("a = 5\n")
        git(repo, "add", "pkg/a.py")
        target.write_text("a = 6\n")
        if int(time.time()) == second and int(target.stat().st_mtime) == second:
            break
    else:
        pytest.fail("could not edit within the second of git add")
    time.sleep(1.1)  # the snapshot's copy of the index made in a later second

    tree = await working_tree(repo)

    assert git(repo, "cat-file", "blob", f"{tree}:pkg/a.py") == "a = 6\n"


def _admin(wt: Worktree) -> Path:
    return Path(git(wt.path, "rev-parse", "--path-format=absolute", "--git-dir").strip())


async def test_a_reset_writes_nothing_of_the_git_directory_a_fixer_left_alone(repo: Path) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    fresh = pool(repo, base)
    async with fresh.checkout() as wt:
        admin = _admin(wt)
        names = ["HEAD", "commondir", "gitdir", "locked", "logs/HEAD"]
        inodes = {name: (admin / name).stat().st_ino for name in names} | {".git": (wt.path / ".git").stat().st_ino}
        (wt.path / "pkg" / "a.py").write_text("a = 2\n")
    async with fresh.checkout() as again:
        assert again.path == wt.path
        assert {name: (admin / name).stat().st_ino for name in names} | {
            ".git": (again.path / ".git").stat().st_ino
        } == inodes
    await fresh.close()


@pytest.mark.parametrize("how", ["symlink", "hard-link", "same-size", "fifo", "directory"])
async def test_a_git_file_is_kept_only_as_a_file_of_its_own_with_the_same_bytes(
    repo: Path, tmp_path: Path, how: str
) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    fresh = pool(repo, base)
    async with fresh.checkout() as wt:
        new = git_dir_of(wt)
        admin = _admin(wt)
        head, dot_git = admin / "HEAD", wt.path / ".git"
        expected = head.read_bytes(), dot_git.read_bytes()
        if how == "symlink":  # to files outside holding the same bytes: kept, a write there would be a write here
            for path, data in ((head, expected[0]), (dot_git, expected[1])):
                elsewhere = tmp_path / path.name
                elsewhere.write_bytes(data)
                path.unlink()
                path.symlink_to(elsewhere)
        elif how == "hard-link":  # outside the worktree, where the reset's clean does not undo it
            os.link(head, tmp_path / "linked")
        elif how == "same-size":
            head.write_bytes(b"0" * (len(expected[0]) - 1) + b"\n")
        elif how == "fifo":
            head.unlink()
            os.mkfifo(head)
        else:
            head.unlink()
            (head / "inside").mkdir(parents=True)
    async with fresh.checkout() as again:
        assert again.path == wt.path
        for path, data in ((head, expected[0]), (dot_git, expected[1])):
            assert not path.is_symlink() and path.is_file(), how
            assert path.read_bytes() == data
            assert path.stat().st_nlink == 1
        assert git_dir_of(again) == new
        assert git(again.path, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    await fresh.close()
