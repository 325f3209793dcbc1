"""Killing stomper together with all its children, at its worst moments and at random, then resuming.

A kill of the whole process tree (`killing.kill_tree`) stops every git,
agent and tool where it stands: mid `git worktree add`, mid `git commit`,
anywhere. Afterwards plain `stomper fix --resume` (or `stomper clean`) must
repair what was left and finish the run: every fix committed exactly once,
no other byte of the user's changed, `git fsck --strict` and `git gc` clean,
no worktree, lock or stomper ref left.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import STOMPER, commit_all, fake_agent, git, process_gone, stray_worktrees, write

from tests.faults.killing import git_that_pauses, git_that_waits, kill, kill_tree

BROKEN = "value = undefined_{n}\n"
FIXED = "value = {n}\n"
UNTRACKED = b"user's notes, not to be touched\r\n\x00binary\n"


def project(repo: Path, tmp_path: Path, count: int) -> tuple[list[str], Path]:
    """`count` files, each with an undefined name only the (fake) agent fixes; the agent's script."""
    files = [f"pkg/mod{n}.py" for n in range(count)]
    broken = {p: BROKEN.format(n=n) for n, p in enumerate(files)}
    write(repo, {"pkg/__init__.py": "", ".gitignore": "ignored/\n", **broken})
    commit_all(repo, "broken")
    (repo / "notes.txt").write_bytes(UNTRACKED)
    (repo / "ignored").mkdir()
    (repo / "ignored" / "data.bin").write_bytes(UNTRACKED)
    script = tmp_path / "agent" / "agent.json"
    script.parent.mkdir()
    plan(script, files)
    return files, script


def plan(script: Path, files: list[str], special: dict[str, dict[str, object]] | None = None) -> None:
    steps = {p: {"content": FIXED.format(n=n), **(special or {}).get(p, {})} for n, p in enumerate(files)}
    script.write_text(json.dumps(steps))


def start(repo: Path, script: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`stomper fix` in a session of its own, as a terminal would start it."""
    argv = [str(STOMPER), "fix", "--tools", "ruff", "--fixer", "agent", "--agent", fake_agent(script), *extra]
    return subprocess.Popen(
        argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def stomper(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(STOMPER), *args], cwd=repo, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def wait_for(marker: Path, run: subprocess.Popen[str], within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while not marker.exists() or not marker.read_text():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, f"{marker} never appeared"
        time.sleep(0.02)


def assert_complete(repo: Path, files: list[str], base: str, contents: dict[str, str] | None = None) -> None:
    """Every fix committed exactly once, nothing else changed, nothing left behind, git's data sound."""
    for n, path in enumerate(files):
        assert (repo / path).read_text() == (contents or {}).get(path, FIXED.format(n=n))
    commits = git(repo, "rev-list", "--reverse", f"{base}..HEAD").split()
    touched = [git(repo, "show", "--name-only", "--format=", c).split() for c in commits]
    assert sorted(touched) == sorted([p] for p in files), touched
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert (repo / "notes.txt").read_bytes() == UNTRACKED
    assert (repo / "ignored" / "data.bin").read_bytes() == UNTRACKED
    assert_nothing_left(repo)


def assert_nothing_left(repo: Path) -> None:
    assert git(repo, "worktree", "list").count("\n") == 1, git(repo, "worktree", "list")
    assert not list((repo / ".git" / "worktrees").glob("*"))
    assert not stray_worktrees(repo / ".git" / "stomper")
    assert not (repo / ".git" / "stomper" / "lock").exists()
    assert not list((repo / ".git").glob("*.lock"))
    assert git(repo, "for-each-ref", "refs/stomper/") == ""
    assert git(repo, "branch", "--format=%(refname)").split() == ["refs/heads/main"]
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    gc = subprocess.run(["git", "gc", "--quiet"], cwd=repo, capture_output=True, text=True)
    assert (gc.returncode, gc.stderr) == (0, "")


@pytest.mark.parametrize("repair", ["resume", "clean"])
def test_a_kill_inside_git_worktree_add_is_repaired(repo: Path, tmp_path: Path, repair: str) -> None:
    files, script = project(repo, tmp_path, 3)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "paused"
    env = git_that_pauses(tmp_path / "bin", "worktree-add", marker, repo)
    run = start(repo, script, "-j", "2", env=env)
    wait_for(marker, run)

    kill_tree(run)

    # What the kill left: git's record of a worktree, locked, its HEAD all zeros.
    (half,) = (repo / ".git" / "worktrees").glob("*/locked")
    assert (half.parent / "HEAD").read_text().strip() == "0" * 40
    if repair == "clean":
        done = stomper(repo, "clean")
        assert done.returncode == 0, done.stderr
        assert "removed the worktrees of run" in done.stdout
        assert "stomper fix --resume" in done.stdout
        assert not list((repo / ".git" / "worktrees").glob("*"))
        subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, check=True, capture_output=True)
        subprocess.run(["git", "gc", "--quiet"], cwd=repo, check=True, capture_output=True)
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_complete(repo, files, base)


@pytest.mark.parametrize("recorded", ["as the kill left it", "failed", "its pid now another's", "its pid a zombie"])
def test_a_kill_inside_stompers_git_commit_is_repaired(repo: Path, tmp_path: Path, recorded: str) -> None:
    files, script = project(repo, tmp_path, 3)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "paused"
    env = git_that_pauses(tmp_path / "bin", "index-lock", marker, repo)
    run = start(repo, script, "-j", "2", env=env)
    wait_for(marker, run)

    kill_tree(run)

    assert (repo / ".git" / "index.lock").exists()
    # The fix being landed is in the checkout, not yet in HEAD.
    landing = git(repo, "diff", "HEAD", "--name-only").split()
    assert len(landing) == 1 and landing[0] in files, landing
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    if recorded == "failed":
        # What stomper before this repair left: the run marked failed while its fix sat staged.
        record.write_text(json.dumps({**json.loads(record.read_text()), "status": "failed"}))
    with _stand_in(recorded) as other:
        if other is not None:
            # The dead stomper's pid as the repair may find it: taken by another process, or
            # a process that exited and that no one reaps (a container's init may never).
            record.write_text(json.dumps({**json.loads(record.read_text()), "pid": other}))
        done = stomper(repo, "fix", "--resume")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "removed " + str(repo / ".git" / "index.lock") in done.stderr
        assert_complete(repo, files, base)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_of_the_git_moving_the_branch_is_repaired(repo: Path, tmp_path: Path, when: str) -> None:
    files, script = project(repo, tmp_path, 3)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "paused"
    env = git_that_pauses(tmp_path / "bin", f"ref-lock-{when}", marker, repo)
    run = start(repo, script, "-j", "2", env=env)
    wait_for(marker, run)

    kill_tree(run)

    assert (repo / ".git" / "HEAD.lock").exists()
    assert (repo / ".git" / "refs" / "heads" / "main.lock").exists() == (when == "before")
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed " + str(repo / ".git" / "HEAD.lock") in done.stderr
    assert not (repo / ".git" / "HEAD.lock").exists()
    assert not (repo / ".git" / "refs" / "heads" / "main.lock").exists()
    assert_complete(repo, files, base)


@pytest.mark.parametrize("pause", ["index-lock", "ref-lock-after"])
def test_a_kill_while_landing_in_a_linked_worktree_is_repaired(repo: Path, tmp_path: Path, pause: str) -> None:
    files, script = project(repo, tmp_path, 3)
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "--quiet", "-b", "fixes", str(linked))
    base = git(linked, "rev-parse", "HEAD").strip()
    own = Path(git(linked, "rev-parse", "--absolute-git-dir").strip())  # its index and HEAD are its own
    marker = tmp_path / "paused"
    env = git_that_pauses(tmp_path / "bin", pause, marker, linked)
    run = start(linked, script, "-j", "2", env=env)
    wait_for(marker, run)

    kill_tree(run)

    left = own / ("index.lock" if pause == "index-lock" else "HEAD.lock")
    assert left.exists()
    done = stomper(linked, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed " + str(left) in done.stderr
    assert not list(own.glob("*.lock")) and not list((repo / ".git").glob("*.lock"))
    for n, path in enumerate(files):
        assert (linked / path).read_text() == FIXED.format(n=n)
    commits = git(linked, "rev-list", f"{base}..HEAD").split()
    assert sorted(git(linked, "show", "--name-only", "--format=", c).strip() for c in commits) == files
    assert git(linked, "status", "--porcelain", "--untracked-files=no") == ""
    assert git(repo, "rev-parse", "main").strip() == base
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def test_a_kill_inside_the_git_making_the_runs_ref_is_repaired(repo: Path, tmp_path: Path) -> None:
    files, script = project(repo, tmp_path, 2)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "here"
    env = git_that_waits(tmp_path / "bin", marker, "update-ref", "refs/stomper/runs/")
    run = start(repo, script, env=env)
    wait_for(marker, run)
    # What git leaves when killed holding the ref's lock, a window no watcher can hit.
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    lock = repo / ".git" / "refs" / "stomper" / "runs" / f"{record.parent.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.loads(record.read_text())["base"] + "\n")

    kill_tree(run)

    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed " + str(lock) in done.stderr
    assert not lock.exists()
    assert_complete(repo, files, base)


@contextlib.contextmanager
def _stand_in(recorded: str) -> Iterator[int | None]:
    """For "its pid now another's" a live process that is no git, for "its pid a zombie" a zombie: its pid."""
    if recorded not in ("its pid now another's", "its pid a zombie"):
        yield None
        return
    other = subprocess.Popen(["sleep", "600"] if recorded == "its pid now another's" else ["true"])
    try:
        if recorded == "its pid a zombie":
            assert process_gone(other.pid, within=120)  # exited, and not reaped: a zombie
        yield other.pid
    finally:
        other.kill()
        other.wait()


def test_an_index_lock_held_by_a_live_git_is_never_taken(repo: Path, tmp_path: Path) -> None:
    files, script = project(repo, tmp_path, 2)
    base = git(repo, "rev-parse", "HEAD").strip()
    marker = tmp_path / "paused"
    env = git_that_pauses(tmp_path / "bin", "index-lock", marker, repo)
    run = start(repo, script, env=env)
    wait_for(marker, run)
    # Only stomper dies: its git, stopped while it holds the lock, lives on.
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    paused_git = int(marker.read_text())
    stat = Path(f"/proc/{paused_git}/stat").read_text()
    wrapper = int(stat[stat.rindex(")") + 2 :].split()[1])
    try:
        # The file its git was landing: in the checkout, not yet in HEAD.
        (applying,) = git(repo, "diff", "HEAD", "--name-only").split()
        assert applying in files

        done = stomper(repo, "fix", "--resume")

        assert done.returncode == 2
        said = done.stderr.splitlines()[-1]
        held = re.fullmatch(
            rf"stomper: error: {re.escape(str(repo / '.git' / 'index.lock'))} is held by"
            r" (?:process (\d+)|a running git \(pid (\d+)\)), and stomper run (\S+) was applying (\S+) when it stopped;"
            " once no git runs in this repository, remove the lock and resume",
            said,
        )
        assert held is not None, said
        assert int(held[1] or held[2]) == paused_git, said
        assert (held[3], held[4]) == (_run_id(repo), applying), said
        assert (repo / ".git" / "index.lock").exists()
        assert Path(f"/proc/{paused_git}").exists()
    finally:
        # Also when an assertion failed: a git left stopped holds its lock, and its wrapper waits, forever.
        kill(wrapper, paused_git)
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_complete(repo, files, base)


def _run_id(repo: Path) -> str:
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    return record.parent.name


KILLS = 20
KILLS_PER_RUN = 4


def test_twenty_kills_at_random_moments_each_resumed(repo: Path, tmp_path: Path) -> None:
    """Runs of four files, each killed (with all its children) at random moments and resumed until it completes.

    The moments are random, so a failure says its seed; STOMPER_CRASH_SEED=<seed> replays its choices.
    """
    seed = int(os.environ.get("STOMPER_CRASH_SEED") or random.randrange(2**32))
    chance = random.Random(seed)
    try:
        kills = 0
        rounds = 0
        while kills < KILLS:
            rounds += 1
            checkout = repo if rounds == 1 else _fresh_repo(tmp_path / f"round{rounds}")
            budget = min(KILLS_PER_RUN, KILLS - kills)
            kills += _kill_until_complete(checkout, tmp_path / f"agent{rounds}", chance, budget)
    except Exception as exc:
        raise AssertionError(f"{exc}\n(seed {seed}; replay its choices with STOMPER_CRASH_SEED={seed})") from exc


def _fresh_repo(path: Path) -> Path:
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    return path


def _kill_until_complete(repo: Path, scratch: Path, chance: random.Random, budget: int) -> int:
    """Start a run, kill it up to `budget` times at random, resume it to its end; the kills made."""
    scratch.mkdir()
    files, script = project(repo, scratch, 4)
    base = git(repo, "rev-parse", "HEAD").strip()
    lock = repo / ".git" / "stomper" / "lock"
    runs = repo / ".git" / "stomper" / "runs"
    kills = 0
    history = []
    while True:
        statuses = [json.loads(p.read_text())["status"] for p in runs.glob("*/run.json")]
        if statuses and all(status == "completed" for status in statuses):
            break  # the last kill came after the run had finished its work
        resuming = bool(statuses)
        run = start(repo, script, "-j", "2", *(["--resume"] if resuming else []))
        if kills == budget:
            out, err = run.communicate(timeout=300)
            assert run.returncode == 0, f"{history}: {out}{err}"
            break
        delay = chance.uniform(0, 1.5)
        deadline = time.monotonic() + 120
        while not lock.exists() and run.poll() is None:
            assert time.monotonic() < deadline, "stomper never took its lock"
            time.sleep(0.01)
        time.sleep(delay)
        if run.poll() is not None:
            out, err = run.communicate()
            assert run.returncode == 0, f"{history}: {out}{err}"
            break
        kill_tree(run)
        kills += 1
        history.append(f"{'resume' if resuming else 'run'} killed {delay:.2f}s after taking the lock")
    assert_complete(repo, files, base)
    return kills


def test_the_partial_commit_lock_of_a_dead_git_goes_and_of_a_live_one_stays(repo: Path) -> None:
    """`git commit -- <path>` (an older stomper's) makes `next-index-<pid>.lock`; a kill leaves it behind."""
    write(repo, {"a.py": "x = 1\n"})
    commit_all(repo)
    zombie = subprocess.Popen(["true"])
    other = subprocess.Popen(["sleep", "600"])
    live_git = subprocess.Popen(["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE)
    try:
        assert process_gone(zombie.pid, within=120)  # exited, and not reaped: a zombie
        locks = {p.pid: repo / ".git" / f"next-index-{p.pid}.lock" for p in (zombie, other, live_git)}
        for lock in locks.values():
            lock.write_bytes(b"")

        done = stomper(repo, "clean")

        assert done.returncode == 0, done.stderr
        for pid in (zombie.pid, other.pid):
            assert f"removed {locks[pid]}, left by a git (pid {pid}) that was killed committing" in done.stdout
            assert not locks[pid].exists()
        assert locks[live_git.pid].exists()
        assert str(locks[live_git.pid]) not in done.stdout
    finally:
        for process in (zombie, other, live_git):
            process.kill()
            process.wait()
