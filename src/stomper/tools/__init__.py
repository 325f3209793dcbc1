"""The quality tools stomper runs, behind one small interface.

Each tool module holds one class satisfying `Tool`; `TOOLS` lists them. A
tool only builds its command line and parses its machine-readable output;
`run_tool` does the running, so every tool is run, timed out and reported on
the same way.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from stomper import proc, together
from stomper.diagnostics import CheckResult, Diagnostic, ToolRun
from stomper.environ import derived
from stomper.errors import ExecutableNotFound, ProcTimeout, ToolError
from stomper.tools.mypy import Mypy
from stomper.tools.paths import Reach
from stomper.tools.pytest import Pytest
from stomper.tools.ruff import Ruff


class Tool(Protocol):
    """A quality tool: how to call it, and how to read what it says."""

    name: ClassVar[str]
    executable: ClassVar[str]
    ok_returncodes: ClassVar[frozenset[int]]
    """Exit statuses that mean "ran fine" (with or without findings)."""
    reach: ClassVar[Reach]
    """What a change to one file is verified on: the file, it and the files importing it, or the tests that do."""

    def select(self, paths: Sequence[str], root: Path) -> list[str]:
        """The files among `paths` this tool should be given (may be empty)."""

    def own_selection(self, root: Path) -> list[str] | None:
        """The arguments that make the tool check the project's own selection of files
        (mypy's `files`, pytest's collection), or None when it has none and must be named files."""

    def command(self, paths: Sequence[str], scratch: Path) -> list[str]:
        """Arguments after the executable; `scratch` is a private directory for reports."""

    def parse(self, done: proc.Completed, scratch: Path, cwd: Path, paths: Sequence[str]) -> list[Diagnostic]:
        """Diagnostics from a finished run on `paths`, paths relative to `cwd`.

        Raises `ToolError` when the output cannot be read.
        """


Confine = Callable[[Path], list[str]]
"""The command line that runs a tool confined, given the tool's scratch directory."""

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (Ruff(), Mypy(), Pytest())}


def find_executable(name: str, root: Path) -> str:
    """The project's own virtualenv first, then PATH, then the one installed with stomper."""
    venv = root / ".venv" / "bin" / name
    if venv.is_file():
        if not os.access(venv, os.X_OK):
            # Not silently another one: the project's own tool is what it is checked with.
            raise ExecutableNotFound(f"{name}: {venv} is not executable")
        return str(venv)
    on_path = shutil.which(name)
    if on_path is not None:
        return on_path
    bundled = Path(sys.executable).parent / name
    if bundled.is_file():
        return str(bundled)
    raise ExecutableNotFound(f"{name}: not found in {root / '.venv'}, on PATH, or beside stomper")


async def run_tool(
    tool: Tool,
    paths: Sequence[str],
    *,
    cwd: Path,
    executable: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    whole: bool = False,
    confine: Confine | None = None,
) -> ToolRun:
    """Run one tool on `paths` (relative to `cwd`); a crash becomes `ToolRun.error`.

    `confine`: the command line that runs it confined, given its scratch
    directory (`stomper.sandbox.tool_argv_prefix`); its TMPDIR is then there.

    `whole`: `paths` are the whole project, so a tool with a selection of its
    own (mypy's `files`, pytest's `testpaths`) checks that, as the user's own
    run of it would. Either way only diagnostics in `paths` are kept: what mypy
    says about a module it followed an import into is not this run's work.
    """

    def prepare() -> tuple[list[str], Path | None]:
        """What to give the tool (none: nothing to run), and its scratch directory."""
        # Both read the project's configuration files.
        own = tool.own_selection(cwd) if whole else None
        selected = own if own is not None else tool.select(paths, cwd)
        if own is None and not selected:
            return selected, None
        scratch = Path(tempfile.mkdtemp(prefix=f"stomper-{tool.name}-"))
        if confine is not None:
            (scratch / "tmp").mkdir()
        return selected, scratch

    selected, scratch = await asyncio.to_thread(prepare)
    if scratch is None:
        return ToolRun(tool=tool.name, executable=executable)
    try:
        argv = [executable, *tool.command(selected, scratch)]
        if confine is not None:
            tmp = scratch / "tmp"
            argv = [*confine(scratch), *argv]
            env = {**(env if env is not None else derived(dict)), "TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp)}
        done = await proc.run(argv, cwd=cwd, timeout=timeout, env=env)
        if done.returncode not in tool.ok_returncodes:
            raise ToolError(_crash_message(tool.name, done))
        diagnostics = tool.parse(done, scratch, cwd, selected or paths)
    except (ToolError, ExecutableNotFound, ProcTimeout) as exc:
        return ToolRun(tool=tool.name, error=str(exc), executable=executable)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    given = set(paths)
    kept = tuple(d for d in diagnostics if d.path in given)
    return ToolRun(tool=tool.name, diagnostics=kept, executable=executable, seconds=done.seconds)


async def run_tools(
    tools: Sequence[Tool],
    paths: Sequence[str],
    *,
    cwd: Path,
    executables: Mapping[str, str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    whole: bool = False,
    confine: Confine | None = None,
) -> CheckResult:
    """Run `tools` concurrently on `paths` (see `run_tool` for `whole` and `confine`)."""
    runs = await together.gather(
        *(
            run_tool(
                t,
                paths,
                cwd=cwd,
                executable=executables[t.name],
                timeout=timeout,
                env=env,
                whole=whole,
                confine=confine,
            )
            for t in tools
        )
    )
    return CheckResult(runs=tuple(runs))


def _crash_message(name: str, done: proc.Completed) -> str:
    lines = [line.strip() for line in (done.err.strip() or done.out.strip()).splitlines() if line.strip()]
    # The last line that says "error:" (pytest follows its usage error with
    # the rootdir), else the last line (a traceback's exception).
    said = [line for line in lines if re.search(r"\berror:", line, re.IGNORECASE)] or lines or ["no output"]
    return f"{name} exited with status {done.returncode}: {said[-1][:300]}"
