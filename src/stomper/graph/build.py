"""The graph of a fix run that fans out.

    start ──▶ batch ──Send per file left──▶ fix_file ──▶ report (deferred)
                └──────── nothing left ──────────────────▲

Its input is what the tools found (`stomper.graph.jobs.collect`, run before
this module is imported: a run with nothing to fix never imports LangGraph)
and what the batch did with it (`stomper.graph.batch`, run before the graph
is built too: a run it leaves nothing to never imports LangGraph either);
`batch` runs the batch only when the input does not say it ran (a run
resumed from before it); `fan_out` sends every file it left, in path order,
to its own `fix_file` branch (for a file whose branch the run started
before the graph, while LangGraph was imported, the node waits for that
one: `stomper.graph.preload`); LangGraph runs at most `max_concurrency` of
them at once; `report` waits for all of them.
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
from stomper.diagnostics import Diagnostic
from stomper.fixers import Usage
from stomper.graph.batch import batched
from stomper.graph.branch import fix_file
from stomper.graph.checkpoints import CheckpointError
from stomper.graph.jobs import final_report, nothing_to_fix
from stomper.graph.state import BranchState, FileJob, RunContext, RunState
from stomper.graph.steps import StepTimes
from stomper.report import FileResult, RunReport


async def batch_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """ruff's fixes of every failing file in one pass; the files it finished are results, the rest pending."""
    if "pending" in state:
        return {}  # the run did its batch before it built the graph (`stomper.run`): its input says what it left
    return dict(await batched(state, runtime.context, get_stream_writer()))


def fan_out(state: RunState) -> list[Send] | str:
    """One branch per file the batch left, in path order; straight to the report when it left none."""
    if nothing_to_fix(state):
        return "report"
    pending = state.get("pending", state["jobs"])
    return [Send("fix_file", {"job": job}) for job in pending] or "report"


async def fix_file_node(state: BranchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    job, ctx = state["job"], runtime.context
    # A branch the run started before the graph (`stomper.graph.preload`) is this one: waited for, not redone.
    early = ctx.early.pop(job.path, None)
    done = await early if early is not None else await fix_file(job, ctx, get_stream_writer())
    # Scrubbed before LangGraph checkpoints it in state.sqlite, as well as on its way out.
    result = redact.scrub_data(done)
    return {"results": [result], "attempts": result.attempts}


async def report(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Runs once, after every branch: the report's "remaining" is what the integrated result has."""
    return {"report": await final_report(state, runtime.context)}


@contextlib.asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[AsyncSqliteSaver]:
    """LangGraph's SQLite checkpointer at `path`, reading back only stomper's own types.

    Raises `CheckpointError` when the file is not a database it can use.
    """
    allowed = [(cls.__module__, cls.__name__) for cls in (FileJob, FileResult, Diagnostic, Usage, RunReport, StepTimes)]
    # An older stomper's checkpoints name the result by the module it lived in then.
    serde = JsonPlusSerializer(allowed_msgpack_modules=[*allowed, ("stomper.graph.state", "FileResult")])
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as connection:
        saver = AsyncSqliteSaver(connection, serde=serde)
        try:
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(path, exc) from exc
        yield saver


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node("batch", batch_node)
    graph.add_node("fix_file", fix_file_node, input_schema=BranchState)
    graph.add_node("report", report, defer=True)
    graph.add_edge(START, "batch")
    graph.add_conditional_edges("batch", fan_out, ["fix_file", "report"])
    graph.add_edge("fix_file", "report")
    graph.add_edge("report", END)
    return graph.compile(checkpointer=checkpointer, name="stomper-fix")
