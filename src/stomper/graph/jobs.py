"""What a run has to do, found before the graph is built: one `FileJob` per failing file.

The tools run in the user's checkout before LangGraph is imported at all, so
a run whose tools find nothing to fix (or cannot run) gets its report here
and never pays for the graph (about half a CPU-second of imports, see
`benchmarks/README.md`). Only a run that fans out builds the graph
(`stomper.graph.build`) and hands it these jobs as its input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from stomper import gitops, imports, redact, units
from stomper.baseline import without_known
from stomper.diagnostics import Diagnostic
from stomper.graph.state import FileJob, RunState
from stomper.integrate import Recheck
from stomper.project import Project
from stomper.report import FileResult, RunReport
from stomper.tools import Tool, run_tools


async def collect(
    project: Project,
    files: list[str],
    executables: dict[str, str],
    known: frozenset[str] = frozenset(),
    *,
    whole: bool = False,
) -> RunState:
    """Run the enabled tools on `files` in the user's checkout: the graph's input.

    Diagnostics whose ids are `known` (a baseline, `--new-only`) are left out.
    `whole`: `files` are the whole project, so each tool checks what the project configures it to.
    """
    result = await run_tools(
        project.tools,
        files,
        cwd=project.root,
        executables=executables,
        timeout=project.settings.tool_timeout,
        whole=whole,
    )
    result = await without_known(result, project.root, known)
    grouped = result.by_path()
    jobs = [
        FileJob(index=n, path=unit.path, diagnostics=unit.diagnostics, files=unit.files, after=unit.after)
        for n, unit in enumerate(await _units(project, grouped, None if whole else frozenset(files)))
    ]
    return {
        "jobs": jobs,
        "clean": [f for f in files if f not in grouped],
        "tool_errors": [redact.scrub(f"{run.tool}: {run.error}") for run in result.errors],
    }


async def _units(
    project: Project, grouped: dict[str, list[Diagnostic]], within: frozenset[str] | None
) -> list[units.Unit]:
    """The run's work units; the repository is read only when a failure can run through other files."""
    cap = project.settings.unit_max_files
    reaching = cap > 1 and any(d.tool in ("pytest", "mypy") for diags in grouped.values() for d in diags)
    if not reaching:
        return units.plan(grouped, None, cap)
    listed = await gitops.listed_paths(project.root)
    graph = await imports.scan(project.root, listed)
    repo = units.Project(project.root, frozenset(listed), graph, tuple(project.settings.exclude), within)
    return await asyncio.to_thread(units.plan, grouped, repo, cap)


def vouched(state: RunState, tools: Sequence[Tool]) -> dict[tuple[str, str], tuple[Diagnostic, ...]]:
    """What the run's first check found that still holds in the snapshot, by (tool, file): its findings in
    each file that is a unit alone, for each tool that judges a file by itself (ruff).

    Only for a check that saw exactly the snapshot's files and whose
    findings were not filtered (`--baseline`, `--new-only`): the caller's to know.
    A file of a wider unit may be one the check was not given, and mypy's or
    pytest's findings depend on files the check may have seen otherwise (an
    ignored module the snapshot leaves out), so none of theirs are taken.
    """
    alone = [job for job in state.get("jobs", []) if not job.after and job.unit == (job.path,)]
    return {
        (tool.name, job.path): tuple(d for d in job.diagnostics if d.tool == tool.name and d.path == job.path)
        for tool in tools
        if tool.reach == "file"
        for job in alone
    }


def nothing_to_fix(state: RunState) -> bool:
    """No file fails, or a tool could not run (and so nothing it says can be trusted)."""
    return bool(state.get("tool_errors")) or not state.get("jobs")


def run_report(run_id: str, mode: str, state: RunState, recheck: Recheck | None = None) -> RunReport:
    """The run's report from its state: the results in path order, whatever order they came in.

    With `recheck`, what each file has left is what the integrated result's check found in it.
    """
    results = state.get("results", [])
    if recheck is not None:
        results = [rechecked(r, recheck) for r in results]
    return RunReport(
        run_id=run_id,
        mode=mode,
        files=tuple(sorted(results, key=lambda r: r.path)),
        clean=tuple(state.get("clean", [])),
        attempts=state.get("attempts", 0),
        tool_errors=tuple(state.get("tool_errors", [])),
    )


def rechecked(result: FileResult, recheck: Recheck) -> FileResult:
    """`result` with what the check of the integrated result found in its file (by the tools that checked it)."""
    files = result.unit
    kept = [d for d in result.remaining if (d.tool, d.path) not in recheck.covered]
    found = [d for d in recheck.diagnostics if d.path in files]
    remaining = tuple(sorted([*kept, *found]))
    outcome = result.outcome
    if result.applied and outcome != "suppressed":
        outcome = "partial" if remaining else "fixed"
    return replace(result, remaining=remaining, outcome=outcome)
