"""The pacer: a crowd passes a few per loop turn, urgent callers first, and how many
pass adapts to how long the turns take."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator

import pytest

from bot.pacing import MIN_PER_TURN, NORMAL, URGENT, Pacer


class Turns:
    """Counts the event loop's turns: a callback that reschedules itself runs once a
    turn (``call_soon`` from inside a turn runs in the next)."""

    def __init__(self) -> None:
        self.now = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.now += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def __enter__(self) -> Turns:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._handle is not None
        self._handle.cancel()


def per_turn(turns: list[int]) -> Iterator[int]:
    """How many passed in each turn that saw any pass."""
    for turn in sorted(set(turns)):
        yield turns.count(turn)


async def test_a_few_pass_at_once_without_waiting() -> None:
    pacer = Pacer(per_turn=4)
    with Turns() as turns:
        for _ in range(4):
            await pacer()
        assert turns.now == 0  # none of them gave up the loop
        await pacer()  # the fifth waits for the next turn
        assert turns.now >= 1


async def test_a_crowd_passes_per_turn_and_in_order() -> None:
    pacer = Pacer(per_turn=8, turn_s=10.0)  # turns here are short: no adapting down
    passed: list[tuple[int, int]] = []

    async def one(i: int, turns: Turns) -> None:
        await pacer()
        passed.append((i, turns.now))

    with Turns() as turns:
        await asyncio.gather(*(one(i, turns) for i in range(100)))
    assert [i for i, _ in passed] == list(range(100))
    counts = list(per_turn([t for _, t in passed]))
    assert sum(counts) == 100
    # Full turns under half the target double the allowance, never past it at once.
    assert counts[0] == 8
    assert all(b <= 2 * a for a, b in itertools.pairwise(counts))
    assert len(counts) > 3


async def test_urgent_callers_go_first() -> None:
    pacer = Pacer(per_turn=1, turn_s=10.0)
    order: list[str] = []

    async def one(name: str, priority: int) -> None:
        await pacer(priority)
        order.append(name)

    # All start in one turn: the first takes its one place, the rest wait.
    await asyncio.gather(
        one("job 1", NORMAL),
        one("job 2", NORMAL),
        one("job 3", NORMAL),
        one("ack 1", URGENT),
        one("ack 2", URGENT),
    )
    assert order == ["job 1", "ack 1", "ack 2", "job 2", "job 3"]


async def test_acknowledgements_keep_their_pace_however_long_the_turns() -> None:
    pacer = Pacer(per_turn=1, turn_s=0.0, urgent_per_turn=3)  # every turn "too long"
    passed: list[tuple[str, int]] = []

    async def one(name: str, priority: int, turns: Turns) -> None:
        await pacer(priority)
        passed.append((name, turns.now))

    with Turns() as turns:
        await asyncio.gather(
            *(one("job", NORMAL, turns) for _ in range(3)),
            *(one("ack", URGENT, turns) for _ in range(9)),
        )
    acks = [t for name, t in passed if name == "ack"]
    # Three a turn; in the first, the job that came first had taken one place.
    assert list(per_turn(acks)) == [2, 3, 3, 1]
    jobs = [t for name, t in passed if name == "job"]
    assert passed[0][0] == "job"  # the first job passed before any ack arrived
    assert sorted(jobs)[1] > max(acks)  # the others waited for the acks


async def test_a_cancelled_waiter_gives_its_place_to_the_next() -> None:
    pacer = Pacer(per_turn=1, turn_s=10.0)
    # Started in one turn, in this order: the first passes, the next two wait, and the
    # fourth cancels the first of those while it waits.
    first = asyncio.create_task(pacer())
    gone = asyncio.create_task(pacer())
    stays = asyncio.create_task(pacer())

    async def cancel_gone() -> None:
        gone.cancel()

    canceller = asyncio.create_task(cancel_gone())
    async with asyncio.timeout(1):
        await first
        await stays
        await canceller
    assert gone.cancelled()
    assert pacer.waiting == 0


async def test_long_turns_let_fewer_through_and_the_next_crowd_starts_afresh() -> None:
    pacer = Pacer(per_turn=16, turn_s=0.005)
    seen: list[int] = []

    async def busy() -> None:
        await pacer()
        seen.append(pacer.per_turn)
        time.sleep(0.001)  # noqa: ASYNC251 (the point: 16 make a turn 3x too long)

    await asyncio.gather(*(busy() for _ in range(200)))
    assert min(seen) == MIN_PER_TURN
    for _ in range(3):  # the crowd's last turn, then one with nobody waiting
        await asyncio.sleep(0)
    assert pacer.per_turn == 16


def test_at_least_one_passes_per_turn() -> None:
    with pytest.raises(ValueError):
        Pacer(per_turn=0)


def test_a_pacer_outlives_its_event_loop() -> None:
    """A loop that closes mid-turn (a test's, a restart's) drops the pacer's scheduled
    turn: the next loop still gets callers through."""
    pacer = Pacer(per_turn=2)

    async def crowd() -> None:
        await asyncio.gather(*(pacer() for _ in range(5)))

    async def fill_this_turn() -> None:
        asyncio.get_running_loop().stop()  # after this turn
        await pacer()
        await pacer()  # the turn is full; its reset is scheduled and never runs

    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(fill_this_turn())
    finally:
        first.close()
    asyncio.run(asyncio.wait_for(crowd(), 1))
