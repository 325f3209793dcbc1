"""`stomper runs` and `stomper clean`: a repository's fix runs, and tidying up after dead ones."""

from __future__ import annotations

import asyncio
import shutil
import time

from rich.console import Console
from rich.table import Table

from stomper import gitops
from stomper.errors import ExitCode, NotAGitRepository
from stomper.project import Project
from stomper.runs import RunDir


def _rundir(project: Project) -> RunDir:
    if project.repo is None:
        raise NotAGitRepository(f"{project.root} is not inside a git repository")
    return RunDir(project.repo.state_dir)


def run(project: Project, *, console: Console) -> int:
    records = _rundir(project).records()
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
            r.status + (" (stomper fix --resume)" if r.status == "interrupted" else ""),
            r.mode,
            str(len(r.files)),
            str(r.summary.get("diagnostics_fixed", "")),
            str(r.summary.get("diagnostics_remaining", "")),
        )
    console.print(table)
    return ExitCode.OK


def clean(project: Project, *, everything: bool, console: Console) -> int:
    rundir = _rundir(project)
    said: list[str] = []
    with rundir.lock() as stale_pid:
        if stale_pid is not None:
            said.append(f"removed the lock of stomper run pid {stale_pid}, which is no longer running")
        for run_id in rundir.leftovers():
            said.append(f"removed the worktrees of run {run_id}, which did not finish")
        if not everything:
            # A failed run (a refused API key) cannot be resumed: its record is only clutter.
            for record in rundir.records():
                if record.status == "failed":
                    shutil.rmtree(rundir.run(record.run_id), ignore_errors=True)
                    said.append(f"removed the record of run {record.run_id}, which failed")
        asyncio.run(_forget(project, rundir, everything))
        if everything:
            said.append("forgot every run: records, checkpoints and kept patches are gone")
    for line in said or ["nothing to clean: no worktrees, stale lock or failed runs were left behind"]:
        console.print(line, highlight=False)
    return ExitCode.OK


async def _forget(project: Project, rundir: RunDir, everything: bool) -> None:
    await gitops.git("worktree", "prune", cwd=project.root)
    if not everything:
        return
    refs = await gitops.git("for-each-ref", "--format=%(refname)", "refs/stomper/", cwd=project.root)
    for ref in refs.out.split():
        await gitops.git("update-ref", "-d", ref, cwd=project.root)
    for name in ("runs", "patches", "worktrees"):
        await asyncio.to_thread(shutil.rmtree, rundir.root / name, True)
    rundir.checkpoints.unlink(missing_ok=True)
