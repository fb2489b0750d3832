"""Durable requests across a crash: a worker killed with SIGKILL while the model is
thinking; the restarted process answers every accepted question exactly once, under
the single reservation it already holds."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from bot.config import WeekPolicy
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine
from tests.fakes.bot_process import free_port, slack_env, start_bot
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, event_callback, post_signed

SECRET = "durable-secret"
QUESTIONS = 5


async def test_requests_in_flight_when_a_worker_is_killed_are_answered_once(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    port = free_port()
    async with FakeOpenAI(latency=3.0) as model, FakeSlack() as slack:
        env = slack_env(
            db=db,
            model_url=model.base_url,
            slack_url=slack.base_url,
            token=slack.token,
            secret=SECRET,
            port=port,
            JOB_LEASE_SECONDS="5",
        )
        first = await start_bot(env)
        url = f"http://127.0.0.1:{port}/slack/events"
        async with aiohttp.ClientSession() as http:
            for i in range(QUESTIONS):
                event = {
                    "type": "app_mention",
                    "user": "U0ANN",
                    "channel": "C0001",
                    "text": f"<@UBOT> question {i}",
                    "ts": f"1700000100.{i:06d}",
                }
                status, _, _ = await post_signed(
                    http, url, event_callback(event, event_id=f"EvK{i}"), secret=SECRET, form=False
                )
                assert status == 200
        async with asyncio.timeout(30):
            await model.wait_for_requests(QUESTIONS)  # every question is with the model
        first.send_signal(signal.SIGKILL)
        await first.wait()
        assert not any("You asked" in str(c.args.get("text")) for c in slack.calls)

        second = await start_bot(env)
        try:
            async with asyncio.timeout(60):
                await slack.wait_for(
                    lambda: (
                        sum(
                            "You asked: question" in str(c.args.get("text"))
                            for c in slack.calls
                            if c.method in ("chat.update", "chat.postMessage")
                        )
                        >= QUESTIONS
                    )
                )
            await asyncio.sleep(1.0)  # room for a duplicate to show up, if there were one
        finally:
            second.terminate()
            await second.wait()

    for i in range(QUESTIONS):
        answers = [
            m for m in slack.thread("C0001", f"1700000100.{i:06d}") if "You asked" in m["text"]
        ]
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
