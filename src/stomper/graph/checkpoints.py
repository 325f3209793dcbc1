"""The checkpoint file, `.git/stomper/state.sqlite`, looked at without LangGraph.

Only a run that fans out opens LangGraph's saver on it
(`stomper.graph.build.open_checkpointer`); every run first checks, with the
standard library and before it writes anything, that the file is a
database, so that a damaged one is said before a run starts.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from stomper.errors import StomperError


class CheckpointError(StomperError):
    """The checkpoint file cannot be used: not a database, or not one LangGraph can write."""

    def __init__(self, path: Path, why: object) -> None:
        super().__init__(
            f"{path}: cannot hold stomper's checkpoints ({why}); `stomper clean` removes it if it is damaged"
        )


def check(path: Path) -> None:
    """Raise `CheckpointError` when `path` exists and is not a database (blocking: call it in a thread)."""
    if not path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("pragma schema_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CheckpointError(path, exc) from exc
