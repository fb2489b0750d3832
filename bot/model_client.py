"""The model client: OpenAI Chat Completions (`bot.model_chat`) against any compatible
server (OpenAI, Azure, DeepSeek, vLLM, Ollama, llama.cpp), and OpenAI's Responses API
(`bot.model_responses`) for the models the catalogue marks ``api = "responses"``, over
one shared httpx connection pool, with one set of retry rules and one deadline.

Every foreign error is translated here, once, into a `bot.errors.ModelError` (error
bodies are mapped by `bot.model_errors`, the same for both APIs): a body of an
unexpected shape (`bot.model_wire`) is `ModelUnavailable`, a stream that stops without saying it is
done is `AnswerBrokeOff`, and a call that is not finished within its overall deadline
(retries and keep-alive trickles included) is `ModelDeadlineExceeded`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from bot.config import ModelSpec
from bot.domain import ModelReply
from bot.errors import (
    ModelDeadlineExceeded,
    ModelError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
)
from bot.model_chat import ChatReader, chat_payload, chat_reply
from bot.model_errors import error_for, retry_after, timed_out
from bot.model_reply import StreamReader
from bot.model_responses import ResponsesReader, responses_payload, responses_reply
from bot.ports import ModelCall, ProgressCallback
from bot.sse import sse_data

__all__ = ["OpenAIClient", "error_for", "retry_after", "timed_out"]

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is treated as unavailable now
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 8.0
# A reasoning call at high effort can think for many minutes, but a provider that
# sends only keep-alives, or nothing, must not hold a question (and its quota) for ever.
DEFAULT_DEADLINE_S = 900.0

Sleep = Callable[[float], Awaitable[None]]


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
        clock: Callable[[], float] = time.monotonic,
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
        self._clock = clock
        self._client = client or HttpxAiohttpClient(
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=30.0, pool=30.0
            ),
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200),
        )

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    def _headers(self, spec: ModelSpec) -> dict[str, str]:
        key = self._key_for(spec) if self._key_for else self._api_key
        headers = {"Accept": "text/event-stream" if spec.streaming else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def complete(
        self,
        call: ModelCall,
        *,
        on_text: ProgressCallback | None = None,
        on_reasoning: ProgressCallback | None = None,
    ) -> ModelReply:
        responses = call.spec.api == "responses"
        url = (call.spec.base_url or self._base_url).rstrip("/") + (
            "/responses" if responses else "/chat/completions"
        )
        post = _Post(
            url,
            payload=responses_payload(call) if responses else chat_payload(call),
            headers=self._headers(call.spec),
        )
        scope = asyncio.timeout(self._deadline)
        try:
            async with scope:
                return await self._attempts(post, call, on_text, on_reasoning, scope)
        except TimeoutError as exc:
            if not scope.expired():
                raise
            raise ModelDeadlineExceeded(
                f"no complete answer within {self._deadline:g} s", deadline_s=self._deadline
            ) from exc

    async def _attempts(
        self,
        post: _Post,
        call: ModelCall,
        on_text: ProgressCallback | None,
        on_reasoning: ProgressCallback | None,
        scope: asyncio.Timeout,
    ) -> ModelReply:
        responses = call.spec.api == "responses"
        parse = partial(responses_reply, model_id=call.spec.id) if responses else chat_reply
        attempt = 0
        while True:
            attempt += 1
            emitted = _Emitted()
            started = self._clock()
            try:
                if not call.spec.streaming:
                    reply = await self._once(post, parse)
                    if reply.reasoning or reply.usage.reasoning_tokens:
                        reply = replace(reply, reasoning_s=self._clock() - started)
                    return reply
                reader: StreamReader = (
                    ResponsesReader(
                        model_id=call.spec.id,
                        on_text=on_text,
                        on_reasoning=on_reasoning,
                        clock=self._clock,
                        started=started,
                    )
                    if responses
                    else ChatReader(on_text, on_reasoning, self._clock, started)
                )
                return await self._stream(post, reader, parse, emitted)
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

    async def _once(
        self, post: _Post, parse: Callable[[str, Mapping[str, str]], ModelReply]
    ) -> ModelReply:
        try:
            response = await self._client.post(post.url, json=post.payload, headers=post.headers)
        except httpx.HTTPError as exc:
            if timed_out(exc):
                raise ModelTimeout(f"no answer in time ({type(exc).__name__})") from exc
            raise ModelUnavailable(f"connection failed ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise error_for(response.status_code, _json(response.text), response.headers)
        return parse(response.text, response.headers)

    async def _stream(
        self,
        post: _Post,
        reader: StreamReader,
        parse: Callable[[str, Mapping[str, str]], ModelReply],
        emitted: _Emitted,
    ) -> ModelReply:
        try:
            async with self._client.stream(
                "POST", post.url, json=post.payload, headers=post.headers
            ) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise error_for(resp.status_code, _json(resp.text), resp.headers)
                if "json" in resp.headers.get("content-type", ""):
                    # A server that ignores stream=true answers with one JSON body.
                    await resp.aread()
                    return parse(resp.text, resp.headers)
                async for data in sse_data(resp.aiter_lines()):
                    finished = await reader.feed(data)
                    emitted.any = emitted.any or reader.emitted
                    if finished:
                        break
        except httpx.HTTPError as exc:
            if timed_out(exc):
                raise ModelTimeout(f"the stream stalled ({type(exc).__name__})") from exc
            raise ModelUnavailable(f"the stream broke ({type(exc).__name__})") from exc
        return reader.finish()


@dataclass(frozen=True, slots=True)
class _Post:
    """One call's request, sent again as it is by every attempt."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str]


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
