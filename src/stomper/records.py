"""Everything a run shows or writes down, as typed records.

What a run shows: `run.fix` hands each to its `on_event` callback, and
`progress.py` folds them into what is on screen.

    Note       a line for the user
    Collected  how many failing files the tools found (a resumed run does not collect)
    Step       where a file's branch is: blocked, worktree, fixing, verifying, waiting, applying, output kept, done
    Finished   a file's branch ended, with its `FileResult`

What a run writes in its journal (`.git/stomper/runs/<id>/events.jsonl`,
through `events.EventLog`), one JSON object per line told apart by its
"event" key, and reads back when it is resumed or repaired:

    Applying   "applying": before a fix touches the checkout, what its files are about to become
    Applied    "applied": the fix is in the checkout (and committed, in commit mode)
    Result     "result": a file's branch ended; the report's file object, its commit and seconds
    Ended      "not-applied", "rolled-back": an older stomper's end of an apply that did not land

`journal` reads a journal back, older stompers' too (their "applying"
records hold the target's sha256 instead of its changes). The run's record
(`runs.RunRecord`) and its report (`report.RunReport`) are the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stomper.diagnostics import Diagnostic
from stomper.errors import EventLogError
from stomper.report import FileResult, file_json

StepName = Literal["blocked", "worktree", "fixing", "verifying", "waiting", "applying", "output kept", "done"]


@dataclass(frozen=True)
class Note:
    """A line for the user: a repair made, a run resumed, a shard's share."""

    text: str


@dataclass(frozen=True)
class Collected:
    """The tools have run: this many failing files to fix."""

    count: int


@dataclass(frozen=True)
class Step:
    """Where one file's branch is."""

    path: str
    step: StepName
    fixer: str | None = None
    """With fixing and verifying: which fixer's attempt, `attempt` of `of`."""
    attempt: int | None = None
    of: int | None = None
    log: str | None = None
    """With output kept: where the agent's output was kept."""
    why: str | None = None
    """With blocked: which earlier unit it waits for, and the file they share."""


@dataclass(frozen=True)
class Finished:
    """One file's branch ended."""

    result: FileResult


Event = Note | Collected | Step | Finished
"""What `run.fix` shows while it goes."""


@dataclass(frozen=True)
class Applying:
    """Written before a fix touches the checkout: what each of its files is about to become."""

    path: str
    changes: tuple[tuple[str, str, str | None], ...] = ()
    """(path, mode, blob) per file; blob None: the file goes."""
    remaining: tuple[Diagnostic, ...] = ()
    """What the fix leaves unfixed in `path`."""
    sha256: str | None = None
    """An older stomper's record: the sha256 of `path`'s new bytes, and no `changes`."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "event": "applying",
            "path": self.path,
            "changes": [list(change) for change in self.changes],
            "remaining": [d.to_json() for d in self.remaining],
        }
        if self.sha256 is not None:
            data["sha256"] = self.sha256
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Applying:
        return cls(
            path=str(data["path"]),
            changes=tuple((str(p), str(mode), blob) for p, mode, blob in data.get("changes", [])),
            remaining=tuple(Diagnostic.from_json(d) for d in data.get("remaining", [])),
            sha256=data.get("sha256"),
        )


@dataclass(frozen=True)
class Applied:
    """Written once a fix is in the checkout (and, in commit mode, committed)."""

    path: str
    commit: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"event": "applied", "path": self.path, "commit": self.commit}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Applied:
        return cls(path=str(data["path"]), commit=data.get("commit"))


@dataclass(frozen=True)
class Result:
    """Written when a file's branch ends: the report's object for the file, with its commit and seconds."""

    result: FileResult

    @property
    def path(self) -> str:
        return self.result.path

    def to_json(self) -> dict[str, Any]:
        result = self.result
        return {"event": "result", **file_json(result), "commit": result.commit, "seconds": result.seconds}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        return cls(FileResult.from_json(data))


@dataclass(frozen=True)
class Ended:
    """An older stomper's "not-applied" or "rolled-back": an apply that ended without landing."""

    path: str
    event: str

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "path": self.path}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Ended:
        return cls(path=str(data["path"]), event=str(data["event"]))


JournalRecord = Applying | Applied | Result | Ended

_KINDS: dict[str, Any] = {
    "applying": Applying,
    "applied": Applied,
    "result": Result,
    "not-applied": Ended,
    "rolled-back": Ended,
}


def journal(lines: Iterable[Mapping[str, Any]]) -> list[JournalRecord]:
    """The records of a journal's lines (`events.read_events`), oldest first; a line of no kind known here is
    passed over: a newer stomper's, which says nothing this one acts on."""
    records: list[JournalRecord] = []
    for line in lines:
        kind = _KINDS.get(line.get("event"))  # type: ignore[arg-type]
        if kind is None:
            continue
        try:
            records.append(kind.from_json(line))
        except (KeyError, TypeError, ValueError) as exc:
            raise EventLogError(f"a journal line that is no {line.get('event')!r} record: {exc!r}") from exc
    return records


def applying(records: Iterable[JournalRecord]) -> dict[str, Applying]:
    """The fixes a run began to apply: path -> its last `Applying` record."""
    return {record.path: record for record in records if isinstance(record, Applying)}


def pending(records: Iterable[JournalRecord]) -> str | None:
    """The file a run was applying when it stopped, if its journal says that apply never ended."""
    found: str | None = None
    for record in records:
        if isinstance(record, Applying):
            found = record.path
        elif record.path == found:
            found = None
    return found
