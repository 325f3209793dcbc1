"""What the benchmarks share: git's identity, a repository committed whole, the fake agent, stomper itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}

STOMPER = Path(sys.executable).with_name("stomper")
"""The console script of the stomper installed beside the benchmark's Python."""


def commit_everything(repo: Path) -> None:
    """Make `repo` a git repository on main whose one commit holds every file in it."""
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "broken"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=ENV)


def make_agent(where: Path, script: str) -> Path:
    """A fake agent: a shell script (its own start-up costs a few milliseconds), executable, in `where`."""
    path = where / "agent.sh"
    path.write_text(script)
    path.chmod(0o755)
    return path
