"""What a run that fans out needs before its first branch, made ready while it waits for git anyway.

Importing the graph (`stomper.graph.build`: LangGraph, LangChain's core, and
LangSmith and `langgraph_sdk`, which those import whether or not anything is
traced) costs about 0.6 CPU-s, and a branch cannot start before it. Between
the run's first check and its graph, the run's own thread mostly waits for
git processes (the verifier's file list, the committer identity, the batch,
the pool's worktrees), so `GraphImport` imports the graph on a worker thread
from the moment the run knows it will fan out (`stomper.graph.batch.leaves_branches`),
and the run waits for it only when it builds the graph. A run that does not
fan out never starts it: what it imports is what it imported before.

`warm_pool` makes the worktrees of the first wave of branches in the same
wait: git registers worktrees one at a time, so a wave's last branch would
otherwise start only after all the others' worktrees were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from types import ModuleType

from stomper.errors import StomperError
from stomper.worktree import Worktrees

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

    @property
    def started(self) -> bool:
        return self._task is not None

    async def ready(self) -> None:
        """Wait until the graph's modules are imported (importing them now if not begun)."""
        self.start()
        assert self._task is not None
        await self._task


async def warm_pool(worktrees: Worktrees, count: int) -> None:
    """Make `count` of the pool's worktrees now (each then idle in the pool), taking idle ones first.

    A worktree that cannot be made is left for the branch that asks for it:
    it fails there, on its own file, as it would have without this.
    """
    async with contextlib.AsyncExitStack() as held:
        for _ in range(count):
            # Each held until all are made: one handed back would be taken again, not another made.
            try:
                await held.enter_async_context(worktrees.checkout())
            except (StomperError, OSError):
                return
