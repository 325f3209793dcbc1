"""A run that fans out: its first branches at work while LangGraph is imported.

Importing the graph (`stomper.graph.build`: LangGraph, LangChain's core, and
LangSmith and `langgraph_sdk`, which those import whether or not anything is
traced) costs about 0.6 CPU-s, and used to stand between the run's first
check and its first branch. Most of a branch's time is a wait for
processes (git, the tools, above all the fixer), so the run imports the
graph on a worker thread (`Preload`) while its batch runs, and starts the
branches of its first wave (`start_early`) as soon as the batch has left
them (`stomper.run`). The graph, once built, adopts those branches: its
`fix_file` node for such a file waits for the branch already under way
(`RunContext.early`) instead of starting another, so each file still gets
one branch, one result and one checkpoint.

Two threads must never import at once: a module both reach through an
import cycle (`httpx` is one) can be handed to one of them half initialised.
So while the worker imports, the run's thread imports nothing: stomper's
own modules a branch or the batch uses are imported before the worker
starts (by this module's own imports, and `stomper.run`'s), and what a
fixer imports the first time it fixes (`Fixer.imports`: the LLM fixer's
LangChain tracing and its client's transport) the worker imports first,
before any early branch starts. A fixer that cannot say what it imports
(`imports` is None) gets no early branches: the graph is then imported
before any branch, as a resumed run does.

The early branches run before the graph's first checkpoint: what a run
killed meanwhile resumes from is the state after the batch, kept in
`collected.json` before the first of them starts (`stomper.graph.jobs.save`).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

from stomper.graph.branch import Emit, fix_file
from stomper.graph.state import FileJob, RunContext
from stomper.report import FileResult

GRAPH = "stomper.graph.build"
THREAD = "stomper-import"
"""The worker thread's name (its prefix: `concurrent.futures` numbers it)."""


class Preload:
    """On one worker thread, in order: what the fixers import when they first fix, then the graph.

    `warmed` waits for the first, `ready` for both (and raises what the import raised).
    """

    def __init__(self, ctx: RunContext) -> None:
        self._imports = [name for fixer in ctx.fixers for name in fixer.imports or ()]
        self._warm: asyncio.Future[None] | None = None
        self._graph: asyncio.Future[ModuleType] | None = None

    def start(self) -> None:
        """Begin importing, unless begun."""
        if self._graph is not None:
            return
        loop = asyncio.get_running_loop()
        # One thread: the graph is imported after the fixers' modules, never beside them.
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD)
        self._warm = loop.run_in_executor(worker, _import_all, self._imports)
        self._graph = loop.run_in_executor(worker, importlib.import_module, GRAPH)
        worker.shutdown(wait=False)  # the thread ends once both are done
        for task in (self._warm, self._graph):
            # Retrieved here so that an error is not also reported as never retrieved when no
            # one waits for it (a run stopped before its graph); `ready` raises it all the same.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())

    async def warmed(self) -> None:
        """Wait until what the fixers import lazily is imported (beginning the import if not begun)."""
        self.start()
        assert self._warm is not None
        await self._warm

    async def ready(self) -> None:
        """Wait until the graph's modules are imported (beginning the import if not begun)."""
        self.start()
        assert self._warm is not None and self._graph is not None
        await self._warm
        await self._graph


def _import_all(names: Sequence[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # an optional provider's package that is not installed: nothing can import it later either


def early_branches(ctx: RunContext) -> bool:
    """Whether the run may start branches before its graph: every fixer says what it imports when it fixes."""
    return all(fixer.imports is not None for fixer in ctx.fixers)


def start_early(pending: Sequence[FileJob], ctx: RunContext, count: int, emit: Emit) -> None:
    """Start the branches of the first `count` files of `pending` that wait for no other (`FileJob.after`).

    The graph sends its branches in the same order, so these are the ones it
    runs first; `count` is the run's `--parallel`: the pool's spares are made while they work.
    """
    for job in [job for job in pending if not job.after][:count]:
        ctx.early[job.path] = asyncio.ensure_future(fix_file(job, ctx, emit))


async def stop_early(ctx: RunContext) -> None:
    """Cancel the early branches no graph adopted (the run stopped before it ran them), and wait for them."""
    left: list[asyncio.Future[FileResult]] = list(ctx.early.values())
    ctx.early.clear()
    for branch in left:
        branch.cancel()
    await asyncio.gather(*left, return_exceptions=True)
