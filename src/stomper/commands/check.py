"""`stomper check`: run the quality tools and report what they find."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Literal, TypeVar

from rich.console import Console

from stomper import render, sarif
from stomper.diagnostics import CheckResult
from stomper.errors import ExitCode, StomperError
from stomper.project import Project
from stomper.selection import Selection, select_files, text_files
from stomper.signals import cancelled_by_signals
from stomper.tools import run_tools

T = TypeVar("T")


async def collect(project: Project, selection: Selection, cwd: Path) -> tuple[list[str], CheckResult]:
    """The selected files and what the enabled tools say about them."""
    selected = await select_files(selection, project.root, in_git=project.repo is not None, cwd=cwd)
    files, skipped = await text_files(project.root, selected)
    if not files:
        return files, CheckResult(skipped=tuple(skipped))
    result = await run_tools(
        project.tools,
        files,
        cwd=project.root,
        executables=project.executables(),
        timeout=project.settings.tool_timeout,
    )
    return files, dataclasses.replace(result, skipped=tuple(skipped))


def run(
    project: Project,
    selection: Selection,
    *,
    cwd: Path,
    output: Literal["table", "json"],
    console: Console,
    log: Console,
    verbose: bool,
    sarif_path: Path | None = None,
    quiet: bool = False,
) -> int:
    if verbose:
        for name, exe in project.executables().items():
            log.print(f"{name}: {exe}", highlight=False)
    files, result = asyncio.run(cancelled_by_signals(collect(project, selection, cwd)))
    if verbose:
        log.print(f"checked {len(files)} file(s) in {project.root}", highlight=False)
    if output == "json":
        console.out(render.check_json(result), highlight=False)
    elif not files and not result.skipped:
        said = "no Python file is staged" if selection.staged else "no Python file is selected"
        log.print(f"stomper: {said}; nothing to check", highlight=False)
    elif quiet:
        for d in result.diagnostics:
            console.out(str(d), highlight=False)
        for run in result.errors:
            log.print(f"tool error {run.tool}: {run.error}", highlight=False, markup=False)
    else:
        render.check_table(result, console)
    if sarif_path is not None:
        write_sarif(sarif_path, result, project.root)
    if result.errors:
        return ExitCode.USAGE
    return ExitCode.DIAGNOSTICS if result.diagnostics else ExitCode.OK


def write_sarif(path: Path, result: CheckResult, root: Path) -> None:
    """Write what a check found to `path` as SARIF; raises `StomperError` if it cannot."""
    errors = [f"{run.tool}: {run.error}" for run in result.errors]
    text = sarif.dumps(result.diagnostics, root=root, tool_errors=errors)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StomperError(f"cannot write the SARIF log to {path}: {exc.strerror}") from None
