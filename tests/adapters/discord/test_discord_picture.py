"""Discord end to end: `/quota` as an embed with bars (the admin's with per-person use
and the last weeks), `/quota export` as an ephemeral reply with the CSV attached
(multipart, parsed by the fake as Discord does), and `/quota notify` with a channel
option carrying its ``resolved`` data."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from adapters.discord.picture import picture_embed
from tests.adapters.discord.conftest import DiscordHarness, running_discord
from tests.adapters.slack.test_slack_home import big_picture
from tests.fakes import discord_rules as rules
from tests.fakes.discord_server import FakeDiscord


def opt(name: str, value: object, kind: int = 3) -> dict[str, object]:
    return {"name": name, "type": kind, "value": value}


def followups(bot: DiscordHarness) -> list[dict[str, Any]]:
    return [c.body for c in bot.discord.calls_to("POST", "/webhooks/") if isinstance(c.body, dict)]


async def ask(bot: DiscordHarness, n: int, *, uid: str = "300") -> None:
    await bot.discord.slash("reason", [opt("question", f"q{n}")], uid=uid)
    await bot.settled(n)


async def test_quota_is_an_embed_with_bars_and_admin_extras(tmp_path: Path) -> None:
    async with running_discord(tmp_path) as bot:
        await ask(bot, 1)
        await ask(bot, 2, uid="301")
        await bot.discord.slash("quota", [{"name": "show", "type": 1}])
        await bot.until(lambda: any("embeds" in b for b in followups(bot)))
        embed = next(b for b in followups(bot) if "embeds" in b)["embeds"][0]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert "you asked 1 question" in fields["o1"] and "▓" in fields["o1"]
        assert "2 of 30 used" in fields["o1"]
        assert "Per person this week" not in fields

        count = len(followups(bot))
        await bot.discord.slash("quota", [{"name": "show", "type": 1}], uid="302", admin=True)
        await bot.until(lambda: len(followups(bot)) > count)
        embed = followups(bot)[-1]["embeds"][0]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert "<@300> · `o1`: 1 question" in fields["Per person this week"]
        assert fields["The last weeks"].count("no questions") == 7


async def test_export_is_an_ephemeral_reply_with_the_csv_attached(tmp_path: Path) -> None:
    async with running_discord(tmp_path) as bot:
        await ask(bot, 1)
        await bot.discord.slash(
            "quota", [{"name": "export", "type": 1, "options": [opt("weeks", 1, 4)]}], admin=True
        )
        await bot.until(lambda: any(b.get("attachments") for b in followups(bot)))
        body = next(b for b in followups(bot) if b.get("attachments"))
        assert body["flags"] & 64  # ephemeral
        assert "attached CSV" in body["content"]
        attachment = body["attachments"][0]
        assert attachment["filename"].endswith(".csv")
        rows = list(csv.reader(io.StringIO(bot.discord.files[attachment["url"]].decode())))
        assert rows[0][:5] == ["week_start", "platform", "team", "model", "user"]
        assert rows[1][1:6] == ["discord", f"discord:{bot.discord.guild_id}", "o1", "300", "1"]
        assert not bot.discord.refusals


async def test_notify_takes_a_channel_option_with_its_resolved_data(tmp_path: Path) -> None:
    async with running_discord(tmp_path) as bot:
        channel = bot.discord.channel_id
        await bot.discord.slash(
            "quota",
            [{"name": "notify", "type": 1, "options": [opt("channel", channel, 7)]}],
            admin=True,
            resolved=bot.discord.resolved_channel(channel),
        )
        await bot.until(lambda: any("now go to" in str(b) for b in followups(bot)))
        assert bot.rt.service.admin is not None
        found = await bot.rt.service.admin.reports.notify_target(f"discord:{bot.discord.guild_id}")
        assert found is not None and found.channel == channel


async def test_fake_refuses_an_attachment_without_its_file_part() -> None:
    async with FakeDiscord() as fake, aiohttp.ClientSession() as http:
        form = aiohttp.FormData()
        payload = {"content": "x", "attachments": [{"id": 0, "filename": "a.csv"}]}
        form.add_field("payload_json", json.dumps(payload), content_type="application/json")
        form.add_field("files[1]", b"a,b\r\n", filename="a.csv", content_type="text/csv")
        async with http.post(f"{fake.base}/webhooks/{fake.app_id}/tok-1", data=form) as resp:
            assert resp.status == 400
            assert "attachments" in (await resp.json())["errors"]


def test_embed_of_a_large_team_stays_within_discords_limits() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for models, people in ((2, 5_000), (40, 40)):
        embed = picture_embed(big_picture(models=models, people=people), now=now).to_dict()
        errors, size = rules.embed_errors(embed)
        assert errors == {} and size <= rules.EMBED_TOTAL_MAX
        assert len(embed["fields"]) <= 25
