"""The analysed commit's diagnostics, as CI reports them: each with a stable id, and the verified fix it has.

A CI job reports on the commit it analysed, not on the tree stomper made
of it: regions are the analysed file's, an id survives lines moving above
a problem (`fingerprint` in `stomper.diagnostics`: tool, code, message with
positions blanked, the text of the flagged line, here with the path), and a
fix is a verified patch turned into replacements on the analysed file.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from stomper.diagnostics import Diagnostic, fingerprint
from stomper.gitops import git
from stomper.report import FileResult
from stomper.sarif import FileFix, Replacement


def stable_ids(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> dict[Diagnostic, str]:
    """An id per diagnostic that stays the same when lines move: `<sha256 prefix>:<occurrence>`.

    Identical problems on identical lines of one file are told apart by
    their order in the file (`:1`, `:2`), as GitHub's own line hashes are.
    """
    lines = {path: text.splitlines() for path, text in sources.items()}
    seen: Counter[str] = Counter()
    ids: dict[Diagnostic, str] = {}
    for d in sorted(set(diagnostics)):
        parts = (d.path, *fingerprint(d, lines.get(d.path, [])))
        digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        seen[digest] += 1
        ids[d] = f"{digest}:{seen[digest]}"
    return ids


def resolved(result: FileResult) -> list[Diagnostic]:
    """Those of a file's diagnostics that its verified fix made go away.

    What remains is reported on the fixed file, at lines that may have
    moved, so the two are matched on what survives a move: tool, code and
    message (positions blanked). Those an allowed suppression silenced
    (`result.suppressed`) went away too, but were not fixed: they are not
    among them.
    """
    if not result.applied or not result.patch:
        return []
    left = Counter(fingerprint(d, ()) for d in (*result.remaining, *result.suppressed))
    gone = []
    for d in sorted(result.before):
        key = fingerprint(d, ())
        if left[key]:
            left[key] -= 1
        else:
            gone.append(d)
    return gone


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def file_fix(patch: str, path: str, original: str, description: str) -> FileFix | None:
    """`patch`'s change to `path` as replacements on `original`; None when it cannot be said so exactly.

    Every replacement is checked against `original` before it is trusted:
    a fix that would delete other text than the patch says is no fix.
    """
    section = _section(patch, path)
    if section is None:
        return None
    starts = [0] + [m.end() for m in re.finditer("\n", original)]
    out: list[Replacement] = []
    n = 0
    while n < len(section):
        match = _HUNK.match(section[n])
        n += 1
        if match is None:
            continue
        first, count = int(match[1]), int(match[2] if match[2] is not None else 1)
        old: list[str] = []
        new: list[str] = []
        last = ""
        while n < len(section) and not section[n].startswith("@@"):
            line = section[n]
            n += 1
            if line.startswith("\\"):  # "\ No newline at end of file": the line before has none
                for side, kinds in ((old, " -"), (new, " +")):
                    if last and last in kinds and side:
                        side[-1] = side[-1].removesuffix("\n")
                continue
            last = line[:1]
            if last in (" ", "-"):
                old.append(line[1:] + "\n")
            if last in (" ", "+"):
                new.append(line[1:] + "\n")
        start = first - 1 if count else first
        if start < 0 or start >= len(starts):
            return None
        offset = starts[start]
        deleted = "".join(old)
        if original[offset : offset + len(deleted)] != deleted:
            return None
        out.append(Replacement(offset=offset, length=len(deleted), inserted="".join(new)))
    return FileFix(path=path, description=description, replacements=tuple(out)) if out else None


_NOT_TEXT_EDITS = ("Binary files", "GIT binary patch", "new file mode", "deleted file mode")


def touches(patch: str, path: str) -> bool:
    """Whether `patch` changes `path` at all."""
    return f"diff --git a/{path} b/{path}" in patch.split("\n")


def _section(patch: str, path: str) -> list[str] | None:
    """The lines of `patch` about `path`, from its first hunk on; None for a binary, new or deleted file."""
    lines = patch.split("\n")
    for n, line in enumerate(lines):
        if line == f"diff --git a/{path} b/{path}":
            body = []
            for rest in lines[n + 1 :]:
                if rest.startswith("diff --git "):
                    break
                body.append(rest)
            if any(b.startswith(_NOT_TEXT_EDITS) for b in body):
                return None
            return [b for b in body if not b.startswith(("---", "+++", "index "))]
    return None


async def sources(root: Path, commit: str | None, paths: Iterable[str]) -> dict[str, str]:
    """The text of `paths` at `commit` (in the working tree when None); a path it lacks is left out."""
    wanted = sorted(set(paths))
    if commit is None:

        def read() -> dict[str, str]:
            texts = {}
            for p in wanted:
                try:
                    texts[p] = (root / p).read_bytes().decode("utf-8", "surrogateescape")
                except OSError:
                    continue
            return texts

        return await asyncio.to_thread(read)
    if not wanted:
        return {}
    request = "".join(f"{commit}:{p}\n" for p in wanted).encode("utf-8", "surrogateescape")
    out = (await git("cat-file", "--batch", cwd=root, stdin=request)).stdout
    texts: dict[str, str] = {}
    at = 0
    for p in wanted:
        end = out.index(b"\n", at)
        header = out[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # missing at that commit
        size = int(header[2])
        texts[p] = out[at : at + size].decode("utf-8", "surrogateescape")
        at += size + 1
    return texts
