"""`DiscordNotifier`: the core's alerts and digests, sent to a server's channel."""

from __future__ import annotations

import discord

from adapters.discord.replier import NO_PINGS
from adapters.discord.translate import MESSAGE_LIMIT
from bot.errors import PlatformError


class DiscordNotifier:
    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def post(self, team: str, channel: str, text: str) -> None:
        try:
            target = self._client.get_channel(int(channel)) or await self._client.fetch_channel(
                int(channel)
            )
            if not isinstance(target, discord.abc.Messageable):
                raise PlatformError(f"Discord channel {channel} takes no messages")
            # Nobody is pinged: the top askers are named, not summoned.
            await target.send(text[:MESSAGE_LIMIT], allowed_mentions=NO_PINGS)
        except (discord.HTTPException, ValueError) as exc:
            raise PlatformError(f"Discord notice to {channel} failed: {exc}") from exc
