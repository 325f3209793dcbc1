"""`stomper fix --hook`: what pre-commit (or a plain git hook) runs.

pre-commit's conventions decide the rest: the files come as arguments (the
staged files when there are none), a hook that changed files exits 1 and
leaves the changes in the working tree for the user to look at and stage,
and nothing is committed. The working tree is dirty by definition.

git runs hooks with GIT_INDEX_FILE and friends set, pointing at a temporary
index during `git commit -a` or `git commit <path>`. stomper's own git
commands must not see them (see `gitops.git_env`), but "the staged files"
means the files staged in *that* index, so it is read here, once.

A hook must not hang on a network that is not there (pre-commit.ci has
none): before the run, the model's endpoint gets a few seconds to accept a
TCP connection; if it does not, the run goes on without the model and says
so in one line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from stomper import gitops
from stomper.errors import ExitCode, FixerError
from stomper.selection import Selection, select_files

if TYPE_CHECKING:
    # Kept out of a hook's start: with nothing staged it ends before it needs any of them.
    from stomper.config import StomperSettings
    from stomper.project import Project
    from stomper.report import RunReport

PROBE_TIMEOUT = 3.0
"""Seconds the model's endpoint gets to accept a connection before the hook goes on without it."""

# Where each provider's client goes when `llm.base_url` is not set: its own
# environment variable first, as the client itself reads it, then its default.
_ENDPOINTS = {
    "openai": ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "ollama": ("OLLAMA_HOST", "http://localhost:11434"),
    "azure_openai": ("AZURE_OPENAI_ENDPOINT", ""),
}


def index_file(environ: Mapping[str, str], cwd: Path) -> str | None:
    """The index git handed the hook, as an absolute path; call before `gitops.open_repo` clears it."""
    value = environ.get("GIT_INDEX_FILE")
    return str((cwd / value).resolve()) if value else None


async def staged(cwd: Path, index: str | None) -> list[str]:
    """The files staged in the index git handed the hook, relative to the top of the working tree.

    Asked before the project is opened: a commit with nothing staged costs one git process.
    """
    env = {"GIT_INDEX_FILE": index} if index else None
    done = await gitops.git("diff", "--cached", "--name-only", "--diff-filter=ACMR", "-z", cwd=cwd, env=env)
    return gitops.split_z(done.stdout)


async def files(project: Project, paths: tuple[str, ...], cwd: Path, index: str | None) -> list[str]:
    """The Python files the hook fixes: those named, or those staged; configured excludes left out."""
    if not paths:
        paths = tuple(str(project.root / p) for p in await staged(project.root, index))
        if not paths:
            return []
    selection = Selection(files=paths, exclude=tuple(project.settings.exclude))
    return await select_files(selection, project.root, in_git=True, cwd=cwd)


def uses_model(settings: StomperSettings) -> bool:
    return settings.model is not None and settings.fixer in ("auto", "llm")


def endpoint(settings: StomperSettings, environ: Mapping[str, str] = os.environ) -> str | None:
    """The URL the llm fixer will connect to, when it can be known."""
    if settings.llm.base_url is not None:
        return settings.llm.base_url
    provider = (settings.model or "").split(":", 1)[0]
    variable, default = _ENDPOINTS.get(provider, ("", ""))
    url = environ.get(variable, "") if variable else ""
    url = url or default
    if url and "://" not in url:
        url = f"http://{url}"  # OLLAMA_HOST may be host:port
    return url or None


async def unreachable(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Why nothing accepts a TCP connection for `url` (through the proxy, if one is set); None when it does."""
    import urllib.request  # http, email, ssl: only for a hook that has a model to probe

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = via.hostname or "", via.port or 80
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return f"{host}:{port} did not answer within {timeout:g}s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    writer.close()
    return None


async def without_unreachable_model(project: Project, say: Callable[[str], None]) -> Project:
    """`project`, minus its model when the model's endpoint cannot be reached.

    With `fixer = "llm"` there is nothing left to fix with: `FixerError`.
    """
    settings = project.settings
    url = endpoint(settings) if uses_model(settings) else None
    if url is None:
        return project
    why = await unreachable(url)
    if why is None:
        return project
    if settings.fixer == "llm":
        raise FixerError(f"the model {settings.model} is unreachable ({why}); the llm fixer cannot run offline")
    say(f"stomper: the model {settings.model} is unreachable ({why}); fixing without it")
    return dataclasses.replace(project, settings=settings.model_copy(update={"model": None}))


def exit_code(report: RunReport, say: Callable[[str], None]) -> int:
    """pre-commit's convention: 1 when a file changed or something is left to fix by hand."""
    from stomper import ci

    if report.tool_errors:
        return ExitCode.USAGE
    changed = [f.path for f in report.files if f.applied]
    left = ci.remaining(report)
    for d in left:
        say(str(d))
    if changed:
        say(f"stomper: fixed {len(changed)} file(s) in the working tree; look at the changes, `git add` them, commit")
    if left:
        files = len({d.path for d in left})
        say(f"stomper: {len(left)} diagnostic(s) in {files} file(s) remain that stomper could not fix")
    return ExitCode.DIAGNOSTICS if changed or left else ExitCode.OK
