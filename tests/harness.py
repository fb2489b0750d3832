"""What the platform test harnesses share: waiting for the fake platform to see
something, and for the dispatcher to finish questions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from app.wiring import Runtime

WAIT_S = 20.0  # generous: a loaded CI machine, never a timing assertion
POLL_S = 0.05


@contextlib.asynccontextmanager
async def serving(
    rt: Runtime, platform: Callable[[asyncio.Event], Awaitable[None]]
) -> AsyncIterator[None]:
    """``platform(stop)`` and the runtime's dispatcher run for the length of the block,
    then stop together (an error either raised comes out here)."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(platform(stop)), asyncio.create_task(rt.dispatcher.run(stop))]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


class FakePlatform(Protocol):
    async def wait_for(self, predicate: Any) -> None: ...


class Waits:
    """Mixin for a harness with ``rt`` (the runtime) and ``fake`` (the platform)."""

    rt: Runtime

    @property
    def fake(self) -> FakePlatform:
        raise NotImplementedError

    async def settled(self, n: int) -> None:
        """Until ``n`` questions are finished (answer delivered *and* recorded)."""
        for _ in range(int(WAIT_S / POLL_S)):
            if sum(self.rt.dispatcher.outcomes.values()) >= n:
                return
            await asyncio.sleep(POLL_S)
        raise TimeoutError(f"{n} questions did not finish")

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            await self.fake.wait_for(predicate)
