"""Keep one malformed gateway payload from stopping the Discord client, and Discord
being unreachable from filling the log.

discord.py parses every gateway event in ``ConnectionState.parse_*``, called from
``DiscordWebSocket.received_message``; an exception there (a ``KeyError`` on a field
Discord left out) escapes the shard's poll loop as "terminate", and the whole client
closes. Wrapped here, a payload that cannot be parsed is logged in one line and
dropped, and the session goes on with the next event.

While Discord is unreachable discord.py retries by itself, logging a full traceback at
every attempt; `OneLineRetries` turns each into one line naming the cause."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

Parser = Callable[[Any], None]


def _guarded(event: str, parse: Parser) -> Parser:
    def guarded(data: Any) -> None:
        try:
            parse(data)
        except Exception as exc:
            # The payload itself is not logged: it carries chat text and tokens.
            log.warning(
                "dropped a %s event Discord sent that could not be read (%s: %s)",
                event,
                type(exc).__name__,
                exc,
            )

    guarded.__wrapped__ = parse  # type: ignore[attr-defined]
    return guarded


def guard_parsers(parsers: MutableMapping[str, Parser]) -> None:
    """Wrap each of a ``ConnectionState``'s parsers (the gateway reads the same dict)."""
    for event, parse in list(parsers.items()):
        if not hasattr(parse, "__wrapped__"):
            parsers[event] = _guarded(event, parse)


# discord.py's retry messages (client.py, shard.py), logged with their traceback.
_RETRY_MESSAGES = ("Attempting a reconnect", "Failed to connect for shard_id")
_RETRY_LOGGERS = ("discord.client", "discord.shard")


class OneLineRetries(logging.Filter):
    """Drops the traceback of discord.py's retry lines, keeping its cause in the line:
    the cause is all an operator needs, and an outage repeats it every few seconds."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith(_RETRY_MESSAGES):
            exc = record.exc_info[1]
            if exc is not None:
                cause = " ".join(str(exc).split()).replace("%", "%%")  # msg is %-formatted
                record.msg = f"{record.msg} ({type(exc).__name__}: {cause})"
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_retries() -> None:
    """Install `OneLineRetries` on discord.py's loggers (once per process)."""
    for name in _RETRY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineRetries) for f in logger.filters):
            logger.addFilter(OneLineRetries())
