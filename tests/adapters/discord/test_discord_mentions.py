"""Mentions the bot does not answer with a thread: a refusal (quota used up) is a reply
to the mention, a mention waiting in the queue gets a reaction, and a direct message
gets the "ask me in a server" reply once."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

from adapters.discord.messages import GUILD_ONLY
from adapters.discord.replier import QUEUED_REACTION
from tests.adapters.discord.conftest import DiscordHarness, running_discord
from tests.builders import platform_catalogue


def replies_to(bot: DiscordHarness, mid: str) -> list[dict[str, Any]]:
    return [
        m
        for m in bot.sent()
        if str((m.get("message_reference") or {}).get("message_id")) == mid
        and m["author"]["id"] == bot.discord.bot_id
    ]


def answered(bot: DiscordHarness, question: str) -> bool:
    return any(f"You asked: {question}" in m["content"] for m in bot.sent())


def assert_pings_no_one(message: dict[str, Any]) -> None:
    assert message["allowed_mentions"] == {"parse": [], "replied_user": False}


async def test_a_mention_over_quota_is_refused_in_a_reply_without_a_thread(
    tmp_path: Path,
) -> None:
    async with running_discord(tmp_path, catalogue=platform_catalogue(o1_limit=1)) as bot:
        first = await bot.discord.say(f"<@{bot.discord.bot_id}> one", mention_bot=True)
        await bot.until(lambda: answered(bot, "one"))
        await bot.settled(1)
        second = await bot.discord.say(f"<@{bot.discord.bot_id}> two", mention_bot=True)
        await bot.until(lambda: bool(replies_to(bot, second)))
        await bot.settled(2)
        (refusal,) = replies_to(bot, second)
        assert "used all 1" in refusal["content"]
        assert refusal["channel_id"] == bot.discord.channel_id
        assert_pings_no_one(refusal)
        assert bot.thread_ids() == [first]  # the answered one's thread only
        assert len(bot.model.requests) == 1
        assert not bot.discord.refusals


async def test_queued_mentions_get_a_reaction_and_their_refusal_makes_no_thread(
    tmp_path: Path,
) -> None:
    async with running_discord(
        tmp_path, catalogue=platform_catalogue(o1_limit=1), max_concurrent_calls=1
    ) as bot:
        bot.model.latency = 2.0
        first = await bot.discord.say(f"<@{bot.discord.bot_id}> first", mention_bot=True)
        await bot.until(lambda: bool(bot.model.requests))  # the only slot is taken
        queued = [
            await bot.discord.say(f"<@{bot.discord.bot_id}> queued {i}", mention_bot=True)
            for i in range(2)
        ]
        await bot.until(lambda: all(replies_to(bot, mid) for mid in queued))
        await bot.until(lambda: answered(bot, "first"))
        await bot.settled(3)
        for mid in queued:
            assert [unquote(r) for r in bot.discord.reactions[mid]] == [QUEUED_REACTION]
            (refusal,) = replies_to(bot, mid)
            assert "used all 1" in refusal["content"]
        assert bot.thread_ids() == [first]
        assert len(bot.model.requests) == 1


async def test_a_direct_message_gets_the_use_me_in_a_server_reply_once(
    bot: DiscordHarness,
) -> None:
    fake = bot.discord
    mentioned = await fake.say(f"<@{fake.bot_id}> hi", mention_bot=True, dm=True)
    plain = await fake.say("are you there?", dm=True, uid="301")
    await fake.dispatch("MESSAGE_CREATE", fake.messages[mentioned])  # a gateway replay
    marker = await fake.say("last one", dm=True, uid="302")
    await bot.until(lambda: all(replies_to(bot, mid) for mid in (mentioned, plain, marker)))
    for mid in (mentioned, plain, marker):
        (reply,) = replies_to(bot, mid)
        assert reply["content"] == GUILD_ONLY
        assert reply["channel_id"] == fake.messages[mid]["channel_id"]
        assert_pings_no_one(reply)
    assert not bot.model.requests and not bot.thread_ids()


async def test_an_unknown_model_of_2000_characters_is_refused_within_discords_limit(
    bot: DiscordHarness,
) -> None:
    fake = bot.discord
    # Discord takes slash options of up to 6,000 characters and messages of 2,000; the
    # refusal names the model asked for, so it can be longer than Discord accepts.
    iid = await fake.slash(
        "reason", [{"name": "question", "type": 3, "value": f"--model {'x' * 5_000} hi"}]
    )
    mid = await fake.say(f"<@{fake.bot_id}> --model {'y' * 1_950} hi", mention_bot=True)
    await bot.until(lambda: bool(replies_to(bot, mid)))
    await bot.until(lambda: not fake.messages[fake.originals[iid]]["flags"] & 128)
    deferred = fake.messages[fake.originals[iid]]["content"]
    (reply,) = replies_to(bot, mid)
    for text in (deferred, reply["content"]):
        assert text.startswith("There is no model called") and len(text) <= 2_000
    assert not fake.refusals, [(c.method, c.path) for c in fake.refusals]
    assert not bot.model.requests and not bot.thread_ids()
