"""A loop that depends on the database says once that it failed, waits longer between
tries while the failure lasts, and says when it works again."""

from __future__ import annotations

import logging

import pytest

from bot.backoff import Backoff
from bot.errors import StorageError

log = logging.getLogger("test-backoff")


def test_failures_are_logged_once_and_tries_spread_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test-backoff")
    backoff = Backoff("claim work", log, first_s=1.0, max_s=10.0)
    assert backoff.delay == 0.0
    delays = []
    for _ in range(6):
        backoff.failed(StorageError("could not claim work: ConnectionRefusedError"))
        delays.append(backoff.delay)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert caplog.messages == [
        "could not claim work: ConnectionRefusedError; will keep trying to claim work"
    ]
    backoff.succeeded()
    backoff.succeeded()
    assert backoff.delay == 0.0
    assert caplog.messages[-1] == "can claim work again, after 6 failed tries"
    assert len(caplog.records) == 2
