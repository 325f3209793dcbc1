"""Snapshots, the run's pool of worktrees, and putting verified changes back.

A run starts from a *snapshot*: a commit whose tree is the user's working
tree as it was (tracked and untracked files, ignored ones left out), made
through a temporary index so the user's own index is never touched. Each file
is fixed in a detached worktree of that snapshot under the git directory, so
nothing stomper does shows up in `git status`; a run keeps a pool of them,
reset between files (`Worktrees`). An attempt that verification rejects is
thrown away by restoring the worktree's index and files from the tree of the
last *verified* state.

That tree is the *record* of what was verified: written to git's object
store before the tools look at the files (`Worktree.record`), compared with
the files again once they have (`Worktree.accept`), and from then on the
only source of what the fix is: its patch, the guard's checks and the bytes
the applier writes all come from the record, never from the live worktree,
where a process an agent left behind could still be writing. The record is
made through an index of stomper's own beside the worktree, which no fixer
can write: the worktree's index is the agent's to use, and an entry there
marked `--assume-unchanged` or `--skip-worktree`, or given a file's stats
with other bytes, would have git record something other than the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stomper import pool, together
from stomper.errors import StomperError
from stomper.gitops import STOMPER, RepoInfo, git, head_ref
from stomper.pool import STAT, Pooled, caches_of
from stomper.refs import RefState


class ChangedAfterVerification(StomperError):
    """The worktree's files changed while, or after, they were verified; the attempt is not kept."""


async def snapshot(repo: RepoInfo) -> str:
    """A commit of the repository's working tree as it is now.

    HEAD itself when nothing differs from it. The user's index is copied,
    never written, which also lets git reuse its cached file stats. HEAD,
    its tree and the index's path are those `open_repo` found: the snapshot's
    parent is the HEAD the run opened. A commit of its own is stomper's, not
    the user's (no branch holds it): made as stomper, it needs no identity of
    theirs, which a repository may not have (`user.useConfigOnly`).
    """
    root, head = repo.root, repo.head
    tree = await working_tree(root, repo.index)
    if head is not None and tree == (repo.head_tree or await _tree_of(root, head)):
        return head
    parents = ["-p", head] if head else []
    message = "stomper: snapshot of the working tree"
    done = await git(*STOMPER, "commit-tree", tree, *parents, "-m", message, cwd=root)
    return done.out.strip()


async def _tree_of(root: Path, commit: str) -> str:
    return (await git("rev-parse", f"{commit}^{{tree}}", cwd=root)).out.strip()


async def working_tree(root: Path, index: Path | None = None) -> str:
    """The working tree at `root` as it is now, as a tree in git's object store (ignored files left out).

    `index`: the path of the working tree's index, when the caller knows it.
    """
    if index is None:
        asked = await git("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=root)
        index = Path(asked.out.strip())
    with tempfile.TemporaryDirectory(prefix="stomper-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        if index.exists():
            # With its mtime: git compares the bytes of a file changed in the same tick as the index was written.
            await asyncio.to_thread(shutil.copy2, index, env["GIT_INDEX_FILE"])
        await git("add", "--all", cwd=root, env=env)
        return (await git("write-tree", cwd=root, env=env)).out.strip()


async def blob(root: Path, commit: str, path: str) -> bytes | None:
    """The bytes of `path` at `commit` (or a tree), or None when it has no such file."""
    done = await git("cat-file", "blob", f"{commit}:{path}", cwd=root, check=False)
    return done.stdout if done.returncode == 0 else None


async def blobs(root: Path, *wanted: tuple[str, str]) -> list[bytes | None]:
    """`blob` of each (commit, path), read by one git process."""
    if any("\n" in f"{commit}{path}" for commit, path in wanted):  # `--batch` reads one name a line
        return [await blob(root, commit, path) for commit, path in wanted]
    names = "".join(f"{commit}:{path}\n" for commit, path in wanted).encode("utf-8", "surrogateescape")
    out = (await git("cat-file", "--batch", cwd=root, stdin=names)).stdout
    found: list[bytes | None] = []
    at = 0
    for _ in wanted:
        header, _, rest = out[at:].partition(b"\n")
        fields = header.split(b" ")
        if len(fields) != 3 or not fields[2].isdigit():  # "<name> missing" (or ambiguous)
            found.append(None)
            at += len(header) + 1
            continue
        size = int(fields[2])
        found.append(rest[:size] if fields[1] == b"blob" else None)
        at += len(header) + 1 + size + 1
    return found


@dataclass(frozen=True)
class Change:
    """One file a verified fix changes: what it was in the snapshot, what it becomes."""

    path: str
    old_mode: str
    """git's mode in the snapshot ("000000" when the file is new)."""
    old_blob: str | None
    new_mode: str
    """git's mode in the record ("000000" when the fix deletes the file)."""
    new_blob: str | None
    status: str
    """A, M, D, T, or R (renamed; `renamed_from` set)."""
    renamed_from: str | None = None


async def changes(cwd: Path, old: str, new: str, *, renames: bool = False) -> tuple[Change, ...]:
    """The files that differ between two trees (or commits), read from git's object store."""
    done = await git("diff-tree", "-r", "-z", "--no-abbrev", "-M" if renames else "--no-renames", old, new, cwd=cwd)
    return _raw(done.stdout)[0]


def _raw(output: bytes) -> tuple[tuple[Change, ...], int]:
    """The entries of git's `--raw -z` output, and where what follows them begins (past its NUL)."""
    found = []
    at = 0
    while output[at : at + 1] == b":":
        header_end = output.index(b"\0", at)
        old_mode, new_mode, old_sha, new_sha, status = output[at + 1 : header_end].decode().split(" ")
        old_blob = None if set(old_sha) == {"0"} else old_sha
        new_blob = None if set(new_sha) == {"0"} else new_sha
        names = 2 if status.startswith(("R", "C")) else 1
        paths = []
        at = header_end + 1
        for _ in range(names):
            end = output.index(b"\0", at)
            paths.append(output[at:end].decode("utf-8", "surrogateescape"))
            at = end + 1
        renamed_from = paths[0] if names == 2 else None
        found.append(Change(paths[-1], old_mode, old_blob, new_mode, new_blob, status[0], renamed_from))
    return tuple(found), at + 1


@dataclass
class Worktree:
    """A detached checkout of the snapshot where one file is fixed."""

    path: Path
    base: str
    index: Path
    """stomper's own index for the worktree's files (`Pooled.own_index`): its records are made through it,
    never through the worktree's, which a fixer may write."""
    verified: str = ""
    """The tree of the last verified state; the base's until an attempt is accepted."""
    refs: RefState | None = None
    """The repository's refs as they were when the run's first worktree was made (see `stomper.refs`)."""
    _diffs: dict[tuple[str, str], tuple[Change, ...]] = field(default_factory=dict, repr=False)
    """What one tree changes relative to another, renames found: both are immutable, git is asked once."""
    _recorded: tuple[str, tuple[int, ...]] | None = field(default=None, repr=False)
    """The last `record` and the fingerprint of the index it left behind."""

    @property
    def tree(self) -> str:
        """The record of the last verified state (the base until an attempt is accepted)."""
        return self.verified or self.base

    async def start_from(self, tree: str) -> None:
        """Make `tree` the base (before any fixer ran): only the files that differ are written."""
        if tree != self.base:
            await git("read-tree", "-m", "-u", self.base, tree, cwd=self.path)
            self.base, self.verified = tree, ""

    async def record(self) -> str:
        """The files as they are now, written to git's object store as a tree (modes included)."""
        # Each file compared with its entry in stomper's own index by every stat, whatever the user's
        # config trusts (`STAT`); git reads the bytes of every file whose stats moved since it wrote it.
        await git(*STAT, "add", "--all", cwd=self.path, env=self._own)
        # Every entry of stomper's index is a blob `git add` just wrote or one of a tree in the store: git
        # need not look each up again (a stat of each loose object, in a repository not yet packed).
        tree = (await git("write-tree", "--missing-ok", cwd=self.path, env=self._own)).out.strip()
        # One stat of a file stomper keeps: not worth a thread.
        self._recorded = (tree, _fingerprint(self.index))
        return tree

    @property
    def _own(self) -> dict[str, str]:
        return {"GIT_INDEX_FILE": str(self.index)}

    async def accept(self, record: str | None = None) -> None:
        """Make `record` (by default, the files as they are now) the last verified state.

        Raises `ChangedAfterVerification` when the files no longer match
        `record`: something wrote them while the tools were looking.
        """
        if record is not None and await self._still(record):
            self.verified = record
            return
        now = await self.record()
        if record is not None and now != record:
            moved = [c.path for c in await changes(self.path, record, now)]
            raise ChangedAfterVerification(
                f"files changed in the worktree while the fix was verified ({', '.join(moved)}); not applied"
            )
        self.verified = now

    async def _still(self, record: str) -> bool:
        """Whether the files are still `record`, asked of git with one process where that can tell.

        It can when `record` was this worktree's last record and stomper's
        index (whose tree `record` is) has not been written since: then the files
        match `record` exactly when `git status` finds no file that differs
        from the index and no untracked one, by the same comparison of each
        file with its index entry (stats, the content where they cannot
        tell) that `git add --all` makes. Anything else is asked the long way.
        """
        if self._recorded is None or self._recorded[0] != record:
            return False
        now = _fingerprint(self.index)
        if not now or now != self._recorded[1]:
            return False
        # GIT_OPTIONAL_LOCKS=0 (gitops.git_env): status does not write the index it compares with.
        done = await git(
            *STAT,
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--ignore-submodules=none",
            cwd=self.path,
            env=self._own,
        )
        # "XY path": X is the index against HEAD (the fix itself), Y the files against the index.
        entries = [entry for entry in done.stdout.split(b"\0") if entry]
        return all(entry[1:2] == b" " and entry[:1] != b"?" for entry in entries)

    async def reject(self) -> None:
        """Throw away everything since the last verified state.

        The files are put back through stomper's own index, never through the
        worktree's, which the agent may have written: an entry it marked
        `--skip-worktree` or `--assume-unchanged` would keep its rejected
        edit in place (or fail the reset). The worktree's index is then made
        the verified tree as well, so that the next attempt finds no edit of
        the last one staged.
        """
        tree = self.verified or self.base
        await git("read-tree", "--reset", "-u", tree, cwd=self.path, env=self._own)
        await git("checkout", "--quiet", "--", ".", cwd=self.path, env=self._own)
        await git("clean", "-d", "--force", "--quiet", cwd=self.path, env=self._own)
        await git("read-tree", tree, cwd=self.path)

    async def contents(self, paths: Iterable[str]) -> dict[str, bytes | None]:
        """The bytes of each of `paths` in the worktree (None for one that is not a file there)."""

        def read() -> dict[str, bytes | None]:
            found: dict[str, bytes | None] = {}
            for path in paths:
                try:
                    found[path] = (self.path / path).read_bytes()
                except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                    found[path] = None
            return found

        return await asyncio.to_thread(read)

    async def verified_blob(self, path: str) -> bytes | None:
        """The bytes of `path` as verified (git's stored form), or None when the record has no such file."""
        return await blob(self.path, self.tree, path)

    async def changes(self, *, renames: bool = False) -> tuple[Change, ...]:
        """What the verified record changes relative to the base."""
        key = (self.base, self.tree)
        if key not in self._diffs:
            self._diffs[key] = await changes(self.path, *key, renames=True)
        return self._diffs[key] if renames else _unrenamed(self._diffs[key])

    async def blobs(self, path: str) -> tuple[bytes | None, bytes | None]:
        """The bytes of `path` in the base and as verified (git's stored form; None where there is no such file)."""
        old, new = await blobs(self.path, (self.base, path), (self.tree, path))
        return old, new

    async def patch(self) -> bytes:
        """The verified change as git writes it: binary-safe, new files included, from the record.

        The same git process lists the files it changes (`--raw`); without a
        deleted file among them there is no rename to find either, and they
        are what `changes` would ask git for: it is not asked again.
        """
        done = await git(
            "diff",
            "--raw",
            "-p",
            "-z",
            "--no-abbrev",
            "--binary",
            "--full-index",
            "--no-renames",
            self.base,
            self.tree,
            cwd=self.path,
        )
        found, patch_at = _raw(done.stdout)
        if not any(change.status == "D" for change in found):
            # git lists them in the order of its diff.orderFile, if the user has one; `diff-tree` in path order.
            ordered = sorted(found, key=lambda change: change.path.encode("utf-8", "surrogateescape"))
            self._diffs.setdefault((self.base, self.tree), tuple(ordered))
        return done.stdout[patch_at:]


def _unrenamed(found: tuple[Change, ...]) -> tuple[Change, ...]:
    """`found` as git lists it without looking for renames: each rename a deletion and an addition."""
    if not any(change.status == "R" for change in found):
        return found
    split = []
    for change in found:
        if change.status == "R" and change.renamed_from is not None:
            split.append(Change(change.renamed_from, change.old_mode, change.old_blob, "000000", None, "D"))
            split.append(Change(change.path, "000000", None, change.new_mode, change.new_blob, "A"))
        else:
            split.append(change)
    # git's order: its trees sort a directory's name as if it ended in "/", which is byte order of whole paths.
    return tuple(sorted(split, key=lambda change: change.path.encode("utf-8", "surrogateescape")))


LOCK_REASON = "stomper run "
"""How git's record of a stomper worktree (`.git/worktrees/<n>/locked`) begins: it is locked from
the moment `git worktree add` begins it, so that a half-made one left by a kill is known as ours."""

POOL = "pool"
"""The directory, beside the runs' own, of the worktrees kept from one run to the next."""


def pool_size(parallel: int, ai: bool) -> int:
    """How many worktrees a run of `parallel` fixers keeps: a spare for every two AI fixers.

    A file's worktree is busy beyond its fixer's run: reset and sealed
    before it, recorded, verified and accepted after. With a spare ready, a
    fixer done with one file starts the next at once, in a worktree made
    ready while it worked, rather than waiting for its own to be verified
    and reset. Only for AI fixers, whose runs are long beside that work;
    ruff's own fixes are not, and `--parallel 1` asked for one file at a time.
    """
    return parallel + (parallel // 2 if ai else 0)


class Worktrees:
    """The pool of worktrees of one run, under `<git dir>/stomper/worktrees/<run id>/<n>`, or, kept from run
    to run (`keep`), `<git dir>/stomper/worktrees/pool/<n>`.

    At most `size` of them (`pool_size`), made when first needed
    and reused file after file: `checkout` hands out an idle one reset to the
    base (`Pooled.reset`), as clean as a new one, so that the per-file cost is
    an index-driven update of what the last fixer changed, not a full
    checkout and removal. Tool caches (`caches`) stay beside each worktree
    (`caches_of`) across files; everything else a fixer left, in the files or in the worktree's own
    git directory, is gone before the next file is handed out. With `keep`,
    `close` parks the idle ones for the next run, which takes them back
    before it makes any (see `stomper.pool`): a run in a large repository
    then checks out only what changed since, not the whole tree `size` times.

    git's own bookkeeping of worktrees is not safe against concurrent
    `worktree add`/`remove` (one reads another's half-written entry), so
    registering takes turns; it happens at most `size` times a run.

    Each worktree is added locked, with the run named as the reason: git
    then never prunes it behind our back, and one that a kill left half
    made (git writes `locked` first and HEAD, all zeros, before its real
    value) is recognised by `remove_leftovers` as stomper's, to unlock and prune.
    """

    def __init__(
        self,
        root: Path,
        state_dir: Path,
        run_id: str,
        base: str,
        caches: tuple[str, ...] = (),
        size: int = 1,
        *,
        keep: bool = False,
    ) -> None:
        self.root = root
        self.state_dir = state_dir
        self.keep = keep
        """Whether `close` parks the idle worktrees for the next run (and `checkout` takes back the last run's)."""
        self.home = state_dir / "worktrees" / (POOL if keep else run_id)
        self.run_id = run_id
        self.base = base
        self.caches = caches
        """Tool caches (e.g. .mypy_cache) copied from the checkout beside each worktree when it is made and
        kept there across files: a warm mypy checks a file in a fraction of the time a cold one takes."""
        self.size = max(1, size)
        """At most this many in use at once (`pool_size`)."""
        self._registry = asyncio.Lock()
        self._turns = asyncio.Semaphore(self.size)
        self._idle: list[Pooled] = []
        self._spares: list[Pooled] = []
        self._held: set[Path] = set()
        """Every worktree this run made or took back: what `close` parks or removes."""
        self._differences: dict[tuple[str, str], list[str] | None] = {}
        self._parked: list[Path] | None = None
        """Those kept by an earlier run not taken back yet, found when first needed."""
        self._made = 0
        self._common: Path | None = None
        self._settings = ""
        """`pool.checkout_settings` when the run's first worktree was made or taken back."""
        self.refs: RefState | None = None

    @contextlib.asynccontextmanager
    async def checkout(self) -> AsyncIterator[Worktree]:
        """A worktree of the base for one file: an idle one of the pool, reset, or a new one."""
        async with self._turns:
            pooled = await self._take()
            try:
                yield Worktree(path=pooled.path, base=self.base, refs=self.refs, index=pooled.own_index)
            finally:
                self._idle.append(pooled)  # reset when next taken, not here: a cancelled run just removes it

    async def spare(self, tree: str | None = None) -> tuple[Worktree, str | None]:
        """One more worktree, outside the pool's turns, for the run itself (the integration queue's);
        no fixer runs in it, and `close` parks or removes it with the others. With it, the tree it holds:
        `tree`, or None for the base's.

        An idle one of the pool (or one an earlier run kept) is taken for good,
        reset as for a file but to `tree` (the state the queue wants in it),
        rather than a new one of the base checked out: the queue's first need
        is often the run's last check, once every file is done and the pool idle.
        """
        pooled = await self._reset_idle(tree) or await self._unpark(tree)
        held = tree if pooled is not None else None
        pooled = pooled or await self._add()
        self._spares.append(pooled)
        return Worktree(path=pooled.path, base=self.base, refs=self.refs, index=pooled.own_index), held

    async def _take(self) -> Pooled:
        return await self._reset_idle() or await self._unpark() or await self._add()

    async def _reset_idle(self, tree: str | None = None) -> Pooled | None:
        """An idle worktree reset to `tree` (the base when None); None when none is idle, or it would not reset."""
        if not self._idle:
            return None
        return await self._reset(self._idle.pop(), tree)

    async def _reset(self, pooled: Pooled, tree: str | None, *, changed: Sequence[str] | None = ()) -> Pooled | None:
        """`pooled` reset to `tree` (the base when None; `changed` as `Pooled.reset` takes it), or removed
        when it would not reset: None then."""
        try:
            # Not shielded: a reset cancelled halfway leaves a worktree
            # nobody takes again, which `close` removes with the rest.
            return await pooled.reset(tree or self.base, self.caches, changed=changed)
        except (StomperError, OSError):
            # One a fixer damaged beyond resetting (its git directory replaced, say) is replaced.
            await asyncio.shield(self._remove(pooled.path))
            return None

    async def _unpark(self, tree: str | None = None) -> Pooled | None:
        """One of the worktrees an earlier run kept, taken back and reset to `tree` (the base when None);
        None when none is left that can be trusted."""
        if not self.keep:
            return None
        while True:
            async with self._registry:
                await self._ready()
                if self._parked is None:
                    self._parked = await asyncio.to_thread(pool.parked, self.home)
                if not self._parked:
                    return None
                path = self._parked.pop(0)
                self._held.add(path)
                assert self._common is not None
                pooled = await asyncio.to_thread(
                    Pooled.unpark,
                    path,
                    records=self._common / "worktrees",
                    settings=self._settings,
                    head=self.base,
                    locked=f"{LOCK_REASON}{self.run_id}\n".encode(),
                )
                changed = await self._changed(pooled.was, tree or self.base) if pooled else None
            if pooled is None:
                await asyncio.shield(self._remove(path))
            elif reset := await self._reset(pooled, tree, changed=changed):
                return reset

    async def _changed(self, was: str, now: str) -> list[str] | None:
        """The files `was` and `now` hold differently, asked of git once a run for all the worktrees taken
        back (the last run parked them all at its base); None when git cannot tell (`was` pruned since)."""
        if (was, now) not in self._differences:
            done = await git(
                "diff-tree", "-r", "--name-only", "-z", "--no-renames", was, now, cwd=self.root, check=False
            )
            names = done.stdout.decode("utf-8", "surrogateescape").split("\0")
            self._differences[was, now] = [n for n in names if n] if done.returncode == 0 else None
        return self._differences[was, now]

    async def _add(self) -> Pooled:
        path = await asyncio.to_thread(self._claim)
        self._held.add(path)
        try:
            async with self._registry:
                await self._ready()
                await git(
                    "worktree",
                    "add",
                    "--detach",
                    "--no-checkout",
                    "--lock",
                    "--reason",
                    LOCK_REASON + self.run_id,
                    "--quiet",
                    str(path),
                    self.base,
                    cwd=self.root,
                )
            await git("reset", "--hard", "--quiet", cwd=path)
            await asyncio.to_thread(self._seed, path)
            return await asyncio.to_thread(Pooled.of, path, own=True)
        except BaseException:
            await asyncio.shield(self._remove(path))
            raise

    def _claim(self) -> Path:
        """A new worktree's directory, made empty: the first number free, beside any kept ones, and not
        one this run took back (its record, with the run's lock, is forgotten only in `close`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.home / str(self._made)
            self._made += 1
            with contextlib.suppress(FileExistsError):
                if path in self._held:
                    continue
                path.mkdir()
                pool.remove_beside(path)  # what a worktree of the number removed by hand left
                return path

    async def _ready(self) -> None:
        """What the run's first worktree needs: the refs (`stomper.refs`), and the checkout's settings."""
        if self.refs is not None:
            return
        self._common = Path(
            (await git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=self.root)).out.strip()
        )
        common, head = self._common, await head_ref(self.root)

        async def settings() -> None:
            if self.keep:
                self._settings = await pool.checkout_settings(self.root, common)

        async def refs() -> None:
            self.refs = await RefState.take(self.root, common, head)

        await together.gather(settings(), refs())

    def _seed(self, path: Path) -> None:
        # Copied, not linked: mypy's cache is an SQLite database that a
        # worktree's mypy would otherwise write into the user's copy of.
        for name in self.caches:
            if (self.root / name).is_dir():
                shutil.copytree(self.root / name, caches_of(path) / name, symlinks=True, dirs_exist_ok=True)

    async def _remove(self, path: Path) -> None:
        # git's entry for the worktree goes stale with its directory and is
        # unlocked and pruned once, in `close`; pruning here would make every branch wait.
        await asyncio.to_thread(pool.remove, path)

    async def close(self) -> None:
        """Park the idle worktrees (`keep`) and remove every other this run made or took back, and git's
        records of them; without `keep`, remove the run's directory."""
        idle, self._idle = [*self._idle, *self._spares], []
        if not self.keep:
            await asyncio.to_thread(shutil.rmtree, self.home, True)
            async with self._registry:
                await asyncio.to_thread(_forget, self.state_dir, self.run_id)
            return
        kept: list[Pooled] = []
        if idle and self._common is not None:
            common, unchanged = self._common, False

            async def check() -> None:
                nonlocal unchanged
                unchanged = await pool.checkout_settings(self.root, common) == self._settings

            # Reset before it is parked: nothing a fixer wrote (a rejected attempt, a key a model
            # echoed) stays on disk between runs.
            resets = await together.gather(check(), *(self._reset(pooled, None) for pooled in idle))
            kept = [pooled for pooled in resets if pooled is not None] if unchanged else []
        for path in self._held - {pooled.path for pooled in kept}:
            await asyncio.shield(self._remove(path))

        def settle() -> None:
            for pooled in kept:
                # One that cannot be parked (a disk full) is left as a kill mid-park leaves it, to `tidy`
                # and the next run: keeping worktrees saves time, and must never fail a run that landed.
                with contextlib.suppress(OSError):
                    pooled.park(self._settings, self.base)
            pool.tidy(self.home, self.state_dir.parent / "worktrees", keep=True)
            _forget(self.state_dir, self.run_id)

        async with self._registry:
            await asyncio.to_thread(settle)


def _fingerprint(index: Path) -> tuple[int, ...]:
    """What changes when git writes `index`: it writes a new file (`index.lock`) and renames it over the old."""
    try:
        stat = index.stat()
    except FileNotFoundError:
        return ()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


async def remove_leftovers(root: Path, state_dir: Path, *, keep: bool = True) -> tuple[list[str], int]:
    """Remove every stomper worktree but those kept for the next run (all of them without `keep`), and git's
    records of them; the ids of the dead runs whose worktrees these were (removed, or parked again), and
    how many kept ones went.

    Only with the run lock held: no run is alive then to own one. Run first
    thing by the next run and by `stomper clean`, this repairs whatever a
    kill left, even in the middle of `git worktree add`; a kept worktree a
    killed run had taken back is parked again (`pool.tidy`).
    """
    home = state_dir / "worktrees"
    removed = await asyncio.to_thread(_remove_directories, home)
    unkept = await asyncio.to_thread(pool.tidy, home / POOL, state_dir.parent / "worktrees", keep=keep)
    unlocked = await asyncio.to_thread(_unlock, state_dir, None)
    # Only when there is something to prune: most runs start with nothing left behind.
    if await asyncio.to_thread(_prunable, state_dir.parent / "worktrees"):
        await git("worktree", "prune", cwd=root)
    return sorted(set(removed) | set(unlocked)), unkept


def _prunable(records: Path) -> bool:
    """Whether `git worktree prune` has anything to remove in `records` (`.git/worktrees`).

    As git sees it: an entry that is not a directory, or a record that is not
    locked whose `gitdir` is missing, empty or names a file that is gone.
    """
    for record in sorted(records.iterdir()) if records.is_dir() else []:
        if not record.is_dir():
            return True
        if (record / "locked").exists():
            continue
        gitdir = (_read_text(record / "gitdir") or "").strip()
        # A relative gitdir (git's worktree.useRelativePaths) is relative to the record.
        if not gitdir or not (record / gitdir).exists():
            return True
    return False


def _remove_directories(home: Path) -> list[str]:
    removed = []
    for directory in sorted(home.glob("*")) if home.is_dir() else []:
        if directory.name == POOL:
            continue
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory.name)
    return removed


def _unlock(state_dir: Path, run_id: str | None) -> list[str]:
    """Unlock git's records of stomper's worktrees (of `run_id`, or of every run), so that prune sees them.

    A record is stomper's when its lock names a stomper run, or (made by an
    older stomper, locked only while being added) when it points under
    `state_dir/worktrees`. Returns the run ids found in the locks.
    """
    records = state_dir.parent / "worktrees"
    home = (state_dir / "worktrees").resolve()
    runs = []
    for record in sorted(records.iterdir()) if records.is_dir() else []:
        reason = _read_text(record / "locked")
        if reason is None:
            continue
        owner = reason.removeprefix(LOCK_REASON).strip() if reason.startswith(LOCK_REASON) else None
        gitdir = _read_text(record / "gitdir")
        ours = owner is not None or (gitdir is not None and Path(gitdir.strip()).is_relative_to(home))
        if ours and (run_id is None or owner == run_id):
            (record / "locked").unlink(missing_ok=True)
            if owner:
                runs.append(owner)
    return runs


def _forget(state_dir: Path, run_id: str) -> None:
    """Remove git's records of the worktrees of `run_id` whose directories are gone: what `git worktree
    prune` does with them, without a git process at the end of every run (and without touching any
    other record). One whose directory is still there (its removal failed) is left to the next run's repair.
    """
    records = state_dir.parent / "worktrees"
    for record in sorted(records.iterdir()) if records.is_dir() else []:
        reason = _read_text(record / "locked")
        if reason is None or not reason.startswith(LOCK_REASON) or reason.removeprefix(LOCK_REASON).strip() != run_id:
            continue
        gitdir = _read_text(record / "gitdir")
        # git writes it absolute, or (`worktree.useRelativePaths`) relative to the record.
        if gitdir is None or not (record / gitdir.strip()).exists():
            if record.is_symlink():  # one a fixer replaced: the link goes, never what it points to
                record.unlink()
            else:
                shutil.rmtree(record, ignore_errors=True)
    with contextlib.suppress(OSError):
        records.rmdir()  # as git leaves it: gone once empty


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None
