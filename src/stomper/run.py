"""A fix run's life: start (or resume), land, stop.

`commands/fix.py` is the command: options in, one call to `fix`, the report
shown and written, an exit code out. Everything between is here:

    start    the repository's run lock, repairs of what dead runs left, the
             snapshot, the first check (the tools); then, only when they
             found something to fix, the check that a commit can be made,
             the run's record (`runs.RunRecord`) and the ref that keeps its
             snapshot from `git gc`: a run with nothing to fix records only
             how it ended
    resume   the same from the record of an interrupted run: its files,
             mode, settings and how its tools were run (`RunRecord.whole`,
             `RunRecord.known`);
             the fixes its journal says it began to apply; its checkpoint,
             which holds what its tools found and its finished branches
    land     from what the first check found, the batch, then the graph
             (`graph/build.py`) for what it left: its stream goes to the
             display and the journal, its fixes into the checkout through
             the `Applier`
    stop     the record says how the run ended; a finished run's ref goes;
             the worktrees always go, through a second Ctrl-C too

A run is resumable until its record says it completed (see `runs.py` for
its footprint under `.git/stomper`, `resume.py` for what `--resume` honours).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stomper import baseline, gitops, imports, redact, resume, sandbox, worktree
from stomper.apply import Applier, Mode, applied_before, check_commits
from stomper.config import StomperSettings
from stomper.errors import FixerError, GitError, NotAGitRepository, StomperError
from stomper.events import EventLog, read_events
from stomper.fixers.registry import build_fixers, check_agent, runs_ai_code
from stomper.graph import checkpoints, jobs
from stomper.graph.state import RunContext, RunState
from stomper.integrate import Integration
from stomper.project import Project
from stomper.records import Collected, Event, Finished, Note, Result, Step
from stomper.repair import repair
from stomper.report import FileResult, RunReport
from stomper.runs import RunDir, RunRecord, Status, new_run_id
from stomper.selection import Selection, select_files, text_files
from stomper.shard import Shard, pick
from stomper.tools import TOOLS
from stomper.tools.config import pytest_testpaths
from stomper.verify import Known, Verifier

if TYPE_CHECKING:
    from stomper.graph.preload import Preload

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """What a run is asked to do (the command's other options are about showing its outcome)."""

    mode: Mode = "commit"
    allow_dirty: bool = False
    resume: str | None = None
    """A run id, or "last" for the last interrupted run."""
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
    project: Project, selection: Selection, request: Request, *, cwd: Path, on_event: Callable[[Event], None]
) -> RunReport:
    """Start (or resume) a run over the selected files, land it, stop it; its report."""
    repo = _checked_repo(project, request)
    # Before anything is written: a missing tool or agent, a model without its key or package,
    # must leave no run behind (building the fixers finds every one of these).
    ruff = project.executables([*project.tools, TOOLS["ruff"]])["ruff"]
    check_agent(project.settings, project.root)
    if request.resume is None:
        build_fixers(project.settings, ruff)
    confine = sandbox.UNCONFINED
    if runs_ai_code(project.settings) or request.resume is not None:
        confine = await sandbox.choose(project.settings.sandbox)
        if confine.note is not None:
            on_event(Note(confine.note))
    rundir = RunDir(repo.state_dir)
    with rundir.lock() as stale_pid:
        if stale_pid is not None:
            on_event(Note(f"took over the lock of stomper run pid {stale_pid}, which is no longer running"))
        leftovers, repaired = await repair(project.root, rundir, keep=project.settings.keep_worktrees)
        for old in leftovers:
            on_event(Note(f"cleaned up after run {old}, which did not finish"))
        for note in repaired:
            on_event(Note(note))
        await asyncio.to_thread(checkpoints.check, rundir.checkpoints)
        started = time.monotonic()
        first: RunState | None = None
        vouched: Known = {}
        if request.resume is not None:
            record, settings = await _resumed(project, selection, request, rundir, on_event)
            # Before the record says running: a resumed run's fixers must be usable too.
            check_agent(settings, project.root)
            build_fixers(settings, ruff)
        else:
            record = await _started(project, repo, selection, request, cwd=cwd, on_event=on_event)
            settings = project.settings
            known = await _known(project, record.files, request)
            record = dataclasses.replace(record, known=tuple(sorted(known)))
            # The tools before anything is written down: a run they find nothing to fix for has nothing
            # to commit, resume or keep from `git gc`, and records only how it ended. Killed before its
            # record, a run has changed nothing (its snapshot is objects nothing points at).
            first, vouched = await _check(project, record, on_event, vouch=True)
            if jobs.nothing_to_fix(first):
                final = jobs.run_report(record.run_id, record.mode, first)
                rundir.save(_ended(dataclasses.replace(record, pid=os.getpid()), "completed", final))
                return dataclasses.replace(final, seconds=time.monotonic() - started)
        # Before anything changes: a commit git cannot make stops the run here, with nothing to undo.
        identity = await gitops.fallback_identity(project.root) if record.mode == "commit" else None
        if identity is not None:
            await check_commits(project.root, identity)
        settled = settings.model_dump(mode="json")
        record = dataclasses.replace(record, status="running", pid=os.getpid(), settings=settled)
        # The record first: a ref without one is what a kill right here would otherwise leave.
        rundir.save(record)
        await gitops.git("update-ref", _ref(record.run_id), record.base, cwd=project.root)
        with EventLog(rundir.events(record.run_id)) as journal:
            project = dataclasses.replace(project, settings=settings)
            run = Run(project, record, rundir, journal, on_event, confine, vouched=vouched, identity=identity)
            return await run.go(first, started=started)


async def _resumed(
    project: Project, selection: Selection, request: Request, rundir: RunDir, on_event: Callable[[Event], None]
) -> tuple[RunRecord, StomperSettings]:
    """The run `--resume` names, with the settings it goes on with; refuses what it cannot change."""
    record = rundir.resumable(None if request.resume == "last" else request.resume)
    if record.checkout not in (None, str(project.root)):
        raise StomperError(f"run {record.run_id} started in {record.checkout}; resume it there")
    named = selection.paths or selection.files or selection.uses_git
    resume.check_selection(record, bool(named) or selection.exclude != tuple(project.settings.exclude))
    asked = None if request.mode == "commit" and not request.allow_dirty else _mode(request)
    resume.check_mode(record, asked)
    settings, changed = resume.settings_for(record, request.told)
    honoured = f", with the new {', '.join(changed)} for the files not yet done" if changed else ""
    on_event(Note(f"resuming run {record.run_id}{honoured}"))
    if record.mode == "commit":
        # What the interrupted run applied but did not commit is its own, not the user's.
        await _require_clean(project.root, except_paths=_journaled(rundir, record.run_id))
    return record, settings


def _mode(request: Request) -> Mode:
    return "no-commit" if request.mode == "commit" and request.allow_dirty else request.mode


async def _known(project: Project, files: tuple[str, ...], request: Request) -> frozenset[str]:
    """Ids of the diagnostics `--new-only` and `--baseline` say to leave alone."""
    known = await asyncio.to_thread(baseline.read, request.baseline) if request.baseline is not None else frozenset()
    if request.new_only_base is not None:
        known |= await baseline.known_at(project, request.new_only_base, files)
    return known


async def _started(
    project: Project,
    repo: gitops.RepoInfo,
    selection: Selection,
    request: Request,
    *,
    cwd: Path,
    on_event: Callable[[Event], None],
) -> RunRecord:
    """The record of a new run: its files, mode, snapshot and branch."""
    files, notes = await text_files(project.root, await select_files(selection, project.root, in_git=True, cwd=cwd))
    for note in notes:
        on_event(Note(note))
    if request.shard is not None:
        sizes = await asyncio.to_thread(lambda: {f: (project.root / f).stat().st_size for f in files})
        mine = pick(files, sizes, request.shard)
        on_event(Note(f"shard {request.shard}: {len(mine)} of {len(files)} file(s)"))
        files = mine
    mode = _mode(request)
    if mode == "commit":
        await _require_clean(project.root, except_paths=set())
    return RunRecord(
        run_id=new_run_id(),
        pid=0,
        started=time.time(),
        status="running",
        mode=mode,
        base=await worktree.snapshot(repo),
        files=tuple(files),
        settings=project.settings.model_dump(mode="json"),
        # As the HEAD file said when the repository was opened; git is asked when the file cannot say.
        branch=repo.head_ref if repo.head_ref or repo.detached else await gitops.head_ref(project.root),
        checkout=str(project.root),
        whole=selection.whole,
    )


class Run:
    """A started (or resumed) run, its record saved and its journal open: it lands, then stops."""

    def __init__(
        self,
        project: Project,
        record: RunRecord,
        rundir: RunDir,
        journal: EventLog,
        on_event: Callable[[Event], None],
        confine: sandbox.Sandbox,
        *,
        vouched: Known,
        identity: tuple[str, ...] | None,
    ) -> None:
        self.project = project
        self.record = record
        self.rundir = rundir
        self.journal = journal
        self.on_event = on_event
        self.confine = confine
        self.vouched = vouched
        """What the first check found that holds in the snapshot (`jobs.vouched`); nothing for a resumed run."""
        self.identity = identity
        """git's `-c` options for the author (`gitops.fallback_identity`), when the commit check asked already."""

    async def go(self, first: RunState | None, *, started: float) -> RunReport:
        """Land, then stop; the record says how the run ended. `started`: when the run began (monotonic)."""
        status: Status = "failed"
        final: RunReport | None = None
        try:
            final = await self.land(first)
            status = "completed"
        except asyncio.CancelledError:
            status = "interrupted"
            raise Interrupted(self.record.run_id) from None
        except FixerError:
            # A refused API key: a resume would be refused the same; nothing of the run is kept for one.
            status = "misconfigured"
            raise
        finally:
            await self.stop(status, final)
        return dataclasses.replace(final, seconds=time.monotonic() - started)

    async def land(self, first: RunState | None) -> RunReport:
        """From what the first check found (`first`), the batch, then fan out what it left.

        A resumed run (`first` None) goes on from its checkpoint, which holds what its tools found.
        """
        state = first
        # The machinery of fixing only for a run that has files to fix: imported here, on the run's thread,
        # before the import thread starts (`stomper.graph.preload`).
        from stomper.graph.batch import leaves_branches
        from stomper.graph.preload import Preload

        ctx = await self._context()
        imports = Preload(ctx)
        try:
            if state is not None:
                # What a run killed in its batch resumes from: it has no checkpoint yet.
                await jobs.save(self._collected, state)
            if state is None or leaves_branches(state["jobs"], ctx):
                # LangGraph for a run that will fan out, imported on a thread while the batch and git work.
                imports.start()
            if state is not None:
                state = await self._batch(state, ctx)
                if not state.get("pending"):
                    # Every file done: no graph (nor LangGraph) for a run that does not fan out.
                    final = await jobs.final_report(state, ctx)
                    await asyncio.to_thread(self._collected.unlink, missing_ok=True)
                    return final
                # And what one killed from here on resumes from: the batch's results and what it left.
                await jobs.save(self._collected, state)
            return await self._fan_out(state, ctx, imports)
        finally:
            await _always(ctx.worktrees.close())

    async def stop(self, status: Status, final: RunReport | None) -> None:
        """Write down how the run ended; a run that cannot be resumed lets go of its snapshot."""
        run_id = self.record.run_id
        if status in ("completed", "misconfigured"):
            await _always(gitops.git("update-ref", "-d", _ref(run_id), cwd=self.project.root))
        self.rundir.save(_ended(self.record, status, final))

    async def _context(self) -> RunContext:
        """What the graph's nodes share: the fixers, the verifier, the worktree pool, the applier, the queue."""
        project, record, rundir = self.project, self.record, self.rundir
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
            bwrap=self.confine.bwrap,
        )
        fixers = tuple(
            build_fixers(
                settings, project.executables([TOOLS["ruff"]])["ruff"], rundir.run(run_id) / "agent", self.confine
            )
        )
        worktrees = worktree.Worktrees(
            project.root,
            rundir.root,
            run_id,
            record.base,
            caches=(".mypy_cache",) if "mypy" in settings.tools else (),
            size=worktree.pool_size(settings.parallel, ai=any(fixer.ai for fixer in fixers)),
            keep=project.settings.keep_worktrees,
        )
        applier = Applier(
            project.root,
            record.base,
            record.mode,  # type: ignore[arg-type]
            rundir.patches(run_id),
            self.journal,
            self.identity if self.identity is not None else await gitops.fallback_identity(project.root),
            applied_before(read_events(self.journal.path)),
            branch=record.branch or await gitops.head_ref(project.root),
        )
        return RunContext(
            project=project,
            run_id=run_id,
            fixers=fixers,
            verifier=verifier,
            worktrees=worktrees,
            applier=applier,
            queue=Integration(applier, verifier, worktrees, await applier.landed_before()),
            checked=self.vouched,
            fixing=asyncio.Semaphore(settings.parallel),
        )

    @property
    def _collected(self) -> Path:
        return self.rundir.run(self.record.run_id) / "collected.json"

    async def _batch(self, state: RunState, ctx: RunContext) -> RunState:
        """The batch (`stomper.graph.batch`) outside the graph; `state` with its results and what it left."""
        from stomper.graph.batch import batched

        update = await batched(state, ctx, self._emit)
        for result in update.get("results", []):
            self.journal.append(Result(result).to_json())
            self.on_event(Finished(result))
        return {**state, **update}

    async def _fan_out(self, state: RunState | None, ctx: RunContext, imports: Preload) -> RunReport:
        """Run the graph from `state` (the batch done), or resume it from its checkpoint when `state` is None."""
        from stomper.graph.preload import early_branches, start_early, stop_early

        if state is not None and early_branches(ctx):
            # The first wave at work while LangGraph is imported, once nothing it imports is left to import
            # (`collected.json` says what the batch did); the graph adopts these branches.
            await imports.warmed()
            start_early(state.get("pending", []), ctx, self.project.settings.parallel, self._emit)
        try:
            return await self._graph(state, ctx, imports)
        finally:
            await _always(stop_early(ctx))

    async def _graph(self, state: RunState | None, ctx: RunContext, imports: Preload) -> RunReport:
        await imports.ready()
        # LangGraph (and LangChain under it) only for a run that has files to fix beyond the batch.
        from stomper.graph.build import build_graph, open_checkpointer

        run_id = self.record.run_id
        async with open_checkpointer(self.rundir.checkpoints) as saver:
            graph = build_graph(saver)
            # Twice the pool: a branch whose fix waits to land holds no worktree, and the next file can have it.
            config: Any = {"max_concurrency": 2 * ctx.worktrees.size, "configurable": {"thread_id": run_id}}
            if state is None and (await graph.aget_state(config)).created_at is None:
                # Interrupted before its graph started: from what its tools found, kept for this (its batch
                # runs again, in the graph), or, interrupted before they were kept, its tools run again.
                state = await jobs.load(self._collected) or (await _check(self.project, self.record, self.on_event))[0]
            try:
                final = await self._stream(
                    graph.astream(state, config=config, context=ctx, stream_mode=["custom", "updates"])
                )
            except FixerError:
                # A refused API key: a resume would be refused the same; nothing of the run is kept for one.
                await _always(saver.adelete_thread(run_id))
                raise
            await saver.adelete_thread(run_id)
        await asyncio.to_thread(self._collected.unlink, missing_ok=True)
        return final

    def _emit(self, step: Step) -> None:
        """A step of the batch or of a branch outside the graph, to the display as the graph's go."""
        self.on_event(redact.scrub_data(step))

    async def _stream(self, chunks: AsyncIterator[Any]) -> RunReport:
        """Pass the graph's stream on to the display and the journal; the report it ends with."""
        final: RunReport | None = None
        async for kind, chunk in chunks:
            # Whatever a branch says (an agent's stderr, a model's error) leaves the graph scrubbed.
            if kind == "custom":
                step: Step = redact.scrub_data(chunk)
                self.on_event(step)
                continue
            update: dict[str, Any] = redact.scrub_data(chunk)
            if "report" in update:
                final = update["report"]["report"]
            else:
                # A branch's one result, or the batch's (`stomper.graph.batch`).
                results: list[FileResult] = [
                    r for node in ("batch", "fix_file") for r in (update.get(node) or {}).get("results", [])
                ]
                for result in results:
                    self.journal.append(Result(result).to_json())
                    self.on_event(Finished(result))
        assert final is not None
        return final


async def _check(
    project: Project, record: RunRecord, on_event: Callable[[Event], None], *, vouch: bool = False
) -> tuple[RunState, Known]:
    """The run's tools on its files in the checkout (`jobs.collect`): what they found, and, with `vouch`,
    what of it holds in the snapshot (`jobs.vouched`; nothing when it cannot be told)."""
    known = frozenset(record.known)
    state = await jobs.collect(project, list(record.files), project.executables(), known, whole=record.whole)
    on_event(Collected(len(state.get("jobs", []))))
    if vouch and not known and not jobs.nothing_to_fix(state) and await _still_the_snapshot(project, record.base):
        return state, jobs.vouched(state, project.tools)
    return state, {}


async def _still_the_snapshot(project: Project, base: str) -> bool:
    """Whether the checkout is still the run's snapshot, as it was when the tools looked at it."""
    root = project.root
    then = await gitops.git("rev-parse", f"{base}^{{tree}}", cwd=root)
    return await worktree.working_tree(root, project.repo.index if project.repo else None) == then.out.strip()


def _ended(record: RunRecord, status: Status, final: RunReport | None) -> RunRecord:
    """`record` as the run ended: how, when, and its report's summary."""
    summary = final.to_json()["summary"] if final is not None else {}
    return dataclasses.replace(record, status=status, finished=time.time(), summary=summary)


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


def _checked_repo(project: Project, request: Request) -> gitops.RepoInfo:
    repo = project.repo
    if repo is None:
        raise NotAGitRepository(
            f"{project.root} is not inside a git repository; stomper fix works on git repositories only"
        )
    if not repo.has_commits:
        raise GitError("the repository has no commits yet; commit your files once, then run stomper fix")
    if repo.detached and request.mode == "commit" and not request.allow_dirty:
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
