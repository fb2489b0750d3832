"""The OAuth2 URL that adds the bot to a server, with the least it needs."""

from __future__ import annotations

import base64
import binascii

import discord

from bot.errors import ConfigError

SCOPES = ("bot", "applications.commands")


def permissions() -> discord.Permissions:
    return discord.Permissions(
        view_channel=True,
        send_messages=True,
        create_public_threads=True,
        send_messages_in_threads=True,
        read_message_history=True,
        # ⏳ on a mention waiting in the queue, so only answered questions get threads.
        add_reactions=True,
    )


def invite_url(client_id: int) -> str:
    return discord.utils.oauth_url(client_id, permissions=permissions(), scopes=SCOPES)


def client_id_from_token(token: str) -> int:
    """A bot token's first part is the bot's user id (= application id), base64."""
    head = token.split(".", 1)[0]
    try:
        return int(base64.b64decode(head + "=" * (-len(head) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigError("DISCORD_TOKEN does not look like a bot token") from exc
