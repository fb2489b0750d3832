"""The model's reasoning on Discord, end to end through the fake Discord REST and
gateway: live in the thread's status message, collapsed to one line once the answer
starts, within the 2,000-character limit, never a ping; "off" shows none of it."""

from __future__ import annotations

from pathlib import Path

from bot.config import Catalogue, ModelSpec
from tests.adapters.discord.conftest import DiscordHarness, running_discord

THOUGHT = (
    "First I ping @everyone, @here and <@&42> and <@7> (I must not).\n"
    "Weighing the two readings of the question.\nThe second one fits."
)
ANSWER = "The answer is " + " ".join(f"part{i}" for i in range(30)) + "."


def opt(name: str, value: object) -> dict[str, object]:
    return {"name": name, "type": 3, "value": value}


async def ask_thinking(bot: DiscordHarness) -> list[str]:
    """The contents the bot wrote in the question's thread, in the order it wrote them."""
    bot.model.reply(ANSWER, reasoning=THOUGHT, think_s=4.0, delay=1.5, stream_chunks=8)
    await bot.discord.slash("reason", [opt("question", "which reading?")])
    await bot.until(lambda: any("left this week" in m["content"] for m in bot.sent()))
    [thread] = bot.thread_ids()
    return [
        str(c.body.get("content", ""))
        for c in bot.discord.calls
        if c.path.startswith(f"/channels/{thread}/messages") and isinstance(c.body, dict)
    ]


def no_pings(text: str) -> bool:
    return not any(p in text for p in ("@everyone", "@here", "<@&42>", "<@7>"))


async def test_reasoning_shows_in_the_status_message_then_collapses(tmp_path: Path) -> None:
    async with running_discord(tmp_path) as bot:
        written = await ask_thinking(bot)
        thinking = [i for i, t in enumerate(written) if "Weighing" in t]
        answering = [i for i, t in enumerate(written) if "The answer is" in t]
        assert thinking and answering and thinking[0] < answering[0], written
        assert all(no_pings(t) and len(t) <= 2_000 for t in written)
        [thread] = bot.thread_ids()
        final = bot.texts_in(thread)[-1]
        assert final.startswith("💭 Thought for ") and "Weighing" not in final
        assert "The answer is part0" in final


async def test_off_shows_no_reasoning(tmp_path: Path) -> None:
    catalogue = Catalogue(
        models=[ModelSpec(alias="o1", id="o1", weekly_limit=30)],
        progress_every_s=0.2,
        show_reasoning="off",
    )
    async with running_discord(tmp_path, catalogue=catalogue) as bot:
        written = await ask_thinking(bot)
        assert not any("Weighing" in t or "Thought for" in t for t in written), written
