"""One Slack Web API call, sent the way Slack reads each method, with Slack's failures
turned into `PlatformError` once; and the bounded retry of a call Slack failed for a
passing reason."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import PlatformError

log = logging.getLogger(__name__)
T = TypeVar("T")

# An answer piece Slack failed to take for a passing reason (a 5xx, an error page, a
# dropped connection) is sent again after each of these pauses; past them, the pieces
# already delivered stay and a note says what is missing.
PIECE_RETRY_DELAYS_S = (1.0, 3.0)
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)

# How each Web API method takes its arguments, as slack_sdk's own typed methods send
# them. Slack reads a JSON body only on write methods; read methods take form or query
# arguments and *ignore* a JSON body (users.info then answers user_not_found).
JSON_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "assistant.threads.setStatus",
    }
)
QUERY_METHODS = frozenset(
    {
        "users.info",
        "conversations.replies",
        "conversations.history",
        "conversations.info",
        "chat.getPermalink",
        "team.info",
    }
)


def _form_value(value: Any) -> str:
    # Form and query strings carry text: booleans as Slack spells them, lists and
    # objects (blocks) JSON-encoded, as Slack documents for form-encoded calls.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _error_code(response: object) -> str | None:
    """Slack's ``error`` when the failed response was Slack's JSON; None for an HTML or
    plain-text error page (a proxy's 503), whose body slack_sdk may hand over as a
    string or an unread aiohttp response."""
    data = getattr(response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return None


async def call(
    client: AsyncWebClient, method: str, *, token: str | None = None, **kw: Any
) -> dict[str, Any]:
    """One Web API call; Slack's errors become `PlatformError` here, once. (429s were
    already retried after Retry-After by the client's retry handler.)"""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    args = {k: v for k, v in kw.items() if v is not None}
    try:
        if method in JSON_METHODS:
            resp = await client.api_call(method, json=args, headers=headers)
        elif method in QUERY_METHODS:
            params = {k: _form_value(v) for k, v in args.items()}
            resp = await client.api_call(method, http_verb="GET", params=params, headers=headers)
        else:
            data = {k: _form_value(v) for k, v in args.items()}
            resp = await client.api_call(method, data=data, headers=headers)
    except SlackApiError as exc:
        code = _error_code(exc.response)
        status = getattr(exc.response, "status_code", None) or getattr(exc.response, "status", None)
        raise PlatformError(
            f"Slack {method} failed: {code or f'HTTP {status}'}", code=code
        ) from exc
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise PlatformError(f"Slack {method} failed: {type(exc).__name__}") from exc
    return dict(resp.data) if isinstance(resp.data, dict) else {}


async def persist(send: Callable[[], Awaitable[T]]) -> T:
    """``send`` once, and again after `PIECE_RETRY_DELAYS_S` while Slack's failure is
    a passing one (no error code: a 5xx or an error page; or a transient code)."""
    for delay in PIECE_RETRY_DELAYS_S:
        try:
            return await send()
        except PlatformError as exc:
            if exc.code is not None and exc.code not in TRANSIENT_ERRORS:
                raise
            log.info("Slack failed a call (%s); again in %.0f s", exc, delay)
            await asyncio.sleep(delay)
    return await send()
