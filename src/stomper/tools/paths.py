"""Which files a tool takes, and how its paths are written back."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Literal

TEST_PATTERNS = ("test_*.py", "*_test.py")

Reach = Literal["file", "dependents", "tests"]
"""What a change to one file is verified on with a tool: the file, it and its importers, or the tests importing it."""


def python_files(paths: Sequence[str]) -> list[str]:
    return [p for p in paths if p.endswith((".py", ".pyi"))]


def test_files(paths: Sequence[str]) -> list[str]:
    return [p for p in paths if any(fnmatch(PurePosixPath(p).name, pat) for pat in TEST_PATTERNS)]


def relative(path: str, cwd: Path) -> str:
    """`path` as the tool wrote it, made relative to `cwd` with forward slashes."""
    full = Path(path) if os.path.isabs(path) else cwd / path
    try:
        return full.relative_to(cwd).as_posix()
    except ValueError:
        return Path(os.path.relpath(full, cwd)).as_posix()
