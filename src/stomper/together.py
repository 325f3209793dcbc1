"""Awaiting several things at once, leaving nothing running behind.

`asyncio.gather` returns the first failure while the other awaitables go on
running. When that failure ends the event loop, `asyncio.run` cancels what
is left all at once, and on Python 3.11 a child caught in the middle of being
started then never finishes (its pipes are never connected, so its transport
never reports the exit: CPython issues 125502 and 133536): stomper hangs
instead of printing its one line. `gather` here cancels the others at the
first failure and waits for them to end before raising it, as a task group
does, so that every child has been killed and reaped by then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def gather(*work: Awaitable[T]) -> list[T]:
    """The results of `work`, in order; at the first failure the rest is cancelled and awaited, then it is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(w)) for w in work]
    except BaseExceptionGroup as failed:
        # The first is the one that cancelled the rest; the others failed while being cancelled.
        raise failed.exceptions[0]  # noqa: B904 -- its own cause is the one worth keeping
    return [task.result() for task in tasks]


async def _awaited(work: Awaitable[T]) -> T:
    return await work
