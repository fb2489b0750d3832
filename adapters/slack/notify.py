"""`SlackNotifier`: the core's alerts and digests, posted to a workspace's channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.render import quota_mrkdwn
from adapters.slack.webapi import call, persist

TokenFor = Callable[[str], Awaitable[str | None]]


class SlackNotifier:
    """``token_for`` gives a workspace's bot token (OAuth installations); without it
    the client's own token posts (one workspace)."""

    def __init__(self, client: AsyncWebClient, *, token_for: TokenFor | None = None) -> None:
        self._client = client
        self._token_for = token_for

    async def post(self, team: str, channel: str, text: str) -> None:
        # The team key is ours ("slack:T0001"): the workspace id follows the prefix.
        team_id = team.partition(":")[2]
        token = await self._token_for(team_id) if self._token_for else None
        await persist(
            lambda: call(
                self._client,
                "chat.postMessage",
                token=token,
                channel=channel,
                text=quota_mrkdwn(text),
                unfurl_links=False,
                unfurl_media=False,
            )
        )
