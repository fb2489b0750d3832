"""The OAuth2 URL that adds the bot to a server, with the least it needs."""

from __future__ import annotations

import base64
import binascii

import discord

from bot.errors import ConfigError

SCOPES = ("bot", "applications.commands")


# What the bot does in a server: reads the channels it is asked in, answers in threads
# it opens, reads a thread's history for follow-ups, and puts ⏳ on a mention waiting
# in the queue (so only answered questions get threads).
NEEDED = (
    "view_channel",
    "send_messages",
    "create_public_threads",
    "send_messages_in_threads",
    "read_message_history",
    "add_reactions",
)


def permissions() -> discord.Permissions:
    return discord.Permissions(**dict.fromkeys(NEEDED, True))


def invite_url(client_id: int) -> str:
    return discord.utils.oauth_url(client_id, permissions=permissions(), scopes=SCOPES)


def client_id_from_token(token: str) -> int:
    """A bot token's first part is the bot's user id (= application id), base64."""
    head = token.split(".", 1)[0]
    try:
        return int(base64.b64decode(head + "=" * (-len(head) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigError("DISCORD_TOKEN does not look like a bot token") from exc
