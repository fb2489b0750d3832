"""Crowds let through a few at a time, so one turn of the event loop stays short.

asyncio runs, in one turn, every callback that became ready before the turn began. A
burst of a thousand Slack requests, a claim that starts five hundred jobs, or a
thousand model calls ending at once therefore wake hundreds of tasks in the same turn,
and each does a fraction of a millisecond of work before its next wait: one turn of
100-300 ms, during which nothing else runs (no acknowledgement, no heartbeat, no lease
renewal). A `Pacer` sits where such a crowd starts and lets at most ``per_turn`` of it
through per turn; the rest wait their turn in order. The crowd's work is the same; it
is spread over more, shorter turns, with other work between them.

Urgent callers (a platform waiting for its acknowledgement) go before normal ones
(jobs starting, answers being delivered), so pacing the background never delays an
acknowledgement behind it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

URGENT, NORMAL = 0, 1

# How many pass per turn adapts to how long turns take: a Slack request's intake step
# (signature, parsing, writing the job down) is 0.2-0.25 ms of CPU here, a job's first
# step or an answer's delivery 0.1-0.6 ms, and machines differ by 2x. Turns of
# `TURN_S` or less leave a sleeper woken at most about two turns late, under the 50 ms
# that the loop's lag is held to.
TURN_S = 0.015
PER_TURN, MIN_PER_TURN, MAX_PER_TURN = 32, 4, 512
# However long the turns, this many urgent callers pass per turn: Slack retries what
# is not acknowledged within 3 s, and a burst of 1,000 must be through well before
# (64 intake steps are about 16 ms).
URGENT_PER_TURN = 64


class Pacer:
    """``await pacer()`` returns at once while fewer than ``per_turn`` callers passed in
    this turn of the loop and nobody as urgent is waiting; otherwise in a later turn,
    urgent callers first, each priority in arrival order.

    While a crowd waits, how many pass per turn adapts to the turns' length: it halves
    after a turn longer than ``turn_s`` and doubles after a full one under half of it.
    It starts again from ``per_turn`` with the next crowd. Urgent callers pass at least
    ``urgent_per_turn`` a turn, so acknowledgements keep their deadline on a machine
    whose turns are long for other reasons."""

    def __init__(
        self,
        per_turn: int = PER_TURN,
        *,
        turn_s: float = TURN_S,
        urgent_per_turn: int = URGENT_PER_TURN,
    ) -> None:
        if per_turn < 1:
            raise ValueError("per_turn must be at least 1")
        self._initial = self.per_turn = per_turn
        self._urgent_per_turn = urgent_per_turn
        self._turn_s = turn_s
        self._turn_began: float | None = None  # while a crowd is being let through
        self._passed = 0  # callers let through since the turn began
        self._turn_due = False  # a new turn is scheduled (the loop's next turn)
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        return sum(1 for _, _, f in self._waiting if not f.done())

    async def __call__(self, priority: int = NORMAL) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A loop that closed (a test's, a restart's) took its scheduled turn along.
            self._loop, self._turn_due, self._turn_began = loop, False, None
            self._passed, self._waiting, self.per_turn = 0, [], self._initial
        # Nobody as urgent waits (a heap: the most urgent first), and there is room.
        ahead = bool(self._waiting) and self._waiting[0][0] <= priority
        if not ahead and self._passed < self._room(priority):
            self._passed += 1
            self._next_turn_soon()
            return
        turn: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        self._next_turn_soon()
        await turn  # a cancelled waiter is skipped when its turn comes

    def _next_turn_soon(self) -> None:
        if not self._turn_due:
            self._turn_due = True
            # Callbacks scheduled now run in the loop's next turn, after this one's.
            asyncio.get_running_loop().call_soon(self._new_turn)

    def _new_turn(self) -> None:
        self._turn_due = False
        self._adapt(full=self._passed >= self.per_turn)
        self._passed = 0
        while self._waiting and self._passed < self._room(self._waiting[0][0]):
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                self._passed += 1
        if self._waiting or self._passed:
            self._next_turn_soon()
        else:  # the crowd has passed
            self._turn_began = None
            self.per_turn = self._initial

    def _room(self, priority: int) -> int:
        """How many may have passed this turn for one more of ``priority`` to pass."""
        if priority == URGENT:
            return max(self.per_turn, self._urgent_per_turn)
        return self.per_turn

    def _adapt(self, *, full: bool) -> None:
        """The last turn's length, from one new turn to the next (everything the loop
        ran in it, paced or not), sets how many the next one lets through."""
        now = asyncio.get_running_loop().time()
        began, self._turn_began = self._turn_began, now
        if began is None:
            return
        took = now - began
        if took > self._turn_s:
            self.per_turn = max(self.per_turn // 2, min(MIN_PER_TURN, self._initial))
        elif full and took < self._turn_s / 2:
            self.per_turn = min(self.per_turn * 2, MAX_PER_TURN)
