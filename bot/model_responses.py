"""OpenAI's Responses API (``POST /v1/responses``): the request a catalogue entry takes,
and the typed stream events read in their order.

Follow-ups keep the model's reasoning with ``store: false`` and
``include: ["reasoning.encrypted_content"]``: the encrypted reasoning items of each
answer travel back to us, are kept with the turn (`bot.domain.Turn.reasoning_state`,
opaque to everyone but this module) and are passed back in the next ``input``. OpenAI
keeps nothing, so it works for zero-data-retention organisations, for threads older
than any server-side retention, and on whichever worker takes the follow-up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bot import model_wire
from bot.domain import ModelReply, Role, Usage
from bot.errors import AnswerBrokeOff, ModelError, ModelRefused, ModelUnavailable
from bot.model_errors import error_for, in_stream_error
from bot.model_reply import reply_of
from bot.model_wire import MalformedAnswer, OutputItem, ResponseBody
from bot.ports import ModelCall, ProgressCallback

ENCRYPTED_REASONING = "reasoning.encrypted_content"
# incomplete_details.reason -> the finish reason Chat Completions would have said.
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_payload(call: ModelCall) -> dict[str, Any]:
    """The ``CreateResponse`` body for one call: only what this model takes."""
    spec = call.spec
    items: list[dict[str, Any]] = []
    for turn in call.messages:
        if turn.role == Role.ASSISTANT and spec.keep_reasoning:
            items.extend(_replayed(turn.reasoning_state, spec.id))
        items.append({"role": turn.role.value, "content": turn.content})
    payload: dict[str, Any] = {"model": spec.id, "input": items, "store": False}
    if call.instructions:
        if spec.instructions_role == "user":
            # No system/developer role: the instructions open the first user message.
            first = next((i for i in items if i.get("role") == Role.USER), None)
            if first is not None:
                first["content"] = f"{call.instructions}\n\n{first['content']}"
        else:
            payload["instructions"] = call.instructions
    reasoning: dict[str, str] = {}
    effort = call.effort or spec.reasoning_effort
    if effort and effort in spec.efforts:  # else the provider answers 400
        reasoning["effort"] = effort.value
    if spec.summary:
        reasoning["summary"] = spec.summary
    if reasoning:
        payload["reasoning"] = reasoning
    if spec.keep_reasoning:
        payload["include"] = [ENCRYPTED_REASONING]
    if spec.max_completion_tokens:
        payload["max_output_tokens"] = spec.max_completion_tokens
    if spec.streaming:
        payload["stream"] = True
    return payload


def _replayed(state: str | None, model_id: str) -> list[dict[str, Any]]:
    """The reasoning items kept with an answer, if they were made by this model (another
    model cannot decrypt them, and a chat model never sees them)."""
    if not state:
        return []
    try:
        kept = json.loads(state)
    except ValueError:
        return []
    if not isinstance(kept, dict) or kept.get("model") != model_id:
        return []
    items = kept.get("items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _state(items: list[OutputItem], model_id: str) -> str | None:
    kept = [i.replay() for i in items if i.type == "reasoning" and i.encrypted_content]
    return json.dumps({"model": model_id, "items": kept}) if kept else None


def _finish(body: ResponseBody | None) -> str | None:
    if body is None:
        return None
    if body.status == "incomplete":
        reason = body.incomplete_details.reason if body.incomplete_details else None
        return INCOMPLETE.get(reason or "", reason or "length")
    return "stop"


def _failure(body: ResponseBody) -> ModelError:
    err = body.error
    return in_stream_error(err.code if err else None, err.message if err else "response failed")


def responses_reply(text: str, headers: Mapping[str, str], *, model_id: str) -> ModelReply:
    """A whole (non-streamed) response body."""
    try:
        raw = model_wire.loads(text)
        if isinstance(raw, dict) and isinstance(raw.get("error"), dict) and not raw.get("output"):
            if raw.get("status") != "failed":
                raise error_for(500, raw, headers)
        body = model_wire.response(raw)
    except MalformedAnswer as exc:
        raise ModelUnavailable(f"malformed answer from the provider ({exc})") from exc
    if body.status == "failed":
        raise _failure(body)
    answer, refused = _message_text(body.output)
    if refused and not answer:
        raise ModelRefused("the model refused (structured refusal)")
    summary = "\n\n".join(i.summary_text for i in body.output if i.type == "reasoning")
    return reply_of(
        answer.strip(),
        summary.strip(),
        body.usage.to_usage() if body.usage else Usage(),
        _finish(body),
        body.model or "",
        reasoning_state=_state(body.output, model_id),
    )


def _message_text(output: list[OutputItem]) -> tuple[str, bool]:
    texts: list[str] = []
    refused = False
    for item in output:
        for part in item.content or () if item.type == "message" else ():
            if part.type == "output_text" and part.text:
                texts.append(part.text)
            refused = refused or part.type == "refusal"
    return "".join(texts), refused


class ResponsesReader:
    """Reads one Responses stream. The events come in this order: ``response.created``,
    ``response.in_progress``, then per output item ``response.output_item.added``, its
    parts (a reasoning item's ``response.reasoning_summary_part.added`` and
    ``response.reasoning_summary_text.delta``…``.done``; a message's
    ``response.output_text.delta``…``.done``) and ``response.output_item.done``; last
    ``response.completed``, ``response.incomplete`` or ``response.failed``. An
    ``error`` event may come at any point. There is no ``[DONE]``."""

    def __init__(
        self,
        *,
        model_id: str,
        on_text: ProgressCallback | None,
        on_reasoning: ProgressCallback | None,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        self._model_id = model_id
        self._on_text, self._on_reasoning = on_text, on_reasoning
        self._clock, self._started = clock, started
        self._answer = ""
        self._answer_at: float | None = None
        self._summary: list[str] = []  # one entry per summary part, in order
        self._items: list[OutputItem] = []
        self._refused = False
        self._final: ResponseBody | None = None
        self._model = ""
        self.emitted = False

    async def feed(self, data: str) -> bool:
        if data.strip() == "[DONE]":  # not OpenAI's, but some proxies end every stream so
            return True
        event = _event(data)
        kind = event.type
        if kind == "response.output_text.delta" and event.delta:
            self._answer += event.delta
            self._answer_at = self._answer_at or self._clock()
            if self._on_text is not None and self._answer.strip():
                self.emitted = True
                await self._on_text(self._answer.lstrip())
        elif kind == "response.reasoning_summary_part.added":
            self._summary.append("")
        elif kind == "response.reasoning_summary_text.delta" and event.note_delta:
            if not self._summary:
                self._summary.append("")
            self._summary[-1] += event.note_delta
            if self._on_reasoning is not None:
                # Raw, as on chat (`bot.model_chat`): the consumer neutralises what it shows.
                await self._on_reasoning(self._summary_text())
        elif kind == "response.refusal.delta":
            self._refused = True
        elif kind == "response.output_item.done" and event.item is not None:
            self._items.append(event.item)
        elif kind in ("response.created", "response.in_progress") and event.response:
            self._model = event.response.model or self._model
        elif kind in ("response.completed", "response.incomplete"):
            self._final = event.response or ResponseBody(status=kind.rpartition(".")[2])
            return True
        elif kind == "response.failed":
            raise _failure(event.response or ResponseBody())
        elif kind == "error":
            raise in_stream_error(event.code, event.message)
        return False

    def _summary_text(self) -> str:
        return "\n\n".join(p.strip() for p in self._summary if p.strip())

    def finish(self) -> ModelReply:
        final = self._final
        if final is None:
            raise AnswerBrokeOff("the stream ended before the response was completed")
        items = self._items or final.output
        answer = self._answer or _message_text(final.output)[0]
        if self._refused and not answer.strip():
            raise ModelRefused("the model refused (structured refusal)")
        summary = self._summary_text() or "\n\n".join(
            i.summary_text for i in items if i.type == "reasoning"
        )
        usage = final.usage.to_usage() if final.usage else Usage()
        thought_s = None
        if summary or usage.reasoning_tokens:
            thought_s = (self._answer_at or self._clock()) - self._started
        return reply_of(
            answer.strip(),
            summary,
            usage,
            _finish(final),
            final.model or self._model,
            reasoning_s=thought_s,
            reasoning_state=_state(items, self._model_id),
        )


def _event(data: str) -> model_wire.ResponseEvent:
    try:
        return model_wire.event(model_wire.loads(data))
    except MalformedAnswer as exc:
        raise ModelUnavailable(f"malformed event in the model's stream ({exc})") from exc
