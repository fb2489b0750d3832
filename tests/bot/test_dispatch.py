"""Capacity and fairness in the dispatcher, through the real queue and ledger (SQLite) and
the fake model server: a cap on concurrent calls, the provider's requests-per-minute
limit, queued askers told where they stand, and one busy team never starving another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.settings import Settings
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.dispatch import Dispatcher, DispatchSettings, Job, SaveRoute
from bot.domain import AskRequest
from bot.ports import Replier
from tests.bot.test_service import Transcript
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import WAIT_S


@dataclass
class Desk:
    """Askers on a "test" platform: what each of them saw, by request key."""

    rt: Runtime
    model: FakeOpenAI
    seen: dict[str, Transcript] = field(default_factory=dict)
    dispatcher: Dispatcher | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def replier(self, job: Job, save: SaveRoute) -> Replier:
        # One transcript per question, whichever replier object the dispatcher makes.
        return self.seen.setdefault(job.key, Transcript())

    def start(self, monotonic: Callable[[], float] | None = None, **settings: object) -> None:
        extra = {"monotonic": monotonic} if monotonic else {}
        self.dispatcher = Dispatcher(
            service=self.rt.service,
            queue=self.rt.queue,
            settings=DispatchSettings(poll_s=0.05, queue_refresh_s=0.05, **settings),  # type: ignore[arg-type]
            **extra,  # type: ignore[arg-type]
        )
        self.dispatcher.register("test", self.replier)
        self._task = asyncio.create_task(self.dispatcher.run(self._stop))

    async def ask(self, team: str, n: int) -> str:
        assert self.dispatcher is not None
        key = f"{team}-{n}"
        request = AskRequest(
            platform="test",
            team=team,
            channel="C1",
            thread=key,
            user=f"{team}-user",
            text=f"question {key}",
            key=key,
        )
        assert await self.dispatcher.submit(request, {"model": "o1"})
        return key

    async def answered(self, n: int) -> None:
        assert self.dispatcher is not None
        async with asyncio.timeout(WAIT_S):
            while sum(self.dispatcher.outcomes.values()) < n:  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    def positions(self, key: str) -> list[int]:
        return [p.queued_position for p in self.seen[key].updates if p.queued_position is not None]

    def asked_in_order(self) -> list[str]:
        return [str(r.body["messages"][-1]["content"]).split()[-1] for r in self.model.requests]

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async with FakeOpenAI(latency=0.3) as model:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'dispatch.db'}",
            openai_base_url=model.base_url,
            openai_api_key="sk-test",
            openai_max_retries=0,
            _env_file=None,  # type: ignore[call-arg]
        )
        catalogue = Catalogue(
            models=[ModelSpec(alias="o1", id="o1", weekly_limit=100, streaming=False)],
            progress_every_s=60,
        )
        async with build_runtime(settings, catalogue) as rt:
            d = Desk(rt, model)
            try:
                yield d
            finally:
                await d.stop()


async def test_over_the_cap_questions_wait_and_see_their_position_move(desk: Desk) -> None:
    desk.start(max_concurrent=1)
    keys = [await desk.ask("team", i) for i in range(4)]
    await desk.answered(4)
    assert desk.model.peak_in_flight == 1
    assert desk.positions(keys[0]) == []  # taken at once
    last = desk.positions(keys[3])
    assert last[0] == 3 and last[-1] == 1, last
    assert last == sorted(last, reverse=True) and len(set(last)) == len(last)  # only forward
    for key in keys:  # each then thought and answered, once
        t = desk.seen[key]
        assert t.updates[-1].queued_position is None and len(t.answers) == 1


async def test_a_busy_team_does_not_starve_another(desk: Desk) -> None:
    desk.start(max_concurrent=1)
    for i in range(5):
        await desk.ask("busy", i)
    quiet = await desk.ask("quiet", 0)
    await desk.answered(6)
    # Asked last, but next in line: the busy team was served more recently.
    assert desk.positions(quiet) == [1]
    assert desk.asked_in_order() == ["busy-0", "quiet-0", "busy-1", "busy-2", "busy-3", "busy-4"]


async def test_requests_over_the_provider_rpm_wait_in_the_queue_for_the_next_minute(
    desk: Desk,
) -> None:
    minute = [0.0]
    desk.start(monotonic=lambda: minute[0], rpm=2)
    keys = [await desk.ask("team", i) for i in range(3)]
    await desk.answered(2)
    await asyncio.sleep(0.3)  # several claim rounds: none may take the third
    assert len(desk.model.requests) == 2
    # It waits in the shared queue (any worker could take it), not in this process.
    assert await desk.rt.queue.positions([keys[2]], now=desk.rt.service._clock()) == {keys[2]: 1}
    assert desk.positions(keys[2]) == [1]
    minute[0] += 60.0
    await desk.answered(3)
    assert len(desk.model.requests) == 3
    assert len(desk.seen[keys[2]].answers) == 1
