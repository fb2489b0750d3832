"""The platform supervisor: a crash is logged in one line and the platform restarted
after a growing, jittered pause; a stop ends it promptly; a configuration error is not
retried."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from app.supervise import Backoff, supervise
from bot.errors import ConfigError
from tests.harness import WAIT_S

QUICK = Backoff(first_s=0.01, max_s=0.05, rng=random.Random(7))


async def test_a_crashing_platform_is_restarted_until_it_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="reasonbot")
    stop = asyncio.Event()
    starts = 0

    async def platform() -> None:
        nonlocal starts
        starts += 1
        if starts <= 3:
            raise KeyError("application_id")
        stop.set()  # the fourth start runs until the process stops

    async with asyncio.timeout(WAIT_S):
        await supervise("discord", platform, stop=stop, backoff=QUICK)
    assert starts == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "reasonbot.supervise"]
    assert len(lines) == 3
    assert all(
        line.startswith("discord stopped (KeyError: 'application_id'); restarting in ")
        for line in lines
    ), lines
    assert not any(r.exc_info for r in caplog.records)  # one line each, no traceback


async def test_a_platform_that_returns_by_itself_is_restarted() -> None:
    stop = asyncio.Event()
    starts = 0

    async def platform() -> None:
        nonlocal starts
        starts += 1
        if starts == 2:
            stop.set()

    async with asyncio.timeout(WAIT_S):
        await supervise("slack", platform, stop=stop, backoff=QUICK)
    assert starts == 2


async def test_a_configuration_error_is_raised_not_retried() -> None:
    starts = 0

    async def platform() -> None:
        nonlocal starts
        starts += 1
        raise ConfigError("DISCORD_TOKEN: Discord refused this bot token")

    with pytest.raises(ConfigError):
        async with asyncio.timeout(WAIT_S):
            await supervise("discord", platform, stop=asyncio.Event(), backoff=QUICK)
    assert starts == 1


async def test_a_stop_during_the_back_off_ends_it_at_once() -> None:
    stop = asyncio.Event()
    crashed = asyncio.Event()

    async def platform() -> None:
        crashed.set()
        raise OSError("Connect call failed")

    slow = Backoff(first_s=3_600, max_s=3_600)
    task = asyncio.create_task(supervise("discord", platform, stop=stop, backoff=slow))
    await asyncio.wait_for(crashed.wait(), WAIT_S)
    stop.set()
    await asyncio.wait_for(task, WAIT_S)  # an hour's back-off, yet it returns


def test_back_off_grows_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(first_s=1, max_s=8, rng=random.Random(1))
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (30, 8)]:
        delays = {backoff.delay(failures) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


async def test_a_long_healthy_run_starts_the_back_off_over() -> None:
    now = [0.0]
    delays: list[float] = []
    stop = asyncio.Event()
    runs = iter([0.0, 0.0, 0.0, 120.0, 0.0])

    class Recording(Backoff):
        def delay(self, failures: int) -> float:
            delays.append(failures)
            return 0.0

    async def platform() -> None:
        ran = next(runs, None)
        if ran is None:
            stop.set()
            return
        now[0] += ran
        raise OSError("reset")

    async with asyncio.timeout(WAIT_S):
        await supervise(
            "discord", platform, stop=stop, backoff=Recording(healthy_s=60), clock=lambda: now[0]
        )
    assert delays == [1, 2, 3, 1, 2]
