"""The graph of a fix run.

    collect ──Send per failing file──▶ fix_file ──▶ report (deferred)
        └──────────── nothing to fix ────────────────▲

`collect` runs the tools in the user's checkout; `fan_out` sends every
failing file, in path order, to its own `fix_file` branch; LangGraph runs
at most `max_concurrency` of them at once; `report` waits for all of them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from stomper import redact
from stomper.baseline import without_known
from stomper.diagnostics import Diagnostic
from stomper.errors import StomperError
from stomper.fixers import Usage
from stomper.graph.branch import fix_file
from stomper.graph.state import BranchState, FileJob, FileResult, RunContext, RunState
from stomper.report import RunReport
from stomper.tools import run_tools


async def collect(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Run the enabled tools on the selected files in the user's checkout."""
    ctx = runtime.context
    project = ctx.project
    result = await run_tools(
        project.tools,
        state["files"],
        cwd=project.root,
        executables=ctx.verifier.executables,
        timeout=project.settings.tool_timeout,
        whole=ctx.whole_project,
    )
    result = await without_known(result, project.root, ctx.known)
    grouped = result.by_path()
    jobs = [
        FileJob(index=n, path=path, diagnostics=tuple(diags)) for n, (path, diags) in enumerate(sorted(grouped.items()))
    ]
    get_stream_writer()({"collected": len(jobs)})
    return {
        "jobs": jobs,
        "clean": [f for f in state["files"] if f not in grouped],
        "tool_errors": [redact.scrub(f"{run.tool}: {run.error}") for run in result.errors],
    }


def fan_out(state: RunState) -> list[Send] | str:
    """One branch per failing file, in path order; straight to the report when none fails."""
    if state.get("tool_errors") or not state.get("jobs"):
        return "report"
    return [Send("fix_file", {"job": job}) for job in state["jobs"]]


async def fix_file_node(state: BranchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    write = get_stream_writer()
    # Scrubbed before LangGraph checkpoints it in state.sqlite, as well as on its way out.
    result = redact.scrub_data(await fix_file(state["job"], runtime.context, write))
    return {"results": [result], "attempts": result.attempts}


async def report(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Runs once, after every branch: the results in path order, whatever order they came in."""
    return {
        "report": RunReport(
            run_id=runtime.context.run_id,
            mode=runtime.context.applier.mode,
            files=tuple(sorted(state.get("results", []), key=lambda r: r.path)),
            clean=tuple(state.get("clean", [])),
            attempts=state.get("attempts", 0),
            tool_errors=tuple(state.get("tool_errors", [])),
        )
    }


class CheckpointError(StomperError):
    """The checkpoint file cannot be used: not a database, or not one LangGraph can write."""


@contextlib.asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """LangGraph's SQLite checkpointer at `path`, reading back only stomper's own types.

    Raises `CheckpointError` when the file is not a database it can use.
    """
    serde = JsonPlusSerializer(
        allowed_msgpack_modules=[
            (cls.__module__, cls.__name__) for cls in (FileJob, FileResult, Diagnostic, Usage, RunReport)
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as connection:
        saver = AsyncSqliteSaver(connection, serde=serde)
        try:
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(
                f"{path}: cannot hold stomper's checkpoints ({exc}); `stomper clean` removes it if it is damaged"
            ) from exc
        yield saver


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("collect", collect)
    graph.add_node("fix_file", fix_file_node, input_schema=BranchState)
    graph.add_node("report", report, defer=True)
    graph.add_edge(START, "collect")
    graph.add_conditional_edges("collect", fan_out, ["fix_file", "report"])
    graph.add_edge("fix_file", "report")
    graph.add_edge("report", END)
    return graph.compile(checkpointer=checkpointer, name="stomper-fix")
