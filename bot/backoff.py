"""Background loops that depend on the database ride out its outages: they say so once
(not once a second for the length of the outage), try again less often while it lasts,
and say when it is over."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.errors import BotError


@dataclass(slots=True)
class Backoff:
    """Tracks one loop's consecutive failures. ``delay`` is how long to wait before the
    next try: nothing while things work, then ``first_s`` doubling up to ``max_s``."""

    what: str
    log: logging.Logger
    first_s: float = 1.0
    max_s: float = 10.0  # the longest a recovered database waits to be noticed
    failures: int = 0

    def failed(self, exc: BotError) -> None:
        if self.failures == 0:
            self.log.warning("%s; will keep trying to %s", exc, self.what)
        else:
            self.log.debug("%s (failure %d in a row)", exc, self.failures + 1)
        self.failures += 1

    def succeeded(self) -> None:
        if self.failures:
            self.log.warning("can %s again, after %d failed tries", self.what, self.failures)
            self.failures = 0

    @property
    def delay(self) -> float:
        if not self.failures:
            return 0.0
        return min(self.first_s * 2 ** (self.failures - 1), self.max_s)
