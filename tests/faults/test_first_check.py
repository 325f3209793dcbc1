"""A run's start, in the order that lets it skip what a run with nothing to fix does not need.

A new run takes its snapshot, then runs its tools (the first check) before
anything is written down. Only when they find something to fix does it check
that a commit can be made (identity, signing), write its record, make the ref
that keeps its snapshot from `git gc`, and start working. Each case kills
stomper with all its children between two of those steps, or gives it a
repository where a commit cannot be made, and checks that nothing was lost,
that what is left says what to do, and that the next run or `--resume`
finishes the job: every fix committed once, nothing else changed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import BIN, STOMPER, commit_all, git, write

from tests.faults.checkout_state import CheckoutState, assert_only_fixed
from tests.faults.killing import git_that_pauses, git_that_waits, kill_tree
from tests.faults.test_crash import wait_for

BROKEN = {"pkg/a.py": "import os\n", "pkg/b.py": "import sys\n"}
"""Two files ruff fixes (an unused import each): the run's batch lands them, no agent needed."""
FIXED = {"pkg/a.py": "", "pkg/b.py": ""}
NOTHING_TO_RESUME = "stomper: error: there is no interrupted run to resume (see `stomper runs`)"

_RUFF_THAT_PAUSES = """#!/bin/sh
# The project's own ruff (stomper prefers it): its first run, in the checkout, says so and waits.
if [ "$PWD" = '{checkout}' ] && [ ! -e '{marker}' ]; then
    echo $$ > '{marker}.new' && mv '{marker}.new' '{marker}'
    exec sleep 600
fi
exec '{real}' "$@"
"""


def project(repo: Path, broken: bool = True) -> CheckoutState:
    write(repo, {"pkg/__init__.py": "", ".gitignore": ".venv/\n", **(BROKEN if broken else FIXED)})
    commit_all(repo, "broken" if broken else "clean")
    (repo / "notes.txt").write_text("untracked, in the snapshot, never touched\n")
    return CheckoutState.capture(repo)


def pausing_git(tmp_path: Path, *words: str) -> tuple[dict[str, str], Path]:
    """The environment of a stomper whose git waits, the first time its arguments hold all `words`; its marker."""
    marker = tmp_path / "paused"
    return git_that_waits(tmp_path / "bin", marker, *words), marker


def pausing_ruff(repo: Path, tmp_path: Path) -> Path:
    marker = tmp_path / "paused"
    wrapper = repo / ".venv" / "bin" / "ruff"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(_RUFF_THAT_PAUSES.format(checkout=repo, marker=marker, real=BIN / "ruff"))
    wrapper.chmod(0o755)
    return marker


def start(repo: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(STOMPER), "fix", "--tools", "ruff"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def stomper(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(STOMPER), *args], cwd=repo, capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def records(repo: Path) -> dict[str, str]:
    """Run id -> status of every run recorded."""
    return {p.parent.name: json.loads(p.read_text())["status"] for p in (repo / ".git/stomper/runs").glob("*/run.json")}


def run_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/stomper/").split()


def assert_nothing_begun(repo: Path, before: CheckoutState) -> None:
    """What a run killed or refused before its record leaves: no record, no ref, no worktree, nothing changed."""
    assert records(repo) == {}
    assert run_refs(repo) == []
    assert git(repo, "worktree", "list").count("\n") == 1
    assert not list((repo / ".git" / "stomper" / "worktrees").glob("*"))
    after = CheckoutState.capture(repo)
    assert (after.files, after.index, after.head, after.refs) == (before.files, before.index, before.head, before.refs)


def no_identity(tmp_path: Path) -> dict[str, str]:
    """A user who told git never to guess an identity, and has none configured."""
    config = tmp_path / "gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": str(config)}
    return {k: v for k, v in env.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_")) and k != "EMAIL"}


def failing_gpg(tmp_path: Path) -> dict[str, str]:
    gpg = tmp_path / "gpg"
    gpg.write_text("#!/bin/sh\necho 'gpg: signing failed: No pinentry' >&2\nexit 2\n")
    gpg.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = {gpg}\n")
    return {**os.environ, "GIT_CONFIG_GLOBAL": str(config)}


# Killed between the steps of a start


@pytest.mark.parametrize("moment", ["the first check", "the commit check"])
def test_a_run_killed_before_its_record_has_begun_nothing(repo: Path, tmp_path: Path, moment: str) -> None:
    before = project(repo)
    if moment == "the first check":
        env, marker = None, pausing_ruff(repo, tmp_path)
        before = CheckoutState.capture(repo)  # with the paused ruff in its (ignored) place
    else:
        env, marker = pausing_git(tmp_path, "commit-tree", "stomper: can a commit be made here?")
    run = start(repo, env)
    wait_for(marker, run)

    kill_tree(run)

    assert_nothing_begun(repo, before)
    # Nothing to resume, and it says so (once it has taken over the dead run's lock).
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"took over the lock of stomper run pid {run.pid}, which is no longer running",
        NOTHING_TO_RESUME,
    ]
    # The next run does the whole job.
    done = stomper(repo, "fix", "--tools", "ruff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_fixed(repo, before, FIXED)
    assert list(records(repo).values()) == ["completed"]


def test_ctrl_c_during_the_first_check_stops_a_run_that_has_begun_nothing(repo: Path, tmp_path: Path) -> None:
    project(repo)
    marker = pausing_ruff(repo, tmp_path)
    before = CheckoutState.capture(repo)
    run = start(repo)
    wait_for(marker, run)

    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)

    assert run.returncode == 130, out + err
    assert err.splitlines()[-1:] == ["stomper: interrupted"], err
    assert "--resume" not in out + err  # there is nothing to resume
    assert_nothing_begun(repo, before)
    assert not (repo / ".git" / "stomper" / "lock").exists()
    done = stomper(repo, "fix", "--tools", "ruff")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_fixed(repo, before, FIXED)


def killed_between_record_and_ref(repo: Path, tmp_path: Path) -> tuple[CheckoutState, str]:
    """The project's state before, and the id of a run killed (with its children) as it made its ref."""
    before = project(repo)
    env, marker = pausing_git(tmp_path, "update-ref", "refs/stomper/runs/")
    run = start(repo, env)
    wait_for(marker, run)
    kill_tree(run)
    (run_id,) = records(repo)
    return before, run_id


def test_a_run_killed_between_its_record_and_its_ref_is_resumed(repo: Path, tmp_path: Path) -> None:
    before, run_id = killed_between_record_and_ref(repo, tmp_path)

    # Recorded, so resumable; no ref yet, no worktree, nothing changed.
    assert records(repo) == {run_id: "running"}
    assert run_refs(repo) == []
    after = CheckoutState.capture(repo)
    assert (after.files, after.index, after.refs) == (before.files, before.index, before.refs)
    done = stomper(repo, "runs")
    assert run_id in done.stdout and "interrupted" in done.stdout, done.stdout
    # The resumed run makes the ref it did not get to make, and finishes.
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming run {run_id}" in done.stderr
    assert_only_fixed(repo, before, FIXED)
    assert records(repo) == {run_id: "completed"}


def test_a_resume_where_no_commit_can_be_made_is_refused_and_stays_resumable(repo: Path, tmp_path: Path) -> None:
    before, run_id = killed_between_record_and_ref(repo, tmp_path)

    done = stomper(repo, "fix", "--resume", env=no_identity(tmp_path))

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("stomper: error: cannot commit in this repository ("), done.stderr
    assert records(repo) == {run_id: "running"}  # as the kill left it: still resumable
    assert run_refs(repo) == []
    assert CheckoutState.capture(repo).files == before.files
    done = stomper(repo, "fix", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_fixed(repo, before, FIXED)
    assert records(repo) == {run_id: "completed"}


# A repository where git cannot make a commit


@pytest.mark.parametrize("why", ["no-identity", "gpg-fails"])
def test_with_nothing_to_fix_a_repository_that_cannot_commit_is_fine(repo: Path, tmp_path: Path, why: str) -> None:
    before = project(repo, broken=False)
    env = no_identity(tmp_path) if why == "no-identity" else failing_gpg(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", env=env)

    # Nothing to commit: the files are clean, and that is what the run says.
    assert (done.returncode, done.stderr) == (0, ""), done.stdout + done.stderr
    assert "0 diagnostic(s) fixed, 0 remaining, in 0 failing file(s)" in done.stdout
    assert_only_fixed(repo, before)
    assert list(records(repo).values()) == ["completed"]


@pytest.mark.parametrize("why", ["no-identity", "gpg-fails"])
def test_with_something_to_fix_a_repository_that_cannot_commit_is_refused_before_anything_begins(
    repo: Path, tmp_path: Path, why: str
) -> None:
    before = project(repo)
    env = no_identity(tmp_path) if why == "no-identity" else failing_gpg(tmp_path)

    done = stomper(repo, "fix", "--tools", "ruff", env=env)

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("stomper: error: cannot commit in this repository ("), line
    assert line.endswith("; fix that, or use --no-commit")
    assert_nothing_begun(repo, before)
    assert not (repo / ".git" / "stomper" / "lock").exists()
    done = stomper(repo, "fix", "--resume", env=env)
    assert (done.returncode, done.stderr.strip()) == (2, NOTHING_TO_RESUME), done.stdout + done.stderr
    # With --no-commit the same repository is fixed, uncommitted.
    done = stomper(repo, "fix", "--tools", "ruff", "--no-commit", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_fixed(repo, before, FIXED, committed=False)


def test_a_killed_runs_worktrees_are_repaired_by_a_run_with_nothing_to_fix(repo: Path, tmp_path: Path) -> None:
    # The repairs' `git worktree prune` runs only when something is left to prune: here it is.
    before = project(repo)
    marker = tmp_path / "paused"
    run = start(repo, git_that_pauses(tmp_path / "bin", "worktree-add", marker, repo))
    wait_for(marker, run)
    kill_tree(run)
    (run_id,) = records(repo)
    (half,) = (repo / ".git" / "worktrees").glob("*/locked")  # locked, its HEAD all zeros
    assert (half.parent / "HEAD").read_text().strip() == "0" * 40
    # The user fixes the files themselves, and commits.
    write(repo, FIXED)
    commit_all(repo, "fixed by hand")

    done = stomper(repo, "fix", "--tools", "ruff")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failing file(s)" in done.stdout
    assert f"cleaned up after run {run_id}, which did not finish" in done.stderr
    assert not list((repo / ".git" / "worktrees").glob("*"))
    assert git(repo, "worktree", "list").count("\n") == 1
    assert (repo / "notes.txt").read_bytes() == before.files["notes.txt"][1]
    subprocess.run(["git", "fsck", "--strict", "--no-progress"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "gc", "--quiet"], cwd=repo, check=True, capture_output=True)
