"""What an answer cost, from the catalogue's prices (USD per 1M tokens)."""

from __future__ import annotations

from bot.config import ModelSpec
from bot.domain import Usage

PER = 1_000_000


def answer_cost(spec: ModelSpec, usage: Usage) -> float | None:
    """The cost of one answer in USD, or None when the model has no prices.

    Cached prompt tokens bill at ``price_cached_input`` (``price_input`` when unset).
    Reasoning tokens bill as output: OpenAI counts them inside ``completion_tokens``;
    a provider that reports more reasoning than completion tokens is taken to count
    them apart, and the larger figure is billed, never both.
    """
    if spec.price_input is None and spec.price_output is None:
        return None
    price_in = spec.price_input or 0.0
    price_cached = spec.price_cached_input if spec.price_cached_input is not None else price_in
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    output = max(usage.completion_tokens, usage.reasoning_tokens)
    cost = (
        (usage.prompt_tokens - cached) * price_in
        + cached * price_cached
        + output * (spec.price_output or 0.0)
    ) / PER
    return round(cost, 8)


def usd(amount: float) -> str:
    """Money as people read it: cents, or more digits for tiny amounts."""
    if amount and abs(amount) < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


# A budget hold for a model with no token limit: o1's and o3's largest output, so the
# hold is still a ceiling for OpenAI's reasoning models.
ESTIMATE_TOKENS_WITHOUT_LIMIT = 100_000


def reserve_estimate(spec: ModelSpec) -> float:
    """What a team budget holds for one question of ``spec`` until its cost is known:
    the catalogue's ``cost_estimate_usd``, else the output ceiling (``price_output``
    × ``max_completion_tokens``, reasoning included). A model without prices costs
    nothing we know of, so it holds nothing."""
    if spec.cost_estimate_usd is not None:
        return spec.cost_estimate_usd
    if spec.price_output is None:
        return 0.0
    tokens = spec.max_completion_tokens or ESTIMATE_TOKENS_WITHOUT_LIMIT
    return round(tokens * spec.price_output / PER, 8)
