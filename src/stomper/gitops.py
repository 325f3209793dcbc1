"""Talking to git.

Before any work starts, the repository is looked at once (`open_repo`: one
`git rev-parse`, on an event loop of its own). Everything that runs while
files are being fixed goes through `git()`, i.e. through `stomper.proc`, so
that no git call ever blocks the loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import proc
from stomper.errors import GitError, NotAGitRepository

# Set by git for hooks; inherited, they would point our worktree commands at
# the user's index (pre-commit's famous way to corrupt one).
_HOOK_VARIABLES = (
    "GIT_DIR",
    "GIT_INDEX_FILE",
    "GIT_WORK_TREE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)

GIT_TIMEOUT = 300.0


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git children: hook variables removed, no prompts."""
    env = {k: v for k, v in os.environ.items() if k not in _HOOK_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"
    # No `git status` or `git diff` of ours refreshes the user's index on the side: a kill
    # would leave its index.lock behind, and only the locks of an apply are ours to repair.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env.update(extra or {})
    return env


async def git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> proc.Completed:
    """Run `git args...` in `cwd`; raises `GitError` with git's message unless `check` is off."""
    done = await proc.run(["git", *args], cwd=cwd, env=git_env(env), stdin=stdin, timeout=GIT_TIMEOUT)
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]}: {_said(done)}")
    return done


def _said(done: proc.Completed) -> str:
    """git's message: its last line, after the first error when the last is only "fatal: ... failed"."""
    lines = (done.err.strip() or done.out.strip()).splitlines()
    if not lines:
        return f"exit {done.returncode}"
    errors = [line for line in lines if line.startswith("error: ")]
    if errors and lines[-1].startswith("fatal: "):
        return f"{errors[0]} ({lines[-1]})"
    return lines[-1]


def split_z(output: bytes) -> list[str]:
    """Paths from git's `-z` output."""
    return [p.decode("utf-8", "surrogateescape") for p in output.split(b"\0") if p]


@dataclass(frozen=True)
class RepoInfo:
    """A git repository as found before a run."""

    root: Path
    """The working tree's top directory."""
    git_dir: Path
    """The common git directory (shared by all worktrees); stomper keeps its state below it."""
    has_commits: bool
    detached: bool
    branch: str | None

    @property
    def state_dir(self) -> Path:
        return self.git_dir / "stomper"


def open_repo(path: Path) -> RepoInfo:
    """The repository containing `path`; raises `NotAGitRepository` when there is none.

    Called before any event loop runs (it has its own). One `git rev-parse`
    answers it; HEAD's branch is read from the file git keeps it in.
    """
    for name in _HOOK_VARIABLES:
        os.environ.pop(name, None)
    if not path.is_dir():
        raise NotAGitRepository(f"{path} is not inside a git repository")
    asked = ("--is-bare-repository", "--absolute-git-dir", "--git-common-dir", "--show-toplevel")
    done = asyncio.run(git("rev-parse", *asked, "--verify", "--quiet", "HEAD", cwd=path, check=False))
    lines = done.out.splitlines()
    if lines[:1] == ["true"]:
        raise NotAGitRepository(f"{path} is in a bare git repository, which has no files to fix")
    # 0: HEAD is a commit; 1 (with every line but the commit's): no commit yet.
    if done.returncode not in (0, 1) or len(lines) < len(asked):
        said = _said(done)
        why = "" if "not a git repository" in said else f" ({said})"
        raise NotAGitRepository(f"{path} is not inside a git repository{why}")
    _, git_dir, common_dir, top = lines[: len(asked)]
    head = (Path(git_dir) / "HEAD").read_text(encoding="utf-8", errors="surrogateescape").strip()
    branch = head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None
    return RepoInfo(
        root=Path(top).resolve(),
        git_dir=(path / common_dir).resolve(),
        has_commits=done.returncode == 0,
        detached=not head.startswith("ref: "),
        branch=branch,
    )


async def rev_parse(rev: str, *, cwd: Path) -> str:
    return (await git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", cwd=cwd)).out.strip()


async def changed_paths(cwd: Path, *diff_args: str) -> list[str]:
    """Paths added, copied, modified or renamed by `git diff diff_args`."""
    done = await git("diff", "--name-only", "--diff-filter=ACMR", "-z", *diff_args, cwd=cwd)
    return split_z(done.stdout)


async def untracked_paths(cwd: Path) -> list[str]:
    done = await git("ls-files", "--others", "--exclude-standard", "-z", cwd=cwd)
    return split_z(done.stdout)


async def listed_paths(cwd: Path, pathspecs: Sequence[str] = ()) -> list[str]:
    """Tracked files and untracked files git does not ignore."""
    done = await git("ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *pathspecs, cwd=cwd)
    return sorted(set(split_z(done.stdout)))
