"""`DiscordRoute`: where one question's status and answer go in Discord, and how far
their delivery got. Saved with the job as JSON as it changes (the core keeps it opaque),
so a worker that resumes the question edits the same messages and skips what was posted.
Ids are kept as strings, as Discord's JSON has them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.delivery import JsonRoute

SLASH = "slash"  # /reason: answered in a new thread, or the thread it was run in
MESSAGE = "message"  # a mention (a thread is started on it) or a message in a thread


@dataclass(frozen=True, slots=True)
class DiscordRoute(JsonRoute):
    kind: str  # SLASH or MESSAGE
    guild_id: str
    channel_id: str
    user: str  # the asker
    message_id: str | None = None  # a mention to start the thread on
    thread_id: str | None = None  # where the answer goes, once known
    status_id: str | None = None  # the status message ("Thinking…")
    delivered: int = 0  # answer pieces posted
    # The interaction's follow-up webhook (its token is valid for 15 minutes).
    app_id: str | None = None
    token: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DiscordRoute:
        """Also reads routes saved before this type: they carried ``question`` and
        ``model`` as well (now on the job), which are left out."""
        values = {k: str(v) for k, v in cls.known(data).items()}
        return cls(
            **{
                **values,
                "kind": values.get("kind", MESSAGE),
                "guild_id": values.get("guild_id", ""),
                "channel_id": values.get("channel_id", ""),
                "user": values.get("user", ""),
                "delivered": int(data.get("delivered") or 0),
            }
        )
