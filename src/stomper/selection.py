"""Which files a command works on."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from stomper import gitops
from stomper.errors import GitError, SelectionError

_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "venv", "site-packages", "build", "dist"})


@dataclass(frozen=True)
class Selection:
    """What the user asked for on the command line."""

    paths: tuple[str, ...] = ()
    """Files or directories (relative to the current directory)."""
    files: tuple[str, ...] = ()
    """Exact files, as pre-commit passes them."""
    staged: bool = False
    changed: bool = False
    since: str | None = None
    exclude: tuple[str, ...] = field(default_factory=tuple)

    @property
    def uses_git(self) -> bool:
        return self.staged or self.changed or self.since is not None

    @property
    def whole(self) -> bool:
        """No files named: the whole project, as each tool's own configuration selects it."""
        return not (self.paths or self.files or self.uses_git)


async def select_files(selection: Selection, root: Path, *, in_git: bool, cwd: Path) -> list[str]:
    """Python files to check, relative to `root`, sorted.

    Raises `SelectionError` for a path that does not exist, a ref git does not
    know, or a git-only selection outside a repository.
    """
    if selection.uses_git and not in_git:
        raise SelectionError("--staged, --changed and --since need a git repository")
    named = [_inside(root, cwd, p) for p in (*selection.paths, *selection.files)]
    candidates = await (_git_candidates(selection, root) if in_git else _walk(root))
    if named and "" not in named:
        candidates = [c for c in candidates if any(c == n or c.startswith(n + "/") for n in named)]
        if not selection.uses_git:
            # A file named explicitly counts even when git ignores it.
            explicit_files = [n for n in named if (root / n).is_file()]
            candidates = sorted(set(candidates) | set(explicit_files))
    return [path for path in candidates if path.endswith((".py", ".pyi")) and not _excluded(path, selection.exclude)]


async def text_files(root: Path, files: Sequence[str]) -> tuple[list[str], list[str]]:
    """`files` split into the text files stomper can fix and one note for each of the others.

    Tools, fixers and models all read UTF-8 text; a binary file or one in
    another encoding is left alone, and said so, rather than let it break
    the run of every other file. Raises `SelectionError` for a file that
    cannot be read at all: the run could not take a snapshot of it either.
    """

    def why_not(path: str) -> str | None:
        try:
            data = (root / path).read_bytes()
        except OSError as exc:
            raise SelectionError(f"{path}: cannot be read ({exc.strerror})") from None
        if b"\0" in data:
            return "is a binary file"
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})"
        return None

    reasons = await asyncio.to_thread(lambda: [why_not(path) for path in files])
    kept = [path for path, reason in zip(files, reasons, strict=True) if reason is None]
    notes = [f"skipped {path}: it {reason}" for path, reason in zip(files, reasons, strict=True) if reason]
    return kept, notes


def _inside(root: Path, cwd: Path, path: str) -> str:
    full = (cwd / path).resolve()
    if not full.exists():
        raise SelectionError(f"{path}: no such file or directory")
    try:
        rel = full.relative_to(root)
    except ValueError:
        raise SelectionError(f"{path}: outside the project at {root}") from None
    return "" if rel == Path(".") else rel.as_posix()


async def _git_candidates(selection: Selection, root: Path) -> list[str]:
    found: set[str] = set()
    if not selection.uses_git:
        found.update(await gitops.listed_paths(root))
    if selection.staged:
        found.update(await gitops.changed_paths(root, "--cached"))
    if selection.changed:
        # Before the first commit there is no HEAD: all that is staged is a change.
        against = "HEAD" if await _has_commits(root) else "--cached"
        found.update(await gitops.changed_paths(root, against))
        found.update(await gitops.untracked_paths(root))
    if selection.since is not None:
        base = await _merge_base(selection.since, root)
        found.update(await gitops.changed_paths(root, base))
        found.update(await gitops.untracked_paths(root))
    # A tracked file deleted from the working tree is still listed by git.
    exists = await asyncio.to_thread(lambda: {p for p in found if (root / p).is_file()})
    return sorted(exists)


async def _has_commits(root: Path) -> bool:
    return (await gitops.git("rev-parse", "--verify", "--quiet", "HEAD", cwd=root, check=False)).returncode == 0


async def _merge_base(ref: str, root: Path) -> str:
    try:
        await gitops.rev_parse(ref, cwd=root)
        return (await gitops.git("merge-base", ref, "HEAD", cwd=root)).out.strip()
    except GitError:
        raise SelectionError(f"--since {ref}: git knows no such commit, or it shares no history with HEAD") from None


async def _walk(root: Path) -> list[str]:
    def walk() -> list[str]:
        found: list[str] = []
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS]
            base = Path(directory).relative_to(root)
            found.extend((base / name).as_posix() for name in files)
        return sorted(found)

    return await asyncio.to_thread(walk)


def _excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether `path` matches `patterns` as .gitignore lines would (`migrations` anywhere, `/top.py` at the root)."""
    return bool(patterns) and _spec(tuple(patterns)).match_file(path)


@functools.cache
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(patterns)
