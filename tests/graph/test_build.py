"""The graph's shape and its fan-out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from langgraph.types import Send

from stomper.diagnostics import Diagnostic
from stomper.graph.build import build_graph, fan_out, open_checkpointer
from stomper.graph.state import FileJob
from stomper.graph.steps import StepTimes
from stomper.report import FileResult


def job(n: int, path: str) -> FileJob:
    return FileJob(index=n, path=path, diagnostics=(Diagnostic(path, 1, 1, "ruff", "F401", "x"),))


def test_fan_out_sends_one_branch_per_failing_file_in_path_order() -> None:
    jobs = [job(0, "a.py"), job(1, "b/c.py"), job(2, "d.py")]

    sends = fan_out({"jobs": jobs, "tool_errors": []})

    assert isinstance(sends, list)
    assert all(isinstance(s, Send) and s.node == "fix_file" for s in sends)
    assert [s.arg["job"].path for s in sends] == ["a.py", "b/c.py", "d.py"]


def test_nothing_to_fix_or_a_tool_error_goes_straight_to_the_report() -> None:
    assert fan_out({"jobs": [], "tool_errors": []}) == "report"
    assert fan_out({"jobs": [job(0, "a.py")], "tool_errors": ["mypy: crashed"]}) == "report"


def test_fan_out_sends_only_what_the_batch_left() -> None:
    jobs = [job(0, "a.py"), job(1, "b/c.py"), job(2, "d.py")]

    sends = fan_out({"jobs": jobs, "tool_errors": [], "pending": [jobs[1]]})

    assert isinstance(sends, list)
    assert [s.arg["job"].path for s in sends] == ["b/c.py"]
    assert fan_out({"jobs": jobs, "tool_errors": [], "pending": []}) == "report"


def test_the_batch_runs_first_and_the_report_waits_for_every_branch() -> None:
    graph = build_graph().get_graph()
    assert graph.nodes["report"].metadata == {"defer": True}
    edges = {(e.source, e.target, e.conditional) for e in graph.edges}
    assert edges == {
        ("__start__", "batch", False),
        ("batch", "fix_file", True),
        ("batch", "report", True),
        ("fix_file", "report", False),
        ("report", "__end__", False),
    }


def test_stomper_graph_prints_mermaid() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("stomper")), "graph"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("---\nconfig:")
    lines = ("__start__ --> batch;", "batch -.-> fix_file;", "batch -.-> report;", "fix_file --> report;")
    for line in (*lines, "report --> __end__;"):
        assert line in done.stdout
    assert "defer = True" in done.stdout


async def test_a_checkpoint_an_older_stomper_wrote_still_reads_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    diagnostic = Diagnostic("a.py", 1, 1, "ruff", "F401", "x")
    result = FileResult("a.py", "fixed", (diagnostic,), (), attempts=1, steps=StepTimes(fixer=1.5))
    async with open_checkpointer(tmp_path / "state.sqlite") as saver:
        with monkeypatch.context() as older:
            # The result lived in stomper.graph.state then, and its checkpoints name it so.
            older.setattr(FileResult, "__module__", "stomper.graph.state")
            written = saver.serde.dumps_typed({"results": [result]})
        assert b"stomper.graph.state" in written[1]

        read = saver.serde.loads_typed(written)
        today = saver.serde.loads_typed(saver.serde.dumps_typed({"results": [result]}))

    assert type(read["results"][0]) is FileResult
    assert read == today
    assert (read["results"][0].path, read["results"][0].outcome, read["results"][0].attempts) == ("a.py", "fixed", 1)
    assert read["results"][0].steps == StepTimes(fixer=1.5)
