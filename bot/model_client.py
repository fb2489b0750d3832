"""The model client: OpenAI Chat Completions against any compatible server (OpenAI,
Azure, DeepSeek, vLLM, Ollama, llama.cpp), over one shared httpx connection pool.

Errors are decided on the body's ``error.code``/``error.type`` as well as the status:
a 429 may be a rate limit (retry after the server's delay) or an empty account
(``insufficient_quota``: retrying cannot help). Every foreign error is translated here,
once, into a `bot.errors.ModelError`: a body of an unexpected shape
(`bot.model_wire`) is `ModelUnavailable`, a stream that stops without saying it is
done is `AnswerBrokeOff`, and a call that is not finished within its overall deadline
(retries and keep-alive trickles included) is `ModelDeadlineExceeded`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from bot import model_wire
from bot.config import ModelSpec
from bot.domain import ModelReply, Role, Usage
from bot.errors import (
    AnswerBrokeOff,
    AnswerCutOff,
    ContextTooLong,
    ModelAuthError,
    ModelBadRequest,
    ModelDeadlineExceeded,
    ModelError,
    ModelOutOfCredit,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
)
from bot.model_wire import MalformedAnswer, WireUsage
from bot.ports import ModelCall, ProgressCallback
from bot.sse import ThinkSplitter, sse_data

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is treated as unavailable now
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
# A reasoning call at high effort can think for many minutes, but a provider that
# sends only keep-alives, or nothing, must not hold a question (and its quota) for ever.
DEFAULT_DEADLINE_S = 900.0
OUT_OF_CREDIT = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active", "quota_exceeded"}
)
CONTEXT_TOO_LONG = frozenset(
    {"context_length_exceeded", "string_above_max_length", "context_window_exceeded"}
)
REFUSED = frozenset({"invalid_prompt", "content_policy_violation", "content_filter", "flagged"})
RETRYABLE_STATUS = frozenset({408, 409, 500, 502, 503, 504})

Sleep = Callable[[float], Awaitable[None]]


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


def error_for(status: int, body: Any, headers: Mapping[str, str]) -> ModelError:
    """Translate one failed HTTP response into the error the pipeline explains."""
    code, kind, message = _error_fields(body)
    text = f"{status} {code or kind or 'error'}: {message}"[:300]
    names = {code, kind}
    kw: dict[str, Any] = {"status": status, "code": code or kind or None}
    if names & OUT_OF_CREDIT:
        return ModelOutOfCredit(text, **kw)
    if status in (401, 403):
        return ModelAuthError(text, **kw)
    if status == 429:
        return ModelRateLimited(text, retry_after=retry_after(headers), **kw)
    if names & CONTEXT_TOO_LONG or "maximum context length" in message.lower():
        return ContextTooLong(text, **kw)
    if names & REFUSED:
        return ModelRefused(text, **kw)
    if status == 408:
        return ModelTimeout(text, **kw)
    if status in RETRYABLE_STATUS or status >= 500:
        return ModelUnavailable(text, **kw)
    return ModelBadRequest(text, **kw)


class OpenAIClient:
    """Implements `bot.ports.ReasoningModel`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        read_timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        deadline: float = DEFAULT_DEADLINE_S,
        client: httpx.AsyncClient | None = None,
        sleep: Sleep = asyncio.sleep,
        key_for: Callable[[ModelSpec], str | None] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._key_for = key_for
        self._max_retries = max_retries
        self._deadline = deadline
        self._sleep = sleep
        self._own_client = client is None
        # Reasoning calls are long and many run at once: a large pool, and a read
        # timeout measured in minutes (a non-streaming o1 call is silent until done).
        self._client = client or HttpxAiohttpClient(
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=30.0, pool=30.0
            ),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200),
        )

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def _payload(self, call: ModelCall) -> dict[str, Any]:
        spec = call.spec
        messages: list[dict[str, str]] = [
            {"role": t.role.value, "content": t.content} for t in call.messages
        ]
        if call.instructions:
            if spec.instructions_role == "user":
                # Models without a system/developer role: fold the instructions into
                # the first user message.
                for m in messages:
                    if m["role"] == Role.USER:
                        m["content"] = f"{call.instructions}\n\n{m['content']}"
                        break
            else:
                messages.insert(0, {"role": spec.instructions_role, "content": call.instructions})
        payload: dict[str, Any] = {"model": spec.id, "messages": messages}
        if spec.max_completion_tokens:
            payload["max_completion_tokens"] = spec.max_completion_tokens
        effort = call.effort or spec.reasoning_effort
        if effort and effort in spec.efforts:  # else the provider answers 400
            payload["reasoning_effort"] = effort.value
        if spec.streaming:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _headers(self, spec: ModelSpec) -> dict[str, str]:
        key = self._key_for(spec) if self._key_for else self._api_key
        headers = {"Accept": "text/event-stream" if spec.streaming else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def complete(
        self, call: ModelCall, *, on_text: ProgressCallback | None = None
    ) -> ModelReply:
        url = (call.spec.base_url or self._base_url).rstrip("/") + "/chat/completions"
        payload = self._payload(call)
        headers = self._headers(call.spec)
        scope = asyncio.timeout(self._deadline)
        try:
            async with scope:
                return await self._attempts(url, payload, headers, call, on_text, scope)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise ModelDeadlineExceeded(
                f"no complete answer within {self._deadline:g} s", deadline_s=self._deadline
            ) from exc

    async def _attempts(
        self,
        url: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        call: ModelCall,
        on_text: ProgressCallback | None,
        scope: asyncio.Timeout,
    ) -> ModelReply:
        attempt = 0
        while True:
            attempt += 1
            emitted = _Emitted()
            try:
                if call.spec.streaming:
                    return await self._stream(url, payload, headers, on_text, emitted)
                return await self._once(url, payload, headers)
            except ModelError as exc:
                when = scope.when()
                left = None if when is None else when - asyncio.get_running_loop().time()
                delay = self._retry_delay(exc, attempt, emitted, left=left)
                if delay is None:
                    raise
                log.info("model call failed (%s); retry %d in %.1f s", exc, attempt, delay)
                await self._sleep(delay)

    def _retry_delay(
        self, exc: ModelError, attempt: int, emitted: _Emitted, *, left: float | None = None
    ) -> float | None:
        if not exc.retryable or attempt > self._max_retries or emitted.any:
            # Text already shown to the user cannot be taken back by a fresh attempt.
            return None
        hint = exc.retry_after if isinstance(exc, ModelRateLimited) else None
        if hint is not None:
            # A server delay past the deadline: report the real reason now, not a timeout.
            too_long = hint > MAX_RETRY_AFTER_S or (left is not None and hint >= left)
            return None if too_long else hint
        backoff = min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
        return backoff * random.uniform(0.75, 1.0)

    async def _once(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> ModelReply:
        try:
            response = await self._client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            if timed_out(exc):
                raise ModelTimeout(f"no answer in time ({type(exc).__name__})") from exc
            raise ModelUnavailable(f"connection failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise error_for(response.status_code, _json(response.text), response.headers)
        return _completion(response.text, response.headers)

    async def _stream(
        self,
        url: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        on_text: ProgressCallback | None,
        emitted: _Emitted,
    ) -> ModelReply:
        splitter = ThinkSplitter()
        reasoning: list[str] = []
        usage: WireUsage | None = None
        finish: str | None = None
        refused = False
        done = False
        model = ""
        try:
            async with self._client.stream("POST", url, json=payload, headers=headers) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise error_for(resp.status_code, _json(resp.text), resp.headers)
                if "json" in resp.headers.get("content-type", ""):
                    # A server that ignores stream=true answers with one JSON body.
                    await resp.aread()
                    return _completion(resp.text, resp.headers)
                async for data in sse_data(resp.aiter_lines()):
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    chunk = _chunk(data)
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices:
                        delta = choice.delta or model_wire.Message()
                        if delta.thought:
                            reasoning.append(delta.thought)
                        if delta.content:
                            before = splitter.answer
                            splitter.feed(delta.content)
                            if on_text is not None and splitter.answer != before:
                                emitted.any = True
                                await on_text(splitter.answer.lstrip())
                        if delta.refusal:
                            refused = True
                        finish = choice.finish_reason or finish
        except httpx.HTTPError as exc:
            if timed_out(exc):
                raise ModelTimeout(f"the stream stalled ({type(exc).__name__})") from exc
            raise ModelUnavailable(f"the stream broke ({type(exc).__name__})") from exc
        if not done and finish is None:
            # A clean end of the response is not the end of the answer: without
            # finish_reason or [DONE] what arrived may stop mid-sentence (a proxy gave
            # up, a server crashed after flushing), and it must not be sold as whole.
            raise AnswerBrokeOff("the stream ended before the model finished its answer")
        answer, thought = splitter.finish()
        if refused and not answer:
            raise ModelRefused("the model refused (structured refusal)")
        return _reply(answer, "".join(reasoning) + thought, usage, finish, model)


def _completion(text: str, headers: Mapping[str, str]) -> ModelReply:
    try:
        body = model_wire.loads(text)
        if isinstance(body, dict) and body.get("error"):
            raise error_for(500, body, headers)
        completion = model_wire.completion(body)
    except MalformedAnswer as exc:
        raise ModelUnavailable(f"malformed answer from the provider ({exc})") from exc
    choice = completion.choices[0]
    message = choice.message or model_wire.Message()
    splitter = ThinkSplitter()
    splitter.feed(message.content or "")
    answer, thought = splitter.finish()
    if message.refusal and not answer:
        raise ModelRefused("the model refused (structured refusal)")
    return _reply(
        answer,
        "\n".join(p for p in (message.thought, thought) if p),
        completion.usage,
        choice.finish_reason,
        completion.model or "",
    )


def _chunk(data: str) -> model_wire.Chunk:
    try:
        body = model_wire.loads(data)
        if isinstance(body, dict) and body.get("error"):
            raise error_for(500, body, {})
        return model_wire.chunk(body)
    except MalformedAnswer as exc:
        raise ModelUnavailable(f"malformed chunk in the model's stream ({exc})") from exc


def timed_out(exc: httpx.HTTPError) -> bool:
    """Whether a transport error was a timeout. The aiohttp transport reports some
    connection failures (refused, reset) as ``ConnectTimeout``; what happened
    underneath (its cause) decides."""
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, httpx.HTTPError):
        return isinstance(cause, TimeoutError)
    return isinstance(exc, httpx.TimeoutException)


class _Emitted:
    __slots__ = ("any",)

    def __init__(self) -> None:
        self.any = False


def _json(text: str) -> Any:
    """An error body, if it is JSON (what error_for reads defends itself)."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _reply(
    answer: str, reasoning: str, usage: WireUsage | None, finish: str | None, model: str
) -> ModelReply:
    if not answer:
        if finish == "content_filter":
            raise ModelRefused("the provider filtered the answer")
        if finish == "length":
            raise AnswerCutOff("the model used all its tokens reasoning and gave no answer")
        raise ModelUnavailable("the model returned an empty answer")
    return ModelReply(
        text=answer,
        reasoning=reasoning,
        usage=usage.to_usage() if usage is not None else Usage(),
        finish_reason=finish,
        model=model,
    )
