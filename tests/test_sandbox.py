"""`stomper.sandbox`: the bubblewrap command line, the box of an attempt, the probe and the choice.

What a confined agent can and cannot do end to end is in tests/faults/test_sandbox.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import commit_all, git, process_gone, write

from stomper import proc, sandbox
from stomper.errors import FixerError, GitError, ProcTimeout, SandboxUnavailable

BOX = sandbox.Box(
    worktree=Path("/r/.git/stomper/worktrees/run/0"),
    git_dir=Path("/r/.git/worktrees/0"),
    objects=Path("/tmp/s/objects"),
    repo_objects=Path("/r/.git/objects"),
    home=Path("/tmp/s/home"),
    tmp=Path("/tmp/s/tmp"),
    protected=(Path("/r/.git/stomper/worktrees/run/0/.git"),),
)


@pytest.fixture
def bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        if sys.platform == "linux":
            pytest.fail(
                "bubblewrap (bwrap) is not installed: run `python3 tasks.py test` as root, or apt-get install it"
            )
        pytest.skip(f"bubblewrap is Linux only (this is {sys.platform})")
    return found


def fake_bwrap(tmp_path: Path, script: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bwrap").write_text(f"#!/bin/sh\n{script}\n")
    (bin_dir / "bwrap").chmod(0o755)
    return bin_dir


def test_the_root_is_read_only_and_only_the_attempts_places_are_bound_writable_over_it() -> None:
    argv = sandbox.argv_prefix("bwrap", BOX)

    assert argv[:4] == ["bwrap", "--ro-bind", "/", "/"]
    writable = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bind"]
    assert writable == [str(p) for p in (BOX.worktree, BOX.git_dir, BOX.objects, BOX.home, BOX.tmp)]
    # Bound after the writable places, so that they win over them.
    last_bind = max(i for i, arg in enumerate(argv) if arg == "--bind")
    read_only = argv.index(str(BOX.protected[0]))
    assert argv[read_only - 1] == "--ro-bind-try" and read_only > last_bind
    for flag in ("--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert "--unshare-net" not in argv
    assert str(BOX.repo_objects) not in argv
    assert argv[-3:] == ["--chdir", str(BOX.worktree), "--"]


def test_a_tool_verifying_a_worktree_may_write_it_its_scratch_and_its_caches_and_not_its_git_file() -> None:
    scratch, caches = Path("/tmp/stomper-pytest-x"), Path("/repo/.git/stomper/worktrees/run/0.caches")
    argv = sandbox.tool_argv_prefix("bwrap", BOX.worktree, (scratch, caches))

    assert argv[:4] == ["bwrap", "--ro-bind", "/", "/"]
    writable = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bind"]
    assert writable == [str(BOX.worktree), str(scratch), str(caches)]
    assert argv[argv.index(str(BOX.worktree / ".git")) - 1] == "--ro-bind-try"
    for flag in ("--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[-3:] == ["--chdir", str(BOX.worktree), "--"]


def test_the_environment_has_the_private_home_tmpdir_and_objects_and_no_xdg_directories() -> None:
    env = sandbox.environment(
        {"HOME": "/home/u", "TMPDIR": "/tmp", "XDG_CONFIG_HOME": "/home/u/.config", "OPENAI_API_KEY": "k"}, BOX
    )

    assert env == {
        "HOME": "/tmp/s/home",
        "TMPDIR": "/tmp/s/tmp",
        "TMP": "/tmp/s/tmp",
        "TEMP": "/tmp/s/tmp",
        "GIT_OBJECT_DIRECTORY": "/tmp/s/objects",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "/r/.git/objects",
        "OPENAI_API_KEY": "k",
    }


async def test_a_box_is_made_for_a_real_worktree(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"a.py": "x = 1\n"})
    commit_all(repo)
    worktree = repo / ".git" / "stomper" / "wt"
    git(repo, "worktree", "add", "--quiet", "--detach", str(worktree), "HEAD")
    write(tmp_path / "home", {".claude.json": "{}", ".config/git/config": "[user]\n", ".ssh/id_ed25519": "key"})
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    box = await sandbox.make_box(worktree, scratch, [".claude.json", ".config/git", ".codex/auth.json"])

    assert box.git_dir == repo / ".git" / "worktrees" / "wt"
    assert box.repo_objects == repo / ".git" / "objects"
    assert (box.objects, box.home, box.tmp) == (scratch / "objects", scratch / "home", scratch / "tmp")
    assert box.objects.is_dir() and box.home.is_dir() and box.tmp.is_dir()
    assert worktree / ".git" in box.protected
    assert box.git_dir / "commondir" in box.protected
    # Copies of what was asked for and exists; nothing else of the real home.
    copied = sorted(str(p.relative_to(box.home)) for p in box.home.rglob("*") if p.is_file())
    assert copied == [".claude.json", ".config/git/config"]


async def test_a_home_path_that_cannot_be_copied_fails_the_attempt_with_its_name(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo, {"a.py": "x = 1\n"})
    commit_all(repo)
    (tmp_path / "home").mkdir()
    os.mkfifo(tmp_path / "home" / ".claude.json")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    with pytest.raises(FixerError, match=r"cannot copy .*/home/\.claude\.json into the agent's home"):
        await sandbox.make_box(repo, scratch, [".claude.json"])


async def test_a_box_confines_a_real_program(repo: Path, tmp_path: Path, bwrap: str) -> None:
    write(repo, {"a.py": "x = 1\n"})
    commit_all(repo)
    worktree = repo / ".git" / "stomper" / "wt"
    git(repo, "worktree", "add", "--quiet", "--detach", str(worktree), "HEAD")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    box = await sandbox.make_box(worktree, scratch, [])
    script = (
        'echo fixed > a.py && echo "$HOME $TMPDIR" > "$HOME/where" && '
        f"! echo x 2>/dev/null > {repo}/a.py && ! echo x 2>/dev/null > .git && "
        f"! rm -rf {repo}/.git/objects/pack 2>/dev/null && ! git branch planted 2>/dev/null && "
        "git add a.py && git -c user.name=a -c user.email=a@b commit -qm agent && git rev-parse HEAD >&2 && echo ok"
    )

    done = await proc.run(
        [*sandbox.argv_prefix(bwrap, box), "sh", "-c", script],
        cwd=worktree,
        env=sandbox.environment(os.environ, box),
        timeout=60,
    )

    assert (done.returncode, done.out) == (0, "ok\n"), done.err
    commit = done.err.strip()
    assert subprocess.run(["git", "cat-file", "-e", commit], cwd=repo).returncode != 0

    await sandbox.keep_objects(box)

    assert git(repo, "cat-file", "-t", commit) == "commit\n"
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
    assert (worktree / "a.py").read_text() == "fixed\n"
    assert (repo / "a.py").read_text() == "x = 1\n"
    assert (box.home / "where").read_text() == f"{box.home} {box.tmp}\n"
    assert git(repo, "branch", "--list", "planted") == ""


async def test_an_attempt_that_times_out_takes_every_process_of_its_box_with_it(tmp_path: Path, bwrap: str) -> None:
    place = tmp_path / "w"
    place.mkdir()
    box = sandbox.Box(worktree=place, git_dir=place, objects=place, repo_objects=place, home=place, tmp=place)
    word = f"sandboxed-{os.getpid()}-{id(box)}"
    script = f"setsid sh -c 'sleep 1000; : {word}' & nohup sh -c 'sleep 1000; : {word}' & sleep 1000"

    attempt = asyncio.ensure_future(
        proc.run([*sandbox.argv_prefix(bwrap, box), "sh", "-c", script], cwd=place, timeout=5)
    )
    # bwrap, its init, the shell, and the two escaped shells.
    while len(started := _with(word)) < 5:
        assert not attempt.done(), attempt
        await asyncio.sleep(0.02)

    with pytest.raises(ProcTimeout):
        await attempt

    assert all(process_gone(pid) for pid in started)


def _with(word: str) -> list[int]:
    found = []
    for pid in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if pid.name.isdigit() and word.encode() in (pid / "cmdline").read_bytes():
                found.append(int(pid.name))
    return found


async def test_a_forged_object_is_not_kept_under_its_false_name(repo: Path, tmp_path: Path) -> None:
    write(repo, {"a.py": "x = 1\n"})
    commit_all(repo)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    box = await sandbox.make_box(repo, scratch, [])
    forged = box.objects / "ab" / ("c" * 38)
    forged.parent.mkdir()
    forged.write_bytes(zlib.compress(b"blob 5\0hello"))

    # git hashes it again: what is kept, if anything, is kept under its true name.
    with contextlib.suppress(GitError):
        await sandbox.keep_objects(box)

    assert subprocess.run(["git", "cat-file", "-e", "ab" + "c" * 38], cwd=repo).returncode != 0
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


async def test_the_probe_passes_where_bwrap_works(bwrap: str) -> None:
    assert await sandbox.probe(bwrap) is None


async def test_the_probe_says_why_bwrap_does_not_work(tmp_path: Path) -> None:
    broken = fake_bwrap(tmp_path, "echo 'bwrap: setting up uid map: Permission denied' >&2; exit 1")

    assert await sandbox.probe(str(broken / "bwrap")) == "bwrap: setting up uid map: Permission denied"


async def test_off_never_looks_for_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    called = tmp_path / "called"
    monkeypatch.setenv("PATH", str(fake_bwrap(tmp_path, f"touch {called}; exit 1")))

    assert await sandbox.choose("off") == sandbox.UNCONFINED
    assert not called.exists()


async def test_auto_notes_and_required_refuses_a_bwrap_that_does_not_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(fake_bwrap(tmp_path, "echo 'bwrap: no namespaces' >&2; exit 1")))

    auto = await sandbox.choose("auto")
    assert auto.bwrap is None and auto.note is not None
    assert auto.note.startswith("agents run unconfined: bubblewrap does not work here (bwrap: no namespaces)")
    with pytest.raises(SandboxUnavailable, match=r"bwrap: no namespaces"):
        await sandbox.choose("required")


async def test_auto_and_required_use_a_bwrap_that_works(bwrap: str) -> None:
    assert await sandbox.choose("auto") == sandbox.Sandbox(bwrap=bwrap)
    assert await sandbox.choose("required") == sandbox.Sandbox(bwrap=bwrap)
