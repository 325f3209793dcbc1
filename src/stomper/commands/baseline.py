"""`stomper baseline`: record what the tools find today, for `--baseline` to leave alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from stomper import baseline, ci
from stomper.commands.check import collect
from stomper.errors import ExitCode, StomperError
from stomper.project import Project
from stomper.selection import Selection
from stomper.signals import cancelled_by_signals


def run(project: Project, selection: Selection, *, cwd: Path, output: Path, log: Console) -> int:
    files, result = asyncio.run(cancelled_by_signals(collect(project, selection, cwd)))
    if result.errors:
        # A baseline without a tool's findings would let all of them through as known-clean.
        said = "; ".join(f"{run.tool}: {run.error}" for run in result.errors)
        raise StomperError(f"no baseline written, a tool could not run: {said}")
    ids = asyncio.run(baseline.ids_of(result, project.root))
    ci.write(output, baseline.dumps(ids).encode("utf-8"), "baseline")
    log.print(
        f"stomper: recorded {len(ids)} diagnostic(s) of {len(files)} file(s) in {output}; "
        f"pass --baseline {output} to check and fix to leave them alone",
        highlight=False,
    )
    return ExitCode.OK
