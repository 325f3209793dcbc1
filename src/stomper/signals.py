"""Ctrl-C and SIGTERM, for commands that run an event loop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def cancelled_by_signals(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; SIGINT and SIGTERM cancel it, and a second signal cancels it again.

    Cancelling is how a run stops: every subprocess is killed with its
    process group (`proc.run`), and cleanup code that must finish shields
    itself. A `work` that ends cancelled comes out as `KeyboardInterrupt`,
    which the error handler turns into exit 130.
    """
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
