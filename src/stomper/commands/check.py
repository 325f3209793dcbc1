"""`stomper check`: run the quality tools and report what they find."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal, TypeVar

from rich.console import Console

from stomper import annotate, baseline, findings, redact, render, ruledocs, sarif
from stomper.diagnostics import CheckResult, Diagnostic, ToolRun
from stomper.errors import ExecutableNotFound, ExitCode, StomperError
from stomper.project import Project
from stomper.selection import Selection, select_files, text_files
from stomper.signals import cancelled_by_signals
from stomper.tools import TOOLS, run_tools

T = TypeVar("T")


async def collect(
    project: Project,
    selection: Selection,
    cwd: Path,
    *,
    new_only_base: str | None = None,
    baseline_path: Path | None = None,
) -> tuple[list[str], CheckResult]:
    """The selected files and what the enabled tools say about them (less what a base already had)."""
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
    result = CheckResult(runs=tuple(runs), skipped=tuple(skipped))
    known = await asyncio.to_thread(baseline.read, baseline_path) if baseline_path is not None else frozenset()
    if new_only_base is not None:
        known |= await baseline.known_at(project, new_only_base, files)
    return files, await baseline.without_known(result, project.root, known)


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
    output: Literal["table", "json", "github", "gitlab"],
    console: Console,
    log: Console,
    verbose: bool,
    sarif_path: Path | None = None,
    new_only_base: str | None = None,
    baseline_path: Path | None = None,
    quiet: bool = False,
) -> int:
    if verbose:
        for name, exe in _executables(project)[0].items():
            log.print(f"{name}: {exe}", highlight=False)
    work = collect(project, selection, cwd, new_only_base=new_only_base, baseline_path=baseline_path)
    files, result = asyncio.run(cancelled_by_signals(work))
    if verbose:
        log.print(f"checked {len(files)} file(s) in {project.root}", highlight=False)
    if output == "json":
        console.out(render.check_json(result), highlight=False)
    elif output in annotate.FORMATS:
        ids = asyncio.run(_ids(project.root, result))
        console.out(annotate.render(output, result.diagnostics, ids), end="", highlight=False)
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
        ruff = project.executables([TOOLS["ruff"]])["ruff"]
        asyncio.run(write_sarif(sarif_path, result, project.root, ruff))
    if result.errors:
        return ExitCode.USAGE
    return ExitCode.DIAGNOSTICS if result.diagnostics else ExitCode.OK


async def _ids(root: Path, result: CheckResult) -> dict[Diagnostic, str]:
    texts = await findings.sources(root, None, {d.path for d in result.diagnostics})
    return findings.stable_ids(result.diagnostics, texts)


async def write_sarif(path: Path, result: CheckResult, root: Path, ruff: str | None) -> None:
    """Write what a check found to `path` as SARIF; raises `StomperError` if it cannot."""
    errors = [f"{run.tool}: {run.error}" for run in result.errors]
    docs = await ruledocs.rule_docs(result.diagnostics, ruff, root)
    ids = await _ids(root, result)
    text = redact.scrub(sarif.dumps(result.diagnostics, root=root, tool_errors=errors, fingerprints=ids, docs=docs))
    try:
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
    except OSError as exc:
        raise StomperError(f"cannot write the SARIF log to {path}: {exc.strerror}") from None
