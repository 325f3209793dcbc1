"""Stopping `stomper fix` at its worst moments, and resuming it.

Each case runs the real `stomper` in a subprocess on a real git repository,
waits until the run is at a given point (the fake agent, a wrapper around
mypy, or the commit's signing program leaves a marker file there and waits), sends a
signal, and checks what is left: exit status, the checkout (every file
either as it was or fixed, never half done), no worktree, no lock, a clean
`git fsck`; then `stomper fix --resume` finishes the job without redoing or
re-committing what was done.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import STOMPER, commit_all, fake_agent, git, stray_worktrees, write

from tests.faults.killing import git_that_waits

BROKEN = 'def value() -> int:\n    return "{n}"\n'
FIXED = "def value() -> int:\n    return {n}\n"
FILES = [f"pkg/mod{n}.py" for n in range(4)]


def project(repo: Path, tmp_path: Path) -> Path:
    write(
        repo, {"pkg/__init__.py": "", ".gitignore": ".venv/\n", **{p: BROKEN.format(n=n) for n, p in enumerate(FILES)}}
    )
    commit_all(repo, "broken")
    return tmp_path / "agent.json"


def plan(script: Path, special: dict[str, dict[str, Any]] | None = None) -> None:
    """Every file gets fixed; `special` adds steps for some (e.g. wait at a marker)."""
    steps = {p: {"content": FIXED.format(n=n), **(special or {}).get(p, {})} for n, p in enumerate(FILES)}
    script.write_text(json.dumps(steps))


def start(repo: Path, script: Path, *extra: str) -> subprocess.Popen[str]:
    agent = fake_agent(script)
    return subprocess.Popen(
        [str(STOMPER), "fix", "-j", "2", "--tools", "mypy", "--fixer", "agent", "--agent", agent, *extra],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def resume(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STOMPER), "fix", "--resume"], cwd=repo, capture_output=True, text=True, timeout=300)


def wait_for(marker: Path, run: subprocess.Popen[str], within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while not marker.exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, f"{marker} never appeared"
        time.sleep(0.05)


def assert_tidy(repo: Path) -> None:
    """No worktree, lock or stray branch; git's objects intact; every file whole."""
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not stray_worktrees(repo / ".git" / "stomper")
    assert not (repo / ".git" / "stomper" / "lock").exists()
    assert git(repo, "branch", "--format=%(refname)").split() == ["refs/heads/main"]
    subprocess.run(["git", "fsck", "--strict"], cwd=repo, check=True, capture_output=True)
    for n, path in enumerate(FILES):
        assert (repo / path).read_text() in (BROKEN.format(n=n), FIXED.format(n=n))


def assert_finished(repo: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    for n, path in enumerate(FILES):
        assert (repo / path).read_text() == FIXED.format(n=n)
    # One commit per file, none twice, whatever was interrupted.
    changed = git(repo, "log", "--format=", "--name-only", "HEAD~4..HEAD").split()
    assert sorted(changed) == FILES
    assert git(repo, "rev-list", "--count", "HEAD") == "5\n"
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "for-each-ref", "refs/stomper/") == ""
    assert_tidy(repo)


def mypy_that_waits(repo: Path, marker: Path) -> None:
    """The project's own mypy (stomper prefers it): in a worktree, it says so and waits."""
    wrapper = repo / ".venv" / "bin" / "mypy"
    wrapper.parent.mkdir(parents=True)
    real = Path(sys.executable).with_name("mypy")
    wrapper.write_text(
        f'#!/bin/sh\ncase "$PWD" in *.git/stomper/worktrees/*) touch {marker}; sleep 3 ;; esac\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)


def commit_signing_that_waits(repo: Path, marker: Path) -> None:
    """A signing program (stomper runs no hooks) that marks the apply in progress and waits.

    Its first call is stomper's check, before the run, that a commit can be made: that one passes at once.
    """
    calls = marker.with_name("signatures")
    gpg = marker.with_name("gpg")
    gpg.write_text(
        "#!/bin/sh\ncat >/dev/null\n"
        f"n=$(cat {calls} 2>/dev/null || echo 0); echo $((n + 1)) > {calls}\n"
        f'if [ "$n" -ge 1 ]; then touch {marker}; sleep 3; fi\n'
        "printf '\\n[GNUPG:] SIG_CREATED D 1 8 00 0 0\\n' >&2\n"
        "printf -- '-----BEGIN PGP SIGNATURE-----\\n\\nfake\\n-----END PGP SIGNATURE-----\\n'\n"
    )
    gpg.chmod(0o755)
    subprocess.run(["git", "config", "gpg.program", str(gpg)], cwd=repo, check=True)
    subprocess.run(["git", "config", "commit.gpgSign", "true"], cwd=repo, check=True)


def no_signing(repo: Path) -> None:
    subprocess.run(["git", "config", "--unset", "commit.gpgSign"], cwd=repo, check=False)


@pytest.mark.parametrize("point", ["fixer", "verification", "apply"])
def test_ctrl_c_drains_and_the_run_resumes(repo: Path, tmp_path: Path, point: str) -> None:
    script = project(repo, tmp_path)
    marker = tmp_path / "here"
    if point == "fixer":
        plan(script, {"pkg/mod1.py": {"mark": str(marker), "delay": 30}})
    else:
        plan(script)
        (mypy_that_waits if point == "verification" else commit_signing_that_waits)(repo, marker)
    run = start(repo, script)
    wait_for(marker, run)

    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)

    assert run.returncode == 130, out + err
    assert "interrupted; resume with: stomper fix --resume " in err
    assert "Warning" not in err
    # The summary counts the files not done, rather than pass them over as if nothing were left.
    assert re.search(r"^interrupted: ([0-3]) of 4 failing file\(s\) done, ([1-4]) not done; ", out, re.MULTILINE), out
    assert "0 remaining, in" not in out
    assert_tidy(repo)
    listed = subprocess.run([str(STOMPER), "runs"], cwd=repo, capture_output=True, text=True).stdout
    assert "interrupted" in listed
    plan(script)
    no_signing(repo)
    assert_finished(repo, resume(repo))


@pytest.mark.parametrize("point", ["fixer", "apply"])
def test_sigkill_then_resume_completes_the_run(repo: Path, tmp_path: Path, point: str) -> None:
    script = project(repo, tmp_path)
    marker = tmp_path / "here"
    if point == "fixer":
        plan(script, {"pkg/mod2.py": {"mark": str(marker), "delay": 30}})
    else:
        plan(script)
        commit_signing_that_waits(repo, marker)
    run = start(repo, script)
    wait_for(marker, run)

    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    _kill_orphaned_agent(marker)

    assert (repo / ".git" / "stomper" / "lock").exists()
    plan(script)
    no_signing(repo)
    done = resume(repo)
    assert "took over the lock of stomper run pid" in done.stderr
    assert "cleaned up after run " in done.stderr
    assert_finished(repo, done)


def test_a_second_run_is_refused_while_one_is_going(repo: Path, tmp_path: Path) -> None:
    script = project(repo, tmp_path)
    marker = tmp_path / "here"
    plan(script, {"pkg/mod0.py": {"mark": str(marker), "delay": 30}})
    first = start(repo, script)
    wait_for(marker, first)

    second = subprocess.run([str(STOMPER), "fix", "--tools", "mypy"], cwd=repo, capture_output=True, text=True)

    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"stomper: error: another stomper run (pid {first.pid}) is working on this repository; wait for it to finish"
    )
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
    assert first.returncode == 130
    assert_tidy(repo)


def test_clean_removes_what_a_killed_run_left(repo: Path, tmp_path: Path) -> None:
    script = project(repo, tmp_path)
    marker = tmp_path / "here"
    plan(script, {"pkg/mod0.py": {"mark": str(marker), "delay": 30}})
    run = start(repo, script)
    wait_for(marker, run)
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    _kill_orphaned_agent(marker)
    assert stray_worktrees(repo / ".git" / "stomper")

    done = subprocess.run([str(STOMPER), "clean"], cwd=repo, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert f"removed the lock of stomper run pid {run.pid}" in done.stdout
    assert "removed the worktrees of run" in done.stdout
    assert_tidy(repo)
    assert [line.split()[0] for line in git(repo, "status", "--porcelain").splitlines()] == []


def _kill_orphaned_agent(marker: Path) -> None:
    """SIGKILL spares the agent, in a process group of its own; the fake one says its pid in the marker."""
    if marker.read_text().isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(marker.read_text()), signal.SIGKILL)


def stopped_before_its_ref(repo: Path, run: subprocess.Popen[str], marker: Path) -> None:
    """Ctrl-C once the run is recorded and before its ref is made, its tools' findings kept nowhere yet.

    (Stopped while its first tools ran, a run has recorded nothing: there is nothing to resume.)
    """
    wait_for(marker, run)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, out + err
    assert git(repo, "for-each-ref", "refs/stomper/") == ""
    assert not list((repo / ".git" / "stomper" / "runs").glob("*/collected.json"))


def test_a_run_stopped_before_its_tools_findings_were_kept_checks_the_same_way_when_resumed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No files named: mypy checks what the project's `files` selects, and a resumed run must too.
    write(repo, {"pyproject.toml": '[tool.mypy]\nfiles = ["pkg"]\n', "scripts/loose.py": 'x: int = "not in files"\n'})
    script = project(repo, tmp_path)
    plan(script)
    marker, calls = tmp_path / "here", tmp_path / "mypy-calls"
    wrapper = repo / ".venv" / "bin" / "mypy"
    wrapper.parent.mkdir(parents=True)
    real = Path(sys.executable).with_name("mypy")
    # In the checkout (the tools finding the failing files), each call is written down.
    wrapper.write_text(
        f'#!/bin/sh\ncase "$PWD" in *.git/stomper/worktrees/*) ;; *) echo "$*" >> {calls} ;; esac\nexec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", git_that_waits(tmp_path / "bin", marker, "update-ref", "refs/stomper/runs/")["PATH"])
    run = start(repo, script)
    stopped_before_its_ref(repo, run, marker)
    (record,) = (repo / ".git" / "stomper" / "runs").glob("*/run.json")
    assert json.loads(record.read_text())["whole"] is True
    interrupted = calls.read_text().splitlines()

    done = resume(repo)

    resumed = calls.read_text().splitlines()[len(interrupted) :]
    assert resumed[: len(interrupted)] == interrupted
    assert not any("loose.py" in call for call in resumed)
    assert "scripts/loose.py" not in done.stdout + done.stderr
    assert (repo / "scripts" / "loose.py").read_text() == 'x: int = "not in files"\n'
    assert_finished(repo, done)


def test_a_run_stopped_before_its_tools_findings_were_kept_leaves_its_baseline_alone_when_resumed(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The baseline records the debt of FILES; only the new file's diagnostic is the run's work, resumed too.
    script = project(repo, tmp_path)
    made = subprocess.run([str(STOMPER), "baseline", "--tools", "mypy", "-o", str(tmp_path / "base.json")], cwd=repo)
    assert made.returncode == 0
    write(repo, {"pkg/new.py": BROKEN.format(n=9)})
    commit_all(repo, "new debt")
    script.write_text(
        json.dumps({p: {"content": FIXED.format(n=n)} for n, p in [*enumerate(FILES), (9, "pkg/new.py")]})
    )
    marker = tmp_path / "here"
    monkeypatch.setenv("PATH", git_that_waits(tmp_path / "bin", marker, "update-ref", "refs/stomper/runs/")["PATH"])
    run = start(repo, script, "--baseline", str(tmp_path / "base.json"))
    stopped_before_its_ref(repo, run, marker)

    done = resume(repo)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "pkg/new.py").read_text() == FIXED.format(n=9)
    for n, path in enumerate(FILES):
        assert (repo / path).read_text() == BROKEN.format(n=n)
    called = [json.loads(line)["file"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert called == ["pkg/new.py"]
