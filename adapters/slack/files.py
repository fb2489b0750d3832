"""A file sent to one person on Slack, with the files upload v2 flow:
``files.getUploadURLExternal`` → POST the bytes to the returned URL →
``files.completeUploadExternal`` into the person's DM (``conversations.open``)."""

from __future__ import annotations

import json

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.webapi import call
from bot.errors import PlatformError

UPLOAD_TIMEOUT_S = 30.0


async def open_dm(client: AsyncWebClient, user: str, *, token: str | None = None) -> str:
    """The id of the bot's direct message with ``user`` (opened if need be)."""
    data = await call(client, "conversations.open", token=token, users=user)
    channel = (data.get("channel") or {}).get("id")
    if not channel:
        raise PlatformError("conversations.open gave no channel", code="no_channel")
    return str(channel)


async def _post_bytes(client: AsyncWebClient, url: str, content: bytes) -> None:
    # The upload URL is pre-authorised: no token goes with the bytes.
    own = client.session is None
    session = client.session or aiohttp.ClientSession()
    try:
        timeout = aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)
        async with session.post(url, data=content, timeout=timeout) as resp:
            if resp.status != 200:
                raise PlatformError(f"Slack file upload failed: HTTP {resp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PlatformError(f"Slack file upload failed: {type(exc).__name__}") from exc
    finally:
        if own:
            await session.close()


async def upload_file(
    client: AsyncWebClient,
    *,
    channel: str,
    filename: str,
    content: bytes,
    title: str,
    comment: str | None = None,
    thread_ts: str | None = None,
    token: str | None = None,
) -> str:
    """Share ``content`` in ``channel`` (optionally in a thread); returns the file id."""
    got = await call(
        client, "files.getUploadURLExternal", token=token, filename=filename, length=len(content)
    )
    url, file_id = got.get("upload_url"), got.get("file_id")
    if not url or not file_id:
        raise PlatformError("files.getUploadURLExternal gave no upload URL", code="no_upload_url")
    await _post_bytes(client, str(url), content)
    await call(
        client,
        "files.completeUploadExternal",
        token=token,
        files=json.dumps([{"id": file_id, "title": title}]),
        channel_id=channel,
        initial_comment=comment,
        thread_ts=thread_ts,
    )
    return str(file_id)
