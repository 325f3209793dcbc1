"""Agents that reach past their worktree: the sandbox stops them (see `stomper.sandbox`).

Each case runs the real `stomper fix` with a small real agent written by the
test, on a real repository: an agent whose process outlives a killed stomper,
one that leaves a `setsid` daemon behind, one that pops the user's stash,
makes branches, or writes the user's checkout and home by absolute path.
Where no sandbox is wanted or possible, the run says so once, or refuses.

These tests need bubblewrap. On Linux its absence is a failure, not a skip:
`python3 tasks.py test` run as root installs it (CI does), else
`apt-get install bubblewrap`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, STOMPER, commit_all, git, process_gone, stomper, write

TARGET = "pkg/mod.py"
BROKEN = "import os\n\n\ndef value() -> int:\n    return 1\n"
FIXED = "def value() -> int:\n    return 1\n"
LATE = "import sys\n\n\ndef value() -> int:\n    return 2\n"
"""What a process that should be gone writes: unverified (ruff's F401)."""


@pytest.fixture
def bwrap() -> None:
    if shutil.which("bwrap") is not None:
        return
    if sys.platform == "linux":
        pytest.fail(
            "bubblewrap (bwrap) is not installed, and the sandbox tests need it: run `python3 tasks.py test` "
            "as root (it installs it with apt-get) or `apt-get install bubblewrap`"
        )
    pytest.skip(f"stomper's sandbox is bubblewrap, which is Linux only (this is {sys.platform})")


@pytest.fixture
def token() -> Iterator[str]:
    """A word in the argv of every process of the test's agent; whatever is left of them is killed after."""
    word = f"agent-{uuid.uuid4().hex}"
    yield word
    for pid in processes(word):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes(word: str) -> list[int]:
    """Live processes with `word` in their command line (bubblewrap's own included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if word.encode() in (entry / "cmdline").read_bytes() and not process_gone(int(entry.name), 0):
                found.append(int(entry.name))
    return found


def all_gone(word: str) -> bool:
    return all(process_gone(pid) for pid in processes(word))


def project(repo: Path) -> None:
    write(repo, {"pkg/__init__.py": "", TARGET: BROKEN, "notes.txt": "the user's\n"})
    commit_all(repo, "broken")


def agent(tmp_path: Path, body: str) -> Path:
    """An agent program: `body` runs with `target` (the file, relative to the worktree) and `argv` set."""
    path = tmp_path / "agent.py"
    head = "import os, subprocess, sys, time\nfrom pathlib import Path\ntarget, argv = sys.argv[1], sys.argv[2:]\n"
    path.write_text(head + textwrap.dedent(body))
    return path


def fix_args(program: Path, token: str, *extra: str) -> list[str]:
    command = f"{sys.executable} {program} {{file}} {token} {' '.join(extra)}"
    return ["fix", "--tools", "ruff", "--fixer", "agent", "--agent", command, "--max-attempts", "1"]


def committed(repo: Path) -> str:
    return git(repo, "show", f"HEAD:{TARGET}")


def test_an_agent_dies_with_a_killed_stomper_and_resume_commits_only_what_it_verified(
    repo: Path, tmp_path: Path, bwrap: None, token: str
) -> None:
    project(repo)
    phase = tmp_path / "phase"
    phase.write_text("first")
    # The first run's agent keeps writing the file by its absolute path, as
    # agents do; if it outlived stomper it would write into the resumed run's worktree.
    program = agent(
        tmp_path,
        f"""
        where = Path.cwd() / target
        if Path(argv[1]).read_text() == "first":
            while True:
                try:
                    where.write_text({LATE!r})
                except OSError:
                    pass
                time.sleep(0.01)
        where.write_text({FIXED!r})
        """,
    )
    run = subprocess.Popen(
        [str(STOMPER), *fix_args(program, token, str(phase))],
        cwd=repo,
        env={**os.environ, "STOMPER_SANDBOX": "required"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        worktrees = repo / ".git" / "stomper" / "worktrees"
        while not any(f.read_text() == LATE for f in worktrees.glob(f"*/*/{TARGET}") if f.exists()):
            assert run.poll() is None and time.monotonic() < deadline, "the agent never started"
            time.sleep(0.02)
        run.kill()
        run.wait()

        assert all_gone(token), f"the agent outlived stomper: {processes(token)}"

        phase.write_text("second")
        resumed = stomper(repo, "fix", "--resume", env={"STOMPER_SANDBOX": "required"})
    finally:
        if run.poll() is None:
            run.kill()
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert committed(repo) == FIXED
    assert (repo / TARGET).read_text() == FIXED
    assert git(repo, "status", "--porcelain") == ""
    assert all_gone(token)


def test_a_setsid_daemon_dies_with_its_agent_and_its_late_write_is_not_committed(
    repo: Path, tmp_path: Path, bwrap: None, token: str
) -> None:
    project(repo)
    # The daemon waits until the agent has exited (its pipe closes), and a little
    # more: what it writes while the attempt ends is part of the attempt, and verified.
    daemon = textwrap.dedent(
        f"""
        import os, sys, time
        os.read(int(sys.argv[1]), 1)
        time.sleep(0.5)
        for _ in range(6000):
            try:
                with open(sys.argv[2], "w") as file:
                    file.write({LATE!r})
            except OSError:
                pass
            time.sleep(0.01)
        """
    )
    program = agent(
        tmp_path,
        f"""
        Path(target).write_text({FIXED!r})
        read, _keep = os.pipe()
        subprocess.Popen(
            [sys.executable, "-c", {daemon!r}, str(read), str(Path.cwd() / target), argv[0]],
            pass_fds=[read], start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        """,
    )

    done = stomper(repo, *fix_args(program, token), env={"STOMPER_SANDBOX": "required"})

    assert all_gone(token), f"the agent's daemon outlived it: {processes(token)}"
    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo) == FIXED
    assert (repo / TARGET).read_text() == FIXED


def test_an_agent_cannot_pop_the_users_stash(repo: Path, tmp_path: Path, bwrap: None, token: str) -> None:
    project(repo)
    (repo / "notes.txt").write_text("stashed by the user\n")
    git(repo, "stash", "push", "--quiet", "--message", "the user's work")
    stash = git(repo, "stash", "list", "--format=%H %s")
    # In its clean worktree, `git stash` saves nothing and `git stash pop` pops the user's stash:
    # refs are shared by all worktrees.
    program = agent(
        tmp_path,
        f"""
        subprocess.run(["git", "stash"], capture_output=True)
        subprocess.run(["git", "stash", "pop"], capture_output=True)
        Path(target).write_text({FIXED!r})
        """,
    )

    done = stomper(repo, *fix_args(program, token), env={"STOMPER_SANDBOX": "required"})

    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert git(repo, "stash", "list", "--format=%H %s") == stash
    assert (repo / "notes.txt").read_text() == "the user's\n"
    git(repo, "stash", "pop", "--quiet")
    assert (repo / "notes.txt").read_text() == "stashed by the user\n"


def test_an_agent_cannot_leave_branches_or_tags_nor_delete_objects(
    repo: Path, tmp_path: Path, bwrap: None, token: str
) -> None:
    project(repo)
    refs = git(repo, "for-each-ref", "--format=%(refname)")
    program = agent(
        tmp_path,
        f"""
        for command in (["branch", "agent-branch"], ["tag", "agent-tag"], ["update-ref", "refs/notes/x", "HEAD"]):
            subprocess.run(["git", *command], capture_output=True)
        common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True).stdout
        subprocess.run(["rm", "-rf", str(Path(common.strip()) / "objects")], capture_output=True)
        Path(target).write_text({FIXED!r})
        """,
    )

    done = stomper(repo, *fix_args(program, token), env={"STOMPER_SANDBOX": "required"})

    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo) == FIXED
    assert git(repo, "for-each-ref", "--format=%(refname)") == refs
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_an_agent_cannot_write_the_checkout_nor_the_home_and_finds_a_copy_of_its_login(
    repo: Path, tmp_path: Path, bwrap: None, token: str
) -> None:
    project(repo)
    home = tmp_path / "home"
    write(home, {".claude/.credentials.json": "logged in\n", ".bashrc": "# the user's\n"})
    planted = home / "planted"
    program = agent(
        tmp_path,
        f"""
        checkout, real_home = argv[1], argv[2]
        login = Path("~/.claude/.credentials.json").expanduser().read_text()
        for path in (checkout + "/notes.txt", checkout + "/new.txt", real_home + "/planted",
                     real_home + "/.bashrc", os.environ["HOME"] + "/.claude/.credentials.json"):
            try:
                Path(path).write_text("written by the agent\\n")
            except OSError:
                pass
        # Its own HOME and TMPDIR are writable.
        Path(os.environ["HOME"], ".config").mkdir(exist_ok=True)
        Path(os.environ["HOME"], ".config", "agent.json").write_text("{{}}")
        Path(os.environ.get("TMPDIR", "/tmp"), f"scratch-{{argv[0]}}").write_text("x")
        # It found its login where it expects it; it fixes the file only if it did.
        if login == "logged in\\n":
            Path(target).write_text({FIXED!r})
        """,
    )

    done = stomper(
        repo, *fix_args(program, token, str(repo), str(home)), env={"STOMPER_SANDBOX": "required", "HOME": str(home)}
    )

    assert (repo / "notes.txt").read_text() == "the user's\n"
    assert not (repo / "new.txt").exists()
    assert not planted.exists()
    assert (home / ".bashrc").read_text() == "# the user's\n"
    assert (home / ".claude" / ".credentials.json").read_text() == "logged in\n"
    assert sorted(p.name for p in home.iterdir()) == [".bashrc", ".claude"]
    # It found its login: it fixed the file.
    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo) == FIXED


def path_without_bwrap(tmp_path: Path, fake_bwrap: str | None = None) -> str:
    """A PATH with git and the test environment's tools, and no bubblewrap (or a broken one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_exe = shutil.which("git")
    assert git_exe is not None
    (bin_dir / "git").symlink_to(git_exe)
    if fake_bwrap is not None:
        (bin_dir / "bwrap").write_text(f"#!/bin/sh\necho '{fake_bwrap}' >&2\nexit 1\n")
        (bin_dir / "bwrap").chmod(0o755)
    assert not (BIN / "bwrap").exists()
    return f"{BIN}{os.pathsep}{bin_dir}"


@pytest.mark.parametrize("broken", [None, "bwrap: No permissions to create new namespace"])
def test_sandbox_required_without_a_working_bwrap_is_one_line_and_exit_2_before_any_work(
    repo: Path, tmp_path: Path, token: str, broken: str | None
) -> None:
    project(repo)
    head = git(repo, "rev-parse", "HEAD")
    program = agent(tmp_path, f"Path(target).write_text({FIXED!r})\n")

    done = stomper(
        repo,
        *fix_args(program, token),
        env={"STOMPER_SANDBOX": "required", "PATH": path_without_bwrap(tmp_path, broken)},
    )

    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert 'sandbox = "required"' in done.stderr
    assert (broken or "bubblewrap (bwrap) is not installed") in done.stderr
    assert git(repo, "rev-parse", "HEAD") == head
    assert not (repo / ".git" / "stomper" / "runs").exists() or not any((repo / ".git" / "stomper" / "runs").iterdir())


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_without_bwrap_auto_says_once_that_agents_run_unconfined_and_off_says_nothing(
    repo: Path, tmp_path: Path, token: str, mode: str
) -> None:
    project(repo)
    write(repo, {"pkg/other.py": BROKEN})
    commit_all(repo, "another")
    program = agent(tmp_path, f"Path(target).write_text({FIXED!r})\n")

    done = stomper(
        repo,
        *fix_args(program, token),
        "--parallel",
        "2",
        "--ci",
        env={"STOMPER_SANDBOX": mode, "PATH": path_without_bwrap(tmp_path)},
    )

    # In CI the exit status is the analysed commit's, which had diagnostics (stomper.ci.exit_status).
    assert done.returncode == 1, done.stdout + done.stderr
    said = (done.stdout + done.stderr).count("agents run unconfined: bubblewrap (bwrap) is not installed")
    assert said == (1 if mode == "auto" else 0), done.stdout + done.stderr
    assert git(repo, "show", "HEAD:pkg/other.py") + committed(repo) in (FIXED * 2,)


def test_a_confined_agent_can_use_git_in_its_worktree(repo: Path, tmp_path: Path, bwrap: None, token: str) -> None:
    project(repo)
    program = agent(
        tmp_path,
        f"""
        Path(target).write_text({FIXED!r})
        for command in (["add", "--all"], ["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "agent"]):
            subprocess.run(["git", *command], check=True)
        """,
    )

    done = stomper(repo, *fix_args(program, token), env={"STOMPER_SANDBOX": "required"})

    assert done.returncode == 0, done.stdout + done.stderr
    assert committed(repo) == FIXED
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_code_an_agent_wrote_runs_confined_when_the_tools_verify_it(
    repo: Path, tmp_path: Path, bwrap: None, token: str
) -> None:
    # pytest imports what the agent wrote (here a conftest.py) while it verifies the attempt,
    # before the guard refuses a fix that changed another file: that code must be as confined as
    # the agent was. The project's own test still gets a tmp_path it can write, mypy its cache.
    write(
        repo,
        {
            "pkg/__init__.py": "",
            TARGET: "import os\n\n\ndef value() -> int:\n    return 1\n",
            "tests/test_mod.py": "from pkg.mod import value\n\n\ndef test_value(tmp_path):\n"
            "    (tmp_path / 'scratch').write_text('tests may write their tmp_path')\n    assert value() == 1\n",
            "notes.txt": "the user's\n",
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
        },
    )
    commit_all(repo, "broken")
    planted = tmp_path / "planted"
    payload = textwrap.dedent(
        f"""
        import os, subprocess
        from pathlib import Path
        for path in ({str(repo / "notes.txt")!r}, {str(planted)!r}):
            try:
                Path(path).write_text("written by code the agent wrote\\n")
            except OSError:
                pass
        subprocess.Popen(["setsid", "sleep", "300", {token!r}])
        """
    )
    program = agent(
        tmp_path,
        f"""
        Path(target).write_text({FIXED!r})
        Path("conftest.py").write_text({payload!r})
        """,
    )

    done = stomper(
        repo,
        "fix",
        "--tools",
        "ruff,mypy,pytest",
        "--fixer",
        "agent",
        "--agent",
        f"{sys.executable} {program} {{file}} {token}",
        "--max-attempts",
        "1",
        env={"STOMPER_SANDBOX": "required"},
    )

    assert "Traceback" not in done.stderr, done.stderr
    assert (repo / "notes.txt").read_text() == "the user's\n"
    assert not planted.exists()
    assert not (repo / "conftest.py").exists()
    assert all_gone(token), f"a daemon started by code the agent wrote outlived the run: {processes(token)}"
    # The fix also changed conftest.py: verified, then refused by the guard.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "also changed conftest.py" in done.stdout, done.stdout
