"""What stomper knows about a chat model's provider before and after calling it.

Before the run: which provider a `model` names (as LangChain's
`init_chat_model` reads it, so `gpt-4o-mini` alone means OpenAI), and whether
the credential its LangChain class reads is there. After a call: whether the
provider's exception means the run cannot go on (a refused key), the endpoint
does not answer (no further call is worth making), or only this call failed.
Exceptions are recognised by the provider SDKs' own classes
(`openai.AuthenticationError`, `anthropic.APITimeoutError`, ...), never by
matching status codes or messages.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stomper.errors import FixerError

API_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "azure_openai": ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_AD_TOKEN"),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google_genai": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    "mistralai": ("MISTRAL_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "xai": ("XAI_API_KEY",),
    "fireworks": ("FIREWORKS_API_KEY",),
    "together": ("TOGETHER_API_KEY",),
    "cohere": ("COHERE_API_KEY",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "perplexity": ("PPLX_API_KEY", "PERPLEXITY_API_KEY"),
}
"""The environment variables each provider's LangChain class reads its API key from (any one will do).
Providers not listed (ollama, bedrock, vertexai, ...) use no key or their platform's own credentials."""

# The SDK modules whose exception classes say what went wrong; each is imported only if installed.
_SDKS = ("openai", "anthropic")

Kind = Literal["refused", "unanswered", "failed"]

CALL_IMPORTS: dict[str, tuple[str, ...]] = {
    provider: ("anyio._backends._asyncio", "anyio.streams.memory", "anyio.streams.stapled")
    for provider in ("openai", "azure_openai")
}
"""What each provider's client imports the first time it sends a request (the `openai` SDK's async
transport), as measured; a provider not listed is not known (see `LlmFixer.imports`)."""

CLASSIFY_IMPORTS = (*_SDKS, "httpx")
"""What `classify` imports (those installed)."""


@dataclass(frozen=True)
class ModelName:
    """A `model` setting read as LangChain reads it."""

    provider: str
    model: str

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"


def parse(spec: str | None) -> ModelName:
    """`spec` as provider and model; "gpt-4o-mini" alone is OpenAI's, as `init_chat_model` infers.

    Raises `FixerError` for a provider LangChain does not know, or a name it cannot infer one from.
    """
    from langchain.chat_models import base  # the provider table and inference are init_chat_model's own

    known = sorted(base._BUILTIN_PROVIDERS)
    text = (spec or "").strip()
    head, sep, tail = text.partition(":")
    if sep and head and tail and head in known:
        return ModelName(head, tail)
    if sep and head.isidentifier() and tail:
        raise FixerError(f"unknown model provider {head!r} in model {text!r}; LangChain knows: {', '.join(known)}")
    inferred = base._attempt_infer_model_provider(text) if text else None
    if inferred is None:
        raise FixerError(
            f"cannot tell the provider of model {text!r}: write it as provider:model, e.g. openai:gpt-4o-mini"
        )
    return ModelName(inferred, text)


def missing_credential(name: ModelName, model_kwargs: Mapping[str, object], environ: Mapping[str, str]) -> str | None:
    """Why the provider will refuse every call for want of an API key; None when one is given."""
    variables = API_KEYS.get(name.provider)
    if not variables or "api_key" in model_kwargs or any(environ.get(v) for v in variables):
        return None
    return f"the model {name.spec} needs an API key: set {' or '.join(variables)} in the environment"


def classify(exc: BaseException) -> Kind:
    """What a failed model call means for the run.

    "refused": the provider refuses us for good (key, access, unknown model): stop the run.
    "unanswered": the endpoint did not answer or could not be reached: call it no more.
    "failed": this call failed (after the client's own retries); other calls may work.
    """
    for module in _sdks():
        if isinstance(exc, (module.AuthenticationError, module.PermissionDeniedError, module.NotFoundError)):
            return "refused"
        if isinstance(exc, module.APIConnectionError):  # its subclass APITimeoutError too
            return "unanswered"
    import httpx  # ollama's client, and the transport under the others

    if isinstance(exc, httpx.TimeoutException | httpx.ConnectError):
        return "unanswered"
    return "failed"


def refusal(exc: BaseException) -> str:
    """The user's words for a "refused" exception."""
    status = getattr(exc, "status_code", None)
    for module in _sdks():
        if isinstance(exc, module.AuthenticationError):
            return f"the provider refused the API key (HTTP {status})"
        if isinstance(exc, module.PermissionDeniedError):
            return f"the provider refused access (HTTP {status})"
        if isinstance(exc, module.NotFoundError):
            return f"the model or endpoint does not exist (HTTP {status})"
    return "the provider refused the request"


def _sdks() -> list[Any]:
    # Only those installed: a failed import is tried again each time, and would import beside a run's import thread.
    return [importlib.import_module(name) for name in _SDKS if importlib.util.find_spec(name) is not None]
