"""Discord end to end for admins: an 80% alert sent to the server's notify channel once,
pinging nobody; `/quota history` through its typed subcommand."""

from __future__ import annotations

from pathlib import Path

from bot.weeks import utc_now
from tests.adapters.discord.conftest import DiscordHarness, running_discord
from tests.builders import platform_catalogue


def opt(name: str, value: object, kind: int = 3) -> dict[str, object]:
    return {"name": name, "type": kind, "value": value}


def alerts(bot: DiscordHarness) -> list[dict[str, object]]:
    return [
        c.body
        for c in bot.discord.calls_to("POST", f"/channels/{bot.discord.channel_id}/messages")
        if isinstance(c.body, dict) and "🔔" in str(c.body.get("content"))
    ]


async def test_an_alert_goes_to_the_notify_channel_once_without_pings(tmp_path: Path) -> None:
    async with running_discord(tmp_path, catalogue=platform_catalogue(o1_limit=5)) as bot:
        team = f"discord:{bot.discord.guild_id}"
        assert bot.rt.service.admin is not None
        await bot.rt.service.admin.reports.set_notify(
            team, platform="discord", channel=bot.discord.channel_id, actor="300", now=utc_now()
        )
        for n in range(5):
            await bot.discord.slash("reason", [opt("question", f"q{n}")])
            await bot.settled(n + 1)
        await bot.until(lambda: len(alerts(bot)) == 2)
        first, second = alerts(bot)
        assert "80%" in str(first["content"]) and "4 of 5" in str(first["content"])
        assert "<@300> (4)" in str(first["content"])
        assert "used all 5" in str(second["content"])
        assert all(a.get("allowed_mentions") == {"parse": []} for a in (first, second))

        await bot.discord.slash(
            "quota", [{"name": "history", "type": 1, "options": [opt("weeks", 2, 4)]}], admin=True
        )
        await bot.until(
            lambda: any(
                "last 2 weeks" in str(c.body) for c in bot.discord.calls_to("POST", "/webhooks/")
            )
        )
        body = next(
            c.body
            for c in bot.discord.calls_to("POST", "/webhooks/")
            if "last 2 weeks" in str(c.body)
        )
        assert "`o1` 5" in body["embeds"][0]["description"]
