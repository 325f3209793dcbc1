"""What git's checkout of a blob writes into the working tree, for many files with few git processes.

git converts a blob on its way out (`text`/`eol` and `core.autocrlf`, `ident`,
`filter` drivers, `working-tree-encoding`); `git cat-file --filters` applies
the same conversions, one process a file. Every conversion but
`core.autocrlf=true` needs an attribute of the path, so a path with no
attribute at all, in a repository without `core.autocrlf=true`, is written as
stored: those are read with one `git cat-file --batch` for all of them, and
`git check-attr` says which paths those are. (`cat-file --batch --filters`
would do it in one, but git 2.39 announces each converted blob with its
stored size, not its converted one.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from stomper import together
from stomper.errors import GitError
from stomper.gitops import git


async def checked_out(root: Path, blobs: Sequence[tuple[str, str]]) -> dict[str, bytes]:
    """For each (path, blob id) of `blobs`: the bytes git's checkout writes at `path` in the checkout at `root`."""
    if len(blobs) < 3:  # as many processes one at a time as asking which need converting
        done = await together.gather(*(one(root, p, b) for p, b in blobs))
        return dict(zip((p for p, _ in blobs), done, strict=True))
    plain = await _unconverted(root, [path for path, _ in blobs])
    raw = await _stored(root, [blob for path, blob in blobs if path in plain])
    converted = [(path, blob) for path, blob in blobs if path not in plain]
    done = await together.gather(*(one(root, path, blob) for path, blob in converted))
    return {
        **{path: raw[blob] for path, blob in blobs if path in plain},
        **dict(zip((path for path, _ in converted), done, strict=True)),
    }


async def one(root: Path, path: str, blob: str) -> bytes:
    """What git's checkout of `blob` at `path` writes."""
    return (await git("cat-file", "--filters", f"--path={path}", blob, cwd=root)).stdout


async def _unconverted(root: Path, paths: Sequence[str]) -> set[str]:
    """Those of `paths` git checks out as stored: no attribute names them, and `core.autocrlf` is not true."""
    crlf = await git("config", "--type=bool", "--get", "core.autocrlf", cwd=root, check=False)
    if crlf.out.strip() == "true" or any("\0" in p for p in paths):
        return set()
    listed = b"".join(os.fsencode(p) + b"\0" for p in paths)
    done = await git("check-attr", "-z", "--all", "--stdin", cwd=root, stdin=listed)
    fields = done.stdout.split(b"\0")
    named = {os.fsdecode(fields[n]) for n in range(0, len(fields) - 2, 3)}
    return set(paths) - named


async def _stored(root: Path, blobs: Sequence[str]) -> dict[str, bytes]:
    """The stored bytes of each of `blobs`."""
    if not blobs:
        return {}
    out = (await git("cat-file", "--batch", cwd=root, stdin="".join(f"{b}\n" for b in blobs).encode())).stdout
    found: dict[str, bytes] = {}
    at = 0
    for blob in blobs:
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"git cat-file: {blob} is not a blob")
        size = int(header[2])
        found[blob] = out[end + 1 : end + 1 + size]
        at = end + 1 + size + 1
    return found
