"""What the llm fixer may spend in one run, and what it has spent.

One `Budget` per run, shared by every file's branch. None of its methods
awaits, so within the one event loop a check and the reservation that goes
with it cannot interleave with another branch's: with `max_calls = N` at most
N calls start, however many branches ask at once. Tokens and cost are known
only when a call returns, so calls already running when those limits are
reached still finish (and may go past them); no new call starts after that.

Cost is counted from the token counts a provider reports (LangChain's
`usage_metadata`) and a price per million tokens: the user's `llm.prices`
first, then the built-in table in `stomper/data/llm/prices.toml`.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources

from stomper.config import Price
from stomper.fixers import Usage

FREE_PROVIDERS = ("ollama",)
"""Providers whose models run locally and cost nothing per token."""


def price_of(model: str | None, configured: Mapping[str, Price]) -> Price | None:
    """The price of `model` ("provider:model"), or None when nobody has said it."""
    if model is None:
        return None
    if model in configured:
        return configured[model]
    if model in builtin_prices():
        return builtin_prices()[model]
    if model.split(":", 1)[0] in FREE_PROVIDERS:
        return Price(input=0.0, output=0.0)
    return None


@functools.cache
def builtin_prices() -> dict[str, Price]:
    """The packaged price table, by "provider:model"."""
    text = (resources.files("stomper") / "data" / "llm" / "prices.toml").read_text("utf-8")
    return {model: Price.model_validate(price) for model, price in tomllib.loads(text).items()}


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
