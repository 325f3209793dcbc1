"""Agent presets: the command line each coding agent CLI needs to fix a file unattended.

Each preset runs the agent non-interactively, in the worktree, with permission
to edit files there and no wider (no blanket "run anything" switch), and says
how the prompt reaches it. `docs/fixers.md` cites the documentation each one
was checked against. An explicit `agent.command` always wins over a preset.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stomper.config import AgentPreset, AgentSettings
from stomper.errors import FixerError


@dataclass(frozen=True)
class Preset:
    """How one agent CLI is run: argv template and where its prompt goes."""

    command: tuple[str, ...]
    """Argument template; {file}, {files}, {prompt_file} and {prompt} are substituted."""
    stdin: bool
    """The prompt is written to the agent's stdin; otherwise stdin is empty."""
    install: str
    """Where to get the agent, said when its executable is missing."""


PRESETS: dict[AgentPreset, Preset] = {
    # claude -p reads the prompt from stdin; acceptEdits auto-approves file edits in the working directory only.
    "claude": Preset(
        ("claude", "-p", "--permission-mode", "acceptEdits"),
        stdin=True,
        install="npm install -g @anthropic-ai/claude-code",
    ),
    # `-` reads the prompt from stdin; workspace-write lets it write in the working directory only.
    "codex": Preset(
        ("codex", "exec", "--sandbox", "workspace-write", "-"),
        stdin=True,
        install="npm install -g @openai/codex",
    ),
    # aider edits only the files named on its command line; it must not commit, touch .gitignore or
    # leave its history and cache files in the worktree, which would make the fix change other files.
    "aider": Preset(
        (
            "aider",
            "--yes-always",
            "--no-auto-commits",
            "--no-gitignore",
            "--no-check-update",
            "--map-tokens",
            "0",
            "--chat-history-file",
            os.devnull,
            "--input-history-file",
            os.devnull,
            "--message-file",
            "{prompt_file}",
            # aider edits the files it is given: all of the unit's, where a failure runs through several.
            "{files}",
        ),
        stdin=False,
        install="python -m pip install aider-install && aider-install",
    ),
    # Off a terminal gemini reads its prompt from stdin; auto_edit approves edits, nothing else.
    "gemini": Preset(
        ("gemini", "--approval-mode", "auto_edit"),
        stdin=True,
        install="npm install -g @google/gemini-cli",
    ),
    # Print mode applies edits inside the workspace and rejects what would need approval (no --force).
    "cursor": Preset(
        ("cursor-agent", "-p", "{prompt}"),
        stdin=False,
        install="curl https://cursor.com/install -fsS | bash",
    ),
    # `opencode run` takes piped stdin as its message and rejects every permission it would ask for.
    "opencode": Preset(
        ("opencode", "run"),
        stdin=True,
        install="npm install -g opencode-ai",
    ),
}


@dataclass(frozen=True)
class AgentCommand:
    """The agent a run uses: its argv template, and whether it reads the prompt on stdin."""

    command: tuple[str, ...]
    stdin: bool = True
    preset: AgentPreset | None = None


def agent_command(agent: AgentSettings) -> AgentCommand | None:
    """`agent.command` if set, else the preset's; None when no agent is configured."""
    if agent.command:
        return AgentCommand(tuple(agent.command))
    if agent.preset is not None:
        preset = PRESETS[agent.preset]
        return AgentCommand(preset.command, stdin=preset.stdin, preset=agent.preset)
    return None


def check_runnable(agent: AgentCommand, root: Path) -> None:
    """Raise `FixerError` unless the agent's executable exists and may be run.

    A path with a slash is taken relative to the project's root, as the user
    typed it there; a bare name is looked up on PATH.
    """
    name = agent.command[0]
    found = str(root / name) if "/" in name else shutil.which(name)
    if found is None:
        if agent.preset is not None:
            raise FixerError(
                f"the agent {name!r} is not on PATH: install it ({PRESETS[agent.preset].install}), "
                "or set agent.command (--agent 'CMD {file}') to one that is"
            )
        raise FixerError(f"the agent {name!r} is not on PATH; the known agents are --agent {', '.join(PRESETS)}")
    if not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise FixerError(f"the agent {found!r} is not an executable file")
