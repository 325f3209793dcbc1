"""What a run has to do, found before the graph is built: one `FileJob` per failing file.

The tools run in the user's checkout before LangGraph is imported at all, so
a run whose tools find nothing to fix (or cannot run) gets its report here
and never pays for the graph (about half a CPU-second of imports, see
`benchmarks/README.md`); nor does a run whose batch (`stomper.graph.batch`,
run before the graph) finishes every file: `final_report` is its report, as
it is the graph's. Only a run that fans out builds the graph
(`stomper.graph.build`) and hands it these jobs as its input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from stomper import gitops, imports, redact, units
from stomper.baseline import without_known
from stomper.diagnostics import Diagnostic
from stomper.errors import StomperError
from stomper.graph.state import FileJob, RunContext, RunState
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


async def final_report(state: RunState, ctx: RunContext) -> RunReport:
    """The report of a run whose every file is done: what each has left is what the integrated result has."""
    try:
        recheck = await ctx.queue.recheck(f for r in state.get("results", []) if r.applied for f in r.unit)
    except StomperError as exc:
        state = {**state, "tool_errors": [*state.get("tool_errors", []), f"the check of the result: {exc}"]}
        recheck = None
    made = run_report(ctx.run_id, ctx.applier.mode, state, recheck)
    return dataclasses.replace(made, combined_checks=ctx.queue.checks)


@dataclass(frozen=True)
class _Collected:
    jobs: tuple[FileJob, ...]
    clean: tuple[str, ...]
    tool_errors: tuple[str, ...]
    pending: tuple[FileJob, ...] | None = None
    """Set once the batch has run: what it left (`RunState.pending`)."""
    results: tuple[FileResult, ...] = ()
    attempts: int = 0


@functools.cache
def _adapter() -> TypeAdapter[_Collected]:
    return TypeAdapter(_Collected)


async def save(path: Path, state: RunState) -> None:
    """Keep what the tools found at `path`, and once the batch has run, what it did, for a run killed
    before its graph started to resume from: from before its batch, or from what its batch left."""
    pending = state.get("pending")
    collected = _Collected(
        tuple(state.get("jobs", [])),
        tuple(state.get("clean", [])),
        tuple(state.get("tool_errors", [])),
        None if pending is None else tuple(pending),
        tuple(state.get("results", [])),
        state.get("attempts", 0),
    )
    data = _adapter().dump_json(collected)

    def write() -> None:
        partial = path.with_suffix(".tmp")
        partial.write_bytes(data)
        partial.replace(path)

    await asyncio.to_thread(write)


async def load(path: Path) -> RunState | None:
    """What `save` kept at `path`; None when nothing was (or what was is unreadable: the tools run again)."""
    try:
        data = await asyncio.to_thread(path.read_bytes)
        collected = _adapter().validate_json(data)
    except (OSError, ValidationError):
        return None
    state: RunState = {
        "jobs": list(collected.jobs),
        "clean": list(collected.clean),
        "tool_errors": list(collected.tool_errors),
    }
    if collected.pending is not None:
        # The batch ran: the graph's `batch` node does nothing, and the report has the batch's results.
        state["pending"] = list(collected.pending)
        state["results"] = list(collected.results)
        state["attempts"] = collected.attempts
    return state


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
