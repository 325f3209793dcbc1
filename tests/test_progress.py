"""The live display, fed a scripted sequence of the events a run streams, read back from rich's recording."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from stomper.diagnostics import Diagnostic
from stomper.graph.state import FileResult
from stomper.progress import Display, RunProgress
from stomper.records import Collected, Event, Finished, Note, Step


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def diag(path: str) -> Diagnostic:
    return Diagnostic(tool="mypy", path=path, line=2, column=12, code="return-value", message="Incompatible")


def result(path: str, outcome: str = "fixed", seconds: float = 4.0) -> FileResult:
    before = (diag(path),)
    return FileResult(path, outcome, before, () if outcome == "fixed" else before, attempts=1, seconds=seconds)  # type: ignore[arg-type]


def screen(progress: RunProgress) -> str:
    console = Console(record=True, force_terminal=True, width=100, file=io.StringIO())
    console.print(progress.render())
    return console.export_text()


def test_before_the_tools_have_run_it_says_so() -> None:
    clock = Clock()
    progress = RunProgress(clock)
    clock.now += 3
    assert screen(progress) == "stomper fix: running the tools to find the failing files · 00:03\n"


def test_running_files_with_their_step_counts_elapsed_and_eta() -> None:
    clock = Clock()
    progress = RunProgress(clock)
    clock.now += 2
    for event in (
        Collected(4),
        Step("pkg/a.py", "worktree"),
        Step("pkg/b.py", "worktree"),
        Step("pkg/a.py", "fixing", "agent", 2, 3),
    ):
        progress.feed(event)
    clock.now += 1.5
    progress.feed(Step("pkg/b.py", "verifying", "ruff", 1, 1))

    lines = screen(progress).splitlines()
    assert lines[0] == "stomper fix: 0/4 files done · 2 running · 2 queued · 00:03 elapsed"
    assert lines[1].split() == ["pkg/a.py", "fixing", "(agent", "attempt", "2/3)", "1.5s"]
    assert lines[2].split() == ["pkg/b.py", "verifying", "(ruff", "attempt", "1/1)", "1.5s"]
    assert len(lines) == 3

    progress.feed(Step("pkg/b.py", "waiting"))
    progress.feed(Step("pkg/a.py", "applying"))
    lines = screen(progress).splitlines()
    assert lines[1].split()[:2] == ["pkg/a.py", "applying"]
    assert lines[2].split()[:6] == ["pkg/b.py", "waiting", "for", "the", "apply", "lock"]

    # One file of four done after 4 seconds of fixing: three left, ETA 12 seconds.
    clock.now += 2.5
    progress.feed(Step("pkg/a.py", "done"))
    assert screen(progress).splitlines()[1].split() == ["pkg/a.py", "done", "4.0s"]
    progress.feed(Finished(result("pkg/a.py")))
    progress.feed(Step("pkg/c.py", "worktree"))
    lines = screen(progress).splitlines()
    assert lines[0] == "stomper fix: 1/4 files done · 2 running · 1 queued · 00:06 elapsed · ETA 00:12"
    assert [line.split()[0] for line in lines[1:3]] == ["pkg/b.py", "pkg/c.py"]
    assert lines[3] == "1 fixed · 0 partial · 0 failed · 0 skipped"

    for path, outcome in (("pkg/b.py", "failed"), ("pkg/c.py", "partial"), ("pkg/d.py", "skipped")):
        progress.feed(Step(path, "done"))
        progress.feed(Finished(result(path, outcome)))
    clock.now += 2
    lines = screen(progress).splitlines()
    assert lines == [
        "stomper fix: 4/4 files done · 0 running · 0 queued · 00:08 elapsed · ETA 00:00",
        "1 fixed · 1 partial · 1 failed · 1 skipped",
    ]
    assert [f.path for f in progress.finished] == ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"]


def test_a_resumed_run_has_no_total_but_still_shows_its_files() -> None:
    clock = Clock()
    progress = RunProgress(clock)
    progress.feed(Step("a.py", "worktree"))
    assert screen(progress).splitlines()[0] == "stomper fix: 0/? files done · 1 running · 00:00 elapsed"


def events() -> list[Event]:
    return [
        Note("resuming run 42"),
        Collected(2),
        Step("a.py", "worktree"),
        Step("a.py", "fixing", "ruff", 1, 1),
        Step("a.py", "done"),
        Finished(result("a.py")),
        Step("b.py", "worktree"),
        Step("b.py", "done"),
        Finished(result("b.py", "failed")),
    ]


def run_display(console: Console, **options: bool) -> str:
    with Display(console, clock=Clock(), **options) as display:
        for event in events():
            display.on_event(event)
    return console.export_text()


def test_plain_lines_without_a_terminal() -> None:
    console = Console(record=True, file=io.StringIO(), width=100)
    lines = run_display(console, live=False).splitlines()
    assert lines == [
        "resuming run 42",
        "  fixed a.py: 1/1 fixed in 4.0s",
        " failed b.py: 0/1 fixed in 4.0s",
    ]


def test_verbose_plain_lines_show_every_step() -> None:
    console = Console(record=True, file=io.StringIO(), width=100)
    lines = run_display(console, live=False, verbose=True).splitlines()
    assert "        a.py: fixing (ruff attempt 1/1)" in lines
    assert "        b.py: worktree" in lines


def test_quiet_shows_nothing_but_still_counts() -> None:
    console = Console(record=True, file=io.StringIO(), width=100)
    with Display(console, live=True, quiet=True) as display:
        for event in events():
            display.on_event(event)
    assert console.export_text() == ""
    assert [f.outcome for f in display.finished] == ["fixed", "failed"]


def test_live_on_a_terminal_keeps_the_finished_lines_and_clears_the_panel() -> None:
    out = io.StringIO()
    console = Console(record=True, file=out, force_terminal=True, width=100)
    text = run_display(console, live=True)
    # The panel was drawn while the run went on...
    assert "stomper fix: 1/2 files done" in out.getvalue()
    # ...and what stays on screen is the lines of the finished files.
    assert "  fixed a.py: 1/1 fixed in 4.0s" in text
    assert " failed b.py: 0/1 fixed in 4.0s" in text


def test_no_color_means_no_colour_codes() -> None:
    # conftest sets NO_COLOR for every test; rich reads it when a console is made.
    out = io.StringIO()
    console = Console(record=True, file=out, force_terminal=True, width=100)
    run_display(console, live=True)
    coloured = [
        code for code in ("\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[2;32m", "\x1b[38;") if code in out.getvalue()
    ]
    assert coloured == []
    assert "\x1b[" in out.getvalue()  # still a terminal: the panel is drawn and erased


def test_without_no_color_outcomes_are_coloured() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, no_color=False)
    with Display(console, live=False, clock=Clock()) as display:
        display.on_event(Finished(result("a.py")))
    assert "\x1b[32m" in out.getvalue()


def test_ci_on_a_terminal_still_gets_plain_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with Display.choose(console, ci=True, quiet=False, verbose=False) as display:
        for event in events():
            display.on_event(event)
    assert "\x1b[?25l" not in out.getvalue()  # a live display starts by hiding the cursor
    assert "stomper fix:" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "resuming run 42",
        "  fixed a.py: 1/1 fixed in 4.0s",
        " failed b.py: 0/1 fixed in 4.0s",
    ]


def test_a_terminal_outside_ci_gets_the_live_display() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, no_color=False)
    with Display.choose(console, ci=False, quiet=False, verbose=False) as display:
        display.on_event(Collected(1))
    assert "\x1b[?25l" in out.getvalue()
    assert "stomper fix: 0/1 files done" in out.getvalue()


def test_no_color_on_a_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with Display.choose(console, ci=False, quiet=False, verbose=False) as display:
        for event in events():
            display.on_event(event)
    assert "\x1b[" not in out.getvalue()
    assert out.getvalue().splitlines()[-1] == " failed b.py: 0/1 fixed in 4.0s"
