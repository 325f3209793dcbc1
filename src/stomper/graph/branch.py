"""One file's way through a run: worktree, fix, verify, apply.

Every decision about attempts and retries is made here; fixers only edit,
the verifier only judges, the applier only applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace

from stomper import explain, redact
from stomper.apply import Fix, HeadMoved, NotApplied
from stomper.diagnostics import Diagnostic, identity
from stomper.errors import FixerError, StomperError
from stomper.fixers import Fixer, FixRequest, Usage
from stomper.fixers.batched import fixers_for
from stomper.graph.state import FileJob, RunContext
from stomper.graph.steps import Stopwatch
from stomper.guard import Seal, check_change
from stomper.records import Step
from stomper.report import FileResult, Outcome
from stomper.suppressions import Suppression
from stomper.verify import Baseline, Scope
from stomper.worktree import Worktree

Emit = Callable[[Step], None]
NEEDS_AI = explain.NO_AI
UNCHANGED_LIMIT = 2
"""An AI fixer that changed nothing this often on one file will not change it on the next try either."""


async def fix_file(job: FileJob, ctx: RunContext, emit: Emit) -> FileResult:
    """Fix one file; never raises, so that one file's failure cannot cancel the others.

    But two: `HeadMoved` stops the run, since nothing more can land (the run
    is resumed once HEAD is back on its branch, the unfinished files redone),
    and so does `FixerError`, a fixer that cannot work at all (a refused API key).
    """
    ctx.gates.start(job.path, job.unit)
    try:
        result = await _fix_file(job, ctx, emit)
    finally:
        ctx.gates.finish(job.path)
    if result.outcome == "fixed":
        return result
    return replace(result, hint=explain.next_step(result.detail, ctx.project.settings, result.kept_patch))


async def _fix_file(job: FileJob, ctx: RunContext, emit: Emit) -> FileResult:
    started = time.monotonic()
    work = _Work(remaining=job.diagnostics)
    if (recovered := await ctx.applier.recover(job.path)) is not None:
        emit(Step(job.path, "done"))
        work.remaining = recovered.remaining
        outcome: Outcome = "partial" if work.remaining else "fixed"
        result = work.result(job, outcome, started, "applied before the run was interrupted")
        return replace(result, commit=recovered.commit)
    if not any(fixer.handles(d) for fixer in ctx.fixers for d in job.diagnostics):
        emit(Step(job.path, "done"))
        return work.result(job, "skipped", started, _why_not(ctx, work))
    try:
        for earlier in ctx.gates.pending(job.after):
            shared = ", ".join(ctx.gates.shared(earlier, job.unit))
            emit(Step(job.path, "blocked", why=f"waits for {earlier} (both may change {shared})"))
        await ctx.gates.wait(job.after)
        emit(Step(job.path, "worktree"))
        got_worktree = time.monotonic()
        async with ctx.worktrees.checkout() as wt:
            if job.after:  # from the state with the fixes it waited for landed
                await wt.start_from(await ctx.queue.state(wt.path))
            seal = await Seal.take(wt)
            work.clock.add("worktree", time.monotonic() - got_worktree)
            limit = ctx.project.settings.file_timeout
            try:
                async with asyncio.timeout(limit) as work.deadline:
                    await _improve(job, wt, seal, ctx, work, emit)
            except TimeoutError:
                work.stopped = explain.timed_out(limit or 0)
                await wt.reject()  # the attempt cut short is not verified
            if not work.accepted and job.after and not work.remaining and not work.stopped:
                # What it waited for fixed it too: nothing of its own to land.
                return work.result(job, "fixed", started, "")
            if not work.accepted:
                return work.result(job, "skipped" if work.stopped else "failed", started, _why_not(ctx, work))
            # From here on, the fix is the verified record (wt.tree), never the worktree's files.
            patch = await wt.patch()
            original, verified = await wt.blobs(job.path)
            await check_change(
                wt,
                job.path,
                patch,
                ctx.project.settings,
                original=original,
                verified=verified,
                may_empty=not work.by_ai,
                unit=job.unit,
            )
            changes = await wt.changes()
            message = commit_message(job, work.remaining, [c.path for c in changes])
            fix = Fix(job.path, wt.tree, changes, patch, message, work.remaining)
            emit(Step(job.path, "waiting"))
            scope = Scope.union([ctx.verifier.scope(c.path) for c in fix.changes])
            reads = await ctx.verifier.reads(wt.path, scope)
        # The fix is its record (in the object store all worktrees share): the worktree goes to the next file.
        applied = await work.clock.landing(
            lambda on_lock: ctx.queue.land(fix, scope, reads, locked=on_lock),
            locked=lambda: emit(Step(job.path, "applying")),
        )
        outcome = work.outcome()
        detail = _why_not(ctx, work) if work.remaining else ""
        if work.suppressions:
            detail = "; ".join(["suppressed: " + ", ".join(map(str, work.suppressions)), *filter(None, [detail])])
        return replace(
            work.result(job, outcome, started, detail), commit=applied.commit, patch=patch.decode("utf-8", "replace")
        )
    except HeadMoved as exc:
        raise HeadMoved(f"{exc} with: stomper fix --resume {ctx.run_id}", exc.patch_path) from exc
    except NotApplied as exc:
        return replace(work.result(job, "failed", started, str(exc)), kept_patch=str(exc.patch_path))
    except FixerError:
        raise  # a fixer that cannot work at all (a refused API key) stops the run, not just this file
    except StomperError as exc:
        return work.result(job, "failed", started, str(exc))
    except OSError as exc:  # a file gone or unreadable mid-run fails this file, not the run
        return work.result(job, "failed", started, f"{exc.filename or job.path}: {exc.strerror}")
    finally:
        emit(Step(job.path, "done"))


async def _improve(job: FileJob, wt: Worktree, seal: Seal, ctx: RunContext, work: _Work, emit: Emit) -> None:
    """Run the fixers in turn; keep each attempt that verification accepts."""
    with work.clock.step("verify"):
        scope = Scope.union([ctx.verifier.scope(p) for p in job.unit])
        # A unit that waited starts from fixes landed since the snapshot: the run's first check is no guide there.
        baseline = await ctx.verifier.baseline(wt.path, scope, None if job.after else ctx.checked)
    if job.after:  # started from the fixes it waited for, which may have fixed some of it
        found = {identity(d) for d in job.diagnostics}
        work.remaining = tuple(d for d in baseline.diagnostics if d.path in job.unit and identity(d) in found)
    for fixer in fixers_for(job.batched, ctx.fixers):
        tries = ctx.project.settings.max_attempts if fixer.ai else 1
        for attempt in range(1, tries + 1):
            todo = tuple(d for d in work.remaining if fixer.handles(d))
            if not todo or work.stopped or work.unchanged >= UNCHANGED_LIMIT:
                break
            emit(Step(job.path, "fixing", fixer.name, attempt, tries))
            request = FixRequest(wt.path, job.path, todo, attempt, tries, work.feedback, files=job.files)
            baseline = await _attempt(fixer, request, wt, seal, ctx, work, baseline, emit)


async def _attempt(
    fixer: Fixer,
    request: FixRequest,
    wt: Worktree,
    seal: Seal,
    ctx: RunContext,
    work: _Work,
    baseline: Baseline,
    emit: Emit,
) -> Baseline:
    work.attempts += 1
    work.ai_attempts += fixer.ai
    work.fixers.add(fixer.name)
    before = await wt.contents(request.unit)
    async with _fixer_turn(ctx, work):
        with work.clock.step("fixer"):
            outcome = await fixer.fix(request)
    if outcome.log is not None:
        work.logs.append(outcome.log)
        emit(Step(request.path, "output kept", log=outcome.log))
    # Before git runs in the worktree again: a rewritten .git would aim it elsewhere.
    await seal.check()
    work.usage += outcome.usage
    if fixer.ai and not (outcome.stop or outcome.error) and await _unchanged(wt, before):
        work.unchanged += 1
        outcome = replace(outcome, error=f"the {fixer.name} changed nothing: does it have permission to edit?")
    if outcome.stop or outcome.error:
        work.stopped, work.feedback = outcome.stop, outcome.error
        work.trouble = outcome.error or work.trouble
        work.why, work.verified = outcome.error or work.why, False
        await wt.reject()
        return baseline
    emit(Step(request.path, "verifying", fixer.name, request.attempt, request.max_attempts))
    # The record of what the tools are about to check; what they check must still be it afterwards.
    record = await wt.record()
    with work.clock.step("verify"):
        verdict = await ctx.verifier.verify(wt.path, baseline)
    if not verdict.accepted:
        work.feedback = verdict.feedback()
        work.why, work.verified = verdict.reason(), True
        work.trouble = work.why if verdict.error else work.trouble
        await wt.reject()
        return baseline
    await seal.check()
    await wt.accept(record)
    work.accepted += 1
    work.by_ai = work.by_ai or fixer.ai
    work.feedback = None
    work.remaining = tuple(d for d in verdict.after.diagnostics if d.path in request.unit)
    work.suppressions += verdict.suppressions
    codes = {code for s in verdict.suppressions for code in s.codes}
    # One allowed by its kind (a marker, say) names no code: what it removed, it silenced.
    every = any(not s.codes for s in verdict.suppressions)
    work.suppressed += tuple(d for d in verdict.gone if d.path in request.unit and (every or d.code in codes))
    return verdict.after


@contextlib.asynccontextmanager
async def _fixer_turn(ctx: RunContext, work: _Work) -> AsyncIterator[None]:
    """A turn to run a fixer, `--parallel` at once; the file's worktree was made ready before it.

    The wait for the turn is not the file's time: its `file_timeout` is moved on by as long.
    """
    asked = time.monotonic()
    async with ctx.fixing:
        if work.deadline is not None and (when := work.deadline.when()) is not None:
            work.deadline.reschedule(when + time.monotonic() - asked)
        yield


async def _unchanged(wt: Worktree, before: dict[str, bytes | None]) -> bool:
    """Whether every file of the unit holds what it held before the attempt."""
    return await wt.contents(before) == before


@dataclass
class _Work:
    """What the attempts on one file have come to so far."""

    remaining: tuple[Diagnostic, ...]
    attempts: int = 0
    ai_attempts: int = 0
    unchanged: int = 0
    """AI attempts that left the file as it was: after UNCHANGED_LIMIT, more attempts are not made."""
    accepted: int = 0
    by_ai: bool = False
    """An AI fixer made some of the accepted change; ruff's own fixes may empty a file, an AI's may not."""
    fixers: set[str] = field(default_factory=set)
    usage: Usage = field(default_factory=Usage)
    logs: list[str] = field(default_factory=list)
    feedback: str | None = None
    """Why the last attempt was rejected, written for the AI's next attempt."""
    why: str | None = None
    """The same, in the user's words."""
    verified: bool = True
    """The last rejected attempt got as far as verification (it did not fail by itself)."""
    stopped: str | None = None
    trouble: str | None = None
    """The last fixer or tool that could not run at all: worth saying even when no AI could help."""
    suppressions: tuple[Suppression, ...] = ()
    """Suppressions the accepted change added, all of them allowed by `allow_suppressions`."""
    suppressed: tuple[Diagnostic, ...] = ()
    """The diagnostics they silenced."""
    clock: Stopwatch = field(default_factory=Stopwatch)
    deadline: asyncio.Timeout | None = None
    """When the attempts run out of `file_timeout` (moved on while a fixer waits for its turn)."""

    def result(self, job: FileJob, outcome: Outcome, started: float, detail: str) -> FileResult:
        applied = outcome in ("fixed", "partial", "suppressed")
        return FileResult(
            path=job.path,
            outcome=outcome,
            before=job.diagnostics,
            # A fix that verified but was not applied changed nothing in the checkout.
            remaining=self.remaining if applied else job.diagnostics,
            attempts=self.attempts,
            fixers=tuple(sorted(self.fixers)),
            detail=detail,
            seconds=time.monotonic() - started,
            usage=self.usage,
            suppressed=self.suppressed if applied else (),
            agent_output=tuple(self.logs),
            files=job.files,
            steps=self.clock.times(),
        )

    def outcome(self) -> Outcome:
        """How an applied change is reported: a suppression is not a fix."""
        if self.suppressions:
            return "suppressed"
        return "partial" if self.remaining else "fixed"


def _why_not(ctx: RunContext, work: _Work) -> str:
    """Why the file is not (all) fixed, in the user's words."""
    if work.stopped:
        return work.stopped
    if not any(f.ai for f in ctx.fixers):
        if work.trouble:
            return work.trouble
        # Why ruff's own fix was refused matters more than that no AI was there to try.
        return f"{work.why} ({NEEDS_AI} for the rest)" if work.why else NEEDS_AI
    return explain.rejected(work.ai_attempts, work.why, verified=work.verified)


def commit_message(job: FileJob, remaining: tuple[Diagnostic, ...], changed: Sequence[str] = ()) -> str:
    """`fix(stomper): resolve ruff F401, mypy arg-type in pkg/mod.py`, then what was fixed.

    A fix that changed other files of its unit says which in the subject
    (`... in tests/test_calc.py by changing src/pkg/calc.py`), and names the
    tests it made pass and every file it changed in the body.
    """
    left = list(remaining)
    fixed = []
    for diag in job.diagnostics:
        same = next((d for d in left if (d.tool, d.code, d.message) == (diag.tool, diag.code, diag.message)), None)
        if same is None:
            fixed.append(diag)
        else:
            left.remove(same)
    codes = ", ".join(sorted({f"{d.tool} {d.code}" for d in fixed}))
    subject = f"fix(stomper): resolve {codes} in {job.path}"
    elsewhere = [p for p in changed if p != job.path]
    if elsewhere:
        subject += f" by changing {', '.join(elsewhere)}"
    where = "{d.path} line {d.line}" if len(job.unit) > 1 else "line {d.line}"
    body = "\n".join(f"- {where.format(d=d)}: {d.tool} {d.code}: {d.message}" for d in fixed)
    tests = [f"{d.path}::{(d.symbol or '').rpartition('::')[2]}" for d in fixed if d.tool == "pytest"]
    if tests:
        body += "\n\nTests that pass now: " + ", ".join(tests)
    if len(job.unit) > 1 or elsewhere:
        body += ("\n" if tests else "\n\n") + f"Files changed: {', '.join(changed) or job.path}"
    # A tool's message may quote what it saw; a commit is forever.
    return redact.scrub(f"{subject}\n\n{body}\n")
