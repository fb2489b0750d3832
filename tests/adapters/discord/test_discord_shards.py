"""Discord shards split across processes: two real `reasonbot run` processes, one shard of
two each, on one PostgreSQL database, against the fake Discord's sharded gateway. Each
process holds only its own guild; every question in either guild is answered once, in a
thread, and charged once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from app.discord_runner import point_at
from bot.config import WeekPolicy
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine, upgrade
from tests.adapters.discord.conftest import run_until_refused, running_discord
from tests.builders import discord_env
from tests.dbutil import fresh_database, postgres_base_url
from tests.fakes.bot_process import start_bot
from tests.fakes.discord_server import SECOND_GUILD, FakeDiscord, FakeGuild, shard_of
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import WAIT_S

SHARDS = 2


@dataclass(frozen=True)
class Asked:
    question: str
    guild: FakeGuild
    slash: str | None = None  # the interaction id, for /reason
    mention: str | None = None  # the message id, for @reasonbot


def answers_to(fake: FakeDiscord, question: str) -> list[dict[str, Any]]:
    """Finished answers (a streamed status shows the text too, but not the footer)."""
    return [
        m
        for m in fake.messages.values()
        if f"You asked: {question}" in m["content"] and "left this week" in m["content"]
    ]


async def ask_in_every_guild(fake: FakeDiscord, tag: str) -> list[Asked]:
    """In each guild, one `/reason` and one @-mention."""
    asked = []
    for guild in fake.guilds:
        question = f"{tag} slash in {guild.name}"
        option = {"name": "question", "type": 3, "value": question}
        iid = await fake.slash("reason", [option], channel_id=guild.channel_id)
        asked.append(Asked(question, guild, slash=iid))
        question = f"{tag} mention in {guild.name}"
        mid = await fake.say(
            f"<@{fake.bot_id}> {question}", channel_id=guild.channel_id, mention_bot=True
        )
        asked.append(Asked(question, guild, mention=mid))
    return asked


def assert_answered_once_in_a_thread(fake: FakeDiscord, asked: Asked) -> None:
    (answer,) = answers_to(fake, asked.question)
    thread = fake.threads[answer["channel_id"]]
    assert thread["guild_id"] == asked.guild.id
    assert thread["parent_id"] == asked.guild.channel_id
    if asked.mention:
        assert thread["id"] == asked.mention  # started on the mention itself
    else:
        assert fake.responded[str(asked.slash)] == 5  # deferred …
        (pointer,) = [
            c.body
            for c in fake.calls_to("PATCH", "/messages/@original")
            if f"/tok-{asked.slash}/" in c.path
        ]
        assert f"<#{thread['id']}>" in pointer["content"]  # … then pointed at the thread


async def used_this_week(db: str, guild: FakeGuild) -> int:
    engine = make_engine(db)
    try:
        window = week_window(utc_now(), WeekPolicy())
        usage = await SqlLedger(engine).usage(
            f"discord:{guild.id}", window, limits={"o1": 30}, with_users=False
        )
    finally:
        await engine.dispose()
    return usage.models[0].used


@contextlib.asynccontextmanager
async def shard_process(env: dict[str, str], fake: FakeDiscord, shard: int) -> AsyncIterator[None]:
    """`reasonbot run` serving one shard, from its IDENTIFY until it stops cleanly."""
    known = len(fake.identified)
    proc = await start_bot({**env, "DISCORD_SHARD_IDS": str(shard), "PORT": str(free_port())})
    try:
        async with asyncio.timeout(WAIT_S):
            await fake.wait_for(lambda: len(fake.identified) > known)
        assert fake.identified[known:] == [(shard, SHARDS)]  # its own shard, nothing else
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(WAIT_S):
            code = await proc.wait()
    assert code == 0


async def test_two_shard_processes_answer_every_guild_once_with_exact_quotas(
    tmp_path: Path,
) -> None:
    postgres_base_url()  # skips (or fails in CI) without a PostgreSQL to test against
    async with (
        fresh_database("postgres", tmp_path) as db,
        FakeOpenAI() as model,
        FakeDiscord(extra_guilds=[SECOND_GUILD], recommended_shards=SHARDS) as fake,
    ):
        by_shard = {shard_of(g.id, SHARDS): g for g in fake.guilds}
        assert sorted(by_shard) == [0, 1]  # the two guilds fall on different shards
        engine = make_engine(db)
        try:
            await upgrade(engine)  # `run` leaves PostgreSQL migrations to the release step
        finally:
            await engine.dispose()
        env = discord_env(
            fake,
            model,
            db=db,
            port=0,  # each process gets its own
            DISCORD_SHARD_COUNT=str(SHARDS),
        )
        async with shard_process(env, fake, 0), shard_process(env, fake, 1):
            for session in fake.sessions:
                shard_id = session.shard[0]
                ready = next(f["d"] for f in session.sent if f["t"] == "READY")
                assert ready["shard"] == [shard_id, SHARDS]
                assert [g["id"] for g in ready["guilds"]] == [by_shard[shard_id].id]

            asked = await ask_in_every_guild(fake, "first")
            # The same interaction delivered again to its shard (as after a replay).
            duplicate = str(asked[0].slash)
            await fake.dispatch("INTERACTION_CREATE", fake.interactions[duplicate])
            async with asyncio.timeout(WAIT_S):
                await fake.wait_for(lambda: all(answers_to(fake, a.question) for a in asked))
                # Both deliveries tried to acknowledge it and Discord refused the later
                # one ("already acknowledged"), so nothing behind that one can run.
                await fake.wait_for(
                    lambda: len(fake.calls_to("POST", f"/interactions/{duplicate}/")) == 2
                )

            # Shard 0 is told to reconnect (op 7): it resumes its own session; shard 1's
            # connection carries on untouched.
            shard0 = next(s for s in fake.sessions if s.shard == (0, SHARDS))
            old_socket = shard0.ws
            await fake.reconnect(shard_id=0)
            async with asyncio.timeout(WAIT_S):
                await fake.wait_for(lambda: fake.resumes == 1)
            assert shard0.ws is not old_socket

            asked += await ask_in_every_guild(fake, "after resume")
            slashes = sum(a.slash is not None for a in asked)
            async with asyncio.timeout(WAIT_S):
                await fake.wait_for(lambda: all(answers_to(fake, a.question) for a in asked))
                await fake.wait_for(
                    lambda: len(fake.calls_to("PATCH", "/messages/@original")) >= slashes
                )
            usage = {g.id: await used_this_week(db, g) for g in fake.guilds}

    for session in fake.sessions:
        # Only this shard's guild, and only its guild's events, reached this process.
        guild = by_shard[session.shard[0]]
        assert [f["d"]["id"] for f in session.sent if f["t"] == "GUILD_CREATE"] == [guild.id]
        assert {f["d"]["guild_id"] for f in session.sent if "guild_id" in f["d"]} == {guild.id}
    for each in asked:
        assert_answered_once_in_a_thread(fake, each)
    assert len(model.requests) == len(asked)  # one model call per question
    per_guild = len(asked) // len(fake.guilds)
    assert usage == {g.id: per_guild for g in fake.guilds}  # one charge per question
    assert fake.identifies == SHARDS and len(fake.sessions) == SHARDS


async def test_an_impossible_shard_is_refused_with_close_code_4010() -> None:
    async with FakeDiscord() as fake:
        point_at(fake.base, fake.gateway)
        client = discord.AutoShardedClient(
            intents=discord.Intents.default(), shard_ids=[2], shard_count=SHARDS
        )
        try:
            await client.login(fake.token)
            with pytest.raises(discord.ConnectionClosed) as closed:
                async with asyncio.timeout(WAIT_S):
                    await client.connect(reconnect=True)
        finally:
            await client.close()
    assert closed.value.code == 4010
    assert fake.identified == [(2, SHARDS)] and not fake.sessions


async def test_an_impossible_shard_stops_the_bot_before_it_connects(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        code, err = await run_until_refused(
            tmp_path,
            fake,
            DISCORD_SHARD_COUNT=str(SHARDS),
            DISCORD_SHARD_IDS=str(SHARDS),  # ids go from 0 to SHARDS - 1
        )
    assert code == 2
    assert "configuration error" in err and "discord_shard_ids" in err
    assert "Traceback" not in err
    assert not fake.calls and not fake.identified  # nothing reached Discord
    assert not (tmp_path / "discord.db").exists()


async def test_a_token_discord_refuses_stops_the_bot_with_a_clear_message(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        code, text = await run_until_refused(tmp_path, fake, token="not.the.token")
    assert code == 2, text
    assert "DISCORD_TOKEN: Discord refused this bot token" in text
    assert "Traceback" not in text and "Unclosed" not in text and "not.the.token" not in text
    assert not fake.identified


async def test_without_shard_settings_one_process_runs_the_shards_discord_recommends(
    tmp_path: Path,
) -> None:
    options = {"extra_guilds": [SECOND_GUILD], "recommended_shards": SHARDS}
    async with running_discord(tmp_path, fake_options=options) as bot:
        fake = bot.discord
        assert sorted(fake.identified) == [(0, SHARDS), (1, SHARDS)]
        asked = await ask_in_every_guild(fake, "auto")
        await bot.until(lambda: all(answers_to(fake, a.question) for a in asked))
        await bot.until(
            lambda: len(fake.calls_to("PATCH", "/messages/@original")) == len(asked) // 2
        )
    for each in asked:
        assert_answered_once_in_a_thread(fake, each)
    assert fake.identifies == SHARDS


async def test_recommended_shards_connect_to_the_configured_gateway(tmp_path: Path) -> None:
    # Through a proxy, GET /gateway/bot still names Discord's own gateway.
    unreachable = f"ws://127.0.0.1:{free_port()}/gateway"
    options = {"recommended_shards": SHARDS}
    async with running_discord(
        tmp_path, fake_options=options, advertised_gateway=unreachable
    ) as bot:
        assert sorted(bot.discord.identified) == [(0, SHARDS), (1, SHARDS)]
