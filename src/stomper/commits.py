"""The commits of a batch of fixes, one on another, made in memory and written to git at once.

The applier makes one commit per fix. With `git commit-tree` on a private
index that is three git processes a fix (stage, write-tree, commit-tree),
all of them under the apply lock. Here git's own tree objects are edited in
memory instead: the directories along the changed paths are read once
(`git cat-file --batch`); each fix replaces the entries it changes, the
directories above them are serialised again, and its commit names the one
before it; then every new tree and commit is written by `git hash-object -w`,
which checks each object's format and answers with the ids it wrote, which
must be the ids computed here. A batch costs five git processes, however many
fixes it holds.

`make` raises `Unsupported` where only git's own commit machinery will do
(a path git's batch input cannot carry, a directory that is not one); the
applier then makes the commits with `commit-tree`, as it does for signed
commits and for a commit encoding other than UTF-8.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stomper.errors import GitError, StomperError
from stomper.gitops import git
from stomper.worktree import Change

_TREE = b"40000"


class Unsupported(StomperError):
    """A batch whose commits this module does not make; `commit-tree` makes them."""


Directory = dict[bytes, tuple[bytes, bytes]]
"""A tree's entries: name -> (mode, raw object id)."""


async def make(root: Path, head: str, fixes: Sequence[tuple[Sequence[Change], str]], who: Signature) -> list[str]:
    """One commit per (changes, message) of `fixes`, each on the one before, the first on `head`, made by
    `who`: their ids. Every object is in git's object store on return."""
    digest: Callable[[bytes], hashlib._Hash] = hashlib.sha256 if len(head) == 64 else hashlib.sha1
    paths = [c.path for changes, _ in fixes for c in changes]
    if any("\n" in p or "\0" in p for p in paths):
        raise Unsupported("a path with a line break")
    names = sorted({d for p in paths for d in _parents(p)}, key=lambda d: (d.count("/"), d))
    trees = await _read_trees(root, head, names)
    author, committer = await who.lines()
    objects: list[tuple[str, bytes, str]] = []
    made = []
    parent = head
    for changes, message in fixes:
        touched: set[str] = set()
        for change in changes:
            directory, name = posixpath.split(change.path)
            entries = trees[directory]
            if change.new_blob is None:
                entries.pop(os.fsencode(name), None)
            else:
                entries[os.fsencode(name)] = (change.new_mode.encode(), bytes.fromhex(change.new_blob))
            touched.update(_parents(change.path))
        tree = ""
        for directory in sorted(touched, key=lambda d: -d.count("/") if d else 1):
            body = _serialise(trees[directory])
            tree = digest(b"tree %d\0" % len(body) + body).hexdigest()
            objects.append(("tree", body, tree))
            if directory:
                above, name = posixpath.split(directory)
                if trees[directory]:
                    trees[above][os.fsencode(name)] = (_TREE, bytes.fromhex(tree))
                else:  # git keeps no empty directory
                    trees[above].pop(os.fsencode(name), None)
        head_lines = f"tree {tree}\nparent {parent}\nauthor {author}\ncommitter {committer}\n\n"
        body = head_lines.encode() + message.encode()
        parent = digest(b"commit %d\0" % len(body) + body).hexdigest()
        objects.append(("commit", body, parent))
        made.append(parent)
    await _write(root, objects)
    return made


def _parents(path: str) -> list[str]:
    """The directories above `path`, the top one ("") first."""
    parts = path.split("/")[:-1]
    return ["", *("/".join(parts[: n + 1]) for n in range(len(parts)))]


async def _read_trees(root: Path, head: str, names: Sequence[str]) -> dict[str, Directory]:
    """The entries of each of `names` (directories) in `head`; a directory `head` does not have is empty."""
    # Names as git wrote them: bytes, read back with surrogate escapes where they are not UTF-8.
    asked = b"".join(os.fsencode(f"{head}^{{tree}}\n" if not n else f"{head}:{n}\n") for n in names)
    out = (await git("cat-file", "--batch", cwd=root, stdin=asked)).stdout
    trees: dict[str, Directory] = {}
    at = 0
    for name in names:
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")
        at = end + 1
        if header[-1] == b"missing":
            trees[name] = {}
            continue
        if len(header) != 3 or header[1] != b"tree":
            raise Unsupported(f"{name or 'the top directory'} is not a directory in HEAD")
        size = int(header[2])
        trees[name] = _parse(out[at : at + size], len(header[0]) // 2)
        at += size + 1
    return trees


def _parse(body: bytes, width: int) -> Directory:
    entries: Directory = {}
    at = 0
    while at < len(body):
        space = body.index(b" ", at)
        nul = body.index(b"\0", space)
        entries[body[space + 1 : nul]] = (body[at:space], body[nul + 1 : nul + 1 + width])
        at = nul + 1 + width
    return entries


def _serialise(entries: Directory) -> bytes:
    """A tree object's body, its entries in git's order (a directory sorts as if its name ended in "/")."""
    order = sorted(entries, key=lambda name: name + b"/" if entries[name][0] == _TREE else name)
    return b"".join(entries[name][0] + b" " + name + b"\0" + entries[name][1] for name in order)


class Signature:
    """Who makes the run's commits, as git's `author` and `committer` lines: asked of git once, timed each time.

    `git var GIT_AUTHOR_IDENT` gives the name, email, time and zone git would
    write; the name and email do not change during a run, the time does.
    When the environment fixes the dates (`GIT_AUTHOR_DATE`,
    `GIT_COMMITTER_DATE`), git is asked every time.
    """

    def __init__(self, root: Path, identity: Sequence[str] = ()) -> None:
        self.root = root
        self.identity = tuple(identity)
        """git's `-c user.name=...` arguments when the run supplies the identity."""
        self._who: tuple[str, str] | None = None

    async def lines(self) -> tuple[str, str]:
        """The author and committer as git would write them now."""
        if self._who is not None:
            return self._who[0] + _now(), self._who[1] + _now()
        # One after the other: a `git var` that fails leaves no other running behind it.
        author = (await git(*self.identity, "var", "GIT_AUTHOR_IDENT", cwd=self.root)).out.strip()
        committer = (await git(*self.identity, "var", "GIT_COMMITTER_IDENT", cwd=self.root)).out.strip()
        found = author, committer
        if not {"GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"} & os.environ.keys():
            # "Name <email> 1795743984 +0000": the name and email, up to the time.
            self._who = (found[0].rsplit(" ", 2)[0] + " ", found[1].rsplit(" ", 2)[0] + " ")
        return found


def _now() -> str:
    """The time as git writes it in a commit: seconds since the epoch and the local zone, e.g. `1795743984 +0100`."""
    stamp = time.time()
    offset = int(time.localtime(stamp).tm_gmtoff) // 60
    sign = "-" if offset < 0 else "+"
    return f"{int(stamp)} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


async def _write(root: Path, objects: Sequence[tuple[str, bytes, str]]) -> None:
    """Write `objects` (kind, body, the id computed for it) to git's object store, trees first.

    git checks each one's format; an id it gives that is not the one computed
    here (a tree serialised otherwise than git would) stops the batch.
    """
    kinds = ("tree", "commit")
    with tempfile.TemporaryDirectory(prefix="stomper-objects-") as scratch:
        files = [(Path(scratch) / f"{n}.{kind}", body) for n, (kind, body, _) in enumerate(objects)]
        await asyncio.to_thread(_save, files)
        for kind in kinds:
            listed = "".join(f"{path}\n" for (path, _), (k, _, _) in zip(files, objects, strict=True) if k == kind)
            done = await git(
                "hash-object", "-w", "--no-filters", "-t", kind, "--stdin-paths", cwd=root, stdin=listed.encode()
            )
            if done.out.split() != [made for k, _, made in objects if k == kind]:
                raise GitError(f"git gave other ids for the {kind}s than stomper computed")


def _save(files: Sequence[tuple[Path, bytes]]) -> None:
    for path, body in files:
        path.write_bytes(body)
