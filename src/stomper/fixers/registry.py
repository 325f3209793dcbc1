"""Which fixers a run uses, in the order they are tried."""

from __future__ import annotations

from stomper import sandbox
from stomper.config import StomperSettings
from stomper.errors import FixerError
from stomper.fixers import Fixer
from stomper.fixers.agent import AgentFixer
from stomper.fixers.ruff import RuffFixer

ENABLE_AI_HINT = (
    'set agent.command (e.g. agent.command = ["claude", "-p", "{prompt_file}"]) '
    'or model = "openai:gpt-4o-mini" in stomper.toml'
)


def fixer_names(settings: StomperSettings) -> list[str]:
    """The names of the fixers `settings` asks for, in the order they are tried."""
    if settings.fixer != "auto":
        return [settings.fixer]
    if settings.model is not None:
        return ["ruff", "llm"]
    return ["ruff", "agent"] if settings.agent.command else ["ruff"]


def build_fixers(
    settings: StomperSettings, ruff_executable: str, confine: sandbox.Sandbox = sandbox.UNCONFINED
) -> list[Fixer]:
    """The fixer chain for `settings.fixer`; one instance per run, shared by all files.

    An agent runs confined by `confine` (see `stomper.sandbox.choose`).
    """

    def build(name: str) -> Fixer:
        if name == "agent":
            return _agent(settings, confine)
        if name == "llm":
            return _llm(settings)
        return RuffFixer(ruff_executable, unsafe_fixes=settings.unsafe_fixes, format=settings.ruff_format)

    return [build(name) for name in fixer_names(settings)]


def _agent(settings: StomperSettings, confine: sandbox.Sandbox) -> Fixer:
    if not settings.agent.command:
        raise FixerError(
            "the agent fixer needs agent.command, e.g. --agent 'claude -p' or agent.command in stomper.toml"
        )
    return AgentFixer(
        settings.agent.command, timeout=settings.agent.timeout, confine=confine, home_paths=settings.agent.home_paths
    )


def _llm(settings: StomperSettings) -> Fixer:
    if settings.model is None:
        raise FixerError(
            'the llm fixer needs a model, e.g. --model openai:gpt-4o-mini or model = "..." in stomper.toml'
        )
    from stomper.fixers.llm import LlmFixer  # imports LangChain's model machinery only when used

    return LlmFixer(settings)
