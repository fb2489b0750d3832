"""Issue 9 item 7: a question whose processing keeps failing, or keeps taking its worker
down, is given up after `JOB_MAX_ATTEMPTS` claims: the asker is told, the charge is
refunded and the job is finished, instead of "Thinking…" forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.wiring import Runtime, build_runtime
from bot import messages
from bot.dispatch import Dispatcher, DispatchSettings, Job, SaveRoute
from bot.domain import AskRequest
from bot.ports import FailureKind, Replier
from bot.weeks import utc_now, week_window
from storage import SqlJobQueue
from tests.bot.test_service import Transcript
from tests.builders import bot_settings, one_model
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import WAIT_S

LEASE_S = 0.3


@dataclass
class Crashing(Transcript):
    """Delivery hits a bug (not a BotError) every time."""

    async def answer(self, text: str, *, footer: str) -> None:
        raise RuntimeError("a bug in delivery")


@dataclass
class Hanging(Transcript):
    """Delivery never returns: the worker is killed while it waits."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def answer(self, text: str, *, footer: str) -> None:
        self.reached.set()
        await asyncio.Event().wait()


@dataclass(frozen=True)
class NoCheckpoint:
    saved_answer: tuple[str, str] | None = None

    async def save_answer(self, text: str, footer: str) -> None:
        return None


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[tuple[Runtime, FakeOpenAI]]:
    async with FakeOpenAI(latency=0.05) as model:
        settings = bot_settings(tmp_path / "poison.db", model)
        catalogue = one_model(10, progress_every_s=60)
        async with build_runtime(settings, catalogue) as runtime:
            yield runtime, model


def request(key: str) -> AskRequest:
    return AskRequest(
        platform="test", team="T", channel="C1", thread=key, user="ann", text="why?", key=key
    )


async def used(runtime: Runtime) -> int:
    window = week_window(utc_now(), runtime.service.catalogue.week)
    usage = await runtime.ledger.usage("T", window, limits={"o1": 10}, with_users=False)
    return sum(m.used for m in usage.models)


async def run_until_given_up(dispatcher: Dispatcher, replier: Transcript) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        async with asyncio.timeout(WAIT_S):
            while not replier.failures:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(3 * LEASE_S)  # long enough for another claim, were there one
    finally:
        stop.set()
        await task


async def claim_when_free(queue: SqlJobQueue, worker: str) -> list[Job]:
    """Once the previous worker's lease has run out."""
    async with asyncio.timeout(WAIT_S):
        while True:
            jobs = await queue.claim(worker=worker, limit=1, lease_s=LEASE_S, now=utc_now())
            if jobs:
                return jobs
            await asyncio.sleep(0.05)


async def holding_one_question(
    runtime: Runtime, replier: Replier
) -> tuple[SqlJobQueue, Dispatcher]:
    """A dispatcher whose every job goes to ``replier``, on a queue (reaped on every
    claim) that holds one question."""
    queue = SqlJobQueue(runtime.engine, reap_every_s=0)
    d = Dispatcher(
        service=runtime.service,
        queue=queue,
        settings=DispatchSettings(poll_s=0.05, lease_s=LEASE_S, max_attempts=3),
    )

    def factory(job: Job, save: SaveRoute) -> Replier:
        return replier

    d.register("test", factory)
    assert await d.submit(request("k1"), {"model": "o1"})
    return queue, d


async def test_a_job_that_keeps_failing_is_given_up_and_refunded(
    rt: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, model = rt
    replier = Crashing()
    queue, d = await holding_one_question(runtime, replier)
    await run_until_given_up(d, replier)
    assert replier.failures == [(messages.gave_up(3), FailureKind.ERROR)]
    assert d.outcomes == {"failed": 1}
    assert len(model.requests) == 1  # the saved answer was retried, not asked again
    assert await used(runtime) == 0 and await queue.depth() == 0


async def test_a_job_whose_worker_dies_every_time_is_given_up_and_refunded(
    rt: tuple[Runtime, FakeOpenAI],
) -> None:
    runtime, _ = rt
    replier = Hanging()
    queue, d = await holding_one_question(runtime, replier)
    for attempt in (1, 2, 3):
        # A worker takes the question, is charged for it and dies before delivering.
        jobs = await claim_when_free(queue, f"doomed-{attempt}")
        assert jobs[0].attempt == attempt
        replier.reached.clear()
        task = asyncio.create_task(
            runtime.service.ask(jobs[0].request, replier, checkpoint=NoCheckpoint())
        )
        async with asyncio.timeout(WAIT_S):
            await replier.reached.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await used(runtime) == 1  # the reservation survives for the next worker
    await run_until_given_up(d, replier)
    assert replier.failures == [(messages.gave_up(4), FailureKind.ERROR)]
    assert await used(runtime) == 0 and await queue.depth() == 0
