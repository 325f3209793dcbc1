"""`together.gather`: the first failure is raised only once nothing else is left running."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stomper import proc, together
from stomper.errors import ExecutableNotFound, StomperError


async def test_the_results_come_in_the_order_of_the_work(tmp_path: Path) -> None:
    slow = proc.run(["sh", "-c", "sleep 0.2; echo slow"], cwd=tmp_path, timeout=10)
    fast = proc.run(["sh", "-c", "echo fast"], cwd=tmp_path, timeout=10)

    done = await together.gather(slow, fast)

    assert [d.out.strip() for d in done] == ["slow", "fast"]


async def test_a_failure_is_raised_only_once_the_other_children_are_killed_and_reaped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    sleeper = proc.run(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"], cwd=tmp_path, timeout=120)

    async def fails_once_the_sleeper_runs() -> None:
        while not pidfile.exists() or not pidfile.read_text().strip():
            await asyncio.sleep(0.01)
        raise StomperError("the first failure")

    with pytest.raises(StomperError, match="the first failure"):
        await together.gather(sleeper, fails_once_the_sleeper_runs())

    # Reaped, not only signalled: the pid no longer names any process.
    with pytest.raises(ProcessLookupError):
        os.kill(int(pidfile.read_text()), 0)


async def test_the_failure_raised_is_the_first_with_its_own_cause(tmp_path: Path) -> None:
    async def cancelled_into_another_error() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise StomperError("failed while being cancelled") from None

    with pytest.raises(ExecutableNotFound) as raised:
        await together.gather(cancelled_into_another_error(), proc.run(["no-such-program-x"], cwd=tmp_path, timeout=5))

    assert isinstance(raised.value.__cause__, FileNotFoundError)


def test_a_run_ended_by_one_child_that_cannot_start_while_another_starts_ends_at_once(tmp_path: Path) -> None:
    # With asyncio.gather, asyncio.run's clean-up cancels the child still being
    # started together with the task connecting its pipes, and on Python 3.11
    # waits for it forever (CPython issues 125502 and 133536).
    script = textwrap.dedent(
        """
        import asyncio
        from pathlib import Path
        from stomper import proc, together

        proc.watch_children_by_pidfd()

        async def main():
            await together.gather(
                proc.run(["no-such-program-x"], cwd=Path("."), timeout=10),
                proc.run(["git", "version"], cwd=Path("."), timeout=10),
            )

        for _ in range(30):
            try:
                asyncio.run(main())
            except Exception as exc:
                print(exc, flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no-such-program-x: not found (is it installed and on PATH?)"] * 30
