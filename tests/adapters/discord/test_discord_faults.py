"""Discord faults that must not stop the bot: a gateway payload discord.py cannot
parse, and start-up noise the operator cannot act on."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from adapters.discord.guard import quiet_retries
from tests.adapters.discord.conftest import DiscordHarness, running_discord


def opt(name: str, value: object) -> dict[str, object]:
    return {"name": name, "type": 3, "value": value}


def answered(bot: DiscordHarness, question: str) -> bool:
    return any(f"You asked: {question}" in m["content"] for m in bot.sent())


async def test_a_malformed_interaction_is_dropped_and_the_next_one_answered(
    bot: DiscordHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # discord.py's Interaction reads data["application_id"] unconditionally: a KeyError
    # inside the gateway's parser, which used to close the whole client.
    bad = await bot.discord.slash("reason", [opt("question", "broken")], drop=("application_id",))
    good = await bot.discord.slash("reason", [opt("question", "still there?")])
    await bot.until(lambda: answered(bot, "still there?"))
    assert bot.discord.responded.get(good) == 5
    assert bad not in bot.discord.responded  # dropped: nothing was sent for it
    dropped = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert dropped == [
        "dropped a INTERACTION_CREATE event Discord sent that could not be read "
        "(KeyError: 'application_id')"
    ]
    assert bot.discord.identifies == 1  # the same session: no reconnect was needed
    assert len(bot.model.requests) == 1


async def test_start_up_does_not_warn_about_voice_the_bot_never_uses(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # discord.py warns once per process; make this start the first one.
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    caplog.set_level(logging.INFO)
    async with running_discord(tmp_path) as bot:
        await bot.discord.say(f"<@{bot.discord.bot_id}> hello", mention_bot=True)
        await bot.until(lambda: answered(bot, "hello"))
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "voice will NOT be supported" in line], lines


def test_discord_retries_while_it_is_unreachable_log_one_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet_retries()
    caplog.set_level(logging.INFO)
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")
    logging.getLogger("discord.shard").error(
        "Attempting a reconnect for shard ID %s in %.2fs", 0, 1.5, exc_info=refused
    )
    logging.getLogger("discord.client").exception("Attempting a reconnect in %.2fs", 2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "Attempting a reconnect for shard ID 0 in 1.50s "
        "(ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 9))",
        "Attempting a reconnect in 2.00s",
    ]
    assert "Traceback" not in caplog.text
