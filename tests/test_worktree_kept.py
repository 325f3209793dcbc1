"""Worktrees kept from one run to the next (`keep_worktrees`): taken back as clean as new, or not at all.

Between two runs a kept worktree is out of git's sight and out of stomper's
hands: whatever happened to it or around it (the last fixer's mess, an edit
made to look untouched, its files beside it damaged, the repository's
checkout settings or attributes changed, its record's name taken by a
worktree of the user's, a kill at any moment of a run), the next run must
hand out a worktree of its own base and nothing else, and leave git's
records as git would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import commit_all, git, write

from stomper.pool import caches_of
from stomper.worktree import Worktrees, remove_leftovers
from tests.faults.killing import kill_tree
from tests.test_worktree_pool import FILES, files_of, leave_a_mess


def run(repo: Path, run_id: str, base: str, size: int = 1, caches: tuple[str, ...] = ()) -> Worktrees:
    return Worktrees(repo, repo / ".git" / "stomper", run_id, base, caches=caches, size=size, keep=True)


def home(repo: Path) -> Path:
    return repo / ".git" / "stomper" / "worktrees" / "pool"


def listed(repo: Path) -> list[str]:
    """The worktrees git lists, the user's checkout first."""
    lines = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line.removeprefix("worktree ") for line in lines if line.startswith("worktree ")]


def records(repo: Path) -> list[str]:
    path = repo / ".git" / "worktrees"
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def clean_checkout_of(path: Path, base: str, files: dict[str, str]) -> None:
    """`path` holds exactly `files`, and git there sees the worktree of `base` with nothing changed."""
    assert files_of(path) == {name: text.encode() for name, text in files.items()}
    assert git(path, "status", "--porcelain", "--ignored", "--untracked-files=all") == ""
    assert git(path, "rev-parse", "HEAD").strip() == base


SECOND = {**FILES, "pkg/a.py": "a = 9\n", "pkg/c.py": "c = 1\n"}
del SECOND["pkg/b.py"]


def second_commit(repo: Path) -> str:
    (repo / "pkg" / "b.py").unlink()
    write(repo, {"pkg/a.py": SECOND["pkg/a.py"], "pkg/c.py": SECOND["pkg/c.py"]})
    return commit_all(repo)


async def test_the_next_run_takes_back_what_the_last_kept_and_writes_only_what_changed(repo: Path) -> None:
    write(repo, FILES)
    first = commit_all(repo)
    (repo / ".mypy_cache").mkdir()
    (repo / ".mypy_cache" / "seed").write_text("from the user's checkout\n")
    one = run(repo, "r1", first, size=2, caches=(".mypy_cache",))
    async with one.checkout() as a, one.checkout() as b:
        leave_a_mess(a)
        (caches_of(b.path) / ".mypy_cache" / "warm").write_text("written by mypy in r1\n")
        paths = {a.path, b.path}
    await one.close()

    # Parked: reset (nothing a fixer left stays on disk), out of git's sight, with what the next run
    # needs beside each.
    for path in paths:
        assert files_of(path) == {name: text.encode() for name, text in FILES.items()}
        assert not (path / "debug.log").exists() and not (path / "build").exists()
    assert listed(repo) == [str(repo)]
    assert records(repo) == []
    assert {p for p in home(repo).iterdir() if p.name.isdigit()} == paths
    untouched = {p: (p / "untouched.py").stat() for p in paths}
    a_before = {p: int((p / "pkg" / "a.py").stat().st_mtime) for p in paths}

    second = second_commit(repo)
    two = run(repo, "r2", second, size=2, caches=(".mypy_cache",))
    async with two.checkout() as x, two.checkout() as y:
        assert {x.path, y.path} == paths, "a new worktree made while kept ones were there"
        for wt in (x, y):
            clean_checkout_of(wt.path, second, SECOND)
            # Not checked out again: a file both bases hold alike is the same file.
            assert (wt.path / "untouched.py").stat().st_ino == untouched[wt.path].st_ino
            assert int((wt.path / "pkg" / "a.py").stat().st_mtime) > a_before[wt.path]
            assert (repo / ".git" / "worktrees").is_dir()
            locked = Path(git(wt.path, "rev-parse", "--path-format=absolute", "--git-dir").strip()) / "locked"
            assert locked.read_text() == "stomper run r2\n"
        assert sorted(listed(repo)[1:]) == sorted(str(p) for p in paths)
        warm = caches_of(b.path) / ".mypy_cache" / "warm"
        assert warm.read_text() == "written by mypy in r1\n", "a kept worktree's cache was not kept with it"
    await two.close()
    assert listed(repo) == [str(repo)]
    git(repo, "fsck", "--no-progress")


@pytest.mark.parametrize(
    "harm",
    [
        "kept-unreadable",
        "trusted-changed",
        "moved",
        "admin-escapes",
        "autocrlf",
        "attributes",
        "record-taken",
        "symlink",
    ],
)
async def test_a_kept_worktree_that_cannot_be_trusted_is_made_anew(repo: Path, tmp_path: Path, harm: str) -> None:
    write(repo, FILES)
    first = commit_all(repo)
    one = run(repo, "r1", first)
    async with one.checkout() as wt:
        kept = wt.path
        (wt.path / "stray.py").write_text("left by r1's fixer\n")
    await one.close()
    # What a worktree taken back keeps and one made anew has not: its caches.
    caches_of(kept).mkdir(exist_ok=True)
    (caches_of(kept) / "r1").write_text("kept with r1's worktree\n")
    beside = {suffix: kept.with_name(f"{kept.name}.{suffix}") for suffix in ("kept", "trusted")}
    files = dict(FILES)
    elsewhere = tmp_path / "elsewhere"
    if harm == "kept-unreadable":
        beside["kept"].write_text("{not json")
    elif harm == "trusted-changed":
        beside["trusted"].write_bytes(beside["trusted"].read_bytes()[:-1] + b"x")
    elif harm == "moved":
        manifest = json.loads(beside["kept"].read_text())
        beside["kept"].write_text(json.dumps({**manifest, "worktree": str(tmp_path / "old" / "0")}))
    elif harm == "admin-escapes":
        # A record path that names the repository's git directory itself: rewriting it as a record would
        # remove everything in it but a worktree's few files.
        manifest = json.loads(beside["kept"].read_text())
        escaped = str(repo / ".git" / "worktrees" / "..")
        dot_git = base64.b64encode(f"gitdir: {escaped}\n".encode()).decode()
        beside["kept"].write_text(json.dumps({**manifest, "admin": escaped, "dot_git": dot_git}))
    elif harm == "autocrlf":
        git(repo, "config", "core.autocrlf", "true")
    elif harm == "attributes":
        files[".gitattributes"] = "*.py text eol=crlf\n"
        write(repo, {".gitattributes": files[".gitattributes"]})
    elif harm == "record-taken":
        # The user's own worktree, whose record git names as ours was named: it must stay theirs.
        git(repo, "worktree", "add", "--quiet", "--detach", str(tmp_path / kept.name), first)
    elif harm == "symlink":
        elsewhere.mkdir()
        (elsewhere / "theirs.txt").write_text("not stomper's\n")
        kept.rename(tmp_path / "moved-away")
        kept.symlink_to(elsewhere)
    base = commit_all(repo)
    user_records = records(repo)

    two = run(repo, "r2", base)
    async with two.checkout() as again:
        assert not again.path.is_symlink()
        clean_checkout_of(again.path, base, {name: checked_out(name, text, harm) for name, text in files.items()})
        if harm in ("kept-unreadable", "trusted-changed", "moved", "admin-escapes", "symlink"):
            assert not (again.path / "stray.py").exists()
        assert not (caches_of(kept) / "r1").exists(), "the worktree it should not trust was taken back"
        assert not (caches_of(again.path) / "r1").exists()
    await two.close()

    assert records(repo) == user_records
    if harm == "record-taken":
        assert str(tmp_path / kept.name) in listed(repo)
        assert git(tmp_path / kept.name, "status", "--porcelain") == ""
    if harm == "symlink":
        assert (elsewhere / "theirs.txt").read_text() == "not stomper's\n"
    git(repo, "fsck", "--no-progress")


def checked_out(name: str, text: str, harm: str) -> str:
    """What git's checkout writes of `text` at `name` after `harm`."""
    crlf = harm == "autocrlf" or (harm == "attributes" and name.endswith(".py"))
    return text.replace("\n", "\r\n") if crlf else text


async def parked_once(repo: Path) -> tuple[str, Path]:
    """`FILES` committed, and one run's worktree of that commit parked: the commit, and the worktree."""
    write(repo, FILES)
    first = commit_all(repo)
    one = run(repo, "r1", first)
    async with one.checkout() as wt:
        path = wt.path
    await one.close()
    return first, path


async def test_an_edit_made_between_runs_and_made_to_look_untouched_is_undone(repo: Path) -> None:
    first, path = await parked_once(repo)
    target = path / "untouched.py"
    before = target.stat()
    target.write_text("c = 4\n")  # the same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))

    two = run(repo, "r2", first)
    async with two.checkout() as again:
        assert again.path == path
        clean_checkout_of(path, first, FILES)
    await two.close()


async def test_a_kill_in_a_run_that_took_back_a_kept_worktree_leaves_it_kept_or_gone(repo: Path) -> None:
    write(repo, FILES)
    first = commit_all(repo)
    state = repo / ".git" / "stomper"
    one = run(repo, "r1", first, size=2)
    async with one.checkout(), one.checkout():
        pass
    await one.close()
    # As a kill in the next run leaves it: one kept worktree taken back, its record locked by the
    # dead run; one more made in that run, never parked; a park cut short before its last write.
    two = run(repo, "r2", first, size=3)
    async with two.checkout() as taken, two.checkout(), two.checkout() as made:
        (taken.path / "stray.py").write_text("mid-fix\n")
        assert not made.path.with_name(f"{made.path.name}.kept").exists()
        made.path.with_name(f"{made.path.name}.kept.partial").write_text("{")
    assert len(records(repo)) == 3

    left, unkept = await remove_leftovers(repo, state)

    assert left == ["r2"] and unkept == 1
    assert records(repo) == [] and listed(repo) == [str(repo)]
    assert not made.path.exists() and not list(home(repo).glob(f"{made.path.name}.*"))
    three = run(repo, "r3", first, size=2)
    async with three.checkout() as x, three.checkout() as y:
        assert taken.path in (x.path, y.path)
        for wt in (x, y):
            clean_checkout_of(wt.path, first, FILES)
    await three.close()
    git(repo, "fsck", "--no-progress")


async def test_without_keep_the_next_repair_removes_what_was_kept(repo: Path) -> None:
    write(repo, FILES)
    first = commit_all(repo)
    one = run(repo, "r1", first, size=2)
    async with one.checkout(), one.checkout():
        pass
    await one.close()

    assert await remove_leftovers(repo, repo / ".git" / "stomper", keep=False) == ([], 2)

    assert not home(repo).exists()
    assert records(repo) == []


_CYCLE = """
import asyncio, sys
from stomper.worktree import Worktrees, remove_leftovers

async def main(repo, base):
    from pathlib import Path
    state = Path(repo) / ".git" / "stomper"
    n = 0
    while True:
        await remove_leftovers(Path(repo), state)
        pool = Worktrees(Path(repo), state, f"k{n}", base, size=2, keep=True)
        async with pool.checkout() as a, pool.checkout() as b:
            (a.path / "pkg" / "a.py").write_text("a = 'fixer'\\n")
            (b.path / "stray.py").write_text("x = 1\\n")
            print("ready", flush=True)
        await pool.close()
        n += 1

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.45, 0.6])
def test_a_kill_at_any_moment_of_taking_back_and_parking_is_repaired(repo: Path, delay: float) -> None:
    write(repo, FILES)
    base = commit_all(repo)
    script = repo.parent / "cycle.py"
    script.write_text(_CYCLE)
    child = subprocess.Popen(
        [sys.executable, str(script), str(repo), base], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"  # one run done: from here on there is something kept
    time.sleep(delay)
    kill_tree(child)  # with the git it may be running, each in a session of its own

    async def next_run() -> None:
        await remove_leftovers(repo, repo / ".git" / "stomper")
        assert records(repo) == [] and listed(repo) == [str(repo)]
        pool = run(repo, "after", base, size=2)
        async with pool.checkout() as a, pool.checkout() as b:
            for wt in (a, b):
                clean_checkout_of(wt.path, base, FILES)
        await pool.close()

    asyncio.run(next_run())
    assert listed(repo) == [str(repo)]
    git(repo, "fsck", "--no-progress")


async def test_a_kept_worktree_outlives_a_gc_that_prunes_its_last_snapshot(repo: Path) -> None:
    write(repo, FILES)
    commit_all(repo)
    (repo / "pkg" / "a.py").write_text("a = 'only in the snapshot gc will prune'\n")
    gone = commit_all(repo)
    one = run(repo, "r1", gone)
    async with one.checkout() as wt:
        path = wt.path
    await one.close()
    # Nothing keeps the kept worktree's snapshot once its record is gone: a gc may prune it.
    git(repo, "reset", "--hard", "--quiet", "HEAD~1")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "--prune=now", "--quiet")
    assert subprocess.run(["git", "cat-file", "-e", gone], cwd=repo).returncode != 0, "the snapshot was not pruned"
    base = second_commit(repo)

    two = run(repo, "r2", base)
    async with two.checkout() as again:
        assert again.path == path
        clean_checkout_of(path, base, SECOND)
    await two.close()
    git(repo, "fsck", "--no-progress")


async def test_what_cannot_be_removed_beside_the_kept_worktrees_fails_no_run(repo: Path) -> None:
    """A fixer without a sandbox may leave beside its worktree what no one can remove (made immutable,
    as root; unwritable, as a user): each run's end and the next repair clear what they can and go on."""
    write(repo, FILES)
    first = commit_all(repo)
    one = run(repo, "r1", first, size=2)
    async with one.checkout() as wt, one.checkout():
        stuck = wt.path.parent / "junk" / "stuck.py"
        stuck.parent.mkdir()
        stuck.write_text("x = 1\n")
        (wt.path.parent / "loose.txt").write_text("gone\n")
        _stick(stuck, True)
    try:
        await one.close()

        assert stuck.exists() and not (wt.path.parent / "loose.txt").exists()
        two = run(repo, "r2", first, size=2)
        async with two.checkout() as x, two.checkout() as y:
            assert {x.path, y.path} == {home(repo) / "0", home(repo) / "1"}
            clean_checkout_of(x.path, first, FILES)
        await two.close()
        assert await remove_leftovers(repo, repo / ".git" / "stomper", keep=False) == ([], 2)
        assert stuck.exists() and not (home(repo) / "0").exists()
    finally:
        _stick(stuck, False)
    assert await remove_leftovers(repo, repo / ".git" / "stomper", keep=False) == ([], 0)
    assert not home(repo).exists()


def _stick(path: Path, stuck: bool) -> None:
    """Make `path` impossible to remove (or possible again): immutable for root, whom no mode stops, and in
    a directory without write permission for anyone else."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if stuck else "-i", str(path)], check=True)
    else:
        path.parent.chmod(0o555 if stuck else 0o755)


async def test_a_worktree_that_cannot_be_parked_fails_no_run_and_is_not_trusted_wrongly(repo: Path) -> None:
    """Parking writes beside each worktree; when it cannot (a disk full; here its `<n>.kept` immutable for
    root, the pool's directory unwritable for anyone else), the run still ends, and the next takes back
    only a worktree it can trust: the files as they are, whatever an old manifest says."""
    _, path = await parked_once(repo)
    manifest = path.with_name(f"{path.name}.kept")
    second = second_commit(repo)
    _stick(manifest, True)
    try:
        two = run(repo, "r2", second)
        async with two.checkout() as again:
            assert again.path == path
            (again.path / "pkg" / "a.py").write_text("a = 'fixer'\n")
        await two.close()

        assert records(repo) == [] and listed(repo) == [str(repo)]
    finally:
        _stick(manifest, False)
    three = run(repo, "r3", second)
    async with three.checkout() as last:
        clean_checkout_of(last.path, second, SECOND)
    await three.close()
    git(repo, "fsck", "--no-progress")
