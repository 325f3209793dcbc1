"""A repository whose stomper state, or configuration, is not what stomper wrote: one line, exit 2.

Each case is an input that once crashed stomper with a traceback (exit 3).
Now each gives one line naming the file and how to get past it, leaves the
checkout as it was, and the way out it names works.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import STOMPER, commit_all, git, write

from tests.faults.checkout_state import CheckoutState

UNUSED_IMPORT = "import os\n\nprint(1)\n"


def stomper(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(STOMPER), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def one_error(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert (done.returncode, done.stderr.splitlines()) == (2, [f"stomper: error: {message}"]), done.stdout


def project(repo: Path) -> CheckoutState:
    write(repo, {"a.py": UNUSED_IMPORT})
    commit_all(repo)
    return CheckoutState.capture(repo)


def unchanged(repo: Path, before: CheckoutState) -> None:
    after = CheckoutState.capture(repo)
    assert (after.files, after.index, after.head, after.refs) == (before.files, before.index, before.head, before.refs)


def fixes(repo: Path) -> None:
    """The way out worked: a run now fixes the file."""
    done = stomper(repo, "fix", "--tools", "ruff")
    assert done.returncode == 0, done.stderr
    assert (repo / "a.py").read_text() == "\nprint(1)\n"


@pytest.mark.parametrize("pyproject", ["tool = 5\n", "[tool]\nstomper = 'yes'\n"])
def test_a_pyproject_whose_tool_is_no_table(repo: Path, pyproject: str) -> None:
    write(repo, {"pyproject.toml": pyproject})
    before = project(repo)
    key, value = ("tool", "5") if pyproject.startswith("tool") else ("tool.stomper", "'yes'")

    done = stomper(repo, "fix", "--tools", "ruff")

    one_error(done, f"{repo / 'pyproject.toml'}: {key}: must be a table (got {value})")
    unchanged(repo, before)
    assert not (repo / ".git" / "stomper").exists()


def _record(repo: Path) -> dict[str, object]:
    base = git(repo, "rev-parse", "HEAD").strip()
    return {"run_id": "r1", "pid": 1, "started": 1.0, "status": "interrupted", "mode": "commit", "base": base}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{}", "run_id: Field required"),
        ("[]", "a JSON list, not an object"),
        ("extra", "unknown key 'surprise'"),
        ("{", "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ],
)
def test_a_run_record_that_is_no_record(repo: Path, content: str, why: str) -> None:
    before = project(repo)
    path = repo / ".git" / "stomper" / "runs" / "r1" / "run.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**_record(repo), "surprise": 1}) if content == "extra" else content)
    said = f"{path}: not a stomper run record ({why}); `stomper clean` removes it"

    one_error(stomper(repo, "fix", "--resume"), said)
    one_error(stomper(repo, "runs"), said)
    unchanged(repo, before)

    done = stomper(repo, "clean")
    assert done.returncode == 0, done.stderr
    assert f"removed {path.parent}, whose run record cannot be read" in done.stdout
    assert stomper(repo, "runs").stdout.strip() == "No stomper runs in this repository."
    fixes(repo)


def test_a_checkpoint_file_that_is_no_database(repo: Path) -> None:
    before = project(repo)
    checkpoints = repo / ".git" / "stomper" / "state.sqlite"
    checkpoints.parent.mkdir()
    checkpoints.write_bytes(b"not a database\n" * 100)

    done = stomper(repo, "fix", "--tools", "ruff")

    one_error(
        done,
        f"{checkpoints}: cannot hold stomper's checkpoints (file is not a database);"
        " `stomper clean` removes it if it is damaged",
    )
    unchanged(repo, before)
    assert git(repo, "for-each-ref", "refs/stomper/") == ""
    assert not (repo / ".git" / "stomper" / "runs").exists()
    done = stomper(repo, "clean")
    assert done.returncode == 0, done.stderr
    assert f"removed {checkpoints}, which is not a database" in done.stdout
    fixes(repo)


@pytest.mark.parametrize("command", [("fix", "--tools", "ruff"), ("clean",)])
def test_a_lock_that_is_a_directory(repo: Path, command: tuple[str, ...]) -> None:
    before = project(repo)
    lock = repo / ".git" / "stomper" / "lock"
    lock.mkdir(parents=True)

    said = f"{lock} is a directory, where stomper keeps its run lock; move it away and try again"
    one_error(stomper(repo, *command), said)
    unchanged(repo, before)
    assert lock.is_dir()
    lock.rmdir()
    fixes(repo)


@pytest.mark.parametrize("command", [("fix", "--tools", "ruff"), ("clean",)])
def test_a_state_directory_that_is_a_file(repo: Path, command: tuple[str, ...]) -> None:
    before = project(repo)
    state = repo / ".git" / "stomper"
    state.write_text("mine\n")

    one_error(stomper(repo, *command), f"{state} is a file, where stomper keeps its state; move it away and try again")
    unchanged(repo, before)
    assert state.read_text() == "mine\n"
    state.unlink()
    fixes(repo)
