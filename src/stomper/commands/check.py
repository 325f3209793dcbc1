"""`stomper check`: run the quality tools and report what they find."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal, TypeVar

from rich.console import Console

from stomper import render, sarif
from stomper.diagnostics import CheckResult, ToolRun
from stomper.errors import ExecutableNotFound, ExitCode, StomperError
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
    found, missing = _executables(project)
    result = await run_tools(
        [tool for tool in project.tools if tool.name in found],
        files,
        cwd=project.root,
        executables=found,
        timeout=project.settings.tool_timeout,
        whole=selection.whole,
    )
    # A tool that is not installed is a tool error like any other: the report still says what the others found.
    order = [tool.name for tool in project.tools]
    runs = sorted((*result.runs, *missing), key=lambda run: order.index(run.tool))
    return files, CheckResult(runs=tuple(runs), skipped=tuple(skipped))


def _executables(project: Project) -> tuple[dict[str, str], list[ToolRun]]:
    found: dict[str, str] = {}
    missing: list[ToolRun] = []
    for tool in project.tools:
        try:
            found.update(project.executables([tool]))
        except ExecutableNotFound as exc:
            missing.append(ToolRun(tool=tool.name, error=str(exc)))
    return found, missing


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
) -> int:
    if verbose:
        for name, exe in _executables(project)[0].items():
            log.print(f"{name}: {exe}", highlight=False)
    files, result = asyncio.run(cancelled_by_signals(collect(project, selection, cwd)))
    if verbose:
        log.print(f"checked {len(files)} file(s) in {project.root}", highlight=False)
    if output == "json":
        console.out(render.check_json(result), highlight=False)
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
