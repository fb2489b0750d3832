"""Pure translation between Slack payloads and core values (no I/O)."""

from __future__ import annotations

import re
from typing import Any

from bot.commands import ADMIN_VERBS, parse_quota
from bot.domain import AskRequest, QuotaCommand, Role, Turn
from bot.errors import UsageError

PLATFORM = "slack"
# Message subtypes that are still a person talking: a thread reply also sent to the
# channel, and a message with files attached (its text is answered; files are not read).
_PERSON_SUBTYPES = frozenset({"thread_broadcast", "file_share"})
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def team_key(team_id: str) -> str:
    return f"{PLATFORM}:{team_id}"


def thread_key(team_id: str, channel: str, thread_ts: str) -> str:
    return f"{PLATFORM}:{team_id}:{channel}:{thread_ts}"


def message_key(team_id: str, channel: str, ts: str) -> str:
    """One message, one answer: an `app_mention` and the `message` event for the same
    message, and Slack's retries of either, all share this key."""
    return f"{PLATFORM}:msg:{team_id}:{channel}:{ts}"


def strip_bot_mention(text: str, bot_user_id: str | None) -> str:
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(text.split(" ")).strip()


def text_of(event: dict[str, Any]) -> str:
    """The message's text; Slack sends a string, anything else counts as none."""
    text = event.get("text")
    return text if isinstance(text, str) else ""


def command_request(body: dict[str, Any], *, team_id: str | None = None) -> AskRequest:
    """``/reason …`` (form fields) to a request. Slash commands cannot run inside
    threads, so the bot starts one; its key is the invocation's trigger id.
    ``team_id``: the workspace the request was authorized for (else the payload's)."""
    team = team_id if team_id is not None else body.get("team_id", "")
    return AskRequest(
        platform=PLATFORM,
        team=team_key(team),
        channel=body.get("channel_id", ""),
        thread="",  # set once the bot has posted the message that starts the thread
        user=body.get("user_id", ""),
        text=body.get("text", ""),
        key=f"{PLATFORM}:cmd:{team}:{body.get('trigger_id', '')}",
        user_name=body.get("user_name"),
    )


def event_request(
    event: dict[str, Any], *, team_id: str, bot_user_id: str | None, context: tuple[Turn, ...] = ()
) -> AskRequest:
    """A mention or a thread reply to a request answered in that message's thread."""
    channel = event.get("channel", "")
    ts = event.get("ts", "")
    root = event.get("thread_ts") or ts
    return AskRequest(
        platform=PLATFORM,
        team=team_key(team_id),
        channel=channel,
        thread=thread_key(team_id, channel, root),
        user=event.get("user", ""),
        text=strip_bot_mention(text_of(event), bot_user_id),
        key=message_key(team_id, channel, ts),
        context=context,
    )


def quota_command(
    body: dict[str, Any], *, is_admin: bool, team_id: str | None = None
) -> QuotaCommand:
    return QuotaCommand(
        PLATFORM,
        team_key(team_id if team_id is not None else body.get("team_id", "")),
        body.get("user_id", ""),
        body.get("text", ""),
        is_admin=is_admin,
    )


def wants_admin(text: str) -> bool:
    """Whether ``/quota <text>`` is an admin command (so an unanswered admin check
    must stop it; a malformed one is left to the core to explain)."""
    try:
        return parse_quota(text).verb in ADMIN_VERBS
    except UsageError:
        return False


def thread_context(
    messages: list[dict[str, Any]], *, bot_user_id: str | None, before_ts: str
) -> tuple[Turn, ...]:
    """Earlier messages of a thread the bot joined late, as turns (bots' and the bot's
    own messages count as assistant turns)."""
    turns = []
    for m in messages:
        if float(m.get("ts", "0")) >= float(before_ts) or not m.get("text"):
            continue
        role = Role.ASSISTANT if m.get("bot_id") or m.get("user") == bot_user_id else Role.USER
        turns.append(Turn(role, strip_bot_mention(m["text"], bot_user_id)))
    return tuple(turns)


def is_triggering_message(event: dict[str, Any]) -> bool:
    """A person's message with text: plain, broadcast from a thread, or with files (no
    edits, joins or bot posts)."""
    subtype = event.get("subtype")
    return (
        event.get("type") in ("message", "app_mention")
        and (not subtype or subtype in _PERSON_SUBTYPES)
        and not event.get("bot_id")
        and isinstance(event.get("user"), str)
        and bool(event.get("user"))
        # A file shared without a word has nothing to answer.
        and (subtype != "file_share" or bool(text_of(event).strip()))
    )
