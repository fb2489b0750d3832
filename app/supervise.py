"""Keep one platform's connection running without letting its failures reach the
others: Slack and Discord share a process, and a crash in one (a malformed gateway
payload, Discord unreachable, a network fault) must not stop the other from answering.

`supervise` runs a platform coroutine, and when it crashes logs one line, backs off
exponentially with jitter and starts it again, until the stop event is set. A
`ConfigError` (a token the platform refuses) is not a crash to retry: it ends the
process with exit code 2, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.errors import ConfigError

log = logging.getLogger("reasonbot.supervise")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential back-off with "equal jitter": each delay is drawn from the upper half
    of ``first_s * 2**n`` (capped), so restarts of many processes after one outage do
    not land on the platform at the same instant, yet never come back too eagerly."""

    first_s: float = 1.0
    max_s: float = 60.0
    # A run that lasted this long was healthy: the next crash starts over from first_s.
    healthy_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int) -> float:
        ceiling = min(self.max_s, self.first_s * 2 ** max(failures - 1, 0))
        return self.rng.uniform(ceiling / 2, ceiling)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def supervise(
    name: str,
    start: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event,
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``start()`` (a fresh coroutine each time) until ``stop`` is set, restarting
    it after a crash or an unexpected return. Returns promptly once ``stop`` is set;
    re-raises `ConfigError` (the operator must fix a setting: retrying cannot help)."""
    backoff = backoff or Backoff()
    failures = 0
    while not stop.is_set():
        began = clock()
        try:
            await start()
        except ConfigError:
            raise
        except Exception as exc:
            if stop.is_set():
                return  # torn down while stopping: not a crash worth a restart
            reason = _one_line(exc)
        else:
            if stop.is_set():
                return
            reason = "ended by itself"
        failures = 1 if clock() - began >= backoff.healthy_s else failures + 1
        delay = backoff.delay(failures)
        # One line, no traceback: the cause is in the exception's text, and a platform
        # that stays down would otherwise fill the log with the same 80 lines.
        log.error("%s stopped (%s); restarting in %.1f s", name, reason, delay)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()
