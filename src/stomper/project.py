"""The project a command works on: where it is, how it is configured, which tools it uses."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stomper import gitops
from stomper.config import StomperSettings, load_settings
from stomper.errors import ExecutableNotFound, NotAGitRepository
from stomper.tools import TOOLS, Tool, find_executable


@dataclass(frozen=True)
class Project:
    root: Path
    repo: gitops.RepoInfo | None
    settings: StomperSettings

    @property
    def tools(self) -> list[Tool]:
        return [TOOLS[name] for name in self.settings.tools]

    def executables(self, tools: Sequence[Tool] | None = None) -> dict[str, str]:
        """Each tool's executable; raises `ExecutableNotFound` for a missing one, saying what to do."""
        found = {}
        for tool in tools or self.tools:
            try:
                found[tool.name] = find_executable(tool.executable, self.root)
            except ExecutableNotFound as exc:
                if (self.root / ".venv" / "bin" / tool.executable).is_file():
                    raise  # there, but not executable: the message says so, installing would not help
                raise ExecutableNotFound(f"{exc}; {self._remedy(tool)}") from exc
        return found

    def available_only(self) -> tuple[Project, list[str]]:
        """This project less the configured tools that are not installed, and their names.

        All of them stay when none is installed: the run then says what is missing.
        """
        missing = [t.name for t in self.tools if not _installed(t, self.root)]
        kept = [name for name in self.settings.tools if name not in missing]
        if not missing or not kept:
            return self, []
        return replace(self, settings=self.settings.model_copy(update={"tools": kept})), missing

    def _remedy(self, tool: Tool) -> str:
        install = f"install it (pip install {tool.executable})"
        rest = [name for name in self.settings.tools if name != tool.name]
        # ruff is also stomper's own fixer, installed with it: leaving it out of `tools` would not do.
        if tool.name == "ruff" or tool.name not in self.settings.tools or not rest:
            return install
        return f"{install} or leave it out: tools = {json.dumps(rest)} in stomper.toml, or --tools {','.join(rest)}"


def _installed(tool: Tool, root: Path) -> bool:
    try:
        find_executable(tool.executable, root)
    except ExecutableNotFound:
        return False
    return True


def open_project(cwd: Path, overrides: Mapping[str, Any] | None = None) -> Project:
    """The git repository around `cwd` (or `cwd` itself outside git) and its settings."""
    try:
        repo: gitops.RepoInfo | None = gitops.open_repo(cwd)
    except NotAGitRepository:
        repo = None
    root = repo.root if repo is not None else cwd.resolve()
    return Project(root=root, repo=repo, settings=load_settings(root, overrides))
