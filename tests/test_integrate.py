"""The integration queue on real repositories, with real mypy: fixes that meet are checked together."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from conftest import commit_all, git, write

from stomper import imports, records
from stomper.apply import Applied, Applier, Fix, NotApplied, applied_before
from stomper.events import EventLog
from stomper.integrate import Dropped, Integration
from stomper.tools import TOOLS
from stomper.verify import Scope, Verifier, by_tool_and_file
from stomper.worktree import Worktrees

BIN = Path(sys.executable).parent
ORIGINAL = {
    "pkg/__init__.py": "",
    "pkg/a.py": 'def label(n: int) -> int:\n    return "n=%d" % n\n',
    "pkg/b.py": "def total(n: int) -> int:\n    return str(n)\n",
    "pkg/c.py": "from pkg.a import label\n\n\ndef shown(n: int) -> str:\n    return n + 0\n",
}
FIXED = {
    # Each passes alone. a.py's and c.py's pass together; b.py's breaks against a.py's.
    "pkg/a.py": 'def label(n: int) -> str:\n    return "n=%d" % n\n',
    "pkg/b.py": "from pkg.a import label\n\n\ndef total(n: int) -> int:\n    return label(n) + 1\n",
    "pkg/c.py": "from pkg.a import label\n\n\ndef shown(n: int) -> str:\n    return str(label(n))\n",
}


async def queue_of(repo: Path, mypy: str = str(BIN / "mypy")) -> tuple[Integration, Worktrees, Verifier]:
    write(repo, ORIGINAL)
    base = commit_all(repo)
    worktrees = Worktrees(repo, repo / ".git" / "stomper", "run", base, size=3)
    files = sorted(ORIGINAL)
    verifier = Verifier(tools=[TOOLS["mypy"]], executables={"mypy": mypy}, timeout=60, graph=imports._scan(repo, files))
    journal = EventLog(repo.parent / "events.jsonl")
    applier = Applier(repo, base, "commit", repo.parent / "patches", journal, branch="refs/heads/main")
    return Integration(applier, verifier, worktrees), worktrees, verifier


Branch = Callable[[str, Fix, Scope, frozenset[str]], Awaitable[object]]
"""A branch handing its verified fix to the queue: by default, `queue.land` and nothing else."""


async def land_together(
    queue: Integration, worktrees: Worktrees, verifier: Verifier, paths: list[str], branch: Branch | None = None
) -> list[object]:
    """Each path's fix made in a worktree of its own, then all handed to the queue at once: one batch."""
    waiting = []
    async with queue._lock:  # held while the fixes arrive, so that they form one batch
        for path in paths:
            async with worktrees.checkout() as wt:
                write(wt.path, {path: FIXED[path]})
                await wt.accept()
                fix = Fix(path, wt.tree, await wt.changes(), await wt.patch(), f"fix(stomper): {path}\n")
                scope = verifier.scope(path)
                reads = await verifier.reads(wt.path, scope)
            landing = branch(path, fix, scope, reads) if branch else queue.land(fix, scope, reads)
            waiting.append(asyncio.create_task(landing))
        for _ in range(10):
            await asyncio.sleep(0)
    return list(await asyncio.gather(*waiting, return_exceptions=True))


async def test_a_batch_that_breaks_is_bisected_down_to_the_fix_that_breaks_it(repo: Path) -> None:
    queue, worktrees, verifier = await queue_of(repo)
    head = git(repo, "rev-parse", "HEAD").strip()
    try:
        a, b, c = await land_together(queue, worktrees, verifier, ["pkg/a.py", "pkg/b.py", "pkg/c.py"])
    finally:
        await worktrees.close()

    assert isinstance(a, Applied) and isinstance(c, Applied)
    assert isinstance(b, Dropped)
    assert "together with the fixes of pkg/a.py" in str(b) and "mypy" in str(b)
    assert b.patch_path is not None and "label(n) + 1" in b.patch_path.read_text()
    assert (repo / "pkg/b.py").read_text() == ORIGINAL["pkg/b.py"]
    assert git(repo, "log", "--format=%s", f"{head}..HEAD").splitlines() == [
        "fix(stomper): pkg/c.py",
        "fix(stomper): pkg/a.py",
    ]
    # The batch, its halves [a] and [b, c], and theirs [b] and [c].
    assert queue.checks == 5
    assert not worktrees.home.exists()


async def test_fixes_that_meet_nothing_land_without_a_check_and_the_recheck_sees_them_all(repo: Path) -> None:
    queue, worktrees, verifier = await queue_of(repo)
    try:
        (b,) = await land_together(queue, worktrees, verifier, ["pkg/b.py"])
        assert isinstance(b, Applied)
        assert queue.checks == 0
        recheck = await queue.recheck(["pkg/b.py"])
    finally:
        await worktrees.close()
    assert recheck is not None
    # b.py now calls label(), which a.py (not fixed) still types as int: b.py is clean.
    assert ("mypy", "pkg/b.py") in recheck.covered
    assert [d.path for d in recheck.diagnostics] == []


async def test_the_recheck_sees_the_integrated_state_not_what_the_last_fixer_left_in_the_worktree_it_takes(
    repo: Path,
) -> None:
    queue, worktrees, verifier = await queue_of(repo)
    try:
        (b,) = await land_together(queue, worktrees, verifier, ["pkg/b.py"])
        assert isinstance(b, Applied)
        # A fixer's leftover in the idle worktree the recheck takes next (the last one back in the pool):
        # a.py's label made to return str, which b.py's landed fix, checked against it, would not pass.
        async with worktrees.checkout() as wt:
            write(wt.path, {"pkg/a.py": FIXED["pkg/a.py"]})
        recheck = await queue.recheck(["pkg/b.py"])
    finally:
        await worktrees.close()
    assert recheck is not None
    assert ("mypy", "pkg/b.py") in recheck.covered
    assert [d.path for d in recheck.diagnostics] == []


async def test_a_fix_of_a_checked_batch_that_cannot_land_sends_the_rest_to_be_checked_again(repo: Path) -> None:
    queue, worktrees, verifier = await queue_of(repo)
    # The user edits c.py while the run goes on: its fix cannot land, and a.py's, checked with it, is checked again.
    (repo / "pkg/c.py").write_text(ORIGINAL["pkg/c.py"] + "# mine\n")
    try:
        c, a = await land_together(queue, worktrees, verifier, ["pkg/c.py", "pkg/a.py"])
    finally:
        await worktrees.close()
    assert isinstance(c, NotApplied) and not isinstance(c, Dropped)
    assert isinstance(a, Applied)
    assert queue.checks == 2
    assert (repo / "pkg/c.py").read_text().endswith("# mine\n")


async def test_a_fix_whose_branch_is_cancelled_while_it_waits_never_lands(repo: Path) -> None:
    queue, worktrees, verifier = await queue_of(repo)
    try:
        async with queue._lock:
            async with worktrees.checkout() as wt:
                write(wt.path, {"pkg/b.py": FIXED["pkg/b.py"]})
                await wt.accept()
                fix = Fix("pkg/b.py", wt.tree, await wt.changes(), await wt.patch(), "fix(stomper): pkg/b.py\n")
                scope = verifier.scope("pkg/b.py")
                reads = await verifier.reads(wt.path, scope)
            gone = asyncio.create_task(queue.land(fix, scope, reads))
            await asyncio.sleep(0)
            gone.cancel()
            await asyncio.gather(gone, return_exceptions=True)
        (a,) = await land_together(queue, worktrees, verifier, ["pkg/a.py"])
    finally:
        await worktrees.close()
    assert isinstance(a, Applied)
    assert (repo / "pkg/b.py").read_text() == ORIGINAL["pkg/b.py"]


def logging_mypy(tmp_path: Path) -> tuple[Path, Path]:
    """A `mypy` that writes its arguments, a line a run, to a log before running the real one: (log, mypy)."""
    log = tmp_path / "mypy.log"
    mypy = tmp_path / "mypy"
    mypy.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {BIN / "mypy"} "$@"\n')
    mypy.chmod(0o755)
    return log, mypy


async def test_a_check_does_not_check_again_what_the_last_check_found_in_the_same_state(
    repo: Path, tmp_path: Path
) -> None:
    log, mypy = logging_mypy(tmp_path)
    queue, worktrees, verifier = await queue_of(repo, str(mypy))
    try:
        a, c = await land_together(queue, worktrees, verifier, ["pkg/a.py", "pkg/c.py"])
        assert isinstance(a, Applied) and isinstance(c, Applied)
        log.write_text("")
        (b,) = await land_together(queue, worktrees, verifier, ["pkg/b.py"])
        before_b, after_b = [line.split() for line in log.read_text().splitlines() if "pkg/b.py" in line][-2:]
        recheck = await queue.recheck(["pkg/a.py", "pkg/c.py"])
    finally:
        await worktrees.close()
    # b.py meets a.py's fix: checked with a.py and c.py, whose findings in this state the last check had.
    assert isinstance(b, Dropped)
    assert [arg for arg in before_b if arg.startswith("pkg/")] == ["pkg/b.py"]
    assert {arg for arg in after_b if arg.startswith("pkg/")} == {"pkg/a.py", "pkg/b.py", "pkg/c.py"}
    assert queue.checks == 2
    # The run's last word costs no tool run: every file it covers was found in this state.
    assert recheck is not None and recheck.diagnostics == ()
    assert sum("pkg/" in line for line in log.read_text().splitlines()) == 2


async def test_the_recheck_takes_what_was_found_in_the_very_tree_it_would_check_and_nothing_else(
    repo: Path, tmp_path: Path
) -> None:
    log, mypy = logging_mypy(tmp_path)
    queue, worktrees, verifier = await queue_of(repo, str(mypy))
    try:
        (a,) = await land_together(queue, worktrees, verifier, ["pkg/a.py"])
        assert isinstance(a, Applied) and queue.checks == 0
        state = await queue.state(repo)
        # Findings of another tree (the snapshot's), and false ones at that: not taken for the result's.
        snapshot = git(repo, "rev-parse", f"{worktrees.base}^{{tree}}").strip()
        queue.found_in(snapshot, {("mypy", "pkg/a.py"): (), ("mypy", "pkg/c.py"): ()})
        log.write_text("")
        first = await queue.recheck(["pkg/a.py"])
        checked_first = log.read_text().splitlines()
        assert first is not None
        # Findings of the result's tree for a.py alone: c.py, which imports it, is still checked.
        queue.found_in(state, {("mypy", "pkg/a.py"): ()})
        log.write_text("")
        second = await queue.recheck(["pkg/a.py"])
        checked_second = log.read_text().splitlines()
        # Findings of the result's tree for all it covers: no tool runs.
        queue.found_in(state, by_tool_and_file(first.covered, first.diagnostics))
        log.write_text("")
        third = await queue.recheck(["pkg/a.py"])
    finally:
        await worktrees.close()
    assert first.covered == {("mypy", "pkg/a.py"), ("mypy", "pkg/c.py")}
    # c.py's own error, which a.py's fix does not touch, is what the result has.
    assert [(d.path, d.code) for d in first.diagnostics] == [("pkg/c.py", "return-value")]
    assert [{arg for arg in line.split() if arg.startswith("pkg/")} for line in checked_first] == [
        {"pkg/a.py", "pkg/c.py"}
    ]
    assert second == first
    assert [{arg for arg in line.split() if arg.startswith("pkg/")} for line in checked_second] == [{"pkg/c.py"}]
    assert third == first
    assert log.read_text() == ""


async def test_a_resumed_run_counts_as_landed_only_the_recorded_fixes_the_checkout_holds(
    repo: Path, tmp_path: Path
) -> None:
    # Killed between writing its journal's record and writing the file: a.py's fix never reached the
    # checkout. Counted as landed, it would make the integrated state (and the report's last check)
    # hold a fix the user does not have; b.py's, which did land, counts.
    write(repo, ORIGINAL)
    base = commit_all(repo)
    write(tmp_path / "fixed", FIXED)
    blobs = {p: git(repo, "hash-object", "-w", str(tmp_path / "fixed" / p)).strip() for p in ("pkg/a.py", "pkg/b.py")}
    (repo / "pkg/b.py").write_text(FIXED["pkg/b.py"])
    begun = [records.Applying(p, ((p, "100644", blob),)).to_json() for p, blob in blobs.items()]
    journal = EventLog(repo.parent / "events.jsonl")
    applier = Applier(repo, base, "no-commit", repo.parent / "patches", journal, applied_before=applied_before(begun))

    landed = await applier.landed_before()

    assert [(c.path, c.new_blob) for c in landed] == [("pkg/b.py", blobs["pkg/b.py"])]


_BRANCH: contextvars.ContextVar[str] = contextvars.ContextVar("branch")


async def test_each_fix_is_told_it_holds_the_lock_in_its_own_branchs_context(repo: Path) -> None:
    # Whichever branch lands a batch calls every fix's callback from its own task. LangGraph's
    # stream writer finds its branch's config in the context: called in another branch's (one
    # started before the graph has none), it raised, and the run ended on it.
    queue, worktrees, verifier = await queue_of(repo)
    seen: dict[str, str | None] = {}

    async def branch(path: str, fix: Fix, scope: Scope, reads: frozenset[str]) -> object:
        _BRANCH.set(path)

        def locked() -> None:
            seen[path] = _BRANCH.get(None)

        return await queue.land(fix, scope, reads, locked=locked)

    try:
        landed = await land_together(queue, worktrees, verifier, ["pkg/a.py", "pkg/c.py"], branch)
    finally:
        await worktrees.close()

    assert all(isinstance(result, Applied) for result in landed)
    assert seen == {"pkg/a.py": "pkg/a.py", "pkg/c.py": "pkg/c.py"}
