"""Keep one malformed gateway payload from stopping the Discord client.

discord.py parses every gateway event in ``ConnectionState.parse_*``, called from
``DiscordWebSocket.received_message``; an exception there (a ``KeyError`` on a field
Discord left out) escapes the shard's poll loop as "terminate", and the whole client
closes. Wrapped here, a payload that cannot be parsed is logged in one line and
dropped, and the session goes on with the next event."""

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
