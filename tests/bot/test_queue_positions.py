"""Queue positions stay cheap however long the queue: a burst of queued questions is
placed with one batched read, and past `QUEUE_POSITION_BOUND` the asker is told "1,000+
ahead" instead of an exact place."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime

from bot import messages
from bot.dispatch import Dispatcher, DispatchSettings
from bot.domain import AskRequest
from bot.ports import QUEUE_POSITION_BOUND
from storage import SqlJobQueue
from tests.bot.test_dispatch import Desk, desk  # noqa: F401
from tests.harness import WAIT_S


class CountedQueue(SqlJobQueue):
    """The real queue, counting the positions reads the dispatcher makes."""

    calls: list[list[str]]

    async def positions(self, keys: Sequence[str], *, now: datetime) -> Mapping[str, int]:
        self.calls.append(list(keys))
        return await super().positions(keys, now=now)


async def test_a_burst_of_queued_questions_is_placed_with_one_read(desk: Desk) -> None:  # noqa: F811
    queue = CountedQueue(desk.rt.engine)
    queue.calls = []
    desk.dispatcher = Dispatcher(
        service=desk.rt.service,
        queue=queue,
        # No periodic refresh during the test: every read is one the burst caused.
        settings=DispatchSettings(max_concurrent=1, poll_s=0.05, queue_refresh_s=600),
    )
    desk.dispatcher.register("test", desk.replier)
    desk._task = asyncio.create_task(desk.dispatcher.run(desk._stop))
    first = await desk.ask("team", 0)
    async with asyncio.timeout(WAIT_S):
        while desk.dispatcher.in_flight < 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    # The only slot is taken: the burst is queued.
    burst = [
        AskRequest(
            platform="test",
            team=f"t{i}",
            channel="C1",
            thread=f"t{i}",
            user="u",
            text="question",
            key=f"t{i}",
        )
        for i in range(20)
    ]
    assert all(await asyncio.gather(*(desk.dispatcher.submit(r, {"model": "o1"}) for r in burst)))
    async with asyncio.timeout(WAIT_S):
        while not all(r.key in desk.seen and desk.positions(r.key) for r in burst):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    assert first not in {k for call in queue.calls for k in call}
    assert 1 <= len(queue.calls) <= 2, queue.calls
    assert sorted(desk.positions(r.key)[0] for r in burst) == list(range(1, 21))


def test_a_place_past_the_bound_reads_as_more_than_the_bound() -> None:
    assert "1,000+ ahead" in messages.thinking("o1", 0.0, QUEUE_POSITION_BOUND + 1)
    assert "position 1000" in messages.thinking("o1", 0.0, QUEUE_POSITION_BOUND)
