"""The project a command works on: where it is, how it is configured, which tools it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stomper import gitops
from stomper.config import StomperSettings, load_settings
from stomper.errors import NotAGitRepository
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
        """Each tool's executable; raises `ExecutableNotFound` for a missing one."""
        return {t.name: find_executable(t.executable, self.root) for t in (tools or self.tools)}


def open_project(cwd: Path, overrides: Mapping[str, Any] | None = None) -> Project:
    """The git repository around `cwd` (or `cwd` itself outside git) and its settings."""
    try:
        repo: gitops.RepoInfo | None = gitops.open_repo(cwd)
    except NotAGitRepository:
        repo = None
    root = repo.root if repo is not None else cwd.resolve()
    return Project(root=root, repo=repo, settings=load_settings(root, overrides))
