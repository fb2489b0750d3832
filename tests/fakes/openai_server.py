"""A fake OpenAI-compatible server on loopback, speaking the real wire format:
Chat Completions as JSON or SSE (``data: {...}`` chunks, a usage chunk with empty
``choices`` when ``stream_options.include_usage``, ``data: [DONE]``), reasoning fields
(``reasoning_content``), ``<think>`` tags, OpenAI's error bodies
(``{"error": {"message", "type", "param", "code"}}``) with ``retry-after`` /
``retry-after-ms`` headers, hangs, resets mid-stream and malformed bodies.

Like OpenAI it refuses, before anything else, what a model family does not take
(`refusal`): ``max_tokens`` or a ``temperature`` other than 1 for o-series models, and
``reasoning_effort`` or a system/developer message for o1-mini and o1-preview.

By default it answers ``You asked: <last user message>`` at once; tests script other
behaviours in order with `reply`, `fail`, `hang`, `reset_mid_stream`, `malformed`,
`raw` (any body), `events` (any SSE data lines), `cut_off` (a stream that ends cleanly
without ``finish_reason`` or ``[DONE]``) and `trickle` (keep-alives and nothing else).

It also speaks the Responses API (``POST /v1/responses``, `tests.fakes.openai_responses`):
the same scripted behaviours answer as typed events or a response object, plus
`failed` (``response.failed``) and `stream_error` (an ``error`` event); a reply's
``reasoning`` is its reasoning summary, and ``finish_reason="length"`` ends it
``response.incomplete`` (``max_output_tokens``).

    python -m tests.fakes.openai_server --port 8099 --latency 5   # for demos and benches
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from aiohttp import web

from tests.fakes import openai_responses
from tests.fakes.loopback import LoopbackServer
from tests.fakes.recorded import recording

ERRORS: dict[str, tuple[str, str | None]] = {
    # code -> (type, message)
    "rate_limit_exceeded": (
        "requests",
        "Rate limit reached for requests per min (RPM): "
        "Limit 20, Used 20, Requested 1. Please try again in 2s.",
    ),
    "insufficient_quota": (
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "context_length_exceeded": (
        "invalid_request_error",
        "This model's maximum context "
        "length is 128000 tokens. However, your messages resulted "
        "in 130000 tokens. Please reduce the length of the messages.",
    ),
    "invalid_prompt": (
        "invalid_request_error",
        "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
    ),
    "invalid_api_key": ("invalid_request_error", "Incorrect API key provided."),
    "server_error": (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
    ),
}


# o1-mini and o1-preview (and their dated snapshots) launched without developer/system
# messages or reasoning_effort; every o-series model refuses max_tokens and sampling
# settings other than the defaults.
EARLY_O1 = re.compile(r"^o1-(mini|preview)(-|$)")
O_SERIES = re.compile(r"^o\d")
SUMMARY_DELTA = "response.reasoning_summary_text.delta"
# What a model thinks aloud in `summaries` mode: a few steps, a few hundred characters.
SUMMARY_TEXT = "\n\n".join(
    f"**Step {i}**\nWeighing what the question asks and what follows from it." for i in range(1, 6)
)


def refusal(body: dict[str, Any]) -> tuple[str, str, str] | None:
    """What OpenAI answers with a 400 for this request's model family, as
    (code, param, message), or None when the model takes the request."""
    model = str(body.get("model") or "")
    if not O_SERIES.match(model):
        return None
    if "max_tokens" in body:
        return (
            "unsupported_parameter",
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return (
            "unsupported_value",
            "temperature",
            f"Unsupported value: 'temperature' does not support {temperature} with this "
            "model. Only the default (1) value is supported.",
        )
    if not EARLY_O1.match(model):
        return None
    if "reasoning_effort" in body:
        return (
            "unsupported_parameter",
            "reasoning_effort",
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
        )
    for i, message in enumerate(body.get("messages") or ()):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            return (
                "unsupported_value",
                f"messages[{i}].role",
                f"Unsupported value: 'messages[{i}].role' does not support '{role}' with "
                "this model.",
            )
    return None


@dataclass(frozen=True)
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def turns(self) -> list[dict[str, Any]]:
        """The conversation sent, whichever API carried it (Chat ``messages`` or
        Responses ``input`` messages)."""
        if "messages" in self.body:
            return list(self.body["messages"])
        return [i for i in self.body.get("input", []) if i.get("type", "message") == "message"]

    @property
    def question(self) -> str:
        """The last turn's text."""
        content = self.turns[-1]["content"]
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content)


@dataclass
class Behaviour:
    # reply | fail | hang | reset | malformed | raw | events | cutoff | trickle, and for
    # the Responses API failed | stream_error
    kind: str
    text: str | None = None
    reasoning: str | None = None
    think: bool = False
    think_s: float = 0.0  # the reasoning streams in pieces over this long, before the answer
    delay: float | None = None
    stream_chunks: int | None = None
    finish_reason: str = "stop"
    usage: dict[str, Any] | None = None
    status: int = 200
    code: str | None = None
    type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    done: bool = True
    content_type: str = "application/json"
    every: float = 0.05


class ReplyOptions(TypedDict, total=False):
    """How `FakeOpenAI.reply` answers; each option is the `Behaviour` field of its name."""

    reasoning: str | None
    think_s: float
    delay: float | None
    stream_chunks: int | None
    finish_reason: str
    usage: dict[str, Any] | None


class FakeOpenAI(LoopbackServer):
    def __init__(
        self,
        *,
        latency: float = 0.0,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        keepalive_every: float = 0.0,
        summaries: bool = False,
    ) -> None:
        self.latency = latency
        # Every streamed answer thinks aloud first (reasoning_content on chat, summary
        # deltas on Responses) for half its latency: what a reasoning model does.
        self.summaries = summaries
        self.chunk_chars = 20  # streamed answers come in pieces of about this many chars
        self.api_key = api_key
        self.keepalive_every = keepalive_every
        self.requests: list[Recorded] = []
        self._script: deque[Behaviour] = deque()
        self.host, self.port = host, port
        self.base_url = ""
        self.in_flight = 0
        self.peak_in_flight = 0
        self._arrived = asyncio.Condition()
        # GET /models: the ids offered, or None for a server without a model list (404).
        self.model_ids: list[str] | None = [
            "o1",
            "o1-mini",
            "o3",
            "o3-mini",
            "o4-mini",
            "gpt-4.1",
            "deepseek-reasoner",
        ]
        # Models that refuse reasoning.summary (an unverified organisation's o3).
        self.without_summaries: frozenset[str] = frozenset()

    async def wait_for_requests(self, n: int) -> None:
        """Until ``n`` requests have arrived (callers bound it with asyncio.timeout)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= n)

    # ---- scripting ---------------------------------------------------------------

    def _push(self, behaviour: Behaviour, times: int) -> None:
        self._script.extend([behaviour] * times)

    def reply(self, text: str, *, times: int = 1, **options: Unpack[ReplyOptions]) -> None:
        self._push(Behaviour("reply", text=text, **options), times)

    def fail(
        self,
        status: int,
        *,
        code: str | None = None,
        type: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        times: int = 1,
    ) -> None:
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        self._push(
            Behaviour(
                "fail", status=status, code=code, type=type, message=message, headers=headers
            ),
            times,
        )

    def hang(self, seconds: float = 3600.0, *, times: int = 1) -> None:
        self._push(Behaviour("hang", delay=seconds), times)

    def reset_mid_stream(
        self,
        *,
        text: str = "partial answer that never ends",
        after: float = 0.05,
        times: int = 1,
    ) -> None:
        """Stream the first piece of ``text``, then drop the connection ``after`` s."""
        self._push(Behaviour("reset", text=text, delay=after), times)

    def malformed(self, *, times: int = 1) -> None:
        self._push(Behaviour("malformed"), times)

    def raw(
        self,
        body: str,
        *,
        status: int = 200,
        content_type: str = "application/json",
        times: int = 1,
    ) -> None:
        """Answer exactly ``body`` (a provider or proxy returning something odd)."""
        self._push(Behaviour("raw", text=body, status=status, content_type=content_type), times)

    def events(self, *data: str | dict[str, Any], done: bool = True, times: int = 1) -> None:
        """Stream these SSE ``data:`` payloads verbatim (dicts as JSON), then
        ``[DONE]`` unless ``done`` is false."""
        lines = tuple(d if isinstance(d, str) else json.dumps(d) for d in data)
        self._push(Behaviour("events", events=lines, done=done), times)

    def cut_off(self, text: str = "An answer that stops in the mid", *, times: int = 1) -> None:
        """Stream ``text`` normally, then end the response cleanly with neither a
        ``finish_reason`` nor ``[DONE]`` (a proxy or server that gave up)."""
        self._push(Behaviour("cutoff", text=text), times)

    def trickle(self, seconds: float = 3600.0, *, every: float = 0.05, times: int = 1) -> None:
        """Open the stream, then send only ``: keep-alive`` comments for ``seconds``."""
        self._push(Behaviour("trickle", delay=seconds, every=every), times)

    def failed(self, code: str = "server_error", message: str | None = None) -> None:
        """Responses: start the stream, then end it with ``response.failed``."""
        self._push(Behaviour("failed", code=code, message=message), 1)

    def stream_error(self, code: str = "server_error", message: str | None = None) -> None:
        """Responses: start the stream, then send an ``error`` event and stop."""
        self._push(Behaviour("stream_error", code=code, message=message), 1)

    # ---- server ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[recording("openai")])
        app.add_routes(
            [
                web.post("/v1/chat/completions", self._chat),
                web.post("/v1/responses", self._responses),
                web.get("/v1/models", self._models),
            ]
        )
        return app

    def serving(self, origin: str) -> None:
        self.base_url = f"{origin}/v1"

    async def _models(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return self._error(401, "invalid_api_key")
        if self.model_ids is None:
            return web.json_response({"error": "Not found"}, status=404)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                    for m in self.model_ids
                ],
            }
        )

    def _error(
        self,
        status: int,
        code: str | None,
        type_: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        param: str | None = None,
    ) -> web.Response:
        known_type, known_message = ERRORS.get(code or "", ("server_error", None))
        body = {
            "error": {
                "message": message or known_message or "error",
                "type": type_ or known_type,
                "param": param,
                "code": code,
            }
        }
        return web.json_response(body, status=status, headers=headers)

    async def _received(
        self, request: web.Request, unparsable: str
    ) -> dict[str, Any] | web.Response:
        """The request's JSON body, recorded, or the error the API answers to a body it
        cannot parse (``unparsable``: its message) or to a wrong key."""
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, None, "invalid_request_error", unparsable)
        self.requests.append(Recorded(body, dict(request.headers)))
        async with self._arrived:
            self._arrived.notify_all()
        auth = request.headers.get("Authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return self._error(401, "invalid_api_key")
        return body

    @contextlib.contextmanager
    def _in_flight(self) -> Iterator[None]:
        """One call in flight for the length of the block (``peak_in_flight``: the most)."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request, "We could not parse the JSON body of your request.")
        if isinstance(body, web.StreamResponse):
            return body
        if not isinstance(body.get("messages"), list) or not body.get("model"):
            return self._error(
                400, None, "invalid_request_error", "Missing required parameter: 'messages'."
            )
        refused = refusal(body)
        if refused is not None:
            code, param, message = refused
            return self._error(400, code, "invalid_request_error", message, param=param)
        behaviour = self._script.popleft() if self._script else Behaviour("reply")
        with self._in_flight():
            return await self._behave(request, body, behaviour)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._received(request, "We could not parse the JSON body.")
        if isinstance(body, web.StreamResponse):
            return body
        if not body.get("model") or body.get("input") is None:
            return self._error(
                400, None, "invalid_request_error", "Missing required parameter: 'input'."
            )
        refused = openai_responses.refusal(body, without_summaries=self.without_summaries)
        if refused is not None:
            status, code, param, message = refused
            return self._error(status, code, "invalid_request_error", message, param=param)
        behaviour = self._script.popleft() if self._script else Behaviour("reply")
        with self._in_flight():
            if behaviour.kind in ("reply", "reset", "cutoff", "failed", "stream_error"):
                return await self._respond(request, body, behaviour)
            return await self._behave(request, body, behaviour)

    async def _respond(
        self, request: web.Request, body: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        build = openai_responses.ResponseBuilder(body)
        model = str(body["model"])
        reasons = bool(openai_responses.REASONS.match(model))
        wants_summary = bool((body.get("reasoning") or {}).get("summary"))
        question = openai_responses.last_question(body)
        summary = b.reasoning or (
            SUMMARY_TEXT
            if self.summaries
            else f"**Reading the question**\n\nThe user asks: {question}"
        )
        summary = summary if reasons and wants_summary else None
        text = b.text if b.text is not None else f"You asked: {question}"
        use = b.usage or openai_responses.usage(body, text, summary)
        delay = self.latency if b.delay is None else b.delay
        events = build.events(
            text,
            summary=summary,
            reasons=reasons,
            pieces=b.stream_chunks or max(1, len(text) // self.chunk_chars),
            finish=b.finish_reason,
            usage=use,
            # Thinking aloud for a while comes in pieces, as OpenAI streams summaries.
            summary_pieces=len(summary) // self.chunk_chars
            if summary and (self.summaries or b.think_s)
            else None,
        )
        if b.kind in ("failed", "stream_error"):
            code, message = b.code or "server_error", b.message or "The server had an error."
            err = {"code": code, "message": message}
            ending = (
                {"type": "response.failed", "response": build.response("failed", [], error=err)}
                if b.kind == "failed"
                else {"type": "error", "code": code, "message": message, "param": None}
            )
            events = [*events[:2], ending]
        if not body.get("stream"):
            await asyncio.sleep(delay)
            last = events[-1]
            if last["type"] == "error":
                return self._error(500, last["code"], "server_error", last["message"])
            return web.json_response(last["response"])
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        text_deltas = [e for e in events if e["type"] == "response.output_text.delta"]
        think_deltas = [e for e in events if e["type"] == SUMMARY_DELTA]
        think_s = b.think_s or (delay / 2 if self.summaries and think_deltas else 0.0)
        delay = max(0.0, delay - think_s) if self.summaries and not b.think_s else delay
        step = delay / max(1, len(text_deltas))
        think_step = think_s / max(1, len(think_deltas))
        for seq, event in enumerate(events):
            if b.kind == "cutoff" and event["type"] in (
                "response.completed",
                "response.incomplete",
            ):
                await resp.write_eof()  # ends cleanly, but never says the response is done
                return resp
            if event["type"] == SUMMARY_DELTA and think_step:
                await asyncio.sleep(think_step)
            if event["type"] == "response.output_text.delta":
                if step:
                    await asyncio.sleep(step)
                if self.keepalive_every:
                    await resp.write(b": keep-alive\n\n")
            event = {**event, "sequence_number": seq}
            await resp.write(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
            if (
                b.kind == "reset"
                and event is not None
                and event["type"] == "response.output_text.delta"
            ):
                await asyncio.sleep(b.delay if b.delay is not None else 0.05)
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-answer
                return resp
        await resp.write_eof()
        return resp

    async def _behave(
        self, request: web.Request, body: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        if b.kind == "fail":
            return self._error(b.status, b.code, b.type, b.message, b.headers)
        if b.kind == "hang":
            await asyncio.sleep(b.delay or 3600)
            return self._error(504, None, "server_error", "timeout")
        if b.kind == "malformed":
            return web.Response(
                text='{"id": "chatcmpl-x", "choices": [',
                status=200,
                content_type="application/json",
            )
        if b.kind == "raw":
            return web.Response(text=b.text or "", status=b.status, content_type=b.content_type)
        if b.kind in ("events", "trickle"):
            return await self._raw_stream(request, b)
        text = b.text if b.text is not None else self._echo(body)
        delay = self.latency if b.delay is None else b.delay
        if body.get("stream"):
            return await self._stream(request, body, b, text, delay)
        await asyncio.sleep(delay)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        if b.reasoning:
            message["reasoning_content"] = b.reasoning
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": b.finish_reason}],
                "usage": b.usage or self._usage(body, text),
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], b: Behaviour, text: str, delay: float
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

        async def send(
            delta: dict[str, Any] | None,
            finish: str | None = None,
            usage: dict[str, Any] | None = None,
        ) -> None:
            chunk: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None or (body.get("stream_options") or {}).get("include_usage"):
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        reasoning, think_s = b.reasoning, b.think_s
        if reasoning is None and self.summaries:
            reasoning, think_s = SUMMARY_TEXT, delay / 2
            delay -= think_s
        if reasoning and think_s:
            size = self.chunk_chars
            parts = [reasoning[i : i + size] for i in range(0, len(reasoning), size)]
            for part in parts:
                await asyncio.sleep(think_s / len(parts))
                await send({"reasoning_content": part})
        elif reasoning:
            await send({"reasoning_content": reasoning})
        n = max(1, b.stream_chunks or max(1, len(text) // self.chunk_chars))
        size = max(1, -(-len(text) // n))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        if b.kind == "reset":
            await send({"content": pieces[0]})
            await asyncio.sleep(b.delay if b.delay is not None else 0.05)
            assert request.transport is not None
            request.transport.close()  # the connection drops mid-answer
            return resp
        step = delay / len(pieces)
        for piece in pieces:
            if step:
                await asyncio.sleep(step)
            if self.keepalive_every:
                await resp.write(b": keep-alive\n\n")
            await send({"content": piece})
        if b.kind == "cutoff":
            await resp.write_eof()
            return resp
        await send({}, finish=b.finish_reason)
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(None, usage=b.usage or self._usage(body, text))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _raw_stream(self, request: web.Request, b: Behaviour) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        if b.kind == "trickle":
            until = time.monotonic() + (b.delay or 0.0)
            while time.monotonic() < until:
                await resp.write(b": keep-alive\n\n")
                await asyncio.sleep(b.every)
        for data in b.events:
            await resp.write(f"data: {data}\n\n".encode())
        if b.done:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    @staticmethod
    def _echo(body: dict[str, Any]) -> str:
        users = [m.get("content", "") for m in body["messages"] if m.get("role") == "user"]
        return f"You asked: {users[-1] if users else ''}"

    @staticmethod
    def _usage(body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt = sum(len(str(m.get("content", ""))) // 4 + 1 for m in body["messages"])
        completion = len(text) // 4 + 1
        reasoning = 64 if body.get("reasoning_effort") else 0
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion + reasoning,
            "total_tokens": prompt + completion + reasoning,
            "completion_tokens_details": {"reasoning_tokens": reasoning},
        }


async def _main() -> None:
    ap = argparse.ArgumentParser(description="Fake OpenAI-compatible server")
    ap.add_argument("--port", type=int, default=8099)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    async with FakeOpenAI(latency=args.latency, port=args.port) as fake:
        print(f"fake OpenAI at {fake.base_url}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
