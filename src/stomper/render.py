"""How results look: rich tables for people, a stable JSON schema for programs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stomper import explain
from stomper.diagnostics import CheckResult, Diagnostic
from stomper.fixers import Fixer
from stomper.records import Step
from stomper.report import FileResult, RunReport

CHECK_SCHEMA_VERSION = 1


def check_json(result: CheckResult) -> str:
    """The `stomper check --format json` document (see docs/json-schema.md)."""
    diagnostics = result.diagnostics
    document: dict[str, Any] = {
        "version": CHECK_SCHEMA_VERSION,
        "tools": [
            {"name": r.tool, "executable": r.executable, "seconds": round(r.seconds, 3), "error": r.error}
            for r in result.runs
        ],
        "diagnostics": [d.to_json() for d in diagnostics],
        "skipped": list(result.skipped),
        "summary": {
            "files": len({d.path for d in diagnostics}),
            "diagnostics": len(diagnostics),
            "tool_errors": len(result.errors),
        },
    }
    return json.dumps(document, indent=2)


def check_table(result: CheckResult, console: Console) -> None:
    """Diagnostics grouped by file, then tool errors, then a one-line summary."""
    grouped = result.by_path()
    for path, diags in grouped.items():
        # The path on a line of its own: a table's title would be wrapped at the table's width.
        console.print(escape(path), style="italic", highlight=False, soft_wrap=True)
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column("where", style="cyan", no_wrap=True)
        table.add_column("tool", style="magenta", no_wrap=True)
        table.add_column("code", style="bold", no_wrap=True)
        table.add_column("message")
        for d in diags:
            fix = " [green](fixable)[/green]" if d.fixable else ""
            table.add_row(f"{d.line}:{d.column}", d.tool, d.code, f"{escape(d.message)}{fix}")
        console.print(table)
        console.print()
    for run in result.errors:
        console.print(f"[red]tool error[/red] {run.tool}: {escape(run.error or '')}", highlight=False, soft_wrap=True)
    for note in result.skipped:
        console.print(escape(note), highlight=False)
    count = len(result.diagnostics)
    if count == 0 and not result.errors:
        console.print("[green]All clean.[/green]")
    else:
        console.print(
            f"{count} diagnostic{'s' if count != 1 else ''} in {len(grouped)} file{'s' if len(grouped) != 1 else ''}."
        )


_OUTCOME_STYLE = {"fixed": "green", "partial": "yellow", "suppressed": "magenta", "failed": "red", "skipped": "dim"}


def file_line(result: FileResult, console: Console) -> None:
    """One line as each file finishes."""
    style = _OUTCOME_STYLE[result.outcome]
    detail = f" - {escape(result.detail)}" if result.detail else ""
    console.print(
        f"[{style}]{result.outcome:>7}[/{style}] {escape(_unit_name(result))}: "
        f"{result.fixed}/{len(result.before)} fixed in {result.seconds:.1f}s{detail}",
        highlight=False,
    )


def _unit_name(result: FileResult) -> str:
    """`tests/test_calc.py (with src/pkg/calc.py)` for a work unit of several files."""
    others = result.unit[1:]
    return f"{result.path} (with {', '.join(others)})" if others else result.path


def event_line(event: Step) -> str:
    """A step of a branch, for `-v`."""
    step: str = event.step
    if event.attempt is not None:
        step += f" ({event.fixer} attempt {event.attempt}/{event.of})"
    if event.log is not None:
        step += f" in {event.log}"
    if event.why is not None:
        step += f": {event.why}"
    return f"        {event.path}: {step}"


def run_summary(
    report: RunReport, console: Console, *, interrupted: bool = False, total: int | None = None, left: bool = True
) -> None:
    """The final table: one row per failing file, what is left and why, then the totals.

    An `interrupted` run's report holds only the files that finished, of `total` failing ones
    (None: not known, as in a resumed run). `left`: list what is left (the hook says it itself).
    """
    if report.files:
        table = Table(title="stomper fix", title_justify="left")
        for column in ("file", "before", "after", "attempts", "outcome", "time"):
            table.add_column(column, justify="right" if column in ("before", "after", "attempts", "time") else "left")
        for f in report.files:
            style = _OUTCOME_STYLE[f.outcome]
            table.add_row(
                escape("\n  + ".join(f.unit)),
                str(len(f.before)),
                str(len(f.remaining)),
                str(f.attempts),
                f"[{style}]{f.outcome}[/{style}]",
                f"{f.seconds:.1f}s",
            )
        console.print(table)
    for error in report.tool_errors:
        console.print(f"[red]tool error[/red] {escape(error)}", highlight=False, soft_wrap=True)
    if left:
        left_over(report.files, console)
    usage = report.usage
    cost = (
        f"; model: {usage.calls} calls, {usage.input_tokens}+{usage.output_tokens} tokens, ${usage.cost:.4f}"
        if usage.calls
        else ""
    )
    silenced = f", {report.suppressed} suppressed" if report.suppressed else ""
    if interrupted:
        done = len(report.files)
        console.print(
            f"interrupted: {done} failing file(s) done, the others not; "
            f"{report.fixed} diagnostic(s) fixed, {report.remaining} remaining in the files done{cost}"
            if total is None
            else f"interrupted: {done} of {total} failing file(s) done, {total - done} not done; "
            f"{report.fixed} diagnostic(s) fixed, {report.remaining} remaining in the files done{cost}",
            highlight=False,
        )
        return
    console.print(
        f"{report.fixed} diagnostic(s) fixed{silenced}, {report.remaining} remaining, "
        f"in {len(report.files)} failing file(s); "
        f"{report.seconds:.1f}s{cost}",
        highlight=False,
    )


def left_over(files: Iterable[FileResult], console: Console) -> None:
    """Each diagnostic left, as the hook writes it, with why it is left; then what to do, once per kind."""
    hints: list[str] = []
    for f in files:
        left = f.remaining if f.outcome in ("fixed", "partial") else f.before
        if not left:
            continue
        for d in left:
            console.print(escape(str(d)), highlight=False, soft_wrap=True)
        if f.detail:
            console.print(f"  [dim]why:[/dim] {escape(f.detail)}", highlight=False, soft_wrap=True)
        if f.hint and f.hint not in hints:
            hints.append(f.hint)
    for hint in hints:
        console.print(f"[bold]next:[/bold] {escape(hint)}", highlight=False, soft_wrap=True)


def plan(result: CheckResult, fixers: Sequence[Fixer], parallel: int, console: Console) -> None:
    """What `stomper fix --dry-run` would do: per file, which fixer would take which diagnostics."""
    grouped = result.by_path()
    names = " then ".join(f.name for f in fixers)
    console.print(f"would try {len(grouped)} file(s) with {names}, {parallel} at a time:", highlight=False)
    unhandled = 0
    for path, diags in grouped.items():
        parts = []
        for fixer in [*fixers, None]:
            mine = [d for d in diags if _first_fixer(fixers, d) is fixer]
            if not mine:
                continue
            codes = ", ".join(sorted({f"{d.tool} {d.code}" for d in mine}))
            who = f"{fixer.name} can try" if fixer is not None else "need an AI fixer"
            parts.append(f"{len(mine)} {who} ({codes})")
            unhandled += len(mine) if fixer is None else 0
        console.print(f"  {escape(path)}: {'; '.join(parts)}", highlight=False, soft_wrap=True)
    for run in result.errors:
        console.print(f"[red]tool error[/red] {run.tool}: {escape(run.error or '')}", highlight=False, soft_wrap=True)
    if unhandled:
        console.print(f"[bold]next:[/bold] {escape(explain.ENABLE_AI)}", highlight=False, soft_wrap=True)


def _first_fixer(fixers: Sequence[Fixer], diagnostic: Diagnostic) -> Fixer | None:
    return next((f for f in fixers if f.handles(diagnostic)), None)
