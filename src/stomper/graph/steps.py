"""Where a file's branch spent its time: one stopwatch per branch, one figure per step.

The steps do not overlap and do not cover everything (the guard, the patch,
events), so their sum is at most the file's `seconds`; what is left over is
the branch's own bookkeeping. `benchmarks/scale.py` sums them over a run to
show which step is the bottleneck.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Literal, TypeVar

StepName = Literal["worktree", "fixer", "verify", "integration", "apply"]
T = TypeVar("T")


@dataclass(frozen=True)
class StepTimes:
    """Seconds one file's branch spent in each step."""

    worktree: float = 0.0
    """Getting a worktree of the base: one of the pool reset, or a new one added; its seal taken."""
    fixer: float = 0.0
    """The fixers' own work, every attempt."""
    verify: float = 0.0
    """The tools on the file's scope: once before the first attempt, once after each."""
    integration: float = 0.0
    """From handing the verified fix over until the apply lock is held: the wait for the fixes before it."""
    apply: float = 0.0
    """Under the lock: the fix put onto the checkout (and committed, in commit mode)."""

    @property
    def total(self) -> float:
        return sum(float(getattr(self, f.name)) for f in fields(self))

    def to_json(self) -> dict[str, float]:
        return {f.name: round(getattr(self, f.name), 3) for f in fields(self)}


class Stopwatch:
    """Adds up the time spent in each step of one branch."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    def add(self, step: StepName, seconds: float) -> None:
        self._spent[step] = self._spent.get(step, 0.0) + max(seconds, 0.0)

    @contextmanager
    def step(self, step: StepName) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.add(step, time.monotonic() - start)

    async def landing(self, apply: Callable[[Callable[[], None]], Awaitable[T]], locked: Callable[[], None]) -> T:
        """Run `apply(on_lock)`, counting the time before `on_lock` is called as integration, after as apply."""
        start = time.monotonic()
        held: float | None = None

        def on_lock() -> None:
            nonlocal held
            held = time.monotonic()
            locked()

        try:
            return await apply(on_lock)
        finally:
            end = time.monotonic()
            # An apply that never took the lock (diff mode) spent all its time handing over.
            held = end if held is None else held
            self.add("integration", held - start)
            self.add("apply", end - held)

    def times(self) -> StepTimes:
        return StepTimes(**self._spent)
