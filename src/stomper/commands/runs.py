"""`stomper runs` and `stomper clean`: a repository's fix runs, and tidying up after dead ones."""

from __future__ import annotations

import asyncio
import shutil
import time

from rich.console import Console
from rich.table import Table

from stomper import gitops, pool
from stomper.errors import ExitCode, NotAGitRepository
from stomper.project import Project
from stomper.repair import forget_unreadable, repair, worktree_count
from stomper.runs import UNFINISHED, RunDir
from stomper.worktree import POOL


def _rundir(project: Project) -> RunDir:
    if project.repo is None:
        raise NotAGitRepository(f"{project.root} is not inside a git repository")
    return RunDir(project.repo.state_dir)


def run(project: Project, *, console: Console) -> int:
    rundir = _rundir(project)
    records = rundir.records()
    if not records:
        console.print("No stomper runs in this repository.")
        return ExitCode.OK
    table = Table(title="stomper runs", title_justify="left")
    table.add_column("run", no_wrap=True)
    for column in ("started", "status", "mode", "files", "diagnostics fixed", "diagnostics left"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.run_id,
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started)),
            r.status + (" (stomper fix --resume)" if r.status in UNFINISHED else ""),
            r.mode,
            str(len(r.files)),
            str(r.summary.get("diagnostics_fixed", "")),
            str(r.summary.get("diagnostics_remaining", "")),
        )
    console.print(table)
    home = rundir.worktrees(POOL)
    count, taken = pool.footprint(home)
    if count:
        console.print(
            f"{worktree_count(count)} kept for the next run ({taken / 2**20:.1f} MiB in {home});"
            " `stomper clean` removes them",
            highlight=False,
            markup=False,
        )
    return ExitCode.OK


def clean(project: Project, *, everything: bool, console: Console) -> int:
    rundir = _rundir(project)
    said: list[str] = []
    with rundir.lock() as stale_pid:
        if stale_pid is not None:
            said.append(f"removed the lock of stomper run pid {stale_pid}, which is no longer running")
        said += asyncio.run(_clean(project, rundir, everything))
        if everything:
            said.append("forgot every run: records, checkpoints and kept patches are gone")
    for line in said or ["nothing to clean: no worktrees, stale lock or failed runs were left behind"]:
        console.print(line, highlight=False, markup=False)
    return ExitCode.OK


async def _clean(project: Project, rundir: RunDir, everything: bool) -> list[str]:
    leftovers, notes = await repair(project.root, rundir, keep=False)
    lines = [f"removed the worktrees of run {run_id}, which did not finish" for run_id in leftovers]
    lines += notes
    if everything:
        await _forget(project, rundir)
        return lines
    lines += await forget_unreadable(project.root, rundir)
    records, _ = await asyncio.to_thread(rundir.readable)
    for record in records:
        if record.status == "misconfigured":  # stopped by a refused API key: nothing to resume
            await asyncio.to_thread(shutil.rmtree, rundir.run(record.run_id), True)
            lines.append(f"removed the record of run {record.run_id}, which stopped on bad configuration")
        if record.status in UNFINISHED:
            lines.append(f"run {record.run_id} did not finish; `stomper fix --resume {record.run_id}` goes on with it")
    return lines


async def _forget(project: Project, rundir: RunDir) -> None:
    refs = await gitops.git("for-each-ref", "--format=%(refname)", "refs/stomper/", cwd=project.root)
    for ref in refs.out.split():
        await gitops.git("update-ref", "-d", ref, cwd=project.root)
    for name in ("runs", "patches", "worktrees"):
        await asyncio.to_thread(shutil.rmtree, rundir.root / name, True)
    rundir.checkpoints.unlink(missing_ok=True)
