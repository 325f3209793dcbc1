"""Putting verified fixes into the user's checkout, one commit each.

Every change to the user's files goes through `Applier.apply_all`, under one
lock per run: git's index and the working tree are never written by two
branches at once. The integration queue hands it every fix waiting at the
moment, and they land under one hold of the lock: the checks, the user's
index and the branch are each read or written once for all of them, while
each fix still gets its own commit, made on the one before. A fix is the *record* of what was verified (a tree in
git's object store, see `stomper.worktree`), not a patch: the applier
writes the recorded blobs into the checkout itself, as git's own checkout
of them would (the checkout's line-ending conversions and filters apply),
and in commit mode makes the commit with git's plumbing, from HEAD's tree
with those blobs, on the branch the run started on. No patch text, no
diff or apply setting of the user's, no hook, can change what lands.

A fix is applied only to files that are what the run started from (the
snapshot's blob, as stored or as checked out), on the branch the run
started on; anything else keeps the patch under the git directory and
reports the file as not applied. The commit object is made before the
checkout is touched, so a commit git cannot make (an identity missing, a
signing program failing) leaves nothing behind; a step that fails after
that puts the files and the index back as they were.

Before touching the checkout, the applier writes down in the run's journal
what the files are about to become. A run killed between applying and
recording that it applied is thereby recognised when it resumes: the files
already hold the fix, which is committed if it was not yet, never applied
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stomper import checkouts, commits, records
from stomper.diagnostics import Diagnostic
from stomper.errors import GitError, StomperError
from stomper.events import EventLog
from stomper.gitops import git, head_ref, signing
from stomper.worktree import Change

Mode = Literal["commit", "no-commit", "diff"]
_NULL = "0" * 40
_SYMLINK = "120000"
_EXECUTABLE = "100755"


class NotApplied(StomperError):
    """A verified fix could not be put into the checkout; its patch was kept."""

    def __init__(self, reason: str, patch_path: Path | None) -> None:
        super().__init__(reason)
        self.patch_path = patch_path


class HeadMoved(NotApplied):
    """HEAD left the branch the run started on; nothing more lands until the user is back on it."""


class CannotCommit(StomperError):
    """git cannot make a commit in this repository (identity, signing); a commit-mode run does not start."""


@dataclass(frozen=True)
class Applied:
    commit: str | None
    """The (abbreviated) id of the commit made for the fix, in commit mode."""
    recovered: bool = False
    """The fix was already in the checkout, applied before an interruption."""
    remaining: tuple[Diagnostic, ...] = ()
    """For a recovered fix: what it left unfixed, as recorded when it was applied."""


@dataclass(frozen=True)
class Fix:
    """A verified change of one file (and, with `allow_other_files`, of others)."""

    path: str
    tree: str
    """The record of what was verified: a tree in git's object store."""
    changes: tuple[Change, ...]
    """Every file the record changes relative to the run's snapshot."""
    patch: bytes
    """The change as git writes it, kept when the fix cannot be applied."""
    message: str
    remaining: tuple[Diagnostic, ...] = ()
    """What the fix leaves unfixed in the file."""


class Applier:
    def __init__(
        self,
        root: Path,
        base: str,
        mode: Mode,
        patches_dir: Path,
        journal: EventLog,
        git_identity: tuple[str, ...] = (),
        applied_before: Mapping[str, records.Applying] | None = None,
        branch: str | None = None,
    ) -> None:
        self.root = root
        self.base = base
        self.mode = mode
        self.patches_dir = patches_dir
        self.journal = journal
        self.git_identity = git_identity
        self.applied_before = dict(applied_before or {})
        """path -> the journal's `Applying` record of a resumed run (see `applied_before`)."""
        self.branch = branch
        """The branch the run started on (`refs/heads/main`): fixes land there or nowhere."""
        self.signing: tuple[str, ...] | None = None
        """`-S` when the user signs commits; read at the first commit."""
        self.lock = asyncio.Lock()
        self._trees = _Trees(root)
        self._abbrev = 0
        """How many hex digits git abbreviates a commit id to here; read at the first commit."""
        self._plain: bool | None = None
        """Commits need nothing of git's own commit machinery (no signing, UTF-8): `stomper.commits` makes them."""
        self._who = commits.Signature(root, git_identity)

    async def apply(self, fix: Fix, locked: Callable[[], None] | None = None) -> Applied:
        """Apply `fix` and, in commit mode, commit it; `locked` is called once the lock is held.

        Raises `NotApplied` when a file changed in the checkout since the
        snapshot, HEAD left the run's branch, or the commit cannot be made;
        the checkout and the index are then as they were.
        """
        (done,) = await self.apply_all([fix], [locked])
        if isinstance(done, NotApplied):
            raise done
        assert done is not None
        return done

    async def apply_all(
        self, fixes: Sequence[Fix], locked: Sequence[Callable[[], None] | None] = (), *, prefix: bool = False
    ) -> list[Applied | NotApplied | None]:
        """Apply `fixes` in turn under one hold of the lock, one commit each; what became of each.

        Each is an `Applied`, or the `NotApplied` that says why not (the
        checkout and the index then hold nothing of that fix). `prefix`: stop
        at the first fix that is not applied; those after it are None, not
        tried (they were verified together with it). Once begun, the work
        under the lock runs to its end even if the run is cancelled
        meanwhile, so a file is never left half applied.
        """
        if self.mode == "diff":
            return [Applied(commit=None) for _ in fixes]
        critical = asyncio.ensure_future(self._apply_all(fixes, locked, prefix))
        try:
            return await asyncio.shield(critical)
        except asyncio.CancelledError:
            await critical
            raise

    async def recover(self, path: str) -> Applied | None:
        """The fix a resumed run had already applied to `path`, committing it if need be."""
        record = self.applied_before.get(path)
        if record is None or self.mode == "diff":
            return None
        remaining = record.remaining
        async with self.lock:
            if self.mode == "commit" and await self._moved() is not None:
                return None
            changes = await self._recorded(path, record)
            if changes is None:
                return None
            committed = [await self._blob_at("HEAD", c.path) == c.new_blob for c in changes]
            if self.mode == "commit" and not all(committed):
                message = f"fix(stomper): resolve diagnostics in {path}\n\nApplied before an interruption.\n"
                head = await self._head()
                made = await self._commit_object(head, changes, message)
                await self._stage(changes)
                return Applied(commit=await self._land(made, head, [message]), recovered=True, remaining=remaining)
            return Applied(commit=None, recovered=True, remaining=remaining)

    async def _apply_all(
        self, fixes: Sequence[Fix], locked: Sequence[Callable[[], None] | None], prefix: bool
    ) -> list[Applied | NotApplied | None]:
        done: dict[int, Applied | NotApplied] = {}
        async with self.lock:
            for call in locked:
                if call is not None:
                    call()
            todo = list(range(len(fixes)))
            while todo and not (prefix and any(isinstance(d, NotApplied) for d in done.values())):
                todo = await self._apply_round([(n, fixes[n]) for n in todo], done, prefix)
        return [done.get(n) for n in range(len(fixes))]

    async def _apply_round(
        self, todo: Sequence[tuple[int, Fix]], done: dict[int, Applied | NotApplied], prefix: bool
    ) -> list[int]:
        """Apply what of `todo` can go together (no two fixes of one file), in turn; what is left for a next round.

        The files are checked, the commits made (one per fix, each on the
        last), the journal told, the files written, the index staged, and the
        branch moved once, to the last commit: about eight git processes a
        round, however many fixes it lands.
        """
        head, now = await self._where()
        if (moved := self._moved_to(now)) is not None:
            back = (self.branch or "").removeprefix("refs/heads/")
            for n, fix in todo:
                reason = f"{moved}; fix of {fix.path} not applied; check out {back} again, then resume"
                done[n] = HeadMoved(reason, await self.keep(fix))
            return []
        batch, later = _one_per_file(todo)
        changed = [c for _, fix in batch for c in fix.changes]
        before = await asyncio.to_thread(lambda: {c.path: _read(self.root / c.path) for c in changed})
        index = await self._index_entries(changed) if self.mode == "commit" else b""
        ready: list[tuple[int, Fix]] = []
        for n, fix in batch:
            why = await self._refusal(fix, before, index)
            if why is not None:
                done[n] = NotApplied(why, await self.keep(fix))
                if prefix:  # what comes after it was verified with it: not tried
                    later = []
                    break
                continue
            ready.append((n, fix))
        made: dict[int, str] = {}
        if self.mode == "commit":
            # Made before the checkout is touched: a commit git refuses leaves nothing to undo.
            made, refused = await self._commit_objects(head, ready, prefix)
            for n, why in refused.items():
                done[n] = NotApplied(why, await self.keep(dict(ready)[n]))
            if refused and prefix:
                later = []
            ready = [(n, fix) for n, fix in ready if n in made]
        for _, fix in ready:
            changes = tuple((c.path, c.new_mode, c.new_blob) for c in fix.changes)
            self.journal.append(records.Applying(fix.path, changes, fix.remaining).to_json())
        wanted = [
            (c.path, c.new_blob) for _, fix in ready for c in fix.changes if c.new_blob and c.new_mode != _SYMLINK
        ]
        try:
            data = await checkouts.checked_out(self.root, wanted)
        except GitError:
            data = {}  # each file on its own then, each fix failing by itself
        written: list[tuple[int, Fix]] = []
        for n, fix in ready:
            try:
                for change in fix.changes:
                    await self._write(change, data)
            except (GitError, OSError) as exc:
                await self._undo(fix.changes, before, b"")
                reason = f"{fix.path}: the fix could not be applied ({exc}); your checkout is as it was"
                done[n] = NotApplied(reason, await self.keep(fix))
                # The commits after it were made on its commit: they are made again, in the next round.
                rest = [m for m, _ in ready[len(written) + 1 :]]
                later = [] if prefix else sorted(rest + later)
                break
            written.append((n, fix))
        if not written:
            return later
        commit: str | None = None
        if self.mode == "commit":
            landed = [c for _, fix in written for c in fix.changes]
            try:
                await self._stage(landed)
                commit = await self._land(made[written[-1][0]], head, [fix.message for _, fix in written])
            except (GitError, OSError) as exc:
                await self._undo(landed, before, index)
                for n, fix in written:
                    reason = f"{fix.path}: the fix could not be applied ({exc}); your checkout is as it was"
                    done[n] = NotApplied(reason, await self.keep(fix))
                return []
        for n, fix in written:
            short = made[n][: len(commit)] if commit is not None else None
            self.journal.append(records.Applied(fix.path, short).to_json())
            done[n] = Applied(commit=short)
        return later

    async def _commit_objects(
        self, head: str, fixes: Sequence[tuple[int, Fix]], prefix: bool
    ) -> tuple[dict[int, str], dict[int, str]]:
        """One commit per fix, each on the one before: (the commit of each fix made, why not for each refused).

        In memory and written at once (`stomper.commits`) where it can be;
        else one `commit-tree` each, signed if the user signs, and with
        `prefix` none after the first git refuses.
        """
        if not fixes:
            return {}, {}
        if self.signing is None:
            self.signing = await signing(self.root)
        if self._plain is None:
            self._plain = not self.signing and await _utf8_commits(self.root)
        if self._plain:
            with contextlib.suppress(commits.Unsupported, GitError):
                ids = await commits.make(self.root, head, [(f.changes, f.message) for _, f in fixes], self._who)
                self._trees.made("")  # its index holds none of these
                return dict(zip((n for n, _ in fixes), ids, strict=True)), {}
        made: dict[int, str] = {}
        refused: dict[int, str] = {}
        parent = head
        for n, fix in fixes:
            try:
                made[n] = parent = await self._commit_object(parent, fix.changes, fix.message)
            except GitError as exc:
                refused[n] = f"{fix.path}: the commit could not be made ({exc}); fix not applied"
                if prefix:
                    break
        return made, refused

    async def _refusal(self, fix: Fix, before: Mapping[str, bytes | None], index: bytes) -> str | None:
        """Why `fix` may not be applied to the checkout as it is (`before`, `index`), or None."""
        for change in fix.changes:
            if not await self._as_snapshot(change, before[change.path]):
                return f"{change.path} changed in your checkout since the run started; fix not applied"
            if self.mode == "commit" and _staged(index, change.path) != change.old_blob:
                # The commit would take the fix in place of what the user staged: theirs is kept instead.
                return f"{change.path} changed in your index since the run started; fix not applied"
        return None

    async def _where(self) -> tuple[str, str | None]:
        """HEAD's commit (in commit mode; else "") and the branch it is on (None when detached): one git call."""
        if self.mode != "commit":
            return "", await head_ref(self.root)
        head, ref = (await git("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", cwd=self.root)).out.split()
        return head, None if ref == "HEAD" else ref

    async def _moved(self) -> str | None:
        """Why not to apply when HEAD is no longer on the run's branch, else None."""
        return self._moved_to(await head_ref(self.root))

    def _moved_to(self, now: str | None) -> str | None:
        if self.branch is None or now == self.branch:
            return None
        where = f"to {now.removeprefix('refs/heads/')}" if now else "to a detached HEAD"
        return f"HEAD moved from {self.branch.removeprefix('refs/heads/')} {where} since the run started"

    async def _head(self) -> str:
        return (await git("rev-parse", "--verify", "HEAD^{commit}", cwd=self.root)).out.strip()

    async def _as_snapshot(self, change: Change, current: bytes | None) -> bool:
        """Whether the checkout holds `change`'s file as the snapshot had it: as stored, or as git checks it out."""
        if change.old_blob is None:
            return current is None
        if current is None:
            return False
        # As stored: its blob id is the snapshot's, hashed here rather than read back from git.
        return _blob_id(current, change.old_blob) == change.old_blob or current == await self._checked_out(
            change.path, change.old_blob
        )

    async def _checked_out(self, path: str, blob: str) -> bytes:
        """What git's checkout of `blob` at `path` writes: the checkout's eol conversion and filters applied."""
        return await checkouts.one(self.root, path, blob)

    async def _write(self, change: Change, data: Mapping[str, bytes]) -> None:
        """Write `change` into the checkout: `data` holds what git's checkout writes, for some paths."""
        target = self.root / change.path
        if change.new_blob is None:
            await asyncio.to_thread(target.unlink, True)
            return
        if change.new_mode == _SYMLINK:
            link = (await git("cat-file", "blob", change.new_blob, cwd=self.root)).stdout
            await asyncio.to_thread(_symlink, target, os.fsdecode(link))
            return
        found = data.get(change.path)
        if found is None:
            found = await self._checked_out(change.path, change.new_blob)
        await asyncio.to_thread(_replace, target, found, change.new_mode == _EXECUTABLE)

    async def _index_entries(self, changes: Sequence[Change]) -> bytes:
        """The user's index entries for `changes`, as `update-index --index-info` takes them back."""
        paths = [c.path for c in changes]
        done = await git("ls-files", "--stage", "-z", "--", *paths, cwd=self.root)
        listed = {entry.split(b"\t", 1)[1] for entry in done.stdout.split(b"\0") if entry}
        absent = b"".join(
            b"0 %s\t%s\0" % (_null(changes).encode(), os.fsencode(p)) for p in paths if os.fsencode(p) not in listed
        )
        return done.stdout + absent

    async def _stage(self, changes: Sequence[Change]) -> None:
        await stage(self.root, changes)

    async def _commit_object(self, head: str, changes: Sequence[Change], message: str) -> str:
        """A commit of HEAD's tree with `changes`, made on a private index: the user's is not read."""
        tree = await self._trees.make(head, changes)
        if self.signing is None:
            self.signing = await signing(self.root)
        done = await git(
            *self.git_identity,
            "commit-tree",
            *self.signing,
            "-p",
            head,
            "-F",
            "-",
            tree,
            cwd=self.root,
            stdin=message.encode(),
        )
        made = done.out.strip()
        self._trees.made(made)
        return made

    async def _land(self, made: str, head: str, messages: Sequence[str]) -> str:
        """Move the run's branch from `head` to `made` (the last of `messages`' commits); git refuses if it
        moved meanwhile."""
        branch = self.branch or await head_ref(self.root)
        if branch is None:
            raise GitError("HEAD is detached; the fix was not committed")
        subject = messages[-1].splitlines()[0]
        if len(messages) > 1:
            subject += f" (and {len(messages) - 1} fixes before it)"
        await git("update-ref", "-m", f"commit: {subject}", branch, made, head, cwd=self.root)
        if not self._abbrev:
            self._abbrev = len((await git("rev-parse", "--short", made, cwd=self.root)).out.strip())
        return made[: self._abbrev]

    async def _undo(self, changes: Sequence[Change], before: dict[str, bytes | None], index: bytes) -> None:
        for change in changes:
            target, data = self.root / change.path, before[change.path]
            if data is None:
                await asyncio.to_thread(target.unlink, True)
            elif change.old_mode == _SYMLINK:
                await asyncio.to_thread(_symlink, target, os.fsdecode(data))
            else:
                mode = await asyncio.to_thread(_mode, target)
                await asyncio.to_thread(_replace, target, data, bool(mode & stat.S_IXUSR))
        if index:
            await git("update-index", "-z", "--index-info", cwd=self.root, stdin=index)

    async def landed_before(self) -> list[Change]:
        """The changes of the fixes a resumed run had begun to apply that the checkout holds.

        A record written just before a kill names a fix that may never have
        reached the checkout: its branch does the file again, and the
        integrated state must not count it as landed meanwhile.
        """
        if self.mode == "diff":
            return []
        held = [await self._recorded(path, record) for path, record in self.applied_before.items()]
        return [change for changes in held if changes is not None for change in changes]

    async def _recorded(self, path: str, record: records.Applying) -> tuple[Change, ...] | None:
        """The changes an `Applying` record names, if the checkout holds every one of them; else None."""
        if not record.changes:  # a journal of an older stomper: the target's bytes only
            current = await asyncio.to_thread(_read, self.root / path)
            if current is None or _sha(current) != record.sha256:
                return None
            blob = (await git("hash-object", "-w", f"--path={path}", "--", path, cwd=self.root)).out.strip()
            return (Change(path, "100644", None, await self._mode_at(path), blob, "M"),)
        changes = tuple(Change(p, "", None, mode, blob, "M") for p, mode, blob in record.changes)
        for change in changes:
            current = await asyncio.to_thread(_read, self.root / change.path)
            if change.new_blob is None:
                if current is not None:
                    return None
            elif current is None or current not in (
                (await git("cat-file", "blob", change.new_blob, cwd=self.root)).stdout,
                await self._checked_out(change.path, change.new_blob),
            ):
                return None
        return changes

    async def _mode_at(self, path: str) -> str:
        mode = await asyncio.to_thread(_mode, self.root / path)
        return _EXECUTABLE if mode & stat.S_IXUSR else "100644"

    async def _blob_at(self, commit: str, path: str) -> str | None:
        done = await git("rev-parse", "--verify", "--quiet", f"{commit}:{path}", cwd=self.root, check=False)
        return done.out.strip() or None

    async def keep(self, fix: Fix) -> Path:
        """Save `fix`'s patch under the run's directory; where it is."""
        kept = self.patches_dir / (fix.path.replace("/", "__") + ".patch")
        await asyncio.to_thread(kept.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(kept.write_bytes, fix.patch)
        return kept


async def stage(root: Path, changes: Sequence[Change], env: dict[str, str] | None = None) -> None:
    """Put `changes` into the index (`env`'s `GIT_INDEX_FILE`, or the repository's own)."""
    entries = "".join(
        f"{c.new_mode} {c.new_blob}\t{c.path}\0" if c.new_blob else f"0 {_null(changes)}\t{c.path}\0" for c in changes
    )
    await git("update-index", "-z", "--index-info", cwd=root, env=env, stdin=os.fsencode(entries))


async def tree_with(root: Path, tree: str, changes: Sequence[Change]) -> str:
    """The tree of `tree` (a tree-ish) with `changes`, made on a temporary index: no checkout's is read."""
    with tempfile.TemporaryDirectory(prefix="stomper-index-") as scratch:
        return await _write_tree(root, Path(scratch) / "index", tree, changes)


async def _write_tree(root: Path, index: Path, tree: str | None, changes: Sequence[Change]) -> str:
    """The tree `index` holds with `changes` staged; read from `tree` first unless None (it holds it already)."""
    env = {"GIT_INDEX_FILE": str(index)}
    if tree is not None:
        await git("read-tree", tree, cwd=root, env=env)
    await stage(root, changes, env)
    return (await git("write-tree", cwd=root, env=env)).out.strip()


async def check_commits(root: Path, identity: Sequence[str]) -> None:
    """Raise `CannotCommit` unless git can make a commit in `root` as a run makes them.

    A throwaway commit object of HEAD's tree, with the user's identity and
    signing: nothing points at it, and `git gc` removes it.
    """
    try:
        await git(
            *identity,
            "commit-tree",
            *await signing(root),
            "-p",
            "HEAD",
            "-m",
            "stomper: can a commit be made here?",
            "HEAD^{tree}",
            cwd=root,
        )
    except GitError as exc:
        raise CannotCommit(f"cannot commit in this repository ({exc}); fix that, or use --no-commit") from exc


def applied_before(journal: Iterable[Mapping[str, Any]]) -> dict[str, records.Applying]:
    """From a run's journal (`events.read_events`), the fixes it began to apply: path -> its record.

    Raises `EventLogError` for a line that says it is a record of a kind but is not one.
    """
    return records.applying(records.journal(journal))


async def _utf8_commits(root: Path) -> bool:
    """Whether git writes commit messages as UTF-8 here (`i18n.commitEncoding` unset or UTF-8)."""
    done = await git("config", "--get", "i18n.commitEncoding", cwd=root, check=False)
    return done.out.strip().lower().replace("-", "") in ("", "utf8")


def _null(changes: Sequence[Change]) -> str:
    """The all-zero id that tells `update-index --index-info` to remove an entry, as long as the repository's ids."""
    ids = [i for c in changes for i in (c.old_blob, c.new_blob) if i]
    return "0" * len(ids[0] if ids else _NULL)


def _one_per_file(todo: Sequence[tuple[int, Fix]]) -> tuple[list[tuple[int, Fix]], list[int]]:
    """`todo` split into the fixes of a round, and those that change a file a fix before them in it changes."""
    batch: list[tuple[int, Fix]] = []
    later: list[int] = []
    seen: set[str] = set()
    for n, fix in todo:
        paths = {c.path for c in fix.changes}
        if paths & seen or later:
            later.append(n)
        else:
            batch.append((n, fix))
        seen |= paths
    return batch, later


def _staged(entries: bytes, path: str) -> str | None:
    """The blob `ls-files --stage -z` output (`_index_entries`) lists at stage 0 for `path`, if any."""
    for entry in entries.split(b"\0"):
        info, _, name = entry.partition(b"\t")
        fields = info.split(b" ")
        if name == os.fsencode(path) and len(fields) == 3 and fields[2] == b"0" and set(fields[1]) != {ord("0")}:
            return fields[1].decode()
    return None


def _blob_id(data: bytes, like: str) -> str:
    """The id git gives a blob of `data`, in the hash of the id `like` (SHA-1, or SHA-256 in such a repository)."""
    algorithm = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return algorithm(b"blob %d\0" % len(data) + data).hexdigest()


class _Trees:
    """Makes the trees of the run's commits on one private index, kept between commits.

    The index holds the tree of the last commit made; the next fix, made on
    that commit, then costs a `update-index` and a `write-tree`, not a
    `read-tree` of the whole of HEAD's tree first. The user's index is never read.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._holds = ""
        """The commit whose tree the index holds (with the changes of the commit made on it)."""

    async def make(self, head: str, changes: Sequence[Change]) -> str:
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="stomper-index-")
        holds, self._holds = self._holds, ""  # until the tree is written: a failure leaves an index nobody trusts
        return await _write_tree(
            self.root, Path(self._scratch.name) / "index", None if holds == head else head, changes
        )

    def made(self, commit: str) -> None:
        """The commit of the tree last made: the index holds its tree."""
        self._holds = commit


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: Path) -> bytes | None:
    """A file's bytes, a symbolic link's target, or None when there is nothing."""
    try:
        if path.is_symlink():
            return os.fsencode(os.readlink(path))
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode
    except FileNotFoundError:
        return 0


def _replace(path: Path, data: bytes, executable: bool) -> None:
    """Write `path` whole or not at all; an existing file keeps its permissions, a new one gets the umask's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = _mode(path)
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".stomper-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if existing and stat.S_ISREG(existing):
            os.chmod(scratch, stat.S_IMODE(existing))
        else:
            os.chmod(scratch, (0o777 if executable else 0o666) & ~_umask())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read rather than set: setting it would race with other threads creating files."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _symlink(path: Path, target: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.symlink_to(target)
