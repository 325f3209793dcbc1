"""ruff's own fixes for every failing file at once: one worktree, one ruff run, one verification.

Before the graph is built (`stomper.run`: a run it leaves nothing to builds
none), the batch takes every failing file with a
diagnostic ruff can fix and runs the ruff fixer once over all of them in one
pooled worktree (`RuffFixer.fix_files`: the command and flags of the ruff
fixer, the user's configuration). The tools then verify them together: once
before (ruff's part of that is the run's first check, where it vouches for the
snapshot: `RunContext.checked`) and once after, on the union of the files'
scopes (`Scope.union`),
each file's suppressions and line mapping judged as for a single file
(`Verifier.verify`). A file is part of the verified batch only if ruff
changed it without adding a suppression. When the files together introduce a
diagnostic, halving the batch finds the files responsible; what is kept is
always a set of files verified as it stands.

Each file of the verified batch then either
- lands on its own, one commit per file, as a branch lands a fix: through
  the integration queue (`_land`, all the batch's files at once), when no AI
  fixer can do anything about what ruff left in it; or
- goes to its own branch, which starts from ruff's fix of it
  (`FileJob.batched`, `stomper.fixers.batched`) instead of running ruff
  again, verifies it on the file's own scope and lets the AI fixers work on
  what is left: ruff's fix and the AI's land in one commit.

The queue is told what the batch's verification found in its tree
(`Integration.found_in`): when the run's result is that very tree, the
report's recheck runs no tool.

A file ruff did not change, whose fix added a suppression, or that the
halving found responsible goes to its branch as it would without the batch,
and so does every file when the batch cannot run (a tool that fails).

The batch lands through the queue, the applier and its journal like any fix: a run
killed while landing it runs it again when resumed (the graph's `batch`
node, from what the tools found), and a file whose
fix the journal says was being applied is left to its branch, which
recovers it (`Applier.recover`) rather than fixing it twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stomper import explain, redact
from stomper.apply import Applied, Fix, HeadMoved, NotApplied
from stomper.diagnostics import Diagnostic
from stomper.errors import StomperError
from stomper.fixers.ruff import RuffFixer
from stomper.gitops import git
from stomper.graph.branch import NEEDS_AI, Emit, commit_message
from stomper.graph.jobs import nothing_to_fix
from stomper.graph.state import FileJob, FileResult, RunContext, RunState
from stomper.guard import Entry, Seal, check_change, entries_of
from stomper.records import Step
from stomper.suppressions import added
from stomper.verify import Baseline, Known, Scope, Verdict, by_tool_and_file
from stomper.worktree import Change, Worktree


@dataclass(frozen=True)
class Batched:
    """What the batch did: the files it finished, and the files left to branches of their own."""

    results: tuple[FileResult, ...]
    pending: tuple[FileJob, ...]
    """In the order of the jobs; a file ruff fixed but an AI has work left in has `batched` set."""


async def batched(state: RunState, ctx: RunContext, emit: Emit) -> RunState:
    """The batch's update of the run's state: the files it finished as results, the rest pending."""
    if nothing_to_fix(state):
        return {"pending": []}
    done = await fix_batch(state["jobs"], ctx, emit)
    # Scrubbed before they are checkpointed or journaled, as a branch's result is.
    results = [redact.scrub_data(result) for result in done.results]
    return {"results": results, "attempts": sum(r.attempts for r in results), "pending": list(done.pending)}


def leaves_branches(jobs: Sequence[FileJob], ctx: RunContext) -> bool:
    """Whether the batch will leave files to branches of their own, as far as can be told before it runs.

    It leaves every file it does not take, and every file where an AI fixer
    can work on what ruff's fix leaves. (A file whose fix does not verify goes
    to its branch too; that cannot be told before.)
    """
    ruff = _ruff(ctx)
    taken = _todo(jobs, ruff, ctx)
    if ruff is None or len(taken) < len(jobs):
        return bool(jobs)
    ai = [f for f in ctx.fixers if f.ai]
    # ruff fixes the unit's first file only: what the others have is left, as is what ruff cannot fix.
    left = (d for job in taken for d in job.diagnostics if d.path != job.path or not ruff.handles(d))
    return any(f.handles(d) for d in left for f in ai)


async def fix_batch(jobs: Sequence[FileJob], ctx: RunContext, emit: Emit) -> Batched:
    """Fix, verify and land ruff's fixes of `jobs` together; never raises but as a branch does (`HeadMoved`)."""
    ruff = _ruff(ctx)
    todo = _todo(jobs, ruff, ctx)
    if ruff is None or not todo:
        return Batched((), tuple(jobs))
    started = time.monotonic()
    results: dict[str, FileResult] = {}
    carried: dict[str, FileJob] = {}
    try:
        async with ctx.worktrees.checkout() as wt:
            for job in todo:
                emit(Step(job.path, "worktree"))
            verified = await _fix_and_verify(todo, ruff, wt, ctx, emit)
            if verified is not None:
                landing: list[tuple[FileJob, FileResult, Fix | None]] = []
                for job in todo:
                    remaining = verified.remaining.get(job.path)
                    if remaining is None:
                        continue
                    # ruff fixed the unit's first file only: what its other files have is still there.
                    remaining += tuple(d for d in job.diagnostics if d.path != job.path)
                    if any(f.ai and f.handles(d) for f in ctx.fixers for d in remaining):
                        carried[job.path] = dataclasses.replace(job, batched=verified.blobs[job.path])
                    else:
                        landing.append(await _prepare(job, remaining, verified, wt, ctx))
                fixes = [fix for _, _, fix in landing if fix is not None]
                # Should all of the batch land and nothing else, the report's recheck has its findings already.
                ctx.queue.found_in(wt.tree, verified.found)
                landed = dict(zip((f.path for f in fixes), await _land(fixes, wt, ctx, emit), strict=True))
                for job, result, fix in landing:
                    outcome = landed.get(job.path) if fix is not None else None
                    results[job.path] = _finish(result, outcome, ctx, started)
    finally:
        for job in todo:
            emit(Step(job.path, "done"))
    pending = tuple(carried.get(job.path, job) for job in jobs if job.path not in results)
    return Batched(tuple(results[job.path] for job in todo if job.path in results), pending)


def _ruff(ctx: RunContext) -> RuffFixer | None:
    return next((f for f in ctx.fixers if isinstance(f, RuffFixer)), None)


def _todo(jobs: Sequence[FileJob], ruff: RuffFixer | None, ctx: RunContext) -> list[FileJob]:
    """The jobs the batch takes: each with a diagnostic ruff fixes."""
    return [
        job
        for job in jobs
        if ruff is not None
        and any(ruff.handles(d) for d in job.diagnostics)
        # One the journal says was being applied is its branch's to recover.
        and job.path not in ctx.applier.applied_before
    ]


@dataclass(frozen=True)
class _Verified:
    """The batch as verified: the files kept, each with what ruff left in it, and the worktree's record of them."""

    remaining: dict[str, tuple[Diagnostic, ...]]
    """Each kept file: the diagnostics left in it."""
    blobs: dict[str, str]
    """Each kept file: the blob it is in the record."""
    entries: tuple[Entry, ...]
    changes: tuple[Change, ...]
    patches: dict[str, bytes]
    originals: dict[str, bytes | None]
    contents: dict[str, bytes]
    """Each kept file: its bytes in the record."""
    found: Known
    """What the tools found in the record (`Worktree.tree`), on the batch's scope, by (tool, file)."""


async def _fix_and_verify(
    todo: Sequence[FileJob], ruff: RuffFixer, wt: Worktree, ctx: RunContext, emit: Emit
) -> _Verified | None:
    """ruff over every file of `todo` at once, then the largest verified set; None leaves all to their branches."""
    paths = [job.path for job in todo]
    try:
        seal = await Seal.take(wt)
        scope = Scope.union([ctx.verifier.scope(p) for p in paths])
        baseline = await ctx.verifier.baseline(wt.path, scope, ctx.checked)  # the worktree holds the snapshot
        originals = await _read(wt.path, paths)
        for path in paths:
            emit(Step(path, "fixing", ruff.name, 1, 1))
        outcome = await ruff.fix_files(wt.path, paths)
        # Before git runs in the worktree again, as after any fixer.
        await seal.check()
        if outcome.error is not None:
            return None  # each branch runs ruff on its own file and says what went wrong there
        fixed = await _read(wt.path, paths)
        touched = [p for p in paths if fixed[p] != originals[p]]
        # A suppression, allowed or not, is for a branch to judge and report.
        changed = [p for p in touched if not _suppresses(p, originals[p], fixed[p])]
        if not changed:
            return None
        for path in changed:
            emit(Step(path, "verifying", ruff.name, 1, 1))
        trial = _Trial(wt, ctx, baseline, touched, originals, fixed)
        kept, verdict = await trial.settle(changed)
        if not kept or verdict is None:
            return None
        entries = tuple(await entries_of(wt))
        if any(e.path not in kept or e.old is not None for e in entries):
            return None  # something beyond the kept files changed: nothing of it can land file by file
        mine = {p: tuple(d for d in verdict.gone if d.path == p) for p in kept}
        own = [p for p in kept if mine[p]]  # a file whose change removed nothing of its own is no fix of it
        blobs = {e.path: e.new_sha for e in entries}
        stored = await _cat(wt.path, [blobs[p] for p in own])
        return _Verified(
            remaining={p: tuple(d for d in verdict.after.diagnostics if d.path == p) for p in own},
            blobs=blobs,
            entries=entries,
            changes=await wt.changes(),
            patches=await _patches(wt, own),
            originals=originals,
            contents={p: stored[blobs[p]] for p in own},
            found=by_tool_and_file(ctx.verifier.covered(verdict.after.scope), verdict.after.diagnostics),
        )
    except (StomperError, OSError):
        # What stopped the batch stops each branch alike, and each says it about its own file;
        # the worktree is reset when the pool hands it out next.
        return None


class _Trial:
    """Tries sets of ruff's fixed files in the worktree, each verified as it stands."""

    def __init__(
        self,
        wt: Worktree,
        ctx: RunContext,
        baseline: Baseline,
        touched: Sequence[str],
        originals: dict[str, bytes | None],
        fixed: dict[str, bytes | None],
    ) -> None:
        self.wt, self.ctx, self.baseline = wt, ctx, baseline
        self.touched, self.originals, self.fixed = touched, originals, fixed
        self.last: tuple[frozenset[str], Verdict, str] | None = None

    async def settle(self, paths: Sequence[str]) -> tuple[list[str], Verdict | None]:
        """The files of `paths` whose fixes, together, verify, and their verdict; the worktree holds them, accepted."""
        kept = await self._largest(list(paths))
        if not kept:
            return [], None
        if self.last is None or self.last[0] != frozenset(kept):
            await self._try(kept)
        assert self.last is not None
        _, verdict, record = self.last
        if not _good(verdict):
            return [], None
        await self.wt.accept(record)
        return kept, verdict

    async def _largest(self, paths: list[str]) -> list[str]:
        if _good(await self._try(paths)):
            return paths
        if len(paths) == 1:
            return []
        half = len(paths) // 2
        left, right = await self._largest(paths[:half]), await self._largest(paths[half:])
        if not left or not right:
            return left or right
        if _good(await self._try(left + right)):
            return left + right
        # Each half verifies, the two together do not: the larger half is kept, the rest go to their branches.
        return left if len(left) >= len(right) else right

    async def _try(self, paths: Sequence[str]) -> Verdict:
        chosen = set(paths)
        await asyncio.to_thread(self._write, chosen)
        record = await self.wt.record()
        verdict = await self.ctx.verifier.verify(self.wt.path, self.baseline)
        if verdict.error is not None:
            # A tool that cannot check the batch will not check its halves either.
            raise StomperError(verdict.error)
        self.last = (frozenset(chosen), verdict, record)
        return verdict

    def _write(self, chosen: set[str]) -> None:
        for path in self.touched:
            data = self.fixed[path] if path in chosen else self.originals[path]
            target = self.wt.path / path
            if data is None:
                target.unlink(missing_ok=True)
            elif target.read_bytes() != data:
                target.write_bytes(data)


def _good(verdict: Verdict) -> bool:
    return verdict.error is None and not verdict.new and not verdict.forbidden


async def _prepare(
    job: FileJob, remaining: tuple[Diagnostic, ...], verified: _Verified, wt: Worktree, ctx: RunContext
) -> tuple[FileJob, FileResult, Fix | None]:
    """One file's part of the batch as a fix to land, after the guard's checks; its result should it land."""
    path = job.path
    result = FileResult(
        path=path,
        files=job.files,
        outcome="partial" if remaining else "fixed",
        before=job.diagnostics,
        remaining=remaining,
        attempts=1,
        fixers=("ruff",),
        detail=NEEDS_AI if remaining else "",
        patch=verified.patches[path].decode("utf-8", "replace"),
    )
    try:
        # ruff's own fixes may empty a file (one of nothing but unused imports).
        await check_change(
            wt,
            path,
            verified.patches[path],
            ctx.project.settings,
            original=verified.originals[path],
            may_empty=True,
            entries=[e for e in verified.entries if path in (e.path, e.old)],
            verified=verified.contents[path],
        )
    except StomperError as exc:
        return job, _failed(result, str(exc)), None
    changes = tuple(c for c in verified.changes if c.path == path)
    fix = Fix(path, wt.tree, changes, verified.patches[path], commit_message(job, remaining), remaining)
    return job, result, fix


async def _land(fixes: Sequence[Fix], wt: Worktree, ctx: RunContext, emit: Emit) -> list[Applied | Exception]:
    """Put the batch's verified fixes into the checkout, one commit each: the one way the batch lands anything.

    All of them go to the integration queue at once, in order, as fixes
    waiting beside each other: it lands at once those that meet nothing
    landed before, and checks the others together.
    """
    reads = [await ctx.verifier.reads(wt.path, ctx.verifier.scope(fix.path)) for fix in fixes]

    async def land(fix: Fix, read: frozenset[str]) -> Applied:
        def locked() -> None:
            emit(Step(fix.path, "applying"))

        emit(Step(fix.path, "waiting"))
        return await ctx.queue.land(fix, ctx.verifier.scope(fix.path), read, locked=locked)

    done = await asyncio.gather(*(land(f, r) for f, r in zip(fixes, reads, strict=True)), return_exceptions=True)
    landed: list[Applied | Exception] = []
    for outcome in done:
        if not isinstance(outcome, (Applied, Exception)):
            raise outcome  # cancelled: the run stops
        landed.append(outcome)
    return landed


def _finish(result: FileResult, landed: Applied | Exception | None, ctx: RunContext, started: float) -> FileResult:
    """A file's result once its fix landed (`landed`), or could not; as a branch says it."""
    if isinstance(landed, Applied):
        result = dataclasses.replace(result, commit=landed.commit)
    elif isinstance(landed, HeadMoved):
        raise HeadMoved(f"{landed} with: stomper fix --resume {ctx.run_id}", landed.patch_path) from landed
    elif isinstance(landed, NotApplied):
        result = _failed(result, str(landed), kept_patch=str(landed.patch_path))
    elif isinstance(landed, StomperError):
        result = _failed(result, str(landed))
    elif isinstance(landed, OSError):
        result = _failed(result, f"{landed.filename or result.path}: {landed.strerror}")
    elif landed is not None:
        raise landed  # a bug, as it would be in a branch
    result = dataclasses.replace(result, seconds=time.monotonic() - started)
    if result.outcome == "fixed":
        return result
    return dataclasses.replace(result, hint=explain.next_step(result.detail, ctx.project.settings, result.kept_patch))


def _failed(result: FileResult, detail: str, kept_patch: str | None = None) -> FileResult:
    return dataclasses.replace(
        result, outcome="failed", remaining=result.before, detail=detail, kept_patch=kept_patch, patch=None
    )


def _suppresses(path: str, before: bytes | None, after: bytes | None) -> bool:
    return bool(added(path, (before or b"").decode("utf-8", "replace"), (after or b"").decode("utf-8", "replace")))


async def _read(root: Path, paths: Sequence[str]) -> dict[str, bytes | None]:
    def read(path: str) -> bytes | None:
        try:
            return (root / path).read_bytes()
        except FileNotFoundError:
            return None

    return await asyncio.to_thread(lambda: {p: read(p) for p in paths})


async def _cat(cwd: Path, blobs: Sequence[str]) -> dict[str, bytes]:
    """The bytes of each of `blobs`, read from git's object store by one process."""
    out = (await git("cat-file", "--batch", cwd=cwd, stdin="".join(f"{b}\n" for b in blobs).encode())).stdout
    found: dict[str, bytes] = {}
    at = 0
    while at < len(out):
        end = out.index(b"\n", at)
        header = out[at:end].decode("utf-8", "replace").split(" ")
        if len(header) != 3 or header[1] != "blob":
            raise StomperError(f"git cat-file --batch said {' '.join(header)!r} where a blob was expected")
        size = int(header[2])
        found[header[0]] = out[end + 1 : end + 1 + size]
        at = end + 1 + size + 1
    return found


async def _patches(wt: Worktree, paths: Sequence[str]) -> dict[str, bytes]:
    """Each file's patch, as git writes it for a record that changes that file alone.

    One `git diff` of the whole record, cut at its file headers; a file whose
    section cannot be told by its header (a name git quotes) gets a `git diff` of its own.
    """
    args = ("diff", "--binary", "--full-index", "--no-renames", wt.base, wt.tree)
    whole = (await git(*args, cwd=wt.path)).stdout
    sections: dict[str, bytes] = {}
    for section in _sections(whole):
        header = section.split(b"\n", 1)[0]
        name = header.removeprefix(b"diff --git a/").partition(b" b/")[0].decode("utf-8", "surrogateescape")
        if header == f"diff --git a/{name} b/{name}".encode("utf-8", "surrogateescape"):
            sections[name] = section
    for path in paths:
        if path not in sections:
            sections[path] = (await git(*args, "--", path, cwd=wt.path)).stdout
    return {p: sections[p] for p in paths}


def _sections(patch: bytes) -> list[bytes]:
    # No line of a section's body starts so: its lines start with " ", "+", "-", "\\", a
    # header word, or base85, which has no space.
    marker = b"diff --git "
    starts = [0] if patch.startswith(marker) else []
    at = patch.find(b"\n" + marker)
    while at != -1:
        starts.append(at + 1)
        at = patch.find(b"\n" + marker, at + 1)
    return [patch[a:b] for a, b in zip(starts, [*starts[1:], len(patch)], strict=True)]
