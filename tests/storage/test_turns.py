"""`Turns`: the database's connections (SQLite's one, PostgreSQL's pool) go to urgent
work first, others in order, and a waiter cancelled while its turn arrives never blocks
the ones after it."""

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


async def test_a_pool_of_connections_serves_that_many_at_once_then_urgent_first() -> None:
    turns = Turns(capacity=2)
    release = asyncio.Event()
    order: list[str] = []

    async def use(name: str, priority: int = NORMAL) -> None:
        async with turns(priority):
            order.append(name)
            if name.startswith("holder"):
                await release.wait()

    holders = [asyncio.create_task(use(f"holder{i}")) for i in range(2)]
    await asyncio.sleep(0)
    assert order == ["holder0", "holder1"]  # both connections in use, nobody waited
    waiting = [asyncio.create_task(use("n1")), asyncio.create_task(use("u1", URGENT))]
    await asyncio.sleep(0)
    assert len(order) == 2
    release.set()
    await asyncio.gather(*holders, *waiting)
    assert order[2:] == ["u1", "n1"]
    async with asyncio.timeout(1), turns(), turns():  # both connections free again
        pass
