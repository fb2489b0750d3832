"""`Turns`: SQLite's single connection goes to urgent work first, others in order, and
a waiter cancelled while its turn arrives never blocks the ones after it."""

from __future__ import annotations

import asyncio

from storage.engine import NORMAL, URGENT, Turns


async def test_urgent_work_goes_first_and_the_rest_keep_their_order() -> None:
    turns = Turns()
    order: list[str] = []
    release = asyncio.Event()

    async def use(name: str, priority: int) -> None:
        async with turns(priority):
            order.append(name)
            if name == "holder":
                await release.wait()

    holder = asyncio.create_task(use("holder", NORMAL))
    await asyncio.sleep(0)
    waiting = [
        asyncio.create_task(use(name, prio))
        for name, prio in [("n1", NORMAL), ("n2", NORMAL), ("u1", URGENT), ("n3", NORMAL)]
    ]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["holder", "u1", "n1", "n2", "n3"]


async def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    turns = Turns()
    release = asyncio.Event()
    done: list[str] = []

    async def hold() -> None:
        async with turns():
            await release.wait()

    async def use(name: str) -> None:
        async with turns():
            done.append(name)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(use("doomed"))
    after = asyncio.create_task(use("after"))
    await asyncio.sleep(0)
    doomed.cancel()
    release.set()
    await asyncio.gather(holder, after)
    assert done == ["after"] and doomed.cancelled()
    async with asyncio.timeout(1):  # the connection is free again
        async with turns():
            pass
