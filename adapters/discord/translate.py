"""Pure translation between Discord data and core values (no I/O)."""

from __future__ import annotations

import re

from bot.commands import QuotaVerb

PLATFORM = "discord"
THREAD_NAME_MAX = 100  # Discord: thread names are 1-100 characters
MESSAGE_LIMIT = 2_000
_USER_MENTION = r"<@!?{id}>"


def team_key(guild_id: int) -> str:
    return f"{PLATFORM}:{guild_id}"


def thread_key(guild_id: int, thread_id: int) -> str:
    return f"{PLATFORM}:{guild_id}:{thread_id}"


def interaction_key(interaction_id: int) -> str:
    return f"{PLATFORM}:int:{interaction_id}"


def message_key(message_id: int) -> str:
    return f"{PLATFORM}:msg:{message_id}"


def thread_name(question: str) -> str:
    """A thread title from the question: one line, 1-100 characters."""
    line = " ".join(question.split()) or "Question"
    return line if len(line) <= THREAD_NAME_MAX else line[: THREAD_NAME_MAX - 1] + "…"


def fit(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Text Discord will take as a message's content: at most 2,000 characters (it
    refuses longer with 50035). Answers are split before this; it bounds what else
    may echo the asker's input back, such as "no model called `…`"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def strip_mentions(text: str, *, bot_id: int, role_ids: tuple[int, ...] = ()) -> str:
    text = re.sub(_USER_MENTION.format(id=bot_id), " ", text)
    for rid in role_ids:
        text = text.replace(f"<@&{rid}>", " ")
    return " ".join(text.split())


def quota_text(
    verb: QuotaVerb,
    *,
    model: str | None = None,
    n: int | None = None,
    who: int | None = None,
    off: bool = False,
) -> str:
    """A `/quota` subcommand's typed options, as the one `/quota` grammar the core
    parses for every platform."""
    match verb:
        case QuotaVerb.SET:
            return f"set {model} {n}"
        case QuotaVerb.GRANT:
            return f"grant {n} {model or ''}".strip()
        case QuotaVerb.RESET:
            return f"reset {model or ''}".strip()
        case QuotaVerb.USER:
            return f"user {who} {'off' if off or n is None else n} {model or ''}".strip()
    return verb.value
