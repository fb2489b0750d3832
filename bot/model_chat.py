"""Chat Completions (``POST /v1/chat/completions``): the request a catalogue entry
takes, and the answer read from a JSON body or a stream of ``delta`` chunks. The chat
history carries questions and answers only: reasoning is never sent back (DeepSeek
refuses ``reasoning_content`` in history)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bot import model_wire
from bot.domain import ModelReply, Role, Usage
from bot.errors import AnswerBrokeOff, ModelRefused, ModelUnavailable
from bot.model_errors import error_for
from bot.model_reply import reply_of
from bot.model_wire import MalformedAnswer, WireUsage
from bot.ports import ModelCall, ProgressCallback
from bot.sse import ThinkSplitter


def chat_payload(call: ModelCall) -> dict[str, Any]:
    """The ``CreateChatCompletionRequest`` body for one call: only what this model takes."""
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


class ChatReader:
    """Reads one Chat Completions stream: ``choices[].delta`` chunks, then ``[DONE]``."""

    def __init__(
        self,
        on_text: ProgressCallback | None,
        on_reasoning: ProgressCallback | None,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        self._on_text, self._on_reasoning = on_text, on_reasoning
        self._clock, self._started = clock, started
        self._splitter = ThinkSplitter()
        self._thought: list[str] = []
        self._shown_reasoning = ""
        self._reasoning_seen = (0, 0)  # thought deltas and <think> characters last shown
        self._answer_at: float | None = None
        self._usage: WireUsage | None = None
        self._finish: str | None = None
        self._refused = False
        self._done = False
        self._model = ""
        self.emitted = False

    async def feed(self, data: str) -> bool:
        if data.strip() == "[DONE]":
            self._done = True
            return True
        chunk = _chunk(data)
        self._model = chunk.model or self._model
        self._usage = chunk.usage or self._usage
        splitter = self._splitter
        for choice in chunk.choices:
            delta = choice.delta or model_wire.Message()
            if delta.thought:
                self._thought.append(delta.thought)
            if delta.content:
                before = splitter.answer
                splitter.feed(delta.content)
                if splitter.answer != before and splitter.answer.strip():
                    self._answer_at = self._answer_at or self._clock()
                    if self._on_text is not None:
                        self.emitted = True
                        await self._on_text(splitter.answer.lstrip())
            if delta.refusal:
                self._refused = True
            self._finish = choice.finish_reason or self._finish
        if self._on_reasoning is not None:
            # Only when the reasoning grew, and raw: neutralising all of it on every
            # delta costs O(length) each time, ~0.3 ms a delta for 10,000 characters
            # (bench/parse.py); whoever shows it neutralises what it shows.
            grown = len(self._thought), len(splitter.reasoning)
            if grown != self._reasoning_seen:
                self._reasoning_seen = grown
                shown = ("".join(self._thought) + splitter.reasoning).strip()
                if shown != self._shown_reasoning:
                    self._shown_reasoning = shown
                    await self._on_reasoning(shown)
        return False

    def finish(self) -> ModelReply:
        if not self._done and self._finish is None:
            # A clean end of the response is not the end of the answer: without
            # finish_reason or [DONE] what arrived may stop mid-sentence (a proxy gave
            # up, a server crashed after flushing), and it must not be sold as whole.
            raise AnswerBrokeOff("the stream ended before the model finished its answer")
        answer, thought = self._splitter.finish()
        if self._refused and not answer:
            raise ModelRefused("the model refused (structured refusal)")
        reasoning = "".join(self._thought) + thought
        thought_s = None
        if reasoning or (self._usage and self._usage.to_usage().reasoning_tokens):
            thought_s = (self._answer_at or self._clock()) - self._started
        return _reply(
            answer, reasoning, self._usage, self._finish, self._model, reasoning_s=thought_s
        )


def chat_reply(text: str, headers: Mapping[str, str]) -> ModelReply:
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


def _reply(
    answer: str,
    reasoning: str,
    usage: WireUsage | None,
    finish: str | None,
    model: str,
    *,
    reasoning_s: float | None = None,
) -> ModelReply:
    return reply_of(
        answer,
        reasoning,
        usage.to_usage() if usage is not None else Usage(),
        finish,
        model,
        reasoning_s=reasoning_s,
    )
