"""The records a run writes in its journal, read back: today's, and those earlier stompers wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stomper import records
from stomper.diagnostics import Diagnostic
from stomper.errors import EventLogError
from stomper.events import EventLog, read_events
from stomper.fixers import Usage
from stomper.report import FileResult, file_json
from stomper.runs import BadRunRecord, RunDir, RunRecord

DIAG = Diagnostic("pkg/a.py", 3, 1, "mypy", "return-value", "Incompatible return value")
RESULT = FileResult(
    "pkg/a.py",
    "partial",
    (DIAG, DIAG),
    (DIAG,),
    attempts=2,
    fixers=("agent",),
    detail="one left",
    hint="run again",
    seconds=1.5,
    usage=Usage(1, 10, 20, 0.25),
    commit="abc1234",
    kept_patch=None,
)


def test_every_record_is_the_line_it_was_and_reads_back_as_itself(tmp_path: Path) -> None:
    written: list[records.JournalRecord] = [
        records.Applying("pkg/a.py", (("pkg/a.py", "100644", "f" * 40), ("pkg/gone.py", "100644", None)), (DIAG,)),
        records.Applied("pkg/a.py", "abc1234"),
        records.Result(RESULT),
    ]
    with EventLog(tmp_path / "events.jsonl") as log:
        for record in written:
            log.append(record.to_json())

    lines = read_events(tmp_path / "events.jsonl")

    assert [line["event"] for line in lines] == ["applying", "applied", "result"]
    # The result line is the report's object for the file, with its commit and seconds (docs/json-schema.md).
    assert lines[2] == {"event": "result", **file_json(RESULT), "commit": "abc1234", "seconds": 1.5}
    assert records.journal(lines) == written


def test_the_lines_the_previous_stomper_wrote_are_read() -> None:
    # As it wrote them, key for key: the applier's two lines and the run's result line.
    lines = [
        {"event": "applying", "path": "a.py", "changes": [["a.py", "100755", "e" * 40]], "remaining": []},
        {"event": "applied", "path": "a.py", "commit": None},
        {"event": "result", "path": "a.py", "outcome": "fixed", "detail": "", "attempts": 1, "fixers": ["ruff"],
         "diagnostics_before": [DIAG.to_json()], "diagnostics_remaining": [], "kept_patch": None,
         "model": {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0.0}, "commit": None, "seconds": 0.25},
    ]  # fmt: skip

    applying, applied, result = records.journal(lines)

    assert applying == records.Applying("a.py", (("a.py", "100755", "e" * 40),))
    assert applied == records.Applied("a.py", None)
    # A result line from before `hint` and `diagnostics_suppressed` were written.
    assert result == records.Result(
        FileResult("a.py", "fixed", (DIAG,), (), attempts=1, fixers=("ruff",), seconds=0.25)
    )


def test_an_older_stompers_applying_line_holds_a_sha256_and_its_ends_count() -> None:
    lines = [
        {"event": "applying", "path": "a.py", "sha256": "0" * 64},
        {"event": "not-applied", "path": "a.py"},
        {"event": "applying", "path": "b.py", "sha256": "1" * 64},
        {"event": "rolled-back", "path": "b.py"},
    ]

    journal = records.journal(lines)

    assert records.applying(journal)["a.py"] == records.Applying("a.py", sha256="0" * 64)
    assert journal[1] == records.Ended("a.py", "not-applied")
    assert records.pending(journal) is None


@pytest.mark.parametrize(
    ("kinds", "pending"),
    [
        ([("applying", "a.py")], "a.py"),
        ([("applying", "a.py"), ("applied", "a.py")], None),
        ([("applying", "a.py"), ("result", "b.py")], "a.py"),
        ([("applying", "a.py"), ("result", "a.py"), ("applying", "b.py")], "b.py"),
        ([("applying", "a.py"), ("applying", "b.py"), ("applied", "a.py")], "b.py"),
    ],
)
def test_pending_is_the_apply_that_never_ended(kinds: list[tuple[str, str]], pending: str | None) -> None:
    lines = []
    for event, path in kinds:
        if event == "result":
            lines.append(records.Result(FileResult(path, "fixed", (), ())).to_json())
        else:
            lines.append({"event": event, "path": path, "changes": [], "commit": None})

    assert records.pending(records.journal(lines)) == pending


def test_a_line_of_a_kind_this_stomper_does_not_know_is_passed_over() -> None:
    lines = [{"event": "integrated", "path": "a.py"}, {"step": "worktree"}, {"event": "applied", "path": "a.py"}]
    assert records.journal(lines) == [records.Applied("a.py")]


@pytest.mark.parametrize(
    "line",
    [
        {"event": "applying"},
        {"event": "applying", "path": "a.py", "changes": [["a.py"]]},
        {"event": "result", "path": "a.py"},
    ],
)
def test_a_line_that_claims_a_kind_but_is_not_one_is_one_clear_error(line: dict[str, object]) -> None:
    with pytest.raises(EventLogError, match=f"no {json.dumps(line['event'])[1:-1]!r} record"):
        records.journal([line])


def test_a_run_record_reads_back_as_itself_and_an_older_ones_keys_take_their_defaults(tmp_path: Path) -> None:
    rundir = RunDir(tmp_path)
    record = RunRecord("r1", 42, 1.0, "interrupted", "commit", "b" * 40, ("a.py",), {"parallel": 2}, whole=True)
    rundir.save(record)
    assert rundir.load("r1") == record
    assert json.loads((tmp_path / "runs" / "r1" / "run.json").read_text())["whole"] is True

    # As a stomper before `branch`, `checkout` and `whole` wrote it.
    older = {"run_id": "r0", "pid": 7, "started": 0.5, "status": "interrupted", "mode": "no-commit", "base": "c" * 40}
    assert RunRecord.from_json(older) == RunRecord("r0", 7, 0.5, "interrupted", "no-commit", "c" * 40)
    assert RunRecord.from_json(older).whole is False


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ([], "a JSON list, not an object"),
        ({"run_id": "r", "bogus": 1}, "unknown key 'bogus'"),
        ({"run_id": "r"}, "pid"),
    ],
)
def test_a_run_record_that_is_not_one_says_what_is_wrong(tmp_path: Path, data: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        RunRecord.from_json(data)
    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "run.json").write_text(json.dumps(data))
    with pytest.raises(BadRunRecord, match=f"not a stomper run record \\({why}"):
        RunDir(tmp_path).load("r")
