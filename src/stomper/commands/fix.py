"""`stomper fix`: fix every failing file in its own worktree and apply what verifies.

The command: options in, checks that need no run, one run (`stomper.run`
owns its life: start or resume, land, stop), its report shown and written,
an exit code out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from stomper import hook, progress, redact, render
from stomper.apply import Mode
from stomper.errors import ExitCode, StomperError
from stomper.fixers.registry import build_fixers
from stomper.project import Project
from stomper.report import RunReport
from stomper.run import Interrupted, Request, fix
from stomper.runs import RunDir
from stomper.selection import Selection
from stomper.shard import Shard
from stomper.signals import cancelled_by_signals
from stomper.tools import TOOLS

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
    # `stomper.ci` (and `annotate`) only for the options that use them: a plain run does not import them.
    if options.branch is not None:
        from stomper import ci

        asyncio.run(ci.check_new_branch(project.root, options.branch))
    if (options.branch is not None or options.patch is not None) and project.repo is not None:
        from stomper import ci

        asyncio.run(ci.check_identity(project.root))
    if options.ci and not options.hook:
        from stomper import ci

        project = dataclasses.replace(project, settings=ci.without_missing_key(project.settings, say))
    # With annotations on stdout, the people's summary goes to stderr.
    summary = console if options.output_format == "full" else log
    display = progress.Display.choose(log, ci=options.ci, quiet=options.quiet, verbose=verbose)
    try:
        with display:
            work = fix(project, selection, _request(options), cwd=cwd, on_event=display.on_event)
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
        from stomper import ci

        base = RunDir(project.repo.state_dir).load(report.run_id).base
        ruff = project.executables([TOOLS["ruff"]])["ruff"]
        outputs = ci.write_outputs(project.root, base, report, options.sarif, options.patch, options.branch, say, ruff)
        asyncio.run(outputs)
    if options.output_format != "full" and project.repo is not None:
        from stomper import annotate, ci

        base = RunDir(project.repo.state_dir).load(report.run_id).base
        found = asyncio.run(ci.analysis(project.root, base, report))
        text = annotate.render(options.output_format, found.diagnostics, found.ids, found.fixes)
        console.out(text, end="", highlight=False)
    if options.hook:
        return hook.exit_code(report, say)
    if options.ci:
        from stomper import ci

        return ci.exit_status(report, project.settings.ci_exit)
    if report.tool_errors:
        return ExitCode.USAGE
    # As `ruff check --diff`: a printed fix is a change the checkout still needs.
    return ExitCode.OK if report.ok and not printed else ExitCode.DIAGNOSTICS


def _request(options: FixOptions) -> Request:
    return Request(
        mode=options.mode,
        allow_dirty=options.allow_dirty,
        resume=options.resume,
        new_only_base=options.new_only_base,
        baseline=options.baseline,
        shard=options.shard,
        told=options.told,
    )


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
