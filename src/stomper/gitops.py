"""Talking to git.

Before any work starts, the repository is looked at once (`open_repo`: one
`git rev-parse`, on an event loop of its own). Everything that runs while
files are being fixed goes through `git()`, i.e. through `stomper.proc`, so
that no git call ever blocks the loop.

`git()` pins the configuration that would change what stomper's own git
commands run or print (`PINNED`): no hook, fsmonitor, external diff, colour
or pager of the user's, and no diff or apply setting that reshapes a patch.
What the user's configuration should decide is left alone: identity,
signing, and the filters and line-ending conversions of their checkout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import proc
from stomper.environ import derived
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

PINNED = (
    # Programs git would run for us: hooks, the fsmonitor daemon, external diff drivers, a pager, an editor.
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.editor=true",
    "submodule.recurse=false",
    # What a patch or a listing looks like.
    "color.ui=false",
    "color.diff=false",
    "color.status=false",
    "color.branch=false",
    "diff.noprefix=false",
    "diff.mnemonicPrefix=false",
    "diff.relative=false",
    "diff.context=3",
    "diff.interHunkContext=0",
    "diff.suppressBlankEmpty=false",
    "diff.renames=false",
    "diff.ignoreSubmodules=none",
    "core.quotePath=true",
    # What `git apply` does to the lines it applies.
    "apply.whitespace=nowarn",
    "apply.ignoreWhitespace=no",
    # A refused line-ending conversion would fail `git add` in a worktree; the conversion itself is the user's.
    "core.safecrlf=false",
    # Housekeeping that would run while the other branches wait for the apply lock.
    "gc.auto=0",
    "maintenance.auto=false",
)
"""`-c` settings on every git command stomper runs."""

_PINNED_ARGS = tuple(arg for setting in PINNED for arg in ("-c", setting))
_DIFF_ARGS = ("--no-ext-diff", "--no-textconv", "--no-color")
"""After `diff`: `diff.external` (and a driver's command) has no "off" value to pin, only this flag."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git children: hook variables removed, no prompts."""
    env = dict(derived(_git_env_from))
    env.update(extra or {})
    return env


def _git_env_from(environ: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in _HOOK_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_PAGER"] = "cat"
    env["GIT_EDITOR"] = "true"
    for name in ("GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS"):
        env.pop(name, None)
    # No `git status` or `git diff` of ours refreshes the user's index on the side: a kill
    # would leave its index.lock behind, and only the locks of an apply are ours to repair.
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return env


async def git(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = True,
) -> proc.Completed:
    """Run `git args...` in `cwd`; raises `GitError` with git's message unless `check` is off."""
    argv = ["git", *_PINNED_ARGS, *args]
    sub = len(argv) - len(args) + _subcommand_at(args)
    if argv[sub] == "diff":
        argv[sub + 1 : sub + 1] = _DIFF_ARGS
    done = await proc.run(argv, cwd=cwd, env=git_env(env), stdin=stdin, timeout=GIT_TIMEOUT)
    if check and done.returncode != 0:
        raise GitError(f"git {args[_subcommand_at(args)]}: {_said(done)}")
    return done


def _subcommand_at(args: Sequence[str]) -> int:
    """Where the subcommand is in `args`, past any `-c name=value`."""
    n = 0
    while n + 1 < len(args) and args[n] == "-c":
        n += 2
    return n


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
    head: str | None
    """HEAD's commit when the repository was opened (None without commits)."""
    head_tree: str | None
    """That commit's tree (None when git could not read it)."""
    index: Path
    """The working tree's index file (which may not exist yet)."""
    head_ref: str | None
    """The ref HEAD pointed at (`refs/heads/main`), None when detached or when the HEAD file cannot tell."""

    @property
    def state_dir(self) -> Path:
        return self.git_dir / "stomper"


_REFTABLE_HEAD = "ref: refs/heads/.invalid"
"""What the HEAD file holds in a repository whose refs are in a reftable: HEAD itself is there, not in the file."""


def open_repo(path: Path) -> RepoInfo:
    """The repository containing `path`; raises `NotAGitRepository` when there is none.

    Called before any event loop runs (it has its own). One `git rev-parse`
    answers it, for the run's snapshot too (HEAD, its tree, the index); HEAD's
    branch is read from the file git keeps it in.
    """
    for name in _HOOK_VARIABLES:
        os.environ.pop(name, None)
    if not path.is_dir():
        raise NotAGitRepository(f"{path} is not inside a git repository")
    asked = (
        "--is-bare-repository",
        "--absolute-git-dir",
        "--git-common-dir",
        "--show-toplevel",
        "--path-format=absolute",
        "--git-path",
        "index",
    )
    printed = len(asked) - 2  # `--path-format` prints nothing, `--git-path index` one line
    # `--revs-only`: without a commit, HEAD is no revision and is left out instead of failing the call.
    done = asyncio.run(git("rev-parse", *asked, "--revs-only", "HEAD", "HEAD^{tree}", cwd=path, check=False))
    lines = done.out.splitlines()
    if lines[:1] == ["true"]:
        raise NotAGitRepository(f"{path} is in a bare git repository, which has no files to fix")
    if done.returncode != 0 or not printed <= len(lines) <= printed + 2:
        said = _said(done)
        why = "" if "not a git repository" in said else f" ({said})"
        raise NotAGitRepository(f"{path} is not inside a git repository{why}")
    _, git_dir, common_dir, top, index = lines[:printed]
    revs = lines[printed:]
    head, tree = (revs[0] if revs else None), (revs[1] if len(revs) > 1 else None)
    text = (Path(git_dir) / "HEAD").read_text(encoding="utf-8", errors="surrogateescape").strip()
    target = text.removeprefix("ref: ") if text.startswith("ref: ") and text != _REFTABLE_HEAD else None
    return RepoInfo(
        root=Path(top).resolve(),
        git_dir=(path / common_dir).resolve(),
        has_commits=head is not None,
        detached=not text.startswith("ref: "),
        branch=target.removeprefix("refs/heads/") if target and target.startswith("refs/heads/") else None,
        head=head,
        head_tree=tree,
        index=Path(index),
        head_ref=target,
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


async def head_ref(cwd: Path) -> str | None:
    """The branch HEAD is on (`refs/heads/main`), or None when it is detached."""
    done = await git("symbolic-ref", "--quiet", "HEAD", cwd=cwd, check=False)
    return done.out.strip() or None


async def has_identity(cwd: Path) -> bool:
    """Whether git can name a committer here (configured, from the environment, or guessed)."""
    return (await git("var", "GIT_COMMITTER_IDENT", cwd=cwd, check=False)).returncode == 0


async def fallback_identity(cwd: Path) -> tuple[str, ...]:
    """git's `-c` options for an author when the user has configured none and has not forbidden guessing one.

    With `user.useConfigOnly` the user asked git never to make up an
    identity; stomper does not either, and the commit check says so.
    """
    if await has_identity(cwd):
        return ()
    if await _config_true(cwd, "user.useConfigOnly"):
        return ()
    return STOMPER


STOMPER = ("-c", "user.name=stomper", "-c", "user.email=stomper@localhost")
"""git's `-c` options for stomper as the author: of the user's commits when they have no identity (and
allow a made-up one), and of stomper's own objects that no branch holds (a run's snapshot)."""


async def signing(cwd: Path) -> tuple[str, ...]:
    """`-S` when the user signs their commits (`commit.gpgSign`): `commit-tree` does not read that setting itself."""
    return ("-S",) if await _config_true(cwd, "commit.gpgSign") else ()


async def _config_true(cwd: Path, key: str) -> bool:
    """Whether the user's git configuration sets the boolean `key` (unset is false)."""
    done = await git("config", "--type=bool", "--get", key, cwd=cwd, check=False)
    return done.out.strip() == "true"
