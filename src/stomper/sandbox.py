"""Confining an external agent: bubblewrap on Linux.

An agent is a program that does whatever a model tells it, with the user's
permissions. Under bubblewrap (`bwrap`) each attempt runs in a mount namespace
where the whole file system is read-only except what the attempt needs to
write, and in a PID namespace of its own:

- writable: the attempt's worktree, that worktree's own git directory
  (`.git/worktrees/<n>`: its index and HEAD), a private object store (the
  repository's is its alternate, so that `git add` and `git commit` work
  inside the worktree; `keep_objects` copies what they wrote into the
  repository's store afterwards, through git, which checks every object), and
  a private `HOME` and `TMPDIR`; all private places are made for the attempt
  and removed after it (HOME holds copies of the files of the user's home an
  agent needs to log in, `agent.home_paths`);
- read-only: everything else, among it the user's checkout, home directory,
  object store, refs (`refs/`, `packed-refs`, `logs/`, the stash), config and
  hooks, and inside the writable worktree its `.git` file and the files that
  tie its git directory to the repository (`gitdir`, `commondir`,
  `config.worktree`);
- killed as a whole: when the agent exits, the namespace's init exits and the
  kernel kills every process left in it (a `setsid` daemon too), and
  `--die-with-parent` does the same when stomper itself dies, even by SIGKILL.

The network is left open: agents call their model's API. `argv_prefix` builds
the command line (a pure function); `probe` finds out, once per run, whether
bubblewrap works here at all (it needs user namespaces, or root).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import proc
from stomper.config import SandboxMode
from stomper.errors import ExecutableNotFound, FixerError, GitError, ProcTimeout, SandboxUnavailable
from stomper.gitops import git

PROBE_TIMEOUT = 20.0
"""Seconds the probe's `bwrap ... true` may take; it takes milliseconds where bwrap works."""

_XDG_DIRS = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR")
"""Unset for a confined agent, so that its configuration and caches go to its private HOME."""


@dataclass(frozen=True)
class Sandbox:
    """How this run's agents are confined: by `bwrap`, or (None) not at all."""

    bwrap: str | None
    note: str | None = None
    """What to tell the user once: why agents run unconfined and what that means."""


UNCONFINED = Sandbox(bwrap=None)


@dataclass(frozen=True)
class Box:
    """What one confined attempt may write, and what it sees as its home."""

    worktree: Path
    git_dir: Path
    """The worktree's own git directory, `.git/worktrees/<n>`."""
    objects: Path
    """The private object store, made for this attempt."""
    repo_objects: Path
    """The repository's object store: the private one's alternate, read-only."""
    home: Path
    """The private HOME, made for this attempt."""
    tmp: Path
    """The private TMPDIR, made for this attempt."""
    protected: tuple[Path, ...] = ()
    """Files inside the writable places that stay read-only (the worktree's `.git` file, ...)."""


def argv_prefix(bwrap: str, box: Box) -> list[str]:
    """The command line that runs a program inside `box`; the program's argv follows it."""
    return _confined(bwrap, box.worktree, (box.worktree, box.git_dir, box.objects, box.home, box.tmp), box.protected)


def tool_argv_prefix(bwrap: str, worktree: Path, writable: Sequence[Path]) -> list[str]:
    """The command line that runs a tool checking `worktree` as confined as the agent that wrote it.

    pytest imports what the fix wrote (a `conftest.py`, the module itself),
    and mypy loads the plugins its configuration names: verifying an attempt
    runs the attempt's code. It may write the worktree and `writable` (the
    tool's scratch directory, its caches), and nothing else; the worktree's
    `.git` file stays as it is; what it leaves running dies with it.
    """
    return _confined(bwrap, worktree, (worktree, *writable), (worktree / ".git",))


def _confined(bwrap: str, cwd: Path, writable: Sequence[Path], protected: Sequence[Path]) -> list[str]:
    # Order matters: bubblewrap mounts in the order given, so the writable places
    # are bound over the read-only root, and the protected files over them.
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for place in writable:
        argv += ["--bind", str(place), str(place)]
    for path in protected:
        argv += ["--ro-bind-try", str(path), str(path)]
    argv += ["--unshare-pid", "--die-with-parent", "--new-session", "--chdir", str(cwd), "--"]
    return argv


def environment(env: Mapping[str, str], box: Box) -> dict[str, str]:
    """`env` for a program inside `box`: HOME, TMPDIR and git's object store its own,
    XDG directories under that HOME."""
    confined = {key: value for key, value in env.items() if key not in _XDG_DIRS}
    confined.update(HOME=str(box.home), TMPDIR=str(box.tmp), TMP=str(box.tmp), TEMP=str(box.tmp))
    confined.update(GIT_OBJECT_DIRECTORY=str(box.objects), GIT_ALTERNATE_OBJECT_DIRECTORIES=str(box.repo_objects))
    return confined


async def make_box(worktree: Path, scratch: Path, home_paths: Sequence[str]) -> Box:
    """A `Box` for an attempt in `worktree`, its HOME and TMPDIR made under `scratch`.

    `home_paths` (relative to the user's home) are copied to the same place in
    the private home: agents rewrite their own configuration (`~/.claude.json`
    at every start), which must neither fail nor reach the user's.
    """
    home, tmp, objects = scratch / "home", scratch / "tmp", scratch / "objects"

    def make() -> tuple[Path, bytes, bytes] | None:
        tmp.mkdir()
        objects.mkdir()
        _copy_home(Path.home(), home, home_paths)
        return _ties(worktree)

    git_dir, repo_objects = await _git_paths(worktree, await asyncio.to_thread(make))
    return Box(
        worktree=worktree,
        git_dir=git_dir,
        objects=objects,
        repo_objects=repo_objects,
        home=home,
        tmp=tmp,
        # A config.worktree the agent creates is caught by the seal (`stomper.guard`).
        protected=(worktree / ".git", git_dir / "gitdir", git_dir / "commondir", git_dir / "config.worktree"),
    )


_GIT_PATHS: dict[tuple[Path, bytes, bytes], tuple[Path, Path]] = {}
"""git's answer for a worktree, by what it is asked from: a pool's worktree is boxed file after file."""


async def _git_paths(worktree: Path, key: tuple[Path, bytes, bytes] | None) -> tuple[Path, Path]:
    """The worktree's own git directory and the repository's object store, as git finds them
    from what ties them to it now (`key`, from `_ties`)."""
    if key is not None and key in _GIT_PATHS:
        return _GIT_PATHS[key]
    done = await git("rev-parse", "--path-format=absolute", "--git-dir", "--git-path", "objects", cwd=worktree)
    git_dir, repo_objects = (Path(line) for line in done.out.splitlines()[:2])
    if key is not None:
        _GIT_PATHS[key] = git_dir, repo_objects
    return git_dir, repo_objects


def _ties(worktree: Path) -> tuple[Path, bytes, bytes] | None:
    """What git reads to find a linked worktree's git directories (`.git`, then `commondir`), or None."""
    try:
        dot_git = (worktree / ".git").read_bytes()
        admin = worktree / dot_git.decode("utf-8", "surrogateescape").removeprefix("gitdir:").strip()
        return worktree, dot_git, (admin / "commondir").read_bytes()
    except (OSError, ValueError):
        return None


async def keep_objects(box: Box) -> None:
    """Copy the git objects written in `box` into the repository's store.

    An agent's `git add` in the worktree leaves its index pointing at them.
    They go through `git unpack-objects`, which hashes every object again, so
    none is kept under a name its content does not hash to. Raises `GitError`
    when they cannot be read.
    """
    if not await asyncio.to_thread(lambda: any(p.is_file() for p in box.objects.rglob("*"))):
        return
    private = {"GIT_OBJECT_DIRECTORY": str(box.objects)}
    listed = await git("cat-file", "--batch-all-objects", "--batch-check=%(objectname)", cwd=box.worktree, env=private)
    pack = await git("pack-objects", "--quiet", "--stdout", cwd=box.worktree, env=private, stdin=listed.stdout)
    if pack.truncated:
        raise GitError("the agent wrote more git objects than stomper takes over (16 MiB packed)")
    await git("unpack-objects", "-q", cwd=box.worktree, stdin=pack.stdout)


def _copy_home(real: Path, home: Path, paths: Sequence[str]) -> None:
    home.mkdir()
    for path in paths:
        source, copy = real / path, home / path
        if not source.exists():
            continue
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, symlinks=True)
            else:
                shutil.copyfile(source, copy)
        except OSError as exc:  # shutil.Error included
            raise FixerError(f"cannot copy {source} into the agent's home (agent.home_paths): {exc}") from exc


async def probe(bwrap: str) -> str | None:
    """Why `bwrap` cannot confine an agent on this machine, or None when it can.

    Runs `true` in a box of the same shape as an agent's (a few milliseconds).
    """
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="stomper-probe-"))
    try:
        place = scratch / "w"
        await asyncio.to_thread(place.mkdir)
        await asyncio.to_thread((place / ".git").touch)
        box = Box(
            worktree=place,
            git_dir=place,
            objects=place,
            repo_objects=place,
            home=place,
            tmp=place,
            protected=(place / ".git",),
        )
        try:
            done = await proc.run([*argv_prefix(bwrap, box), "true"], cwd=scratch, timeout=PROBE_TIMEOUT)
        except (ExecutableNotFound, ProcTimeout) as exc:
            return str(exc)
        if done.returncode != 0:
            said = (done.err.strip() or done.out.strip()).splitlines()[-1:] or [f"exit status {done.returncode}"]
            return said[0][:300]
        return None
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def choose(mode: SandboxMode) -> Sandbox:
    """The sandbox this run's agents get under `mode`.

    Raises `SandboxUnavailable` when `mode` is "required" and there is none.
    """
    if mode == "off":
        return UNCONFINED
    bwrap = shutil.which("bwrap")
    if bwrap is not None:
        why = await probe(bwrap)
        if why is None:
            return Sandbox(bwrap=bwrap)
        why = f"bubblewrap does not work here ({why})"
    elif sys.platform == "linux":
        why = "bubblewrap (bwrap) is not installed"
    else:
        why = f"stomper has no sandbox for agents on {sys.platform}"
    if mode == "required":
        raise SandboxUnavailable(
            f'sandbox = "required", but agents cannot be confined: {why}; '
            'install bubblewrap (apt-get install bubblewrap), or set sandbox = "auto" to run them unconfined'
        )
    return Sandbox(
        bwrap=None,
        note=(
            f"agents run unconfined: {why}; an agent, and the code of an AI's edit while the tools verify it, "
            "can write anywhere you can and leave processes running "
            '(install bubblewrap, or set sandbox = "off" to silence this)'
        ),
    )
