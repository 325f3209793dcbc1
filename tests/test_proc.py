"""`proc.run`, the one way stomper starts a program: real children, real process groups."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import process_gone

from stomper import proc
from stomper.errors import ExecutableNotFound, ProcTimeout, StomperError

SRC = Path(proc.__file__).parent

# A child that starts a grandchild `sleep`, writes both pids to a file, then
# waits; with EXIT set it leaves at once instead, the grandchild still running.
FAMILY = """
import json, os, subprocess, sys, time
grandchild = subprocess.Popen(["sleep", "60"])
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump([os.getpid(), grandchild.pid], f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
if len(sys.argv) < 3:
    time.sleep(60)
"""


def pids(path: Path) -> list[int]:
    return [int(pid) for pid in json.loads(path.read_text())]


async def test_output_and_status(tmp_path: Path) -> None:
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(4)"

    done = await proc.run([sys.executable, "-c", code], cwd=tmp_path, timeout=30)

    assert (done.returncode, done.out, done.err, done.truncated) == (4, "out\n", "err\n", False)
    assert done.argv == (sys.executable, "-c", code)


async def test_runs_in_cwd_with_env(tmp_path: Path) -> None:
    code = "import os; print(os.getcwd(), os.environ['ONLY'], 'PATH' in os.environ)"

    done = await proc.run([sys.executable, "-c", code], cwd=tmp_path, timeout=30, env={"ONLY": "this"})

    assert done.out == f"{tmp_path} this False\n"


async def test_stdin_is_delivered(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write(sys.stdin.read().upper())"

    done = await proc.run([sys.executable, "-c", code], cwd=tmp_path, timeout=30, stdin=b"hello\n" * 50_000)

    assert done.stdout == b"HELLO\n" * 50_000


async def test_a_child_that_never_reads_its_stdin_is_still_timed_out(tmp_path: Path) -> None:
    # More than a pipe holds: writing it all would wait for the child forever.
    with pytest.raises(ProcTimeout):
        await proc.run(
            [sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, timeout=0.5, stdin=b"x" * 1_000_000
        )


async def test_a_child_may_exit_without_reading_its_stdin(tmp_path: Path) -> None:
    done = await proc.run([sys.executable, "-c", "print('bye')"], cwd=tmp_path, timeout=30, stdin=b"x" * 1_000_000)

    assert (done.returncode, done.out) == (0, "bye\n")


async def test_without_stdin_the_child_reads_end_of_file(tmp_path: Path) -> None:
    done = await proc.run([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"], cwd=tmp_path, timeout=30)

    assert done.out == "''\n"


async def test_arguments_reach_the_program_untouched_by_any_shell(tmp_path: Path) -> None:
    tricky = "$HOME; echo pwned | cat `id` > x && *"

    done = await proc.run([sys.executable, "-c", "import sys; print(sys.argv[1])", tricky], cwd=tmp_path, timeout=30)

    assert done.out == tricky + "\n"
    assert list(tmp_path.iterdir()) == []


def test_no_shell_anywhere_in_stomper() -> None:
    offenders = [str(path) for path in SRC.rglob("*.py") if "shell=True" in path.read_text()]

    assert offenders == []


async def test_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(ExecutableNotFound, match=r"^no-such-program-here: not found"):
        await proc.run(["no-such-program-here", "--version"], cwd=tmp_path, timeout=30)


async def test_file_that_is_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")

    with pytest.raises(ExecutableNotFound, match=r"script: not executable$"):
        await proc.run([str(script)], cwd=tmp_path, timeout=30)


async def test_command_line_too_long(tmp_path: Path) -> None:
    # What a check of some 70,000 files would hand one tool.
    too_many = [f"package/module_{n:06d}.py" for n in range(150_000)]

    with pytest.raises(StomperError, match=r"^python[\d.]* could not be started: Argument list too long$"):
        await proc.run([sys.executable, *too_many], cwd=tmp_path, timeout=30)


async def test_output_beyond_max_output_is_read_and_dropped(tmp_path: Path) -> None:
    # 8 MiB on each stream: far more than a pipe holds, so the child would
    # block forever if the rest were not read.
    flood = "import sys\nfor _ in range(128):\n    sys.stdout.write('o' * 65536); sys.stderr.write('e' * 65536)\n"

    done = await proc.run([sys.executable, "-c", flood], cwd=tmp_path, timeout=60, max_output=1000)

    assert done.returncode == 0
    assert done.stdout == b"o" * 1000
    assert done.stderr == b"e" * 1000
    assert done.truncated


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"

    with pytest.raises(ProcTimeout, match=r"^python[\d.]* ran longer than 2s and was killed$"):
        await proc.run([sys.executable, "-c", FAMILY, str(pid_file)], cwd=tmp_path, timeout=2)

    assert pid_file.exists(), "the child did not start its grandchild within the timeout"
    child, grandchild = pids(pid_file)
    assert process_gone(child)
    assert process_gone(grandchild)


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    running = asyncio.ensure_future(proc.run([sys.executable, "-c", FAMILY, str(pid_file)], cwd=tmp_path, timeout=None))
    while not pid_file.exists():
        assert not running.done(), running
        await asyncio.sleep(0.02)

    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running

    child, grandchild = pids(pid_file)
    assert process_gone(child)
    assert process_gone(grandchild)


async def test_children_left_behind_are_killed_when_the_program_exits(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"

    done = await proc.run([sys.executable, "-c", FAMILY, str(pid_file), "exit"], cwd=tmp_path, timeout=30)

    assert done.returncode == 0
    child, grandchild = pids(pid_file)
    assert process_gone(child)
    assert process_gone(grandchild)


WATCHED = """
import asyncio, sys, threading
from pathlib import Path
from stomper import proc
from stomper.errors import ProcTimeout

if sys.argv[1] == "pidfd":
    proc.watch_children_by_pidfd()

async def main():
    threads = set()
    async def look():
        while True:
            threads.update(t.name for t in threading.enumerate())
            await asyncio.sleep(0.01)
    looking = asyncio.ensure_future(look())
    done = await proc.run(["sh", "-c", "sleep 0.3; exit 3"], cwd=Path("."), timeout=10)
    try:
        await proc.run(["sleep", "30"], cwd=Path("."), timeout=0.3)
        stopped = False
    except ProcTimeout:
        stopped = True
    looking.cancel()
    print(done.returncode, stopped, any("waitpid" in name for name in threads))

asyncio.run(main())
"""


@pytest.mark.parametrize(("watcher", "threads"), [("pidfd", False), ("default", True)])
def test_children_are_watched_through_a_pidfd_not_a_thread_each(tmp_path: Path, watcher: str, threads: bool) -> None:
    script = tmp_path / "watched.py"
    script.write_text(WATCHED)

    done = subprocess.run([sys.executable, str(script), watcher], capture_output=True, text=True, timeout=60)

    # Exit statuses and timeouts as ever; a thread per child only without the pidfd watcher.
    assert done.stdout.split() == ["3", "True", str(threads)], done.stderr


RESET = """
import asyncio
from pathlib import Path
from stomper import proc

proc.watch_children_by_pidfd()

async def main():
    running = asyncio.ensure_future(proc.run(["sh", "-c", "sleep 0.3; exit 5"], cwd=Path("."), timeout=10))
    await asyncio.sleep(0.1)
    # What LangGraph does at every step of a graph, while a branch's child may be running.
    asyncio.set_event_loop(asyncio.get_running_loop())
    done = await asyncio.wait_for(running, 10)
    print(done.returncode)

asyncio.run(main())
"""


def test_a_child_running_when_the_loop_is_set_again_is_still_seen_to_exit(tmp_path: Path) -> None:
    script = tmp_path / "reset.py"
    script.write_text(RESET)

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)

    # Not a timeout: the watcher kept the child's pidfd.
    assert (done.returncode, done.stdout.split()) == (0, ["5"]), done.stderr
