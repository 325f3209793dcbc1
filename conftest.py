"""Fixtures shared by tests/ and e2e/: real git repositories in temporary directories.

Helpers are imported by tests as `from conftest import git, write, commit_all`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stomper import proc

# Every git call in the tests, and every one stomper makes under them, sees
# the same identity and no user or system configuration.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}

BIN = Path(sys.executable).parent
STOMPER = BIN / "stomper"
"""The console script, as users run it."""

FAKE_AGENT = Path(__file__).parent / "e2e" / "fake_agent.py"
"""An agent CLI that is a real program, playing a script of edits (see its docstring)."""


def fake_agent(script: Path) -> str:
    """The `--agent` command line that runs the fake agent on `script`."""
    return f"{sys.executable} {FAKE_AGENT} {script} {{file}}"


@pytest.fixture(autouse=True)
def _pinned_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # What the test's stomper and its children put in TMPDIR stays with the test's own files: a run
    # killed on purpose (tests/faults) leaves its scratch directories behind, as a killed run does.
    monkeypatch.setenv("TMPDIR", str(tmp_path_factory.mktemp("tmp")))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("STOMPER_") or key in ("CI", "GITHUB_ACTIONS"):
            monkeypatch.delenv(key, raising=False)
    # The fake agent reports to its test through files outside its worktree, which
    # the sandbox forbids; the sandbox's own tests ask for it (tests/faults/test_sandbox.py).
    monkeypatch.setenv("STOMPER_SANDBOX", "off")
    # Tools come from the test environment, not from whatever the machine has first on PATH.
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` for a test's own set-up or inspection."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def stomper(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`stomper args...` in `cwd`, as a subprocess; whatever happens, no traceback."""
    done = subprocess.run(
        [str(STOMPER), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def stray_worktrees(state: Path) -> list[Path]:
    """stomper's worktrees under `state` (a `.git/stomper`) that a run left behind: a run's own, or one of
    those kept for the next run (`worktrees/pool/<n>`) that was never parked (has no `<n>.kept`)."""
    home = state / "worktrees"
    found = [p for p in home.glob("*") if p.name != "pool"]
    return found + [p for p in home.glob("pool/*") if p.name.isdigit() and not p.with_suffix(".kept").is_file()]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def commit_all(repo: Path, message: str = "commit") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty git repository (on branch main, no commits) as the current directory."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    monkeypatch.chdir(root)
    yield root.resolve()


def process_gone(pid: int, within: float = 5.0) -> bool:
    """Whether `pid` has exited (a zombie waiting for its reaper counts as gone) within `within` seconds."""
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The argv of every process stomper starts through `proc.run` from here on, in order."""
    started: list[tuple[str, ...]] = []
    real = proc.run

    async def logged(argv: tuple[str, ...], **kwargs: object) -> proc.Completed:
        started.append(tuple(argv))
        return await real(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(proc, "run", logged)
    return started
