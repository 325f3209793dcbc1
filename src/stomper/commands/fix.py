"""`stomper fix`: fix every failing file in its own worktree and apply what verifies."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stomper import gitops, render, worktree
from stomper.apply import Applier, Mode
from stomper.errors import ExitCode, GitError, NotAGitRepository, StomperError
from stomper.fixers.registry import build_fixers
from stomper.graph.build import build_graph
from stomper.graph.state import RunContext
from stomper.project import Project
from stomper.report import RunReport
from stomper.selection import Selection, select_files
from stomper.tools import TOOLS, paths
from stomper.verify import Verifier


@dataclass(frozen=True)
class FixOptions:
    mode: Mode = "commit"
    allow_dirty: bool = False
    dry_run: bool = False
    report: Path | None = None


async def fix(
    project: Project,
    selection: Selection,
    options: FixOptions,
    *,
    cwd: Path,
    on_event: Callable[[dict[str, Any]], None],
) -> RunReport:
    """Run the fix graph over the selected files and return its report."""
    repo = _checked_repo(project, options)
    started = time.monotonic()
    files = await select_files(selection, project.root, in_git=True, cwd=cwd)
    settings = project.settings
    executables = project.executables()
    run_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
    mode: Mode = "no-commit" if options.mode == "commit" and options.allow_dirty else options.mode
    if mode == "commit" and await _dirty(project.root):
        raise StomperError(
            "your working tree has uncommitted changes; commit or stash them, "
            "or use --allow-dirty (fixes are then left uncommitted) or --no-commit"
        )
    base = await worktree.snapshot(project.root)
    ctx = RunContext(
        project=project,
        run_id=run_id,
        files=tuple(files),
        fixers=tuple(build_fixers(settings, project.executables([TOOLS["ruff"]])["ruff"])),
        verifier=Verifier(
            tools=project.tools,
            executables=executables,
            test_paths=tuple(paths.test_files(files)),
            timeout=settings.tool_timeout,
        ),
        worktrees=worktree.Worktrees(project.root, repo.state_dir, run_id, base),
        applier=Applier(project.root, base, mode, repo.state_dir / "patches" / run_id, await _identity(project.root)),
    )
    graph = build_graph()
    final: RunReport | None = None
    try:
        async for kind, chunk in graph.astream(
            {"files": files},
            config={"max_concurrency": settings.parallel, "configurable": {"thread_id": run_id}},
            context=ctx,
            stream_mode=["custom", "updates"],
        ):
            update: dict[str, Any] = chunk  # type: ignore[assignment]
            if kind == "custom":
                on_event(update)
            elif "report" in update:
                final = update["report"]["report"]
            elif "fix_file" in update:
                on_event({"result": update["fix_file"]["results"][0]})
    finally:
        await ctx.worktrees.close()
    assert final is not None
    return RunReport(**{**final.__dict__, "seconds": time.monotonic() - started})


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


async def _dirty(root: Path) -> bool:
    done = await gitops.git("status", "--porcelain", "--untracked-files=no", cwd=root)
    return bool(done.stdout.strip())


async def _identity(root: Path) -> tuple[str, ...]:
    """git's `-c` options for an author when the user has configured none."""
    done = await gitops.git("var", "GIT_COMMITTER_IDENT", cwd=root, check=False)
    if done.returncode == 0:
        return ()
    return ("-c", "user.name=stomper", "-c", "user.email=stomper@localhost")


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
    if options.dry_run:
        return _dry_run(project, selection, cwd, console)

    def on_event(event: dict[str, Any]) -> None:
        if "result" in event:
            render.file_line(event["result"], log)
        elif verbose:
            log.print(render.event_line(event), highlight=False)

    report = asyncio.run(fix(project, selection, options, cwd=cwd, on_event=on_event))
    render.run_summary(report, console)
    if options.mode == "diff":
        console.out("".join(f.patch or "" for f in report.files), end="", highlight=False)
    if options.report is not None:
        options.report.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if report.tool_errors:
        return ExitCode.USAGE
    return ExitCode.OK if report.ok else ExitCode.DIAGNOSTICS


def _dry_run(project: Project, selection: Selection, cwd: Path, console: Console) -> int:
    from stomper.commands.check import collect

    _, result = asyncio.run(collect(project, selection, cwd))
    fixers = build_fixers(project.settings, project.executables([TOOLS["ruff"]])["ruff"])
    render.plan(result, [f.name for f in fixers], project.settings.parallel, console)
    return ExitCode.DIAGNOSTICS if result.diagnostics else ExitCode.OK
