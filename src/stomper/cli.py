"""The command line: options in, exit codes out.

Every command parses its options, opens the project, and hands over to its
module under `stomper.commands`; `error_handler` turns whatever goes wrong
into one line and a documented exit code.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from stomper import redact
from stomper.error_handler import Exit, error_handler
from stomper.errors import ExitCode

app = typer.Typer(
    name="stomper",
    help="Make a Python repository pass ruff, mypy and pytest, one verified fix per file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Files or directories to work on (default: the whole project).", show_default=False),
]
FilesOpt = Annotated[
    list[Path] | None,
    typer.Option("--files", metavar="FILE", help="Exact files to work on (repeatable).", show_default=False),
]
StagedOpt = Annotated[bool, typer.Option("--staged", help="Only files staged in git's index.")]
ChangedOpt = Annotated[
    bool, typer.Option("--changed", help="Only files changed in the working tree against HEAD (new files included).")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", metavar="REF", help="Only files changed since the merge base with REF.")
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="PATTERN",
        help="Skip files matching PATTERN, as in .gitignore (repeatable; added to the configured excludes).",
    ),
]
ToolsOpt = Annotated[
    str | None,
    typer.Option(
        "--tools", metavar="LIST", help="Comma-separated tools to run: ruff,mypy,pytest (default from config)."
    ),
]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Say which executables run and more.")]


def console(*, stderr: bool = False) -> Console:
    """A rich console; off a terminal (CI logs, pipes) lines are neither cut nor wrapped at 80 columns."""
    import os

    # No emoji codes: a path or a tool's message that holds `:fire:` is shown as it is (and rich's table of
    # them is not imported while a run imports LangGraph on its other thread, see `stomper.graph.preload`).
    made = Console(stderr=stderr, soft_wrap=stderr, emoji=False)
    if made.is_terminal or os.environ.get("COLUMNS"):
        return made
    return Console(stderr=stderr, soft_wrap=stderr, width=_UNBOUNDED, emoji=False)


_UNBOUNDED = 100_000
"""Columns of a console that is no terminal: as wide as the longest line."""


def _opt(*names: str, help: str, metavar: str | None = None) -> Any:
    return typer.Option(*names, help=help, metavar=metavar, show_default=False)


ParallelOpt = Annotated[
    int | None, _opt("-j", "--parallel", metavar="N", help="Files fixed at once (1-32; default from config, 1).")
]
FixerOpt = Annotated[
    Literal["auto", "ruff", "agent", "llm"] | None,
    _opt("--fixer", help="Which fixer edits files (default from config, auto)."),
]
AgentOpt = Annotated[
    str | None,
    _opt(
        "--agent",
        metavar="NAME|CMD",
        help="The coding agent: claude, codex, aider, gemini, cursor or opencode, run with edit permission "
        "in the worktree only; or any command, split like a shell would, e.g. 'my-agent --fix {file}'.",
    ),
]
ModelOpt = Annotated[
    str | None,
    _opt(
        "--model",
        metavar="[PROVIDER:]MODEL",
        help="LangChain chat model for the llm fixer, e.g. openai:gpt-4o-mini (gpt-4o-mini alone infers openai).",
    ),
]
MaxAttemptsOpt = Annotated[
    int | None, _opt("--max-attempts", metavar="N", help="Attempts per file for an AI fixer (default from config, 3).")
]
NoCommitOpt = Annotated[bool, _opt("--no-commit", help="Leave the fixes in the working tree, uncommitted.")]
DiffOpt = Annotated[bool, _opt("--diff", help="Print the combined patch of the verified fixes; change nothing.")]
DryRunOpt = Annotated[bool, _opt("--dry-run", help="Show the plan: files, diagnostics, fixers, concurrency.")]
AllowDirtyOpt = Annotated[
    bool,
    _opt("--allow-dirty", help="Run on a working tree with uncommitted changes; fixes are then left uncommitted."),
]
ReportOpt = Annotated[Path | None, _opt("--report", metavar="PATH", help="Write the run's JSON report to PATH.")]
ResumeOpt = Annotated[
    str | None,
    _opt(
        "--resume", metavar="[RUN_ID]", help="Continue the last interrupted run, or the run RUN_ID (see stomper runs)."
    ),
]
HookOpt = Annotated[
    bool,
    _opt(
        "--hook",
        help="Run as a pre-commit hook on the files given (default: the staged ones): "
        "leave the fixes uncommitted, exit 1 when a file changed or diagnostics remain.",
    ),
]
CiOpt = Annotated[
    bool,
    _opt(
        "--ci",
        help="No live display, plain log lines; exit 1 while the analysed commit has diagnostics "
        "(see ci_exit). The default when CI=true.",
    ),
]
QuietOpt = Annotated[bool, _opt("-q", "--quiet", help="Show nothing while the run goes on, only the summary.")]
SarifOpt = Annotated[
    Path | None, _opt("--sarif", metavar="PATH", help="Write the diagnostics that remain after the run as SARIF 2.1.0.")
]
PatchOpt = Annotated[
    Path | None,
    _opt("--patch", metavar="PATH", help="Write every verified fix as one patch for `git apply` on the original tree."),
]
BranchOpt = Annotated[
    str | None,
    _opt(
        "--branch",
        metavar="NAME",
        help="Commit the fixes onto a new branch NAME from HEAD, one commit per file; leave the checkout untouched.",
    ),
]

NewOnlyOpt = Annotated[
    bool, _opt("--new-only", help="Only the diagnostics the merge base with --base REF does not have.")
]
BaseOpt = Annotated[
    str | None, _opt("--base", metavar="REF", help="The ref --new-only compares with, e.g. origin/main.")
]
BaselineOpt = Annotated[
    Path | None, _opt("--baseline", metavar="PATH", help="Leave alone the diagnostics recorded by `stomper baseline`.")
]
ShardOpt = Annotated[
    str | None,
    _opt("--shard", metavar="I/N", help="Work on part I of N of the files (a CI matrix); see stomper merge."),
]
OutputFormatOpt = Annotated[
    str,
    typer.Option(
        "--output-format",
        metavar="<full|github|gitlab>",
        help="full (the summary table), or annotations of the analysed commit on stdout: "
        "github (workflow commands) or gitlab (Code Quality JSON).",
    ),
]


def _known_options(new_only: bool, base: str | None, baseline: Path | None) -> tuple[str | None, Path | None]:
    """`--new-only --base REF` go together."""
    if new_only and base is None:
        raise typer.BadParameter("--new-only needs --base REF, the ref to compare with", param_hint="--new-only")
    if base is not None and not new_only:
        raise typer.BadParameter("--base is the ref of --new-only; add --new-only", param_hint="--base")
    return base, baseline


def _selection(
    paths: list[Path] | None,
    files: list[Path] | None,
    staged: bool,
    changed: bool,
    since: str | None,
    exclude: list[str] | None,
    project: Any,
) -> Any:
    """What the options select; `--exclude` adds to the excludes the project configures."""
    from stomper.selection import Selection

    return Selection(
        paths=tuple(str(p) for p in paths or ()),
        files=tuple(str(f) for f in files or ()),
        staged=staged,
        changed=changed,
        since=since,
        exclude=(*project.settings.exclude, *(exclude or ())),
    )


def _agent_option(value: str) -> dict[str, Any]:
    """`--agent`: a preset's name (the whole value) picks the preset, anything else is a command."""
    import shlex
    from typing import get_args

    from stomper.config import AgentPreset

    if value in get_args(AgentPreset):
        return {"preset": value, "command": []}
    try:
        command = shlex.split(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--agent") from None
    if not command:
        raise typer.BadParameter("an agent's name or command, e.g. --agent claude", param_hint="--agent")
    return {"preset": None, "command": command}


def _project(overrides: dict[str, Any]) -> Any:
    from stomper.project import open_project

    project = open_project(Path.cwd(), overrides)
    # Under pre-commit (which sets PRE_COMMIT=1), a tool the hook's environment lacks is left out, said in one line,
    # unless --tools asked for it by name.
    if os.environ.get("PRE_COMMIT") == "1" and overrides.get("tools") is None:
        project, missing = project.available_only()
        if missing:
            names = " and ".join(missing)
            typer.echo(
                f"stomper: {names} not installed in this hook's environment, skipped; "
                f"add {names} to the hook's additional_dependencies",
                err=True,
            )
    return project


@app.command()
def check(
    paths: PathsArg = None,
    files: FilesOpt = None,
    staged: StagedOpt = False,
    changed: ChangedOpt = False,
    since: SinceOpt = None,
    exclude: ExcludeOpt = None,
    tools: ToolsOpt = None,
    output: Annotated[
        Literal["table", "json", "github", "gitlab"], typer.Option("--format", "--output-format", help="Output format.")
    ] = "table",
    sarif: Annotated[
        Path | None,
        typer.Option(
            "--sarif", metavar="PATH", help="Also write the findings to PATH as SARIF 2.1.0.", show_default=False
        ),
    ] = None,
    new_only: NewOnlyOpt = False,
    base: BaseOpt = None,
    baseline: BaselineOpt = None,
    verbose: VerboseOpt = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="One line per diagnostic, nothing else (with --format table).")
    ] = False,
) -> None:
    """Run the quality tools and report what they find. Exit 0 when clean, 1 when diagnostics remain."""
    from stomper.commands import check as command

    fmt: Literal["table", "json", "github", "gitlab"] = output
    new_only_base, baseline_path = _known_options(new_only, base, baseline)
    project = _project({"tools": tools})
    raise Exit(
        command.run(
            project,
            _selection(paths, files, staged, changed, since, exclude, project),
            cwd=Path.cwd(),
            output=fmt,
            sarif_path=sarif,
            new_only_base=new_only_base,
            baseline_path=baseline_path,
            console=console(),
            log=console(stderr=True),
            verbose=verbose,
            quiet=quiet,
        )
    )


@app.command()
def fix(
    paths: PathsArg = None,
    files: FilesOpt = None,
    staged: StagedOpt = False,
    changed: ChangedOpt = False,
    since: SinceOpt = None,
    exclude: ExcludeOpt = None,
    tools: ToolsOpt = None,
    parallel: ParallelOpt = None,
    fixer: FixerOpt = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    max_attempts: MaxAttemptsOpt = None,
    no_commit: NoCommitOpt = False,
    diff: DiffOpt = False,
    dry_run: DryRunOpt = False,
    allow_dirty: AllowDirtyOpt = False,
    report: ReportOpt = None,
    resume: ResumeOpt = None,
    hook: HookOpt = False,
    ci: CiOpt = False,
    quiet: QuietOpt = False,
    sarif: SarifOpt = None,
    patch: PatchOpt = None,
    branch: BranchOpt = None,
    output_format: OutputFormatOpt = "full",
    new_only: NewOnlyOpt = False,
    base: BaseOpt = None,
    baseline: BaselineOpt = None,
    shard: ShardOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Fix failing files in parallel worktrees; apply verified fixes, one commit per file."""
    from stomper.shard import Shard

    if output_format not in ("full", "github", "gitlab"):
        raise typer.BadParameter(f"{output_format!r} is not one of full, github, gitlab", param_hint="--output-format")
    new_only_base, baseline_path = _known_options(new_only, base, baseline)
    if shard is not None and (resume is not None or hook):
        raise typer.BadParameter("--shard splits a new run: no --resume or --hook", param_hint="--shard")

    if no_commit and diff:
        raise typer.BadParameter("--no-commit and --diff do not go together", param_hint="--diff")
    if branch is not None and (no_commit or diff or hook):
        raise typer.BadParameter(
            "--branch leaves the checkout alone: no --no-commit, --diff or --hook", param_hint="--branch"
        )
    if hook and diff:
        raise typer.BadParameter("--hook leaves the fixes in the working tree; no --diff", param_hint="--hook")
    index_file = hook_index_file()
    named = (*(paths or ()), *(files or ()))
    in_index = _staged(index_file) if hook and not named else None
    if in_index == []:
        raise Exit(ExitCode.OK)  # nothing staged: before any configuration, tool or heavy import
    from stomper.commands import fix as command

    overrides: dict[str, Any] = {
        "tools": tools,
        "parallel": parallel,
        "fixer": fixer,
        "model": model,
        "max_attempts": max_attempts,
    }
    if agent is not None:
        overrides["agent"] = _agent_option(agent)
    project = _project(overrides)
    options = command.FixOptions(
        mode="diff" if diff or branch else "no-commit" if no_commit or hook else "commit",
        allow_dirty=allow_dirty or hook,
        dry_run=dry_run,
        report=report,
        resume=resume,
        hook=hook,
        ci=ci or _ci_env(),
        quiet=quiet,
        sarif=sarif,
        patch=patch,
        branch=branch,
        output_format=output_format,  # type: ignore[arg-type]
        new_only_base=new_only_base,
        baseline=baseline_path,
        shard=Shard.parse(shard) if shard is not None else None,
        told={k: v for k, v in overrides.items() if v is not None},
    )
    selection = _selection(paths, files, staged, changed, since, exclude, project)
    if hook:
        named = tuple(project.root / p for p in in_index) if in_index else named
        selection = _hook_selection(project, named, index_file)
        if selection is None:
            raise Exit(ExitCode.OK)
    raise Exit(
        command.run(
            project,
            selection,
            options,
            cwd=Path.cwd(),
            console=console(),
            log=console(stderr=True),
            verbose=verbose,
        )
    )


def hook_index_file() -> str | None:
    """The index git hands a hook (a temporary one in `git commit -a`); read before anything clears it."""
    import os

    from stomper.hook import index_file

    return index_file(os.environ, Path.cwd())


def _staged(index: str | None) -> list[str]:
    import asyncio

    from stomper.hook import staged

    return asyncio.run(staged(Path.cwd(), index))


def _hook_selection(project: Any, named: tuple[Path, ...], index: str | None) -> Any:
    """The files pre-commit passed, or the staged ones; None when there is no Python file among them."""
    import asyncio

    from stomper import hook
    from stomper.selection import Selection

    found = asyncio.run(hook.files(project, tuple(str(p) for p in named), Path.cwd(), index))
    return Selection(files=tuple(str(project.root / f) for f in found)) if found else None


def _ci_env() -> bool:
    import os

    from stomper.config import is_ci

    return is_ci(os.environ)


@app.command()
def init(
    pyproject: Annotated[
        bool, typer.Option("--pyproject", help="Append a [tool.stomper] section to pyproject.toml instead.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing stomper configuration.")] = False,
) -> None:
    """Write a commented stomper.toml, its tools set to those the project has configured."""
    from stomper.commands import init as command

    raise Exit(command.run(Path.cwd(), pyproject=pyproject, force=force, console=console()))


@app.command()
def graph() -> None:
    """Print the fix workflow's graph as Mermaid text."""
    from stomper.graph.build import build_graph

    typer.echo(build_graph().get_graph().draw_mermaid())


def _print_version(value: bool) -> None:
    if value:
        from stomper import __version__

        typer.echo(f"stomper {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """Make a Python repository pass ruff, mypy and pytest, one verified fix per file."""


@app.command()
def runs() -> None:
    """List this repository's fix runs, newest last, and whether each can be resumed."""
    from stomper.commands import runs as command

    raise Exit(command.run(_project({}), console=console()))


@app.command()
def clean(
    everything: Annotated[
        bool, typer.Option("--all", help="Also forget every run: records, checkpoints, kept patches.")
    ] = False,
) -> None:
    """Remove what interrupted runs left behind, worktrees and stale locks (with --all, their records too), and
    the worktrees kept for the next run."""
    from stomper.commands import runs as command

    raise Exit(command.clean(_project({}), everything=everything, console=console()))


@app.command()
def baseline(
    paths: PathsArg = None,
    exclude: ExcludeOpt = None,
    tools: ToolsOpt = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="PATH", help="Where to write the baseline.")] = Path(
        ".stomper-baseline.json"
    ),
) -> None:
    """Record today's diagnostics, so that --baseline leaves them alone and only new ones count."""
    from stomper.commands import baseline as command

    project = _project({"tools": tools})
    selection = _selection(paths, None, False, False, None, exclude, project)
    raise Exit(command.run(project, selection, cwd=Path.cwd(), output=output, log=Console(stderr=True)))


@app.command()
def merge(
    shards: Annotated[
        list[Path], typer.Argument(help="One directory per shard, holding its .patch, .json report and .sarif.")
    ],
    patch: Annotated[Path | None, _opt("--patch", metavar="PATH", help="Write the combined patch to PATH.")] = None,
    report: Annotated[Path | None, _opt("--report", metavar="PATH", help="Write the combined report to PATH.")] = None,
    sarif: Annotated[Path | None, _opt("--sarif", metavar="PATH", help="Write the combined SARIF to PATH.")] = None,
) -> None:
    """Combine the outputs of `stomper fix --shard i/n` runs into one patch, report and SARIF log."""
    from stomper.commands import merge as command

    raise Exit(command.run(shards, patch=patch, report=report, sarif=sarif, log=Console(stderr=True)))


@app.command()
def github(
    step: Annotated[str, typer.Argument(help="run (the analysis job) or push (the job that may write).")],
) -> None:
    """The steps of stomper's GitHub Action; its inputs come from INPUT_* and GITHUB_* variables."""
    import os

    from stomper import github as action

    raise Exit(action.main(step, os.environ, Path.cwd()))


def _optional_values(argv: list[str]) -> list[str]:
    """`--resume` with no value means the last interrupted run, which click cannot say by itself."""
    out: list[str] = []
    for n, arg in enumerate(argv):
        out.append(arg)
        if arg == "--resume" and (n + 1 == len(argv) or argv[n + 1].startswith("-")):
            out.append("last")
    return out


def main(argv: list[str] | None = None) -> None:
    """The console script: run a command under the one error handler, its output scrubbed of credentials."""
    import warnings

    from stomper import proc

    # A stopped run (Ctrl-C, a refused API key) cancels branches LangGraph had queued but not
    # started; their coroutines are dropped unawaited, and Python would warn about each on stderr.
    warnings.filterwarnings("ignore", r"coroutine '.*' was never awaited", RuntimeWarning, r"langgraph\.")
    proc.watch_children_by_pidfd()
    try:
        with redact.scrubbed_output(), error_handler():
            args = _optional_values(argv if argv is not None else sys.argv[1:])
            code = app(args=args, prog_name="stomper", standalone_mode=False)
            # Not standalone, typer returns the status it would exit with (typer.Exit,
            # 0 after --help, 130 for a KeyboardInterrupt it caught) instead of exiting.
            if code == ExitCode.INTERRUPTED:
                raise KeyboardInterrupt
            if isinstance(code, int) and code != ExitCode.OK:
                raise Exit(code)
    finally:
        # The interpreter's collection at exit walks every object the imports made, to free
        # memory the process is about to give back anyway: about 0.1 CPU-s, a fifth of a
        # `stomper fix` with nothing to fix. Frozen objects are left out of it; output is
        # flushed, and files closed, as before.
        gc.freeze()
