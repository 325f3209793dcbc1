"""`stomper check`: run the quality tools and report what they find."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from rich.console import Console

from stomper import render, sarif
from stomper.diagnostics import CheckResult
from stomper.errors import ExitCode, StomperError
from stomper.project import Project
from stomper.selection import Selection, select_files
from stomper.tools import run_tools

T = TypeVar("T")


async def collect(project: Project, selection: Selection, cwd: Path) -> tuple[list[str], CheckResult]:
    """The selected files and what the enabled tools say about them."""
    files = await select_files(selection, project.root, in_git=project.repo is not None, cwd=cwd)
    if not files:
        return files, CheckResult()
    result = await run_tools(
        project.tools,
        files,
        cwd=project.root,
        executables=project.executables(),
        timeout=project.settings.tool_timeout,
    )
    return files, result


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
        for name, exe in project.executables().items():
            log.print(f"{name}: {exe}", highlight=False)
    files, result = asyncio.run(_until_sigterm(collect(project, selection, cwd)))
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


async def _until_sigterm(work: Coroutine[Any, Any, T]) -> T:
    """`work`, cancelled by SIGTERM as by Ctrl-C, so that the tools' process groups go with it."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def write_sarif(path: Path, result: CheckResult, root: Path) -> None:
    """Write what a check found to `path` as SARIF; raises `StomperError` if it cannot."""
    errors = [f"{run.tool}: {run.error}" for run in result.errors]
    text = sarif.dumps(result.diagnostics, root=root, tool_errors=errors)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise StomperError(f"cannot write the SARIF log to {path}: {exc.strerror}") from None
