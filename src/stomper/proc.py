"""The one way stomper runs another program.

Every child starts in a session of its own, so that its whole process group
(an agent's shells, a test suite's workers) can be killed together: on
timeout, on cancellation, and after it exits, in case it left children behind.
Output is captured up to a bound; the rest is read and dropped so that a
flooding child can never block on a full pipe nor fill our memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper.errors import ExecutableNotFound, ProcTimeout, StomperError

MAX_OUTPUT = 16 * 1024 * 1024
"""Bytes kept of each of stdout and stderr; the rest is discarded."""

_KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL for a process group being stopped."""


@dataclass(frozen=True)
class Completed:
    """A program that ran to its end."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float
    truncated: bool = False

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


async def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    max_output: int = MAX_OUTPUT,
) -> Completed:
    """Run `argv` in `cwd` and return what it did.

    Raises `ExecutableNotFound` when the program does not exist,
    `StomperError` when it cannot be started otherwise (a command line too
    long), and `ProcTimeout` when it runs longer than `timeout` seconds; in
    that case and on cancellation the child's process group is gone on return.
    """
    argv = tuple(str(a) for a in argv)
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    try:
        transport, child = await loop.subprocess_exec(
            lambda: _Child(loop, max_output, stdin),
            *argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if not Path(cwd).is_dir():
            raise
        raise ExecutableNotFound(f"{argv[0]}: not found (is it installed and on PATH?)") from exc
    except PermissionError as exc:
        raise ExecutableNotFound(f"{argv[0]}: not executable") from exc
    except OSError as exc:
        # E2BIG above all: more files than one command line holds.
        raise StomperError(f"{Path(argv[0]).name} could not be started: {exc.strerror}") from exc

    pid = transport.get_pid()
    try:
        # Shielded: a timeout or a cancellation must not cancel what `_stop_group` waits for next.
        await asyncio.wait_for(asyncio.shield(child.exited), timeout)
    except TimeoutError:
        await _stop_group(pid, child)
        raise ProcTimeout(f"{Path(argv[0]).name} ran longer than {timeout:g}s and was killed") from None
    except BaseException:
        await asyncio.shield(_stop_group(pid, child))
        raise
    finally:
        # The child is gone; anything it left in its group goes too, which
        # also closes any pipe a grandchild still holds open.
        _signal_group(pid, signal.SIGKILL)
        await _finish(transport, child)

    returncode = transport.get_returncode()
    return Completed(
        argv=argv,
        returncode=returncode if returncode is not None else -1,
        stdout=child.out.data(),
        stderr=child.err.data(),
        seconds=time.monotonic() - started,
        truncated=child.out.dropped or child.err.dropped,
    )


class _Child(asyncio.SubprocessProtocol):
    """One child as the event loop reports it: its output kept as it comes, its exit, its pipes closing.

    Nothing polls and no task reads: the loop calls in as data arrives and
    when the child exits (through its pidfd), which is all a run of a short
    git command should cost.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int, stdin: bytes | None) -> None:
        self.out, self.err = _Capture(limit), _Capture(limit)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        """Both of its output pipes closed: everything it wrote is in `out` and `err`."""
        self._open = {1, 2}
        self._stdin = stdin

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        pipe = transport.get_pipe_transport(0)
        if self._stdin is not None and isinstance(pipe, asyncio.WriteTransport):
            # Buffered by the transport as the child reads it; a child that never reads is still timed out,
            # and one that exits unread just closes the pipe (the write's error is the transport's to drop).
            pipe.write(self._stdin)
            pipe.close()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.out if fd == 1 else self.err).add(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open.discard(fd)
        if not self._open and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class _Capture:
    def __init__(self, limit: int) -> None:
        self._chunks: list[bytes] = []
        self._kept = 0
        self._limit = limit
        self.dropped = False

    def add(self, chunk: bytes) -> None:
        room = self._limit - self._kept
        if room > 0:
            self._chunks.append(chunk[:room])
            self._kept += min(room, len(chunk))
        if len(chunk) > room:
            self.dropped = True

    def data(self) -> bytes:
        return b"".join(self._chunks)


async def _finish(transport: asyncio.SubprocessTransport, child: _Child) -> None:
    # A grandchild that escaped the group (setsid) may hold our pipes open;
    # we do not wait for it forever.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(child.closed), _KILL_GRACE)
    transport.close()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def _stop_group(pid: int, child: _Child) -> None:
    """SIGTERM the child's group, then SIGKILL it if it has not gone."""
    _signal_group(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(child.exited), _KILL_GRACE)
    _signal_group(pid, signal.SIGKILL)
    await asyncio.shield(child.exited)


def watch_children_by_pidfd() -> None:
    """Have each event loop learn of its children's exits through a pidfd rather than a thread per child.

    Python 3.11's default watcher starts a thread for every child, and the
    event loop waits for each to start: about half a millisecond of its time
    a child, more on a loaded machine, while every other branch waits (see
    `benchmarks/README.md`). A pidfd (Linux 5.3 and later) is one more file
    the loop already watches. Python 3.12 does this by itself; where pidfds
    do not work (another system, a seccomp filter), the default stays.
    """
    if sys.version_info >= (3, 12) or not _pidfds_work():
        return
    asyncio.set_event_loop_policy(_PidfdPolicy())


def _pidfds_work() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


class _PidfdPolicy(asyncio.DefaultEventLoopPolicy):
    """Python 3.11's policy, each new loop with a pidfd watcher of its own."""

    def __init__(self) -> None:
        super().__init__()
        self._attached: asyncio.AbstractEventLoop | None = None
        """The loop the watcher was last attached to, by `new_event_loop`."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(loop)
        self.set_child_watcher(watcher)
        self._attached = loop
        return loop

    def set_event_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        # LangGraph sets the running loop again at every step of a graph. Attaching the watcher to
        # the loop it watches for already would close the pidfd of every child still running (3.11's
        # `PidfdChildWatcher.attach_loop` forgets them): their exits would never be seen.
        if loop is not None and loop is self._attached:
            asyncio.events.BaseDefaultEventLoopPolicy.set_event_loop(self, loop)
            return
        super().set_event_loop(loop)
        self._attached = None
