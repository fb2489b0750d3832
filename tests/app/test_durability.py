"""Durable requests across a crash: a worker killed with SIGKILL while the model is
thinking; the restarted process answers every accepted question exactly once, under
the single reservation it already holds."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from bot.config import WeekPolicy
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, event_callback, post_signed

ROOT = Path(__file__).resolve().parents[2]
SECRET = "durable-secret"
QUESTIONS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "run", cwd=ROOT, env=env
    )
    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)


async def test_requests_in_flight_when_a_worker_is_killed_are_answered_once(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'durable.db'}"
    port = free_port()
    async with FakeOpenAI(latency=3.0) as model, FakeSlack() as slack:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.update(
            DATABASE_URL=db,
            OPENAI_BASE_URL=model.base_url,
            OPENAI_API_KEY="sk-x",
            SLACK_BOT_TOKEN=slack.token,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.base_url,
            PORT=str(port),
            HOST="127.0.0.1",
            JOB_LEASE_SECONDS="5",
            LOG_LEVEL="WARNING",
        )
        first = await start(env, port)
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

        second = await start(env, port)
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
