"""A LangChain chat model as a fixer: one model call per attempt, its reply applied as an edit.

The fixer is made once per run and shared by every file's branch, and so are
its one model client, its budget and its rate limiter. Concurrent `fix()`
calls in one event loop are safe: the budget is checked and spent without an
await in between, file I/O runs in threads, and the call itself is `ainvoke`.

Retries of refused requests (429 and 5xx, with exponential backoff and
jitter, honouring Retry-After) are the provider client's own: `llm.max_retries`
and `llm.request_timeout` are handed to it. One `fix()` is one call, however
many HTTP requests its retries take, and a call that fails after them ends the
file's attempts: stomper's attempts never multiply the client's retries. How a
call failed is read from the provider's own exception classes
(`stomper.fixers.provider`): a refused key or unknown model raises
`FixerError`, which stops the run (exit 2); an endpoint that does not answer
is called no more for the rest of the run. API keys come from the provider's
environment variables (OPENAI_API_KEY, ANTHROPIC_API_KEY, ...), checked before
the run; stomper passes them nowhere, and scrubs anything that looks like one
from the errors it reports.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.rate_limiters import InMemoryRateLimiter

from stomper import redact
from stomper.budget import Budget, price_of
from stomper.config import LlmSettings, StomperSettings
from stomper.diagnostics import Diagnostic
from stomper.edits import EditError, edit_files
from stomper.errors import FixerError
from stomper.fixers import FixOutcome, FixRequest
from stomper.fixers.llm_prompt import build_prompt
from stomper.fixers.provider import (
    CALL_IMPORTS,
    CLASSIFY_IMPORTS,
    ModelName,
    classify,
    missing_credential,
    parse,
    refusal,
)

EXTRAS = {"openai": "openai", "azure_openai": "openai", "anthropic": "anthropic", "ollama": "ollama"}
"""stomper's pip extra for each provider it documents."""

CALLING = (
    "langchain_core.env",
    "langchain_core.messages.block_translators.langchain_v0",
    "langchain_core.tracers.context",
    "langchain_core.tracers.langchain",
    "langchain_core.tracers.run_collector",
    "langchain_core.tracers.stdout",
)
"""What LangChain imports the first time any chat model is called: its tracers (LangSmith's, even
when nothing is traced) and the translators of the messages."""

_SECRET = re.compile(r"\b(?:sk|pk|rk)-[\w-]{8,}|\bBearer\s+\S+|\b[\w-]{40,}\b")


class LlmFixer:
    """Asks a chat model for an edit of the work unit's files and applies it to those files only."""

    name: ClassVar[str] = "llm"
    ai: ClassVar[bool] = True

    def __init__(self, settings: StomperSettings, *, model: BaseChatModel | None = None) -> None:
        """Make the run's model client from `settings`, or use `model` as it is (tests, embedding).

        Raises `FixerError` when the model cannot be used at all: a provider
        LangChain does not know, one whose package is not installed, a missing
        API key, or a `max_cost` with no known price.
        """
        llm = settings.llm
        name = parse(settings.model)
        price = price_of(name.provider, name.model, llm.prices, written=settings.model)
        if llm.max_cost is not None and price is None:
            raise FixerError(
                f"llm.max_cost is set, but no price is known for {name.spec}: add "
                f'[llm.prices."{name.spec}"] with input and output dollars per million tokens'
            )
        if model is None and (missing := missing_credential(name, llm.model_kwargs, os.environ)):
            raise FixerError(missing)
        self.model = model if model is not None else make_model(name, llm)
        transport = CALL_IMPORTS.get(name.provider) if model is None else None
        self.imports = None if transport is None else (*CALLING, *transport, *CLASSIFY_IMPORTS)
        """What a call imports the first time it runs, when measured for this provider (`Fixer.imports`)."""
        self.edit_format = llm.edit_format
        self.budget = Budget(max_calls=llm.max_calls, max_tokens=llm.max_tokens, max_cost=llm.max_cost, price=price)
        self.limiter: InMemoryRateLimiter | None = None
        if llm.rate_limit is not None:
            self.limiter = InMemoryRateLimiter(
                requests_per_second=llm.rate_limit, check_every_n_seconds=min(0.1, 0.25 / llm.rate_limit)
            )
        self.refused: str | None = None
        """Set when the provider refuses us for good (bad key, unknown model): no call starts after."""
        self.unanswered: str | None = None
        """Set when the endpoint did not answer a call: no call starts after, in any file."""

    def handles(self, diagnostic: Diagnostic) -> bool:
        return True

    async def fix(self, request: FixRequest) -> FixOutcome:
        if self.refused:
            raise FixerError(self.refused)
        if stop := self.unanswered or self.budget.exhausted():
            return FixOutcome(stop=stop)
        try:
            sources = await asyncio.to_thread(lambda: [_Source.read(request, path) for path in request.unit])
        except _Unusable as exc:
            return FixOutcome(stop=str(exc))
        texts = {s.name: s.text for s in sources}
        others = {name: text for name, text in texts.items() if name != request.path}
        prompt = await asyncio.to_thread(build_prompt, request, texts[request.path], self.edit_format, others)
        if self.limiter is not None:
            await self.limiter.aacquire()
        # Checked again: the budget may have been spent, or the endpoint found dead, while this branch waited.
        if self.refused:
            raise FixerError(self.refused)
        if stop := self.unanswered or self.budget.reserve():
            return FixOutcome(stop=stop)
        try:
            reply = await self.model.ainvoke([SystemMessage(prompt.system), HumanMessage(prompt.user)])
        except Exception as exc:  # each provider raises its own types; `classify` knows them
            return self._failed(exc)
        usage = self.budget.record(*_tokens(reply))
        try:
            new = edit_files(texts, str(reply.text))
        except EditError as exc:
            return FixOutcome(error=str(exc), usage=usage)
        for source in sources:
            if source.name in new:
                await asyncio.to_thread(source.write, new[source.name])
        return FixOutcome(usage=usage)

    def _failed(self, exc: Exception) -> FixOutcome:
        """A failed call ends this file's attempts: the client has made its retries already."""
        usage = self.budget.record(0, 0)
        said = scrub(f"{type(exc).__name__}: {exc}")[:300]
        kind = classify(exc)
        if kind == "refused":
            self.refused = f"{refusal(exc)}: {said}"
            raise FixerError(self.refused) from exc
        if kind == "unanswered":
            self.unanswered = self.unanswered or f"the model endpoint did not answer ({said}); no more calls this run"
            return FixOutcome(stop=self.unanswered, usage=usage)
        return FixOutcome(stop=f"the model call failed: {said}", usage=usage)


def make_model(name: ModelName, llm: LlmSettings) -> BaseChatModel:
    """The chat model `name` names, through LangChain's `init_chat_model`; `llm.model_kwargs` passed on."""
    from langchain.chat_models import init_chat_model

    provider = name.provider
    spec = name.spec
    options: dict[str, Any] = {}
    if provider == "ollama":
        # ChatOllama has no retry option (a local server does not rate-limit); its httpx client takes the timeout.
        options["client_kwargs"] = {"timeout": llm.request_timeout}
    else:
        options.update(timeout=llm.request_timeout, max_retries=llm.max_retries)
    if llm.base_url is not None:
        options["base_url"] = llm.base_url
    options.update(llm.model_kwargs)
    try:
        model: BaseChatModel = init_chat_model(name.model, model_provider=provider, **options)
    except ImportError as exc:
        extra = EXTRAS.get(provider)
        hint = f"pip install 'stomper-fix[{extra}]'" if extra else f"pip install langchain-{provider.replace('_', '-')}"
        raise FixerError(f"the model {spec} needs LangChain's {provider} package: {hint}") from exc
    except Exception as exc:  # a provider refuses a missing API key or a bad option when constructed
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FixerError(f"cannot use the model {spec}: {scrub(first)}") from exc
    return model


def scrub(text: str) -> str:
    """`text` without API keys: credential values (`stomper.redact`), and key-like strings a provider echoes."""
    return _SECRET.sub(redact.REDACTED, redact.scrub(text))


def _tokens(reply: AIMessage) -> tuple[int, int]:
    usage = reply.usage_metadata
    if usage is None:
        return 0, 0
    return usage.get("input_tokens", 0), usage.get("output_tokens", 0)


class _Unusable(Exception):
    """The target file cannot be edited at all (outside the worktree, missing, not text)."""


@dataclass(frozen=True)
class _Source:
    """A file of the unit a fix may write, and its text exactly as it is (line endings, BOM and all)."""

    name: str
    """As the request names it, relative to the worktree."""
    path: Path
    text: str

    @classmethod
    def read(cls, request: FixRequest, name: str) -> _Source:
        root = request.worktree.resolve()
        path = (root / name).resolve()
        # A symlink, or a path with "..", must not lead a reply's edit out of the worktree.
        if path == root or not path.is_relative_to(root):
            raise _Unusable(f"{name} resolves outside the worktree; the llm fixer leaves it alone")
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError as exc:
            raise _Unusable(f"{name} does not exist in the worktree") from exc
        except UnicodeDecodeError as exc:
            raise _Unusable(f"{name} is not UTF-8 text; the llm fixer leaves it alone") from exc
        return cls(name, path, text)

    def write(self, text: str) -> None:
        self.path.write_bytes(text.encode("utf-8"))
