"""`SlackRoute`: where one question's status and answer go in Slack, and how far their
delivery got. Saved with the job as JSON as it changes (the core keeps it opaque), so a
worker that resumes the question edits the same messages and skips what was posted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.delivery import JsonRoute

COMMAND = "command"  # /reason: the replier starts the thread with an "asked" message
MESSAGE = "message"  # a mention or a thread reply: answered in that message's thread


@dataclass(frozen=True, slots=True)
class SlackRoute(JsonRoute):
    kind: str  # COMMAND or MESSAGE
    channel: str
    user: str  # the asker
    team_id: str = ""
    thread_ts: str | None = None  # the thread's root, once there is one
    response_url: str | None = None  # a slash command's: reaches the asker anywhere
    status_ts: str | None = None  # the status message ("Thinking…")
    stream_ts: str | None = None  # the answer streaming natively (chat.startStream)
    streamed: bool = False  # the stream holds the whole answer
    delivered: int = 0  # answer pieces posted

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlackRoute:
        """Also reads routes saved before this type: they carried ``question`` and
        ``model`` as well (now on the job), which are left out."""
        values = cls.known(data)
        for name in ("thread_ts", "status_ts", "stream_ts", "response_url"):
            if name in values:
                values[name] = str(values[name])
        return cls(
            **{
                **values,
                "kind": str(values.get("kind", MESSAGE)),
                "channel": str(values.get("channel", "")),
                "user": str(values.get("user", "")),
                "team_id": str(values.get("team_id", "")),
                "streamed": bool(values.get("streamed", False)),
                "delivered": int(values.get("delivered", 0)),
            }
        )
