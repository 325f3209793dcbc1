"""The integration queue: what reaches the user is the combination of fixes, verified together.

Every branch verifies its fix against the run's snapshot, alone. Two fixes
that pass alone can break each other (one renames a function, the other
adds a call to it under the old name), so before a fix lands it goes through
this queue, as a pull request goes through a merge queue (bors, GitHub's):

- A fix whose verification read nothing that an already landed fix changed
  or read, nor anything another fix waiting beside it read, lands as it is:
  what it was verified against is still what it lands on. "Read" is its
  scope as the enabled tools see it (`Scope.read_by`): ruff reads the file,
  mypy the file and its importers, pytest the tests that import it. Fixes of
  unrelated files, and every fix of a ruff-only run, cost nothing here.
- The others are put together onto the integrated state (the snapshot with
  every fix landed so far) in the queue's own worktree, and the tools re-run
  there on their combined scope, before and after. A batch that introduces
  nothing lands, one commit per file; a batch that does is split in halves
  and each half tried in turn (bisection), until the fix that breaks the
  combination is alone: it is dropped with the diagnostics it introduced
  as its reason and its patch kept, and the rest land.

Fixes that arrive while a batch is being checked wait and form the next
batch. There is no task of the queue's own: the first waiting branch to get
the queue's lock integrates everything waiting, its own fix included. Each
fix lands through `Applier.apply`, so the checks against the user's edits,
HEAD and the journal hold as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from stomper import explain
from stomper.apply import Applied, Applier, Fix, NotApplied, tree_with
from stomper.diagnostics import Diagnostic
from stomper.errors import StomperError
from stomper.gitops import git
from stomper.verify import Known, Scope, Verifier, by_tool_and_file
from stomper.worktree import Change, Worktree, Worktrees


class Dropped(NotApplied):
    """A verified fix that breaks the combination of the fixes landed before it."""


@dataclass
class _Waiting:
    fix: Fix
    scope: Scope
    reads: frozenset[str]
    """Every file a change to which could change the fix's verdict (`Verifier.reads`)."""
    locked: Callable[[], None] | None
    applied: Applied | None = None
    error: NotApplied | None = None

    @property
    def done(self) -> bool:
        return self.applied is not None or self.error is not None

    @property
    def changed(self) -> frozenset[str]:
        return frozenset(c.path for c in self.fix.changes)

    def meets(self, changed: AbstractSet[str], reads: AbstractSet[str]) -> bool:
        """Whether this fix and one that changed `changed` after reading `reads` could change each other's verdict."""
        return bool(self.changed & reads or changed & self.reads)


@dataclass(frozen=True)
class Recheck:
    """What the tools find in the integrated result, on every file a landed fix could have changed the findings of."""

    diagnostics: tuple[Diagnostic, ...]
    covered: frozenset[tuple[str, str]]
    """(tool, path): each file each tool checked; a finding of a tool elsewhere is what it was."""


class Integration:
    def __init__(
        self, applier: Applier, verifier: Verifier, worktrees: Worktrees, landed_before: Sequence[Change] = ()
    ) -> None:
        self.applier = applier
        self.verifier = verifier
        self.worktrees = worktrees
        self.checks = 0
        """Combined checks run: one per batch that needed one, and one per half tried when a batch fails."""
        self._lock = asyncio.Lock()
        self._waiting: list[_Waiting] = []
        self._landed: list[_Landed] = []
        self._landed_changed: set[str] = set()
        self._landed_reads: set[str] = set()
        """What every landed fix changed and read: whether a fix meets any of them, without a look at each."""
        for change in landed_before:
            self._add_landed(_landed_before(verifier, change.path))
        self._since: list[Change] = list(landed_before)
        """Changes landed and not yet in `_tree` (at first, all of them since the snapshot)."""
        self._tree: str | None = None
        """The integrated state as a tree, but for `_since`; made with the queue's worktree."""
        self._worktree: Worktree | None = None
        self._at = ""
        """The tree the queue's worktree holds."""
        self._known: dict[tuple[str, str], tuple[Diagnostic, ...]] = {}
        """What the tools found in `_tree`, by (tool, file), in the combined checks that made it: the next
        check does not check those again before putting its batch on. Forgotten when fixes land unchecked."""
        self._verified: dict[str, dict[tuple[str, str], tuple[Diagnostic, ...]]] = {}
        """What the tools found elsewhere (the batch's worktree, `found_in`), by the tree they found it in."""

    async def land(
        self, fix: Fix, scope: Scope, reads: frozenset[str], locked: Callable[[], None] | None = None
    ) -> Applied:
        """Land `fix`, verified on `scope` (reading `reads`), once it is known to break nothing landed before it.

        Raises `Dropped` when it does, and `NotApplied` (or `HeadMoved`)
        when the applier cannot put it into the checkout.
        """
        if locked is not None:
            # Whoever lands the batch calls it, in its own task: run it in this branch's context, where
            # LangGraph finds the branch's config (a graph branch's stream writer needs it; a branch
            # started before the graph has none, and its task may land a graph branch's fix).
            locked = functools.partial(contextvars.copy_context().run, locked)
        waiting = _Waiting(fix, scope, reads, locked)
        self._waiting.append(waiting)
        try:
            async with self._lock:
                if not waiting.done:
                    batch, self._waiting = self._waiting, []
                    try:
                        await self._integrate(batch)
                    finally:
                        # A batch cut short (the run stopping) goes back for whoever integrates next.
                        self._waiting[:0] = [w for w in batch if not w.done]
        except asyncio.CancelledError:
            # Whoever integrates next must not land the fix of a branch that is gone.
            if waiting in self._waiting:
                self._waiting.remove(waiting)
            raise
        if waiting.error is not None:
            raise waiting.error
        assert waiting.applied is not None
        return waiting.applied

    async def _integrate(self, batch: list[_Waiting]) -> None:
        apart = [w for w in batch if self._apart(w, batch)]
        await self._land(apart)
        together = [w for w in batch if w not in apart]
        if together:
            await self._check(together)

    def _apart(self, waiting: _Waiting, batch: Iterable[_Waiting]) -> bool:
        """Whether no landed fix, and no other fix of `batch`, touches what `waiting`'s verification read."""
        if waiting.meets(self._landed_changed, self._landed_reads):
            return False
        return not any(waiting.meets(other.changed, other.reads) for other in batch if other is not waiting)

    async def _check(self, batch: list[_Waiting]) -> None:
        """Verify `batch` together on the integrated state; land it, or bisect it and drop what breaks."""
        why, after = await self._combined(batch)
        if why is None:
            assert after is not None
            await self._land(batch, checked=True)
            refused = next((n for n, w in enumerate(batch) if w.error is not None), None)
            if refused is not None:
                # What was checked is not what landed: the state is made again from what did land,
                # and the rest, verified with a fix that did not land, is verified again without it.
                self._since.extend(c for w in batch[:refused] for c in w.fix.changes)
                self._known = {}
                if refused + 1 < len(batch):
                    await self._check(batch[refused + 1 :])
                return
            self._tree, found = after
            self._known.update(found)
        elif len(batch) == 1:
            waiting = batch[0]
            beside = sorted({x.path for x in self._landed if waiting.meets(x.changed, x.reads)} - {waiting.fix.path})
            with_whom = f"together with the fixes of {', '.join(beside)}, " if beside else ""
            reason = f"{waiting.fix.path}: {with_whom}{why}; fix not applied"
            waiting.error = Dropped(reason, await self.applier.keep(waiting.fix))
        else:
            half = len(batch) // 2
            await self._check(batch[:half])
            await self._check(batch[half:])

    async def _combined(self, batch: list[_Waiting]) -> tuple[str | None, tuple[str, Known] | None]:
        """Why the integrated state with `batch` is worse than without it, or None and that state's tree
        and findings; the queue's worktree then holds it."""
        worktree = await self._integrated()
        assert self._tree is not None
        # The landed fixes that meet the batch are checked again too: a file
        # that imports a batch's file only since a landed fix made it do so
        # is in no scope the snapshot's import graph gives.
        met = [x.scope for x in self._landed if any(w.meets(x.changed, x.reads) for w in batch)]
        scope = Scope.union([*(w.scope for w in batch), *met])
        self.checks += 1
        try:
            before = await self.verifier.baseline(worktree.path, scope, self._known)
            after = await tree_with(worktree.path, self._tree, [c for w in batch for c in w.fix.changes])
            await self._move(after)
            verdict = await self.verifier.verify(worktree.path, before)
        except StomperError as exc:
            return f"the combined result could not be checked ({exc})", None
        if verdict.error is not None:
            return f"the combined result could not be checked ({verdict.error})", None
        if verdict.new:
            return explain.introduced(verdict.new), None
        return None, (after, by_tool_and_file(self.verifier.covered(scope), verdict.after.diagnostics))

    async def _land(self, batch: Sequence[_Waiting], *, checked: bool = False) -> None:
        """Land `batch` in turn, under one hold of the applier's lock.

        `checked`: the batch was verified together, and is in the state the
        last combined check made, not in `_since`; it lands only up to its
        first fix the applier refuses (the rest stay waiting, not done).
        """
        if not batch:
            return
        done = await self.applier.apply_all([w.fix for w in batch], [w.locked for w in batch], prefix=checked)
        for waiting, result in zip(batch, done, strict=True):
            if isinstance(result, NotApplied):
                waiting.error = result
            elif result is not None:
                waiting.applied = result
                self._add_landed(_Landed(waiting.fix.path, waiting.changed, waiting.reads, waiting.scope))
                if not checked:
                    self._since.extend(waiting.fix.changes)

    def _add_landed(self, landed: _Landed) -> None:
        self._landed.append(landed)
        self._landed_changed |= landed.changed
        self._landed_reads |= landed.reads

    async def _integrated(self, state: str | None = None) -> Worktree:
        """The queue's worktree, holding the integrated state (`_tree`, brought up to date).

        `state`: that state's tree, made already (`_state`), which is then not made again.
        """
        if state is not None and self._since:
            self._tree, self._since, self._known = state, [], {}
        if self._worktree is None:
            # Reset straight to the state it is to hold, when known: not to the base, then moved.
            self._worktree, held = await self.worktrees.spare(self._tree)
            self._at = held or await _tree_of(self._worktree)
            self._tree = self._tree or self._at
        assert self._tree is not None
        if self._since:
            self._tree = await tree_with(self._worktree.path, self._tree, self._since)
            self._since = []
            self._known = {}
        await self._move(self._tree)
        return self._worktree

    async def _move(self, tree: str) -> None:
        """Make the queue's worktree hold `tree`: only the files that differ are written."""
        assert self._worktree is not None
        if tree != self._at:
            # The verifier gives files new mtimes (`verify._Stamps`): the index is refreshed, not trusted.
            await git("update-index", "-q", "--refresh", cwd=self._worktree.path, check=False)
            await git("read-tree", "--reset", "-u", tree, cwd=self._worktree.path)
            self._at = tree

    async def state(self, cwd: Path) -> str:
        """The integrated state as a tree: the snapshot with every fix landed so far (`cwd`: any worktree)."""
        async with self._lock:
            return await self._state(cwd)

    async def _state(self, cwd: Path) -> str:
        tree = self._tree or (await git("rev-parse", f"{self.worktrees.base}^{{tree}}", cwd=cwd)).out.strip()
        return await tree_with(cwd, tree, self._since) if self._since else tree

    def found_in(self, tree: str, known: Known) -> None:
        """What the tools found in `tree`, by (tool, file), where it was verified (the batch's worktree).

        Should the integrated result be that very tree, the recheck does not
        check those files with those tools again; any other tree is checked as ever.
        """
        self._verified.setdefault(tree, {}).update(known)

    async def recheck(self, paths: Iterable[str]) -> Recheck | None:
        """What the tools find in the integrated result on the scopes of fixes of `paths`: the run's last word.

        None when the result is the snapshot (nothing landed): what the
        run's first check found still holds. What was found in this very
        tree (`found_in`, the queue's last check) is not checked again.
        """
        paths = sorted(set(paths))
        if not paths or (self._worktree is None and not self._since):
            return None
        async with self._lock:
            scope = Scope.union([self.verifier.scope(p) for p in paths])
            covered = self.verifier.covered(scope)
            state = await self._state(self.worktrees.root)
            # A tree verified as a whole (a batch all of which landed, and nothing else) needs no worktree.
            known = self._verified.get(state, {})
            if covered <= known.keys():
                diagnostics = tuple(sorted(d for pair in covered for d in known[pair]))
            else:
                worktree = await self._integrated(state)
                diagnostics = (await self.verifier.baseline(worktree.path, scope, {**known, **self._known})).diagnostics
        return Recheck(diagnostics, covered)


@dataclass(frozen=True)
class _Landed:
    path: str
    changed: frozenset[str]
    reads: frozenset[str]
    scope: Scope


def _landed_before(verifier: Verifier, path: str) -> _Landed:
    """A fix of `path` landed by the interrupted run this one resumes, as well as it can be known."""
    scope = verifier.scope(path)
    return _Landed(path, frozenset({path}), frozenset({path}) | verifier.graph.reach(scope.files, Path(".")), scope)


async def _tree_of(worktree: Worktree) -> str:
    return (await git("rev-parse", f"{worktree.base}^{{tree}}", cwd=worktree.path)).out.strip()
