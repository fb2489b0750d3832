"""`fallback = "<alias>"` in the catalogue: it must name a model, and chains never loop."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import Catalogue, ModelSpec
from bot.costs import ESTIMATE_TOKENS_WITHOUT_LIMIT, reserve_estimate


def catalogue(*links: tuple[str, str | None]) -> Catalogue:
    return Catalogue(
        default_model=links[0][0],
        models=[ModelSpec(alias=a, id=a, weekly_limit=5, fallback=f) for a, f in links],
    )


def test_chains_are_followed_to_their_end() -> None:
    c = catalogue(("o3", "o1"), ("o1", "mini"), ("mini", None), ("r1", "mini"))
    assert c.fallback_chain("o3") == ("o3", "o1", "mini")
    assert c.fallback_chain("mini") == ("mini",)
    assert c.fallback_chains == (("o3", "o1", "mini"), ("r1", "mini"))


def test_a_fallback_must_be_a_model_of_the_catalogue() -> None:
    with pytest.raises(ValidationError, match="falls back to 'nano', which is not one of"):
        catalogue(("o1", "nano"), ("mini", None))


@pytest.mark.parametrize(
    ("links", "loop"),
    [
        ((("o1", "o1"),), "o1 → o1"),
        ((("o1", "mini"), ("mini", "o1")), "o1 → mini → o1"),
        ((("o3", "o1"), ("o1", "mini"), ("mini", "o1")), "o1 → mini → o1"),
    ],
)
def test_fallbacks_may_not_go_round_in_a_circle(
    links: tuple[tuple[str, str], ...], loop: str
) -> None:
    with pytest.raises(ValidationError, match=f"fallbacks go round in a circle: {loop}"):
        catalogue(*links)


def test_the_budget_hold_is_the_configured_estimate_or_the_output_ceiling() -> None:
    def spec(**kw: object) -> ModelSpec:
        return ModelSpec(alias="o1", id="o1", weekly_limit=1, **kw)  # type: ignore[arg-type]

    assert reserve_estimate(spec()) == 0.0
    assert reserve_estimate(spec(price_output=60.0, max_completion_tokens=25_000)) == 1.5
    assert reserve_estimate(spec(price_output=60.0)) == ESTIMATE_TOKENS_WITHOUT_LIMIT * 60e-6
    assert reserve_estimate(spec(price_output=60.0, cost_estimate_usd=0.25)) == 0.25
