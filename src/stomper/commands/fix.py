"""`stomper fix`: fix every failing file in its own worktree and apply what verifies.

A run holds the repository's run lock from start to end, leaves a record
and a journal under `.git/stomper/runs/<id>/`, and checkpoints the graph in
`.git/stomper/state.sqlite`, so that an interrupted run can be resumed: the
files whose branches finished are not redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from rich.console import Console
from rich.markup import escape

from stomper import annotate, baseline, ci, gitops, hook, imports, progress, redact, render, resume, sandbox, worktree
from stomper.apply import Applier, Mode, applied_before, check_commits, landed_before
from stomper.config import StomperSettings
from stomper.errors import ExitCode, FixerError, GitError, NotAGitRepository, StomperError
from stomper.events import EventLog, read_events
from stomper.fixers.registry import build_fixers, check_agent, uses_agent
from stomper.graph import checkpoints, jobs
from stomper.graph.state import FileResult, RunContext, RunState
from stomper.integrate import Integration
from stomper.project import Project
from stomper.repair import repair
from stomper.report import RunReport, file_json
from stomper.runs import RunDir, RunRecord, Status, new_run_id
from stomper.selection import Selection, select_files, text_files
from stomper.shard import Shard, pick
from stomper.signals import cancelled_by_signals
from stomper.tools import TOOLS
from stomper.tools.config import pytest_testpaths
from stomper.verify import Verifier

T = TypeVar("T")
Event = dict[str, Any]
OutputFormat = Literal["full", "github", "gitlab"]


@dataclass(frozen=True)
class FixOptions:
    mode: Mode = "commit"
    allow_dirty: bool = False
    dry_run: bool = False
    report: Path | None = None
    resume: str | None = None
    """A run id, or "last" for the last interrupted run."""
    hook: bool = False
    """Run as a pre-commit hook: no commits, exit 1 when a file changed (see `stomper.hook`)."""
    ci: bool = False
    """No live display, plain lines; the exit status of the analysed commit (`stomper.ci.exit_status`)."""
    quiet: bool = False
    """Nothing while the run goes on; the summary at the end."""
    sarif: Path | None = None
    """Write the diagnostics that remain after the run as SARIF."""
    patch: Path | None = None
    """Write every verified fix as one patch of the original tree."""
    branch: str | None = None
    """Commit the fixes onto this new branch from HEAD, the checkout untouched (see `stomper.ci`)."""
    output_format: OutputFormat = "full"
    """full: the summary table on stdout; github, gitlab: annotations on stdout, the summary on stderr."""
    new_only_base: str | None = None
    """Leave alone what the merge base with this ref already had (see `stomper.baseline`)."""
    baseline: Path | None = None
    """Leave alone what this baseline file records."""
    shard: Shard | None = None
    """Work on this shard's part of the selected files only (see `stomper.shard`)."""
    told: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The settings given on the command line: all `--resume` is told (see `stomper.resume`)."""


class Interrupted(StomperError):
    """The run was stopped by a signal; it can be resumed."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"interrupted; resume with: stomper fix --resume {run_id}")
        self.run_id = run_id


async def fix(
    project: Project, selection: Selection, options: FixOptions, *, cwd: Path, on_event: Callable[[Event], None]
) -> RunReport:
    """Run (or resume) the fix graph over the selected files and return its report."""
    repo = _checked_repo(project, options)
    # Before anything is written: a missing tool or agent, a model without its key or package,
    # must leave no run behind (building the fixers finds every one of these).
    ruff = project.executables([*project.tools, TOOLS["ruff"]])["ruff"]
    check_agent(project.settings, project.root)
    if options.resume is None:
        build_fixers(project.settings, ruff)
    confine = sandbox.UNCONFINED
    if uses_agent(project.settings) or options.resume is not None:
        confine = await sandbox.choose(project.settings.sandbox)
        if confine.note is not None:
            on_event({"note": confine.note})
    rundir = RunDir(repo.state_dir)
    with rundir.lock() as stale_pid:
        if stale_pid is not None:
            on_event({"note": f"took over the lock of stomper run pid {stale_pid}, which is no longer running"})
        leftovers, repaired = await repair(project.root, rundir)
        for old in leftovers:
            on_event({"note": f"removed the worktrees left behind by run {old}, which did not finish"})
        for note in repaired:
            on_event({"note": note})
        await asyncio.to_thread(checkpoints.check, rundir.checkpoints)
        if options.resume is not None:
            record, settings = await _resumed(project, selection, options, rundir, on_event)
            # Before the record says running: a resumed run's fixers must be usable too.
            check_agent(settings, project.root)
            build_fixers(settings, ruff)
            known: frozenset[str] = frozenset()  # what the interrupted run collected is in its checkpoint
        else:
            record = await _new_run(project, selection, options, cwd=cwd, on_event=on_event)
            settings = project.settings
            known = await _known(project, record.files, options)
        if record.mode == "commit":
            await check_commits(project.root, await gitops.fallback_identity(project.root))
        settled = settings.model_dump(mode="json")
        record = dataclasses.replace(record, status="running", pid=os.getpid(), settings=settled)
        # The record first: a ref without one is what a kill right here would otherwise leave.
        rundir.save(record)
        await gitops.git("update-ref", _ref(record.run_id), record.base, cwd=project.root)
        with EventLog(rundir.events(record.run_id)) as journal:
            project = dataclasses.replace(project, settings=settings)
            # A resumed run's tools ran before it stopped (checkpointed); were they not, the record's files are named.
            whole = options.resume is None and selection.whole
            resuming = options.resume is not None
            return await _run(
                project, record, rundir, journal, on_event, confine, known, resuming=resuming, whole=whole
            )


async def _resumed(
    project: Project, selection: Selection, options: FixOptions, rundir: RunDir, on_event: Callable[[Event], None]
) -> tuple[RunRecord, StomperSettings]:
    """The run `--resume` names, with the settings it goes on with; refuses what it cannot change."""
    record = rundir.resumable(None if options.resume == "last" else options.resume)
    if record.checkout not in (None, str(project.root)):
        raise StomperError(f"run {record.run_id} started in {record.checkout}; resume it there")
    named = selection.paths or selection.files or selection.uses_git
    resume.check_selection(record, bool(named) or selection.exclude != tuple(project.settings.exclude))
    asked = None if options.mode == "commit" and not options.allow_dirty else _mode(options)
    resume.check_mode(record, asked)
    settings, changed = resume.settings_for(record, options.told)
    honoured = f", with the new {', '.join(changed)} for the files not yet done" if changed else ""
    on_event({"note": f"resuming run {record.run_id}{honoured}"})
    if record.mode == "commit":
        # What the interrupted run applied but did not commit is its own, not the user's.
        await _require_clean(project.root, except_paths=_journaled(rundir, record.run_id))
    return record, settings


def _mode(options: FixOptions) -> Mode:
    return "no-commit" if options.mode == "commit" and options.allow_dirty else options.mode


async def _known(project: Project, files: tuple[str, ...], options: FixOptions) -> frozenset[str]:
    """Ids of the diagnostics `--new-only` and `--baseline` say to leave alone."""
    known = await asyncio.to_thread(baseline.read, options.baseline) if options.baseline is not None else frozenset()
    if options.new_only_base is not None:
        known |= await baseline.known_at(project, options.new_only_base, files)
    return known


async def _new_run(
    project: Project, selection: Selection, options: FixOptions, *, cwd: Path, on_event: Callable[[Event], None]
) -> RunRecord:
    files, notes = await text_files(project.root, await select_files(selection, project.root, in_git=True, cwd=cwd))
    for note in notes:
        on_event({"note": note})
    if options.shard is not None:
        sizes = await asyncio.to_thread(lambda: {f: (project.root / f).stat().st_size for f in files})
        mine = pick(files, sizes, options.shard)
        on_event({"note": f"shard {options.shard}: {len(mine)} of {len(files)} file(s)"})
        files = mine
    mode = _mode(options)
    if mode == "commit":
        await _require_clean(project.root, except_paths=set())
    return RunRecord(
        run_id=new_run_id(),
        pid=0,
        started=time.time(),
        status="running",
        mode=mode,
        base=await worktree.snapshot(project.root),
        files=tuple(files),
        settings=project.settings.model_dump(mode="json"),
        branch=await gitops.head_ref(project.root),
        checkout=str(project.root),
    )


async def _run(
    project: Project,
    record: RunRecord,
    rundir: RunDir,
    journal: EventLog,
    on_event: Callable[[Event], None],
    confine: sandbox.Sandbox,
    known: frozenset[str],
    *,
    resuming: bool,
    whole: bool,
) -> RunReport:
    """Collect, then fan out when there is something to fix; the run's record says how it ended."""
    started = time.monotonic()
    run_id = record.run_id
    status: Status = "failed"
    final: RunReport | None = None
    try:
        # A resumed run goes on from its checkpoint, which holds what its tools found.
        state = None if resuming else await _collect(project, record, known, on_event, whole=whole)
        if state is not None and jobs.nothing_to_fix(state):
            final = jobs.run_report(run_id, record.mode, state)
        else:
            final = await _fan_out(project, record, rundir, journal, state, on_event, confine, known)
        status = "completed"
    except asyncio.CancelledError:
        status = "interrupted"
        raise Interrupted(run_id) from None
    except FixerError:
        # A refused API key: a resume would be refused the same; nothing of the run is kept for one.
        status = "misconfigured"
        raise
    finally:
        if status in ("completed", "misconfigured"):
            await _always(gitops.git("update-ref", "-d", _ref(run_id), cwd=project.root))
        summary = final.to_json()["summary"] if final is not None else {}
        rundir.save(dataclasses.replace(record, status=status, finished=time.time(), summary=summary))
    return dataclasses.replace(final, seconds=time.monotonic() - started)


async def _collect(
    project: Project,
    record: RunRecord,
    known: frozenset[str],
    on_event: Callable[[Event], None],
    *,
    whole: bool = False,
) -> RunState:
    state = await jobs.collect(project, list(record.files), project.executables(), known, whole=whole)
    on_event({"collected": len(state.get("jobs", []))})
    return state


async def _fan_out(
    project: Project,
    record: RunRecord,
    rundir: RunDir,
    journal: EventLog,
    state: RunState | None,
    on_event: Callable[[Event], None],
    confine: sandbox.Sandbox,
    known: frozenset[str] = frozenset(),
) -> RunReport:
    """Run the graph from `state`, or resume it from its checkpoint when `state` is None."""
    # LangGraph (and LangChain under it) only for a run that has files to fix.
    from stomper.graph.build import build_graph, open_checkpointer

    settings = project.settings
    run_id = record.run_id
    verifier = Verifier(
        tools=project.tools,
        executables=project.executables(),
        timeout=settings.tool_timeout,
        graph=await imports.scan(project.root, await gitops.listed_paths(project.root)),
        test_roots=tuple(await asyncio.to_thread(pytest_testpaths, project.root)),
        allow_suppressions=tuple(settings.allow_suppressions),
        all_tests=settings.verify_tests == "all",
    )
    worktrees = worktree.Worktrees(
        project.root,
        rundir.root,
        run_id,
        record.base,
        caches=(".mypy_cache",) if "mypy" in settings.tools else (),
        size=settings.parallel,
    )
    applier = Applier(
        project.root,
        record.base,
        record.mode,  # type: ignore[arg-type]
        rundir.patches(run_id),
        journal,
        await gitops.fallback_identity(project.root),
        applied_before(read_events(journal.path)),
        branch=record.branch or await gitops.head_ref(project.root),
    )
    ctx = RunContext(
        project=project,
        run_id=run_id,
        fixers=tuple(
            build_fixers(settings, project.executables([TOOLS["ruff"]])["ruff"], rundir.run(run_id) / "agent", confine)
        ),
        verifier=verifier,
        worktrees=worktrees,
        applier=applier,
        queue=Integration(applier, verifier, worktrees, landed_before(applier.applied_before)),
    )
    try:
        async with open_checkpointer(rundir.checkpoints) as saver:
            graph = build_graph(saver)
            config: Any = {"max_concurrency": settings.parallel, "configurable": {"thread_id": run_id}}
            if state is None and (await graph.aget_state(config)).created_at is None:
                # Interrupted before its graph started: its tools run again.
                state = await _collect(project, record, known, on_event)
            try:
                final = await _stream(
                    graph.astream(state, config=config, context=ctx, stream_mode=["custom", "updates"]),
                    journal,
                    on_event,
                )
            except FixerError:
                # A refused API key: a resume would be refused the same; nothing of the run is kept for one.
                await _always(saver.adelete_thread(run_id))
                raise
            await saver.adelete_thread(run_id)
    finally:
        await _always(ctx.worktrees.close())
    return final


async def _stream(chunks: AsyncIterator[Any], journal: EventLog, on_event: Callable[[Event], None]) -> RunReport:
    """Pass the graph's stream on to the display and the journal; the report it ends with."""
    final: RunReport | None = None
    async for kind, chunk in chunks:
        # Whatever a branch says (an agent's stderr, a model's error) leaves the graph scrubbed.
        update: dict[str, Any] = redact.scrub_data(chunk)
        if kind == "custom":
            on_event(update)
        elif "report" in update:
            final = update["report"]["report"]
        elif "fix_file" in update:
            result: FileResult = update["fix_file"]["results"][0]
            journal.append({"event": "result", **file_json(result), "commit": result.commit, "seconds": result.seconds})
            on_event({"result": result})
    assert final is not None
    return final


async def _always(work: Awaitable[T]) -> T:
    """Await `work` to its end, even through a second Ctrl-C: cleaning up is not optional."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            continue


def _ref(run_id: str) -> str:
    return f"refs/stomper/runs/{run_id}"


def _journaled(rundir: RunDir, run_id: str) -> set[str]:
    path = rundir.events(run_id)
    return set(applied_before(read_events(path))) if path.exists() else set()


def _checked_repo(project: Project, options: FixOptions) -> gitops.RepoInfo:
    repo = project.repo
    if repo is None:
        raise NotAGitRepository(
            f"{project.root} is not inside a git repository; stomper fix works on git repositories only"
        )
    if not repo.has_commits:
        raise GitError("the repository has no commits yet; commit your files once, then run stomper fix")
    if repo.detached and options.mode == "commit" and not options.allow_dirty:
        raise GitError("HEAD is detached; check out a branch first, or use --no-commit to leave the fixes uncommitted")
    return repo


async def _require_clean(root: Path, except_paths: set[str]) -> None:
    done = await gitops.git("status", "--porcelain", "-z", "--untracked-files=no", cwd=root)
    dirty = {entry[3:] for entry in gitops.split_z(done.stdout)} - except_paths
    if dirty:
        raise StomperError(
            "your working tree has uncommitted changes; commit or stash them, "
            "or use --allow-dirty (fixes are then left uncommitted) or --no-commit"
        )


def run(
    project: Project,
    selection: Selection,
    options: FixOptions,
    *,
    cwd: Path,
    console: Console,
    log: Console,
    verbose: bool,
) -> int:
    if options.report is not None and options.report.is_dir():
        # Said now, not after a run whose report would have nowhere to go.
        raise StomperError(f"--report {options.report}: is a directory; give the path of a file")
    if options.resume is not None and (options.dry_run or options.hook):
        # Either would quietly be a different thing: a new run's plan, a hook's run on the staged files.
        raise StomperError(f"--resume does not go with {'--dry-run' if options.dry_run else '--hook'}")
    if options.dry_run:
        return _dry_run(project, selection, cwd, console)

    def say(line: str) -> None:
        log.print(escape(line), highlight=False)

    if options.hook:
        if project.repo is not None and not project.repo.has_commits:
            say("stomper: no commit yet to fix against; the hook lets the first commit through")
            return ExitCode.OK
        project = asyncio.run(hook.without_unreachable_model(project, say))
    if options.branch is not None:
        asyncio.run(ci.check_new_branch(project.root, options.branch))
    if (options.branch is not None or options.patch is not None) and project.repo is not None:
        asyncio.run(ci.check_identity(project.root))
    if options.ci and not options.hook:
        project = dataclasses.replace(project, settings=ci.without_missing_key(project.settings, say))
    # With annotations on stdout, the people's summary goes to stderr.
    summary = console if options.output_format == "full" else log
    display = progress.Display.choose(log, ci=options.ci, quiet=options.quiet, verbose=verbose)
    try:
        with display:
            work = fix(project, selection, options, cwd=cwd, on_event=display.on_event)
            report = asyncio.run(cancelled_by_signals(work))
    except Interrupted as exc:
        finished = display.finished
        partial = RunReport(run_id=exc.run_id, mode=options.mode, files=tuple(sorted(finished, key=lambda f: f.path)))
        render.run_summary(partial, summary, interrupted=True, total=display.progress.total)
        log.print(f"stomper: {exc}", highlight=False)
        return ExitCode.INTERRUPTED
    render.run_summary(report, summary, left=not options.hook)
    printed = report.mode == "diff" and options.branch is None and any(f.patch for f in report.files)
    if printed and options.output_format == "full":
        console.out("".join(f.patch or "" for f in report.files), end="", highlight=False)
    if options.report is not None:
        _write_report(options.report, report)
    if (options.sarif or options.patch or options.branch) and project.repo is not None:
        base = RunDir(project.repo.state_dir).load(report.run_id).base
        ruff = project.executables([TOOLS["ruff"]])["ruff"]
        outputs = ci.write_outputs(project.root, base, report, options.sarif, options.patch, options.branch, say, ruff)
        asyncio.run(outputs)
    if options.output_format != "full" and project.repo is not None:
        base = RunDir(project.repo.state_dir).load(report.run_id).base
        found = asyncio.run(ci.analysis(project.root, base, report))
        text = annotate.render(options.output_format, found.diagnostics, found.ids, found.fixes)
        console.out(text, end="", highlight=False)
    if options.hook:
        return hook.exit_code(report, say)
    if options.ci:
        return ci.exit_status(report, project.settings.ci_exit)
    if report.tool_errors:
        return ExitCode.USAGE
    # As `ruff check --diff`: a printed fix is a change the checkout still needs.
    return ExitCode.OK if report.ok and not printed else ExitCode.DIAGNOSTICS


def _write_report(path: Path, report: RunReport) -> None:
    # A parent that cannot be made is said by the write, which names the path.
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_text(json.dumps(redact.scrub_data(report.to_json()), indent=2) + "\n")
    except OSError as exc:
        raise StomperError(f"cannot write the report to {path}: {exc.strerror}") from None


def _dry_run(project: Project, selection: Selection, cwd: Path, console: Console) -> int:
    from stomper.commands.check import collect

    _, result = asyncio.run(collect(project, selection, cwd))
    fixers = build_fixers(project.settings, project.executables([TOOLS["ruff"]])["ruff"])
    render.plan(result, fixers, project.settings.parallel, console)
    return ExitCode.DIAGNOSTICS if result.diagnostics else ExitCode.OK
