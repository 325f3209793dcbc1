"""An external coding agent (`claude -p`, `codex exec`, `aider --message`, ...) as a fixer."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from stomper import proc, sandbox
from stomper.diagnostics import Diagnostic
from stomper.errors import GitError, ProcTimeout
from stomper.fixers import FixOutcome, FixRequest, transcript
from stomper.fixers.prompt import agent_prompt
from stomper.gitops import git_env

MAX_OUTPUT = 1024 * 1024
"""Bytes of an agent's output kept; a chatty agent is not allowed to fill memory."""


class AgentFixer:
    name: ClassVar[str] = "agent"
    ai: ClassVar[bool] = True
    imports: ClassVar[tuple[str, ...]] = ()  # it runs the agent as a process

    def __init__(
        self,
        command: Sequence[str],
        *,
        timeout: float,
        stdin: bool = True,
        output_dir: Path | None = None,
        confine: sandbox.Sandbox = sandbox.UNCONFINED,
        home_paths: Sequence[str] = (),
    ) -> None:
        self.command = list(command)
        self.timeout = timeout
        # False: the prompt is in the argv ({prompt}), and stdin is /dev/null rather than a second copy.
        self.stdin = stdin
        self.output_dir = output_dir
        """Where each attempt's output is kept (`stomper.fixers.transcript`); None keeps none."""
        self.confine = confine
        """The sandbox each attempt runs in (`stomper.sandbox`)."""
        self.home_paths = tuple(home_paths)

    def handles(self, diagnostic: Diagnostic) -> bool:
        return True

    async def fix(self, request: FixRequest) -> FixOutcome:
        prompt = agent_prompt(request)
        # The prompt file (and, confined, the agent's HOME, TMPDIR and object
        # store) live outside the worktree, so they are never part of the fix.
        scratch = await asyncio.to_thread(_scratch_with, prompt)
        try:
            prompt_file = scratch / "prompt.md"
            argv = command_line(self.command, request, prompt, prompt_file)
            env = git_env(
                {
                    "STOMPER_FILE": request.path,
                    "STOMPER_FILES": "\n".join(request.unit),
                    "STOMPER_PROMPT_FILE": str(prompt_file),
                }
            )
            box, run = None, argv
            if self.confine.bwrap is not None:
                box = await sandbox.make_box(request.worktree, scratch, self.home_paths)
                run = [*sandbox.argv_prefix(self.confine.bwrap, box), *argv]
                env = sandbox.environment(env, box)
            try:
                done = await proc.run(
                    run,
                    cwd=request.worktree,
                    env=env,
                    stdin=prompt.encode() if self.stdin else None,
                    timeout=self.timeout,
                    max_output=MAX_OUTPUT,
                )
            except ProcTimeout as exc:
                return FixOutcome(error=str(exc), log=await self._keep(request, argv, None, str(exc)))
            if box is not None:
                try:
                    await sandbox.keep_objects(box)
                except GitError as exc:
                    return FixOutcome(error=f"the agent's git objects cannot be kept: {exc}")
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, scratch, True))
        log = await self._keep(request, argv, done, f"exited with status {done.returncode}")
        if done.returncode != 0:
            said = (done.err.strip() or done.out.strip()).splitlines()[-1:] or ["no output"]
            return FixOutcome(error=f"the agent exited with status {done.returncode}: {said[0][:300]}", log=log)
        return FixOutcome(log=log)

    async def _keep(self, request: FixRequest, argv: list[str], done: proc.Completed | None, ended: str) -> str | None:
        if self.output_dir is None:
            return None
        args = (self.output_dir, request.path, request.attempt, argv, done, ended)
        try:
            return str(await asyncio.to_thread(transcript.keep, *args))
        except OSError:  # what the agent said is worth keeping, not worth failing its fix over
            return None


def _scratch_with(prompt: str) -> Path:
    """A private directory for one attempt, holding its prompt (`prompt.md`)."""
    scratch = Path(tempfile.mkdtemp(prefix="stomper-agent-"))
    (scratch / "prompt.md").write_text(prompt, "utf-8")
    return scratch


def command_line(command: Sequence[str], request: FixRequest, prompt: str, prompt_file: Path) -> list[str]:
    """The agent's argv: `{files}` alone is one argument per unit file; in a longer word, they are joined by spaces.

    {prompt} last: the prompt's own text is never substituted into.
    """
    argv: list[str] = []
    for arg in command:
        if arg == "{files}":
            argv += request.unit
            continue
        argv.append(
            arg.replace("{files}", " ".join(request.unit))
            .replace("{file}", request.path)
            .replace("{prompt_file}", str(prompt_file))
            .replace("{prompt}", prompt)
        )
    return argv
