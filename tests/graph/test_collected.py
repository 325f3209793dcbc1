"""`collected.json`: what a run killed before its graph started resumes from, before its batch and after it."""

from __future__ import annotations

from pathlib import Path

from stomper.diagnostics import Diagnostic
from stomper.fixers import Usage
from stomper.graph import jobs
from stomper.graph.state import FileJob, RunState
from stomper.graph.steps import StepTimes
from stomper.report import FileResult


def job(n: int, path: str, **extra: object) -> FileJob:
    diagnostic = Diagnostic(path, 1, 1, "ruff", "F401", "`os` imported but unused")
    return FileJob(index=n, path=path, diagnostics=(diagnostic,), **extra)  # type: ignore[arg-type]


COLLECTED: RunState = {"jobs": [job(0, "a.py"), job(1, "b.py")], "clean": ["c.py"], "tool_errors": []}


async def test_before_the_batch_it_says_the_batch_has_not_run(tmp_path: Path) -> None:
    await jobs.save(tmp_path / "collected.json", COLLECTED)

    loaded = await jobs.load(tmp_path / "collected.json")

    assert loaded == COLLECTED
    assert "pending" not in loaded  # the graph's batch node runs the batch


async def test_after_the_batch_it_keeps_the_batchs_results_and_what_it_left(tmp_path: Path) -> None:
    diagnostic = COLLECTED["jobs"][0].diagnostics[0]
    result = FileResult(
        path="a.py",
        outcome="fixed",
        before=(diagnostic,),
        remaining=(),
        attempts=1,
        fixers=("ruff",),
        usage=Usage(calls=1, input_tokens=10, output_tokens=2, cost=0.5),
        commit="0" * 40,
        steps=StepTimes(worktree=0.1, fixer=0.2, verify=0.3, integration=0.0, apply=0.05),
    )
    # b.py carries ruff's fix of it to its branch, where an AI has work left.
    after: RunState = {**COLLECTED, "results": [result], "attempts": 1, "pending": [job(1, "b.py", batched="f" * 40)]}
    await jobs.save(tmp_path / "collected.json", after)

    loaded = await jobs.load(tmp_path / "collected.json")

    assert loaded == after


async def test_an_unreadable_file_is_nothing_kept(tmp_path: Path) -> None:
    (tmp_path / "collected.json").write_text('{"jobs": [')

    assert await jobs.load(tmp_path / "collected.json") is None
    assert await jobs.load(tmp_path / "missing.json") is None
