"""`/reason model:auto` on Discord: offered as a choice, and the answer says which model
the router chose and why (the real discord.py client against the fake Discord)."""

from __future__ import annotations

from tests.adapters.discord.conftest import DiscordHarness
from tests.adapters.discord.test_discord_e2e import opt


async def test_reason_offers_auto_among_the_models(bot: DiscordHarness) -> None:
    synced = bot.discord.calls_to("PUT", f"/guilds/{bot.discord.guild_id}/commands")
    reason = next(c for c in synced[-1].body if c["name"] == "reason")
    model = next(o for o in reason["options"] if o["name"] == "model")
    assert [c["value"] for c in model["choices"]] == ["o1", "mini", "auto"]
    quota = next(c for c in synced[-1].body if c["name"] == "quota")
    assert "auto" not in str(quota)  # quotas are kept per real model


async def test_reason_with_auto_answers_with_the_chosen_model_and_says_why(
    bot: DiscordHarness,
) -> None:
    await bot.discord.slash("reason", [opt("question", "Capital of Peru?"), opt("model", "auto")])
    await bot.until(lambda: any("auto → mini" in m["content"] for m in bot.sent()))
    answer = next(m["content"] for m in bot.sent() if "auto → mini" in m["content"])
    assert "Capital of Peru?" in answer
    assert "auto → mini: short factual question" in answer
    assert bot.model.requests[-1].body["model"] == "o1-mini"
