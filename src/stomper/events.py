"""A run's results as they happen: one JSON object per line, appended.

The log must stay readable whatever happens to the process writing it,
SIGKILL included. Two things make that so:

- each record goes to the kernel in one `os.write` of the whole line on a
  file opened with O_APPEND, so the page cache holds whole lines or nothing
  of a line (no userspace buffer that could be half flushed when the
  process dies; a killed process's completed writes survive it);
- the reader drops an unterminated last line, and a writer opening a log
  whose last line is unterminated (a write cut short by a full disk, say)
  cuts it off before appending, so a torn line never ends up in the middle.

No fsync: surviving the process is the promise, not surviving the machine.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from stomper import redact
from stomper.errors import EventLogError

_TAIL_CHUNK = 64 * 1024


class EventLog:
    """The writer of one run's event log, appending to `path` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        # Nodes running in worker threads may append too; the lock keeps a
        # retried short write from interleaving with another thread's line.
        self._lock = threading.Lock()
        _cut_torn_tail(self._fd, path)

    def append(self, record: Mapping[str, Any]) -> None:
        """Write `record` as one line, straight to the kernel.

        Called directly from coroutines, not through `asyncio.to_thread`: a
        line is a few hundred bytes written to the page cache, which takes
        microseconds, less than the hop to a worker thread would. And a
        direct call keeps the lines in the order the events happened, which
        concurrent `to_thread` calls would not promise.

        Credentials are scrubbed from the record (see `stomper.redact`).
        Raises `TypeError` (before writing anything) for a value JSON cannot hold.
        """
        text = json.dumps(redact.scrub_data(dict(record)), ensure_ascii=False, separators=(",", ":"))
        line = (text + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ValueError(f"event log {self.path} is closed")
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def close(self) -> None:
        """Close the file; closing twice is harmless, appending after it is an error."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every complete record in the log at `path`, oldest first.

    An unterminated last line is what a writer killed mid-write may leave;
    it is dropped. A complete line that is not a JSON object raises
    `EventLogError`: that is not something a crash produces.
    """
    return list(iter_events(path))


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """`read_events`, one record at a time."""
    with path.open("rb") as log:
        for number, line in enumerate(log, start=1):
            if not line.endswith(b"\n"):
                return
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise EventLogError(f"{path}:{number}: not a JSON line: {exc}") from None
            if not isinstance(record, dict):
                raise EventLogError(f"{path}:{number}: not a JSON object")
            yield record


def _cut_torn_tail(fd: int, path: Path) -> None:
    """Truncate the log after its last newline, if anything follows it."""
    size = os.fstat(fd).st_size
    end = size
    with path.open("rb") as log:
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            log.seek(start)
            chunk = log.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline != -1:
                end = start + newline + 1
                break
            end = start
    if end != size:
        os.ftruncate(fd, end)
