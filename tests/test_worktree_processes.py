"""What a branch's worktree asks of git: few processes, none more in a larger repository, and no weaker checks.

`Worktree.accept` asks one `git status` where it can (its last record, the
index untouched since), and `Worktree.patch` lists the changed files in the
same `git diff` that writes the patch. Each test that counts processes comes
with the ones that try to slip a change past the shorter way.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import commit_all, git, stomper, write

from stomper.config import StomperSettings
from stomper.guard import check_change
from stomper.worktree import ChangedAfterVerification, Worktree, Worktrees

TARGET = "pkg/mod.py"


def commands(ran: list[tuple[str, ...]]) -> list[str]:
    """git's subcommand of each process (past the pinned `-c` settings)."""
    found = []
    for argv in ran:
        n = 1
        while n < len(argv) and argv[n] == "-c":
            n += 2
        found.append(argv[n])
    return found


@pytest.fixture
async def wt(repo: Path) -> AsyncIterator[Worktree]:
    write(repo, {"pkg/__init__.py": "", TARGET: "import os\n\nx = 1\n", "pkg/other.py": "y = 2\n"})
    base = commit_all(repo)
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base)
    async with worktrees.checkout() as worktree:
        yield worktree
    await worktrees.close()


async def test_accepting_an_unchanged_record_asks_git_once(wt: Worktree, ran: list[tuple[str, ...]]) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    record = await wt.record()
    ran.clear()

    await wt.accept(record)

    assert commands(ran) == ["status"]
    assert wt.tree == record
    assert git(wt.path, "cat-file", "blob", f"{wt.tree}:{TARGET}") == "x = 1\n"


async def test_a_rewrite_of_the_same_size_and_mtime_while_verifying_is_caught(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    record = await wt.record()
    before = (wt.path / TARGET).stat()
    (wt.path / TARGET).write_text("x = 7\n")  # a leftover process, while the tools looked
    os.utime(wt.path / TARGET, ns=(before.st_atime_ns, before.st_mtime_ns))  # and hiding it: ctime still moves

    with pytest.raises(ChangedAfterVerification, match=TARGET):
        await wt.accept(record)
    assert wt.tree == wt.base


@pytest.mark.parametrize("short_way", [True, False], ids=["git-status", "git-add"])
async def test_a_user_config_that_trusts_size_and_mtime_alone_does_not_let_a_replaced_file_through(
    repo: Path, wt: Worktree, short_way: bool
) -> None:
    # With ctime untrusted and stat checks minimal, git compares a file by its size and mtime seconds
    # only, not its inode; a file whose mtime is well before the index's is not even re-read.
    git(repo, "config", "core.trustctime", "false")
    git(repo, "config", "core.checkStat", "minimal")
    path = wt.path / TARGET
    path.write_text("x = 1\n")
    old = (path.stat().st_atime_ns, path.stat().st_mtime_ns - 10**10)
    os.utime(path, ns=old)
    record = await wt.record()
    if not short_way:
        assert wt.index is not None
        os.utime(wt.index)  # its index no longer as the record left it: `git add --all` again
    # A leftover process replaces the file, same size, its mtime put back.
    planted = path.with_name("planted")
    planted.write_text("x = 7\n")
    os.utime(planted, ns=old)
    planted.replace(path)

    with pytest.raises(ChangedAfterVerification, match=TARGET):
        await wt.accept(record)


async def test_a_change_staged_into_the_index_while_verifying_is_caught(wt: Worktree) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    record = await wt.record()
    (wt.path / TARGET).write_text("x = 666\n")
    git(wt.path, "add", "--all")  # the index now agrees with the files: only the index's own change tells

    with pytest.raises(ChangedAfterVerification, match=TARGET):
        await wt.accept(record)


@pytest.mark.parametrize("how", ["new file", "deleted", "mode"])
async def test_any_other_change_while_verifying_is_caught(wt: Worktree, how: str) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    record = await wt.record()
    if how == "new file":
        write(wt.path, {"pkg/planted.py": "import os\n"})
    elif how == "deleted":
        (wt.path / "pkg/other.py").unlink()
    else:
        (wt.path / "pkg/other.py").chmod(0o755)

    with pytest.raises(ChangedAfterVerification):
        await wt.accept(record)
    assert wt.tree == wt.base


async def test_an_older_record_is_compared_the_long_way(wt: Worktree, ran: list[tuple[str, ...]]) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    first = await wt.record()
    (wt.path / TARGET).write_text("x = 2\n")
    await wt.record()
    ran.clear()

    with pytest.raises(ChangedAfterVerification, match=TARGET):
        await wt.accept(first)
    assert "status" not in commands(ran)


async def test_the_patch_and_the_changed_files_come_from_one_git(wt: Worktree, ran: list[tuple[str, ...]]) -> None:
    (wt.path / TARGET).write_text("x = 1\n")
    write(wt.path, {"pkg/new file ü.py": "z = 3\n"})
    await wt.accept(await wt.record())
    ran.clear()

    patch = await wt.patch()
    changed = await wt.changes()
    settings = StomperSettings(allow_other_files=True)
    await check_change(wt, TARGET, patch, settings, original=b"import os\n\nx = 1\n", verified=b"x = 1\n")

    assert commands(ran) == ["diff"]
    assert patch == git(wt.path, "diff", "--binary", "--full-index", "--no-renames", wt.base, wt.tree).encode()
    assert [(c.path, c.status) for c in changed] == [("pkg/mod.py", "M"), ("pkg/new file ü.py", "A")]
    listed = git(wt.path, "diff-tree", "-r", "--no-abbrev", "--no-renames", wt.base, wt.tree)
    assert [(c.old_blob, c.new_blob) for c in changed] == [
        (None if set(f[2]) == {"0"} else f[2], f[3]) for f in (line[1:].split() for line in listed.splitlines())
    ]


async def test_a_deletion_still_has_its_renames_found(wt: Worktree, ran: list[tuple[str, ...]]) -> None:
    (wt.path / "pkg/other.py").rename(wt.path / "pkg/moved.py")
    await wt.accept(await wt.record())
    ran.clear()

    await wt.patch()
    renamed = await wt.changes(renames=True)

    assert commands(ran) == ["diff", "diff-tree"]
    assert [(c.path, c.status, c.renamed_from) for c in renamed] == [("pkg/moved.py", "R", "pkg/other.py")]


AGENT = """\
#!/bin/sh
sed -i 's/undefined_name/0/' "$1"
"""


def _failing(tmp_path: Path, count: int) -> Path:
    """A repository of `count` modules, each with one problem only an agent can fix."""
    repo = tmp_path / "repo"
    write(repo, {"pkg/__init__.py": ""})
    for n in range(count):
        write(repo, {f"pkg/mod{n}.py": f"def value{n}() -> int:\n    return undefined_name\n"})
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo)
    return repo


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def _git_first_on_path(where: Path, template: str, **values: object) -> str:
    """A PATH whose `git` is `template` (given `{git}`, the real one, and `values`)."""
    real_git = next(Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / "git").is_file())
    wrapper = _script(where / "bin" / "git", template.format(git=real_git, **values))
    return f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"


GIT_LOGGER = """\
#!/bin/sh
printf '%s\\t%s\\n' "$PWD" "$*" >> {log}
exec {git} "$@"
"""


def _fix_logged(tmp_path: Path, failing: int, files: int, parallel: int = 4) -> list[tuple[str, str]]:
    """(directory, arguments) of each git process of a `stomper fix` of `failing` files (one attempt each)
    among `files`, in the order they started."""
    where = tmp_path / f"{failing}-{files}"
    repo = where / "repo"
    for n in range(files):
        body = "undefined_name" if n < failing else str(n)
        write(repo, {f"pkg/mod{n:03}.py": f"def value{n}() -> int:\n    return {body}\n"})
    write(repo, {"pkg/__init__.py": ""})
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_all(repo)
    agent = _script(where / "agent.sh", AGENT)
    # A `git` first on PATH that notes each run of it, then runs the real one.
    log = where / "git.log"
    path = _git_first_on_path(where, GIT_LOGGER, log=log)
    args = ("fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff", "--parallel", str(parallel))
    done = stomper(repo, *args, env={"PATH": path})
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-list", "--count", "HEAD") == f"{failing + 1}\n"
    return [(cwd, argv) for cwd, _, argv in (line.partition("\t") for line in log.read_text().splitlines())]


def _processes_per_file(tmp_path: Path, failing: int, files: int) -> float:
    """The git processes per file that run in the run's worktrees: the per-file work, not the run's set-up."""
    return len([cwd for cwd, _ in _fix_logged(tmp_path, failing, files) if "/.git/stomper/" in cwd]) / failing


def test_the_git_processes_per_file_do_not_grow_with_the_repository(tmp_path: Path) -> None:
    small = _processes_per_file(tmp_path, 8, 10)
    large = _processes_per_file(tmp_path, 8, 200)

    assert large == small
    # Pool reset (clean, read-tree), record (add, write-tree), accept (status), patch and files (diff),
    # blobs (cat-file); the first use of a worktree adds its own set-up, shared by the files it serves.
    assert small < 8


def test_the_runs_last_check_takes_an_idle_worktree_rather_than_checking_out_another(tmp_path: Path) -> None:
    ran = _fix_logged(tmp_path, 6, 8, parallel=2)

    made = [argv for _, argv in ran if " worktree add " in f" {argv} "]
    assert len(made) == 3  # --parallel 2 and its spare: every checkout of the repository is one of the pool's


LOGGING_AGENT = """\
#!/bin/sh
echo "agent $1" >> {log}
sed -i 's/undefined_name/0/' "$1"
"""

SIGNING_THAT_WAITS = """\
#!/bin/sh
cat >/dev/null
echo "signing" >> {log}
sleep 3
echo "signed" >> {log}
printf '\\n[GNUPG:] SIG_CREATED D 1 8 00 0 0\\n' >&2
printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nfake\\n-----END PGP SIGNATURE-----\\n'
"""


def test_the_next_file_has_the_worktree_while_the_last_ones_fix_lands(tmp_path: Path) -> None:
    repo = _failing(tmp_path, 2)
    log = tmp_path / "events"
    agent = _script(tmp_path / "agent.sh", LOGGING_AGENT.format(log=log))
    gpg = _script(tmp_path / "gpg.sh", SIGNING_THAT_WAITS.format(log=log))
    git(repo, "config", "gpg.program", str(gpg))
    git(repo, "config", "commit.gpgSign", "true")

    args = ("fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff", "--parallel", "1")
    done = stomper(repo, *args)

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-list", "--count", "HEAD") == "3\n"
    events = log.read_text().splitlines()
    # The first signing is stomper's check, before the run, that it can make a commit.
    assert events[:3] == ["signing", "signed", "agent pkg/mod0.py"]
    # --parallel 1: one fixer at a time, and the second starts before the first fix has landed (its commit signed).
    assert events.index("agent pkg/mod1.py") < events.index("signed", 3), events
    assert events.count("signed") == 3


TIMED_AGENT = """\
#!/bin/sh
echo "agent $1" >> {log}
sleep 0.3
sed -i 's/undefined_name/0/' "$1"
echo "agent done $1" >> {log}
"""

ACCEPT_THAT_WAITS = """\
#!/bin/sh
case "$PWD $*" in
    */.git/stomper/*" status --porcelain"*) echo "accepting" >> {log}; sleep 1; echo "accepted" >> {log} ;;
esac
exec {git} "$@"
"""


def test_a_fixer_done_with_one_file_starts_the_next_while_that_file_is_verified(tmp_path: Path) -> None:
    repo = _failing(tmp_path, 4)
    log = tmp_path / "events"
    agent = _script(tmp_path / "agent.sh", TIMED_AGENT.format(log=log))
    # A `git` first on PATH whose check that a verified worktree is unchanged (the accept) takes a second.
    path = _git_first_on_path(tmp_path, ACCEPT_THAT_WAITS, log=log)

    args = ("fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff", "--parallel", "2")
    done = stomper(repo, *args, env={"PATH": path})

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-list", "--count", "HEAD") == "5\n"
    events = log.read_text().splitlines()
    started = [n for n, event in enumerate(events) if event.startswith("agent pkg/")]
    # The third file's agent ran in the spare worktree while the first two files were still being verified.
    assert started[2] < events.index("accepted"), events
    running = peak = 0
    for event in events:
        running += event.startswith("agent pkg/") - event.startswith("agent done")
        peak = max(peak, running)
    assert peak == 2, events  # and never more than --parallel agents at once


SLOW_THEN_QUICKER_AGENT = """\
#!/bin/sh
case "$1" in
    *mod2.py) sleep 2.4 ;;
    *) sleep 3 ;;
esac
sed -i 's/undefined_name/0/' "$1"
"""


def test_the_wait_for_a_fixers_turn_is_not_the_files_time(tmp_path: Path) -> None:
    repo = _failing(tmp_path, 3)
    agent = _script(tmp_path / "agent.sh", SLOW_THEN_QUICKER_AGENT)

    # --parallel 2: the third file's worktree (the spare) is ready at once, its fixer's turn comes after
    # 3 s; its own attempt (2.4 s and verification) fits in 4.5 s, the wait and the attempt together do not.
    args = ("fix", "--fixer", "agent", "--agent", f"{agent} {{file}}", "--tools", "ruff", "--parallel", "2")
    done = stomper(repo, *args, env={"STOMPER_FILE_TIMEOUT": "4.5"})

    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "rev-list", "--count", "HEAD") == "4\n", done.stdout + done.stderr
    assert "file_timeout" not in done.stdout + done.stderr
