"""Several processes on one PostgreSQL database, deployed as the README says: `reasonbot
run` web processes behind a load balancer and `reasonbot worker` processes beside them.
Wherever Slack's retries land, every event is answered and charged once; quotas stay
exact across processes; a killed process's questions are finished by another worker."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from bot.config import WeekPolicy
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine, upgrade
from tests.builders import mention_callback, short_lease_slack_env
from tests.dbutil import fresh_database
from tests.fakes.bot_process import start_bot
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, post_signed

SECRET = "workers-secret"
LIMIT = 6


@pytest.fixture
async def pg_url(tmp_path: Path):
    async with fresh_database("postgres", tmp_path) as url:
        engine = make_engine(url)
        try:
            await upgrade(engine)  # the Procfile's release step
        finally:
            await engine.dispose()
        yield url


def env(tmp_path: Path, db: str, model: FakeOpenAI, slack: FakeSlack, port: int) -> dict:
    config = tmp_path / "reasonbot.toml"
    config.write_text(
        f'default_model = "o1"\nprogress_every_s = 1\n\n'
        f'[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = {LIMIT}\nstreaming = false\n'
    )
    return short_lease_slack_env(
        slack, model, db=db, secret=SECRET, port=port, REASONBOT_CONFIG=str(config)
    )


def mention(tag: str, i: int) -> str:
    return mention_callback(
        f"question {i}", ts=f"{tag}.{i:06d}", event_id=f"Ev{tag}{i}", user=f"U{i:04d}"
    )


def answer(text: str) -> bool:
    """A finished answer: the fake model's echo, then the footer."""
    return (
        text.startswith("You asked") and re.search(r"left this week( \(.*\))?_$", text) is not None
    )


def finals(slack: FakeSlack, tag: str, i: int) -> list[str]:
    """The thread's messages that end the question: an answer (with its footer) or the
    quota refusal."""
    return [
        m["text"]
        for m in slack.thread("C0001", f"{tag}.{i:06d}")
        if answer(m["text"]) or f"used all {LIMIT}" in m["text"]
    ]


async def used_this_week(db: str) -> int:
    engine = make_engine(db)
    try:
        window = week_window(utc_now(), WeekPolicy())
        usage = await SqlLedger(engine).usage(
            "slack:T0001", window, limits={"o1": LIMIT}, with_users=False
        )
    finally:
        await engine.dispose()
    return usage.models[0].used


async def stop(*procs: asyncio.subprocess.Process) -> None:
    for p in procs:
        if p.returncode is None:
            p.terminate()
    await asyncio.gather(*(p.wait() for p in procs))


async def test_retries_landing_on_another_web_process_are_answered_and_charged_once(
    tmp_path: Path, pg_url: str
) -> None:
    questions, tag = 10, "1700000700"
    async with FakeOpenAI(latency=0.5) as model, FakeSlack() as slack:
        ports = [free_port(), free_port()]
        procs = [await start_bot(env(tmp_path, pg_url, model, slack, p)) for p in ports]
        try:
            async with aiohttp.ClientSession() as http:

                async def deliver(i: int) -> None:
                    # Slack re-sends an event it thinks was lost; behind a load
                    # balancer the copy reaches the other process, at the same moment.
                    body = mention(tag, i)
                    sent = await asyncio.gather(
                        *(
                            post_signed(
                                http,
                                f"http://127.0.0.1:{port}/slack/events",
                                body,
                                secret=SECRET,
                                form=False,
                                retry_num=n or None,
                            )
                            for n, port in enumerate(ports)
                        )
                    )
                    assert [status for status, _, _ in sent] == [200, 200]

                await asyncio.gather(*(deliver(i) for i in range(questions)))
            async with asyncio.timeout(60):
                await slack.wait_for(lambda: all(finals(slack, tag, i) for i in range(questions)))
            await asyncio.sleep(1.5)  # room for a second answer to show up, if there were one
        finally:
            await stop(*procs)
    outcomes = [finals(slack, tag, i) for i in range(questions)]
    assert all(len(texts) == 1 for texts in outcomes), outcomes
    answered = sum(answer(texts[0]) for texts in outcomes)
    assert answered == LIMIT, outcomes  # exactly the quota, across both processes
    assert len(model.requests) == LIMIT  # the refused never reached the model
    assert await used_this_week(pg_url) == LIMIT


async def test_a_killed_web_process_questions_are_finished_by_a_worker(
    tmp_path: Path, pg_url: str
) -> None:
    questions, tag = 4, "1700000800"
    async with FakeOpenAI(latency=1.0) as model, FakeSlack() as slack:
        model.chunk_chars = 2
        # The web process's calls never end (it dies thinking), however long the worker
        # takes to start on a loaded machine; the worker's own calls then answer.
        model.hang(times=questions)
        port = free_port()
        web = await start_bot(env(tmp_path, pg_url, model, slack, port))
        worker = None
        try:
            async with aiohttp.ClientSession() as http:
                for i in range(questions):
                    status, _, _ = await post_signed(
                        http,
                        f"http://127.0.0.1:{port}/slack/events",
                        mention(tag, i),
                        secret=SECRET,
                        form=False,
                    )
                    assert status == 200
            async with asyncio.timeout(30):
                await model.wait_for_requests(questions)  # all with the model, via `web`
            # A worker beside it takes nothing that is leased to a live process …
            worker = await start_bot(
                env(tmp_path, pg_url, model, slack, free_port()), command="worker"
            )
            web.send_signal(signal.SIGKILL)
            await web.wait()
            assert not any(finals(slack, tag, i) for i in range(questions))
            # … and everything once the dead process's leases run out.
            async with asyncio.timeout(60):
                await slack.wait_for(lambda: all(finals(slack, tag, i) for i in range(questions)))
            await asyncio.sleep(1.5)
        finally:
            await stop(web, *([worker] if worker else []))
    outcomes = [finals(slack, tag, i) for i in range(questions)]
    assert all(len(texts) == 1 and answer(texts[0]) for texts in outcomes), outcomes
    assert await used_this_week(pg_url) == questions  # the resumed keep their reservation
