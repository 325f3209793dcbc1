"""Which fixers a run uses, in the order they are tried."""

from __future__ import annotations

from pathlib import Path

from stomper.config import StomperSettings
from stomper.errors import FixerError
from stomper.fixers import Fixer
from stomper.fixers.agent import AgentFixer
from stomper.fixers.ruff import RuffFixer

ENABLE_AI_HINT = (
    'set agent.command (e.g. agent.command = ["claude", "-p", "{prompt_file}"]) '
    'or model = "openai:gpt-4o-mini" in stomper.toml'
)


def build_fixers(settings: StomperSettings, ruff_executable: str, agent_output: Path | None = None) -> list[Fixer]:
    """The fixer chain for `settings.fixer`; one instance per run, shared by all files.

    `agent_output`: the directory where the agent fixer keeps each attempt's output.
    """
    ruff = RuffFixer(ruff_executable, unsafe_fixes=settings.unsafe_fixes, format=settings.ruff_format)
    if settings.fixer == "ruff":
        return [ruff]
    if settings.fixer == "agent":
        return [_agent(settings, agent_output)]
    if settings.fixer == "llm":
        return [_llm(settings)]
    chain: list[Fixer] = [ruff]
    if settings.model is not None:
        chain.append(_llm(settings))
    elif settings.agent.command:
        chain.append(_agent(settings, agent_output))
    return chain


def _agent(settings: StomperSettings, output_dir: Path | None) -> Fixer:
    if not settings.agent.command:
        raise FixerError(
            "the agent fixer needs agent.command, e.g. --agent 'claude -p' or agent.command in stomper.toml"
        )
    return AgentFixer(settings.agent.command, timeout=settings.agent.timeout, output_dir=output_dir)


def _llm(settings: StomperSettings) -> Fixer:
    if settings.model is None:
        raise FixerError(
            'the llm fixer needs a model, e.g. --model openai:gpt-4o-mini or model = "..." in stomper.toml'
        )
    from stomper.fixers.llm import LlmFixer  # imports LangChain's model machinery only when used

    return LlmFixer(settings)
