"""How results look: rich tables for people, a stable JSON schema for programs."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stomper.diagnostics import CheckResult

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
    count = len(result.diagnostics)
    if count == 0 and not result.errors:
        console.print("[green]All clean.[/green]")
    else:
        console.print(f"{count} diagnostic{'s' if count != 1 else ''} in {len(grouped)} file{'s' if len(grouped) != 1 else ''}.")
