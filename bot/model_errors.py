"""How a provider's failure becomes a `bot.errors.ModelError`: one mapping for both
APIs (Chat Completions and Responses), for HTTP error bodies and for errors that arrive
inside a stream.

Errors are decided on the body's ``error.code``/``error.type`` as well as the status:
a 429 may be a rate limit (retry after the server's delay) or an empty account
(``insufficient_quota``: retrying cannot help).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

from bot import errors

OUT_OF_CREDIT = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded"}
)
CONTEXT_TOO_LONG = frozenset(
    {"context_length_exceeded", "string_above_max_length", "context_window_exceeded"}
)
REFUSED = frozenset({"invalid_prompt", "content_policy_violation", "content_filter", "flagged"})
RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 504})


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The server's requested delay: ``retry-after-ms`` first, then ``Retry-After`` as
    seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (now if now is not None else time.time()), 0.0)


def _error_fields(body: Any) -> tuple[str, str, str]:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return (
            str(err.get("code") or ""),
            str(err.get("type") or ""),
            str(err.get("message") or ""),
        )
    if isinstance(err, str):  # some servers (Ollama, llama.cpp) send {"error": "..."}
        return "", "", err
    return "", "", ""


def error_for(status: int, body: Any, headers: Mapping[str, str]) -> errors.ModelError:
    """Translate one failed HTTP response into the error the pipeline explains."""
    code, kind, message = _error_fields(body)
    text = f"{status} {code or kind or 'error'}: {message}"[:300]
    names = {code, kind}
    kw: dict[str, Any] = {"status": status, "code": code or kind or None}
    if names & OUT_OF_CREDIT:
        return errors.ModelOutOfCredit(text, **kw)
    if status in (401, 403):
        return errors.ModelAuthError(text, **kw)
    if status == 429:
        return errors.ModelRateLimited(text, retry_after=retry_after(headers), **kw)
    if names & CONTEXT_TOO_LONG or "maximum context length" in message.lower():
        return errors.ContextTooLong(text, **kw)
    if names & REFUSED:
        return errors.ModelRefused(text, **kw)
    if status == 408:
        return errors.ModelTimeout(text, **kw)
    if status in RETRYABLE_STATUS or status >= 500:
        return errors.ModelUnavailable(text, **kw)
    return errors.ModelBadRequest(text, **kw)


def timed_out(exc: httpx.HTTPError) -> bool:
    """Whether a transport error was a timeout. The aiohttp transport reports some
    connection failures (refused, reset) as ``ConnectTimeout``; what happened
    underneath (its cause) decides."""
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, httpx.HTTPError):
        return isinstance(cause, TimeoutError)
    return isinstance(exc, httpx.TimeoutException)


def in_stream_error(code: str | None, message: str | None) -> errors.ModelError:
    """An error the provider reports inside a 200 stream (an ``error`` event, a
    ``response.failed``): mapped like the HTTP error it stands for."""
    status = 429 if code in ("rate_limit_exceeded", "requests", "tokens") else 500
    return error_for(status, {"error": {"code": code, "message": message or ""}}, {})
