"""What an agent said on each attempt, kept in the run's directory for the user to read.

One file per attempt, `<run dir>/agent/<file>-<attempt>.log`: the command,
how it ended, and the last `KEPT_CHARS` characters of its stdout and of its
stderr (the end is where an agent says what went wrong), with credentials
scrubbed (`stomper.redact`). The report names these files (`agent_output`),
and so does `-v`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from stomper import redact
from stomper.proc import Completed

KEPT_CHARS = 64 * 1024
"""Characters kept of each of an attempt's stdout and stderr (the last ones)."""


def path_for(directory: Path, file: str, attempt: int) -> Path:
    """Where attempt `attempt` at `file` (a path relative to the repository) is kept."""
    parts = [part for part in PurePosixPath(file).parts if part not in ("", ".", "..", "/")]
    return directory.joinpath(*parts[:-1], f"{parts[-1]}-{attempt}.log")


def keep(directory: Path, file: str, attempt: int, argv: Sequence[str], done: Completed | None, ended: str) -> Path:
    """Write the attempt's transcript and return its path; `ended` says how the agent ended."""
    path = path_for(directory, file, attempt)
    text = (
        f"$ {' '.join(_short(arg) for arg in argv)}\n"
        f"{ended}\n"
        f"--- stdout ---\n{_tail(done.out if done else '')}"
        f"--- stderr ---\n{_tail(done.err if done else '')}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact.scrub(text), encoding="utf-8")
    return path


def _short(arg: str) -> str:
    # A preset may pass the whole prompt as an argument; the prompt is not what this file is for.
    return arg if len(arg) <= 200 and "\n" not in arg else f"{arg[:80].splitlines()[0]}... ({len(arg)} characters)"


def _tail(text: str) -> str:
    if len(text) > KEPT_CHARS:
        text = f"[... {len(text) - KEPT_CHARS} characters cut ...]\n{text[-KEPT_CHARS:]}"
    return text if not text or text.endswith("\n") else text + "\n"
