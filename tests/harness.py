"""What the platform test harnesses share: waiting for the fake platform to see
something, and for the dispatcher to finish questions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from app.wiring import Runtime

WAIT_S = 20.0  # generous: a loaded CI machine, never a timing assertion
POLL_S = 0.05


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
