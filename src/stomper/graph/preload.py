"""A run that fans out: its first branches at work while LangGraph is imported.

Importing the graph (`stomper.graph.build`: LangGraph, LangChain's core, and
LangSmith and `langgraph_sdk`, which those import whether or not anything is
traced) costs about 0.6 CPU-s, and used to stand between the run's first
check and its first branch. Most of a branch's time is a wait for
processes (git, the tools, above all the fixer), so the run starts the
branches of its first wave (`start_early`) and the import (`GraphImport`, on a
worker thread) at once, from the moment the batch has left them
(`stomper.run`). The graph, once built, adopts those branches: its `fix_file`
node for such a file waits for the branch already under way
(`RunContext.early`) instead of starting another, so each file still gets
one branch, one result and one checkpoint, and a branch runs in the graph
as before.

A run that does not fan out starts neither; the import starts early, while
the batch runs, when the first check shows the batch will leave files to
branches (`stomper.graph.batch.leaves_branches`).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from types import ModuleType

from stomper.graph.branch import Emit, fix_file
from stomper.graph.state import FileJob, RunContext

GRAPH = "stomper.graph.build"


class GraphImport:
    """The import of `stomper.graph.build`, on a worker thread; `ready` waits for it (and raises what it raised)."""

    def __init__(self) -> None:
        self._task: asyncio.Future[ModuleType] | None = None

    def start(self) -> None:
        """Begin importing, unless begun."""
        if self._task is None:
            self._task = asyncio.ensure_future(asyncio.to_thread(importlib.import_module, GRAPH))
            # Retrieved here so that an error is not also reported as never retrieved when no
            # one waits for it (a run stopped before its graph); `ready` raises it all the same.
            self._task.add_done_callback(lambda task: task.cancelled() or task.exception())

    async def ready(self) -> None:
        """Wait until the graph's modules are imported (importing them now if not begun)."""
        self.start()
        assert self._task is not None
        await self._task


def start_early(pending: Sequence[FileJob], ctx: RunContext, count: int, emit: Emit) -> None:
    """Start the branches of the first `count` files of `pending` that wait for no other (`FileJob.after`).

    The graph sends its branches in the same order, so these are the ones it
    runs first; `count` is the run's `--parallel`.
    """
    for job in [job for job in pending if not job.after][:count]:
        ctx.early[job.path] = asyncio.ensure_future(fix_file(job, ctx, emit))


async def stop_early(ctx: RunContext) -> None:
    """Cancel the early branches no graph adopted (the run stopped before it ran them), and wait for them."""
    left = list(ctx.early.values())
    ctx.early.clear()
    for branch in left:
        branch.cancel()
    await asyncio.gather(*left, return_exceptions=True)
