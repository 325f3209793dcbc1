"""Which fixers a run uses, in the order they are tried."""

from __future__ import annotations

from pathlib import Path

from stomper import sandbox
from stomper.config import StomperSettings
from stomper.errors import FixerError
from stomper.fixers import Fixer
from stomper.fixers.agent import AgentFixer
from stomper.fixers.presets import agent_command, check_runnable
from stomper.fixers.ruff import RuffFixer

ENABLE_AI_HINT = (
    "give it an agent, stomper fix --agent claude (or codex, aider, gemini, cursor, opencode), "
    "or a model, stomper fix --model openai:gpt-4o-mini"
)


def build_fixers(
    settings: StomperSettings,
    ruff_executable: str,
    agent_output: Path | None = None,
    confine: sandbox.Sandbox = sandbox.UNCONFINED,
) -> list[Fixer]:
    """The fixer chain for `settings.fixer`; one instance per run, shared by all files.

    `agent_output`: the directory where the agent fixer keeps each attempt's output;
    `confine`: the sandbox its attempts run in (see `stomper.sandbox.choose`).
    """
    ruff = RuffFixer(ruff_executable, unsafe_fixes=settings.unsafe_fixes, format=settings.ruff_format)
    if settings.fixer == "ruff":
        return [ruff]
    if settings.fixer == "agent":
        return [_agent(settings, agent_output, confine)]
    if settings.fixer == "llm":
        return [_llm(settings)]
    chain: list[Fixer] = [ruff]
    if settings.model is not None:
        chain.append(_llm(settings))
    elif agent_command(settings.agent) is not None:
        chain.append(_agent(settings, agent_output, confine))
    return chain


def uses_agent(settings: StomperSettings) -> bool:
    """Whether a run with `settings` would start the agent."""
    if settings.fixer == "agent":
        return True
    return settings.fixer == "auto" and settings.model is None and agent_command(settings.agent) is not None


def uses_model(settings: StomperSettings) -> bool:
    """Whether a run with `settings` would ask the model for edits."""
    return settings.fixer == "llm" or (settings.fixer == "auto" and settings.model is not None)


def runs_ai_code(settings: StomperSettings) -> bool:
    """Whether a run with `settings` would run what an AI wrote: an agent is a program that does what a
    model says, and pytest imports an AI's edit (mypy loads the plugins a configuration names)."""
    return uses_agent(settings) or (uses_model(settings) and bool({"pytest", "mypy"} & set(settings.tools)))


def check_agent(settings: StomperSettings, root: Path) -> None:
    """Raise `FixerError` before a run if it would start an agent that is missing or cannot run."""
    if not uses_agent(settings):
        return
    agent = agent_command(settings.agent)
    if agent is None:
        _agent(settings)  # says what is missing
    else:
        check_runnable(agent, root)


def _agent(
    settings: StomperSettings, output_dir: Path | None = None, confine: sandbox.Sandbox = sandbox.UNCONFINED
) -> Fixer:
    agent = agent_command(settings.agent)
    if agent is None:
        raise FixerError("the agent fixer needs an agent: --agent claude (or codex, aider, gemini, cursor, opencode)")
    return AgentFixer(
        agent.command,
        timeout=settings.agent.timeout,
        stdin=agent.stdin,
        output_dir=output_dir,
        confine=confine,
        home_paths=settings.agent.home_paths,
    )


def _llm(settings: StomperSettings) -> Fixer:
    if settings.model is None:
        raise FixerError(
            'the llm fixer needs a model, e.g. --model openai:gpt-4o-mini or model = "..." in stomper.toml'
        )
    from stomper.fixers.llm import LlmFixer  # imports LangChain's model machinery only when used

    return LlmFixer(settings)
