"""Durable requests across a crash and a deploy: a worker killed with SIGKILL, or
stopped with SIGTERM, while the model is thinking. Every accepted question is answered
exactly once (within the grace period, or by the next process), under the single
reservation it already holds."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest

from bot.config import WeekPolicy
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine
from tests.builders import mention_callback, short_lease_slack_env
from tests.fakes.bot_process import start_bot
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, post_signed

SECRET = "durable-secret"
QUESTIONS = 5


def bot_env(db: str, model: FakeOpenAI, slack: FakeSlack, port: int, **extra: str) -> dict:
    return short_lease_slack_env(slack, model, db=db, secret=SECRET, port=port, **extra)


async def ask(port: int, tag: str) -> None:
    url = f"http://127.0.0.1:{port}/slack/events"
    async with aiohttp.ClientSession() as http:
        for i in range(QUESTIONS):
            body = mention_callback(f"question {i}", ts=f"{tag}.{i:06d}", event_id=f"Ev{tag}{i}")
            status, _, _ = await post_signed(http, url, body, secret=SECRET, form=False)
            assert status == 200


def answered(slack: FakeSlack) -> int:
    """Messages now showing a finished answer (streamed partial edits show the text
    too, but only a finished answer carries the footer)."""
    return sum(
        "You asked: question" in m["text"] and "left this week" in m["text"]
        for m in slack.messages.values()
    )


async def each_answered_and_charged_once(slack: FakeSlack, db: str, tag: str) -> None:
    for i in range(QUESTIONS):
        answers = [m for m in slack.thread("C0001", f"{tag}.{i:06d}") if "You asked" in m["text"]]
        assert len(answers) == 1, (i, answers)
    engine = make_engine(db)
    try:
        window = week_window(utc_now(), WeekPolicy())
        usage = await SqlLedger(engine).usage(
            "slack:T0001", window, limits={"o1": 30}, with_users=False
        )
    finally:
        await engine.dispose()
    assert usage.models[0].used == QUESTIONS  # one reservation each, never two


async def asked_and_with_the_model(
    env: dict, model: FakeOpenAI, port: int, tag: str
) -> asyncio.subprocess.Process:
    """A bot started on ``env`` and asked QUESTIONS, once every one is with the model."""
    bot = await start_bot(env)
    await ask(port, tag)
    async with asyncio.timeout(30):
        await model.wait_for_requests(QUESTIONS)
    return bot


async def stop_with_sigterm(bot: asyncio.subprocess.Process) -> None:
    bot.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await bot.wait() == 0


async def finish_in_a_new_process(env: dict, slack: FakeSlack) -> None:
    second = await start_bot(env)
    try:
        async with asyncio.timeout(60):
            await slack.wait_for(lambda: answered(slack) >= QUESTIONS)
        await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
    finally:
        second.terminate()
        await second.wait()


@pytest.mark.parametrize("when", ["thinking", "streaming"])
async def test_requests_in_flight_when_a_worker_is_killed_are_answered_once(
    tmp_path: Path, when: str
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    port, tag = free_port(), "1700000100"
    async with FakeOpenAI(latency=6.0) as model, FakeSlack() as slack:
        model.chunk_chars = 2  # the answers trickle in over the model's 6 s
        env = bot_env(db, model, slack, port)
        first = await asked_and_with_the_model(env, model, port, tag)
        if when == "streaming":
            # Part of every answer is showing in Slack: the next worker cannot
            # continue those streams, so it must replace them, not add to them.
            async with asyncio.timeout(30):
                await slack.wait_for(lambda: len(slack.streams) >= QUESTIONS)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert answered(slack) == 0
        await finish_in_a_new_process(env, slack)
        if when == "streaming":
            assert len(slack.calls_to("chat.delete")) >= QUESTIONS  # the stale streams
    await each_answered_and_charged_once(slack, db, tag)


async def test_sigterm_lets_calls_in_flight_finish_within_the_grace_period(
    tmp_path: Path,
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'graceful.db'}"
    port, tag = free_port(), "1700000200"
    async with FakeOpenAI(latency=2.0) as model, FakeSlack() as slack:
        env = bot_env(db, model, slack, port, SHUTDOWN_GRACE_SECONDS="30")
        await stop_with_sigterm(await asked_and_with_the_model(env, model, port, tag))
        # Delivered by the stopping process, through connections it kept open for them.
        assert answered(slack) == QUESTIONS
    await each_answered_and_charged_once(slack, db, tag)


async def test_sigterm_hands_back_what_the_grace_period_cannot_finish(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'handback.db'}"
    port, tag = free_port(), "1700000300"
    async with FakeOpenAI(latency=4.0) as model, FakeSlack() as slack:
        env = bot_env(db, model, slack, port, SHUTDOWN_GRACE_SECONDS="0.5")
        await stop_with_sigterm(await asked_and_with_the_model(env, model, port, tag))
        assert answered(slack) == 0
        # Handed back (lease cleared): the next process takes them at once.
        await finish_in_a_new_process(env, slack)
    await each_answered_and_charged_once(slack, db, tag)
