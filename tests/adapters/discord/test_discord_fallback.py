"""Quota-aware fallback and budgets on Discord (the real discord.py client against the
fake Discord): the default model used up is answered by its fallback, saying so; a
model chosen in `/reason`'s menu is refused instead; `/quota budget` sets the budget."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.discord.conftest import running_discord
from tests.adapters.discord.test_discord_e2e import opt
from tests.builders import fallback_catalogue


async def test_fallback_for_the_default_refusal_for_a_chosen_model_and_a_budget(
    tmp_path: Path,
) -> None:
    async with running_discord(tmp_path, catalogue=fallback_catalogue()) as bot:
        await bot.discord.slash("reason", [opt("question", "one")])
        await bot.until(lambda: any("You asked: one" in m["content"] for m in bot.sent()))
        await bot.discord.slash("reason", [opt("question", "two")])
        await bot.until(lambda: any("answered with `mini`" in m["content"] for m in bot.sent()))
        answer = next(m["content"] for m in bot.sent() if "answered with `mini`" in m["content"])
        assert "`o1`'s weekly quota is used up until Mon 00:00 UTC" in answer
        await bot.discord.slash("reason", [opt("question", "three"), opt("model", "o1")])
        await bot.until(
            lambda: any(
                "used all 1 `o1` message" in str((c.body or {}).get("content"))
                for c in bot.discord.calls_to("PATCH", "@original")
            )
        )
        assert [r.body["model"] for r in bot.model.requests] == ["o1", "o1-mini"]

        await bot.discord.slash(
            "quota", [{"name": "budget", "type": 1, "options": [opt("usd", "12.50")]}], admin=True
        )
        await bot.until(
            lambda: any(
                "budget is now $12.50" in str(c.body)
                for c in bot.discord.calls_to("POST", "/webhooks/")
            )
        )
        reply = next(
            str(c.body)
            for c in bot.discord.calls_to("POST", "/webhooks/")
            if "budget is now $12.50" in str(c.body)
        )
        assert "spent of $12.50" in reply and "`o1` → `mini`" in reply
