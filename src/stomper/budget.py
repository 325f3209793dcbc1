"""What the llm fixer may spend in one run, and what it has spent.

One `Budget` per run, shared by every file's branch. None of its methods
awaits, so within the one event loop a check and the reservation that goes
with it cannot interleave with another branch's: with `max_calls = N` at most
N calls start, however many branches ask at once. Tokens and cost are known
only when a call returns, so calls already running when those limits are
reached still finish (and may go past them); no new call starts after that.

Cost is counted from the token counts a provider reports (LangChain's
`usage_metadata`) and a price per million tokens: the user's `llm.prices`
first, then the maintained price table of the `genai-prices` package
(pydantic's, covering OpenAI, Anthropic, Google, Mistral, Groq, DeepSeek and
more), whose data ships inside the package: nothing is fetched at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

from stomper.config import Price
from stomper.fixers import Usage

FREE_PROVIDERS = ("ollama",)
"""Providers whose models run locally and cost nothing per token."""

# LangChain's provider names where genai-prices names the provider otherwise.
_PRICE_PROVIDERS = {
    "google_genai": "google",
    "google_vertexai": "google",
    "azure_openai": "azure",
    "mistralai": "mistral",
    "xai": "x-ai",
    "bedrock": "aws",
    "bedrock_converse": "aws",
}


def price_of(provider: str, model: str, configured: Mapping[str, Price], written: str | None = None) -> Price | None:
    """The price of `model` at `provider`, or None when nobody has said it.

    `configured` is keyed by the `model` setting as written (`written`) or as "provider:model".
    """
    for key in (written, f"{provider}:{model}"):
        if key is not None and key in configured:
            return configured[key]
    if provider in FREE_PROVIDERS:
        return Price(input=0.0, output=0.0)
    return listed_price(provider, model)


def listed_price(provider: str, model: str) -> Price | None:
    """The price genai-prices lists for `model` at `provider`, per million tokens; None if it lists none."""
    from genai_prices import Usage as Tokens
    from genai_prices import calc_price

    million = Tokens(input_tokens=1_000_000, output_tokens=1_000_000)
    try:
        price = calc_price(million, model, provider_id=_PRICE_PROVIDERS.get(provider, provider))
    except LookupError:
        return None
    return Price(input=float(price.input_price), output=float(price.output_price))


class Budget:
    """The run's limits on model calls, tokens and dollars, and what has been spent."""

    def __init__(
        self,
        *,
        max_calls: int | None,
        max_tokens: int | None,
        max_cost: float | None,
        price: Price | None,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost = max_cost
        self.price = price
        self.spent = Usage()
        self.started = 0

    def exhausted(self) -> str | None:
        """Why no new call may start, or None if one may."""
        if self.max_calls is not None and self.started >= self.max_calls:
            return f"budget: {self.started} model calls made (llm.max_calls = {self.max_calls})"
        tokens = self.spent.input_tokens + self.spent.output_tokens
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"budget: {tokens:,} tokens spent (llm.max_tokens = {self.max_tokens:,})"
        if self.max_cost is not None and self.spent.cost >= self.max_cost:
            return f"budget: ${self.spent.cost:.4f} spent (llm.max_cost = ${self.max_cost:g})"
        return None

    def reserve(self) -> str | None:
        """Count a call about to start; or say why it may not, counting nothing."""
        reason = self.exhausted()
        if reason is None:
            self.started += 1
        return reason

    def record(self, input_tokens: int, output_tokens: int) -> Usage:
        """Add a finished call (its tokens may be 0 if unknown) to the spending; returns its usage."""
        cost = 0.0
        if self.price is not None:
            cost = (input_tokens * self.price.input + output_tokens * self.price.output) / 1_000_000
        usage = Usage(calls=1, input_tokens=input_tokens, output_tokens=output_tokens, cost=cost)
        self.spent += usage
        return usage
