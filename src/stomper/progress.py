"""What `stomper fix` shows while it runs.

`run.fix` hands every event of a run to one callback (`stomper.records`):
a `Step` of a branch, a `Finished` per finished file, `Collected` once the
tools have found the failing files, and `Note`s. `RunProgress` folds them
into the state of the run (pure, with an injectable clock); `Display`
shows that state:

- live, on a terminal: finished files scroll above a panel that holds the
  running files with their current step, the counts, elapsed time and ETA;
- as plain lines (one per finished file, notes, and with `-v` every step)
  when stderr is no terminal, in CI, or on a dumb terminal;
- not at all with `--quiet`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from stomper import render
from stomper.records import Collected, Event, Finished, Note, Step
from stomper.report import FileResult

Clock = Callable[[], float]

_STEPS = {
    "worktree": "making its worktree",
    "fixing": "fixing",
    "verifying": "verifying",
    "waiting": "waiting for the apply lock",
    "applying": "applying",
    "done": "done",  # until its result comes, a file still counts as running
}


@dataclass
class _Running:
    step: str
    since: float
    """When the file's branch started (its first event)."""


class RunProgress:
    """A run's state as its events tell it: running files and their steps, counts, timings."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.total: int | None = None
        """Failing files to fix; known once the tools have run."""
        self.fixing_since: float | None = None
        self.running: dict[str, _Running] = {}
        self.finished: list[FileResult] = []

    def feed(self, event: Event) -> None:
        now = self.clock()
        if isinstance(event, Collected):
            self.total = event.count
            self.fixing_since = now
        elif isinstance(event, Finished):
            self.running.pop(event.result.path, None)
            self.finished.append(event.result)
        elif isinstance(event, Step):
            path = event.path
            if self.fixing_since is None:
                self.fixing_since = now  # a resumed run does not collect again
            since = self.running[path].since if path in self.running else now
            self.running[path] = _Running(_step_text(event), since)

    @property
    def queued(self) -> int | None:
        if self.total is None:
            return None
        return max(0, self.total - len(self.finished) - len(self.running))

    def eta(self) -> float | None:
        """Seconds left, from the pace of the files finished so far; None before the first."""
        if self.total is None or not self.finished or self.fixing_since is None:
            return None
        left = self.total - len(self.finished)
        pace = (self.clock() - self.fixing_since) / len(self.finished)
        return max(0.0, left * pace)

    def headline(self) -> str:
        elapsed = _clock_text(self.clock() - self.started)
        if self.total is None and not self.running and not self.finished:
            return f"stomper fix: running the tools to find the failing files · {elapsed}"
        total = "?" if self.total is None else str(self.total)
        queued = "" if self.queued is None else f" · {self.queued} queued"
        eta = self.eta()
        eta_text = "" if eta is None else f" · ETA {_clock_text(eta)}"
        return (
            f"stomper fix: {len(self.finished)}/{total} files done · {len(self.running)} running{queued}"
            f" · {elapsed} elapsed{eta_text}"
        )

    def outcomes(self) -> str:
        finished = self.finished.copy()  # the refresh thread reads while the loop appends
        counts = {
            o: sum(f.outcome == o for f in finished) for o in ("fixed", "partial", "suppressed", "failed", "skipped")
        }
        return " · ".join(f"{n} {o}" for o, n in counts.items() if n or o != "suppressed")

    def render(self) -> RenderableType:
        """The live panel: headline, one row per running file, the outcomes so far."""
        table = Table.grid(padding=(0, 2))
        table.add_column("file", no_wrap=True, overflow="ellipsis", max_width=60)
        table.add_column("step")
        table.add_column("time", justify="right")
        now = self.clock()
        for path, running in sorted(self.running.copy().items()):
            table.add_row(escape(path), running.step, f"{now - running.since:.1f}s")
        parts: list[RenderableType] = [Text(self.headline(), style="bold")]
        if self.running:
            parts.append(table)
        if self.finished:
            parts.append(Text(self.outcomes(), style="dim"))
        return Group(*parts)


class Display:
    """Shows a run's progress on `log`: live, as plain lines, or (quiet) not at all."""

    def __init__(
        self, log: Console, *, live: bool, quiet: bool = False, verbose: bool = False, clock: Clock = time.monotonic
    ) -> None:
        self.log = log
        self.quiet = quiet
        self.verbose = verbose
        self.progress = RunProgress(clock)
        self._live: Live | None = None
        if live and not quiet:
            self._live = Live(
                console=log,
                get_renderable=self.progress.render,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )

    @classmethod
    def choose(cls, log: Console, *, ci: bool, quiet: bool, verbose: bool) -> Display:
        """Live only on a real terminal outside CI and without NO_COLOR
        (rich's `is_terminal` honours FORCE_COLOR/TTY_COMPATIBLE, its `no_color` NO_COLOR)."""
        live = log.is_terminal and not log.is_dumb_terminal and not ci and not log.no_color
        return cls(log, live=live, quiet=quiet, verbose=verbose)

    @property
    def finished(self) -> list[FileResult]:
        return self.progress.finished

    def on_event(self, event: Event) -> None:
        self.progress.feed(event)
        if self.quiet:
            return
        if isinstance(event, Finished):
            render.file_line(event.result, self.log)
        elif isinstance(event, Note):
            self.log.print(escape(event.text), highlight=False)
        elif isinstance(event, Step) and self.verbose:
            self.log.print(escape(render.event_line(event)), highlight=False)
        if self._live is not None:
            self._live.refresh()

    def __enter__(self) -> Display:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()


def _step_text(event: Step) -> str:
    text = _STEPS.get(event.step, event.step)
    if event.step in ("fixing", "verifying") and event.attempt is not None:
        text += f" ({event.fixer} attempt {event.attempt}/{event.of})"
    if event.why is not None:
        text += f": {event.why}"
    return text


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
