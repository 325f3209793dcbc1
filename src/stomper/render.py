"""How results look: rich tables for people, a stable JSON schema for programs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stomper.diagnostics import CheckResult
from stomper.fixers.registry import ENABLE_AI_HINT
from stomper.graph.branch import NEEDS_AI
from stomper.graph.state import FileResult
from stomper.report import RunReport

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
        table = Table(title=escape(path), title_justify="left", show_header=False, box=None, pad_edge=False)
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
        console.print(f"[red]tool error[/red] {run.tool}: {escape(run.error or '')}", highlight=False)
    for note in result.skipped:
        console.print(escape(note), highlight=False)
    count = len(result.diagnostics)
    if count == 0 and not result.errors:
        console.print("[green]All clean.[/green]")
    else:
        console.print(
            f"{count} diagnostic{'s' if count != 1 else ''} in {len(grouped)} file{'s' if len(grouped) != 1 else ''}."
        )


_OUTCOME_STYLE = {"fixed": "green", "partial": "yellow", "failed": "red", "skipped": "dim"}


def file_line(result: FileResult, console: Console) -> None:
    """One line as each file finishes."""
    style = _OUTCOME_STYLE[result.outcome]
    detail = f" - {escape(result.detail)}" if result.detail else ""
    console.print(
        f"[{style}]{result.outcome:>7}[/{style}] {escape(result.path)}: "
        f"{result.fixed}/{len(result.before)} fixed in {result.seconds:.1f}s{detail}",
        highlight=False,
    )


def event_line(event: dict[str, Any]) -> str:
    """A step of a branch, for `-v`."""
    step = event.get("step", "")
    if "attempt" in event:
        step += f" ({event['fixer']} attempt {event['attempt']}/{event['of']})"
    if "log" in event:
        step += f" in {event['log']}"
    return f"        {event.get('path', '')}: {step}"


def run_summary(report: RunReport, console: Console) -> None:
    """The final table: one row per failing file, then the totals."""
    if report.files:
        table = Table(title="stomper fix", title_justify="left")
        for column in ("file", "before", "after", "attempts", "outcome", "time"):
            table.add_column(column, justify="right" if column in ("before", "after", "attempts", "time") else "left")
        for f in report.files:
            style = _OUTCOME_STYLE[f.outcome]
            table.add_row(
                escape(f.path),
                str(len(f.before)),
                str(len(f.remaining)),
                str(f.attempts),
                f"[{style}]{f.outcome}[/{style}]",
                f"{f.seconds:.1f}s",
            )
        console.print(table)
    for error in report.tool_errors:
        console.print(f"[red]tool error[/red] {escape(error)}", highlight=False)
    if any(f.detail == NEEDS_AI for f in report.files):
        console.print(f"To fix what ruff cannot, {ENABLE_AI_HINT}.", highlight=False)
    usage = report.usage
    cost = (
        f"; model: {usage.calls} calls, {usage.input_tokens}+{usage.output_tokens} tokens, ${usage.cost:.4f}"
        if usage.calls
        else ""
    )
    console.print(
        f"{report.fixed} diagnostic(s) fixed, {report.remaining} remaining, in {len(report.files)} failing file(s); "
        f"{report.seconds:.1f}s{cost}",
        highlight=False,
    )


def plan(result: CheckResult, fixers: list[str], parallel: int, console: Console) -> None:
    """What `stomper fix --dry-run` would do."""
    grouped = result.by_path()
    console.print(
        f"would fix {len(grouped)} file(s) with {' then '.join(fixers)}, {parallel} at a time:", highlight=False
    )
    for path, diags in grouped.items():
        codes = ", ".join(sorted({f"{d.tool} {d.code}" for d in diags}))
        console.print(f"  {escape(path)}: {len(diags)} diagnostic(s) ({codes})", highlight=False)
    for run in result.errors:
        console.print(f"[red]tool error[/red] {run.tool}: {escape(run.error or '')}", highlight=False)
