"""The shapes of a Chat Completions answer (a JSON body, or one SSE chunk) and of a
Responses answer (a JSON body, or one typed stream event), read defensively.

Providers and proxies send odd things: ``{"choices": [null]}``, a ``delta`` that is a
string, ``content: 12345``, usage counts as ``"abc"``. The parts an answer is made of
(choices, message or delta, content) must have the right shape, or the whole body is
refused with `MalformedAnswer`; the parts that only describe it (usage, model name,
reasoning text, finish reason) are lenient: a bad value reads as unknown (``None``), so a
usable answer is still delivered.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from bot.domain import Usage


class MalformedAnswer(ValueError):
    """The provider's body is not a Chat Completions answer; the cause says why."""


def _unknown_if_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


Count = Annotated[int | None, Field(ge=0), WrapValidator(_unknown_if_invalid)]
Note = Annotated[str | None, WrapValidator(_unknown_if_invalid)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Details(_Wire):
    reasoning_tokens: Count = None
    cached_tokens: Count = None


Details = Annotated[_Details | None, WrapValidator(_unknown_if_invalid)]


class _PromptDetails(_Wire):
    cached_tokens: Count = None


class WireUsage(_Wire):
    prompt_tokens: Count = None
    completion_tokens: Count = None
    completion_tokens_details: Details = None
    prompt_tokens_details: Details = None

    def to_usage(self) -> Usage:
        """Unknown counts read as 0, which the footer leaves out."""
        out, cached = self.completion_tokens_details, self.prompt_tokens_details
        return Usage(
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens or 0,
            reasoning_tokens=(out.reasoning_tokens if out else None) or 0,
            cached_tokens=(cached.cached_tokens if cached else None) or 0,
        )


# Responses names the same counts differently: its name -> the Chat Completions name.
_RESPONSES_USAGE_NAMES = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "input_tokens_details": "prompt_tokens_details",
    "output_tokens_details": "completion_tokens_details",
}


class ResponsesUsage(WireUsage):
    """`WireUsage` read from the Responses API's names (only those)."""

    @model_validator(mode="before")
    @classmethod
    def _chat_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # refused as before, and read as unknown
        return {chat: data[own] for own, chat in _RESPONSES_USAGE_NAMES.items() if own in data}


LenientUsage = Annotated[WireUsage | None, WrapValidator(_unknown_if_invalid)]


class Message(_Wire):
    """A whole message (JSON answers) or one piece of it (a stream's ``delta``)."""

    # Strictly a string: a number or an object here is not an answer.
    content: Annotated[str | None, Field(strict=True)] = None
    # DeepSeek and vLLM name it reasoning_content, OpenRouter and Ollama reasoning.
    reasoning_content: Note = None
    reasoning: Note = None
    # OpenAI's structured refusal: content stays null and this says why.
    refusal: Note = None

    @property
    def thought(self) -> str:
        return self.reasoning_content or self.reasoning or ""


class Choice(_Wire):
    message: Message | None = None
    finish_reason: Note = None


class StreamChoice(_Wire):
    delta: Message | None = None
    finish_reason: Note = None


class Completion(_Wire):
    choices: list[Choice] = Field(min_length=1)
    usage: LenientUsage = None
    model: Note = None


class Chunk(_Wire):
    choices: list[StreamChoice] = Field(default_factory=list)
    usage: LenientUsage = None
    model: Note = None


# ---- Responses ---------------------------------------------------------------------


class SummaryPart(_Wire):
    text: Note = None


class ContentPart(_Wire):
    type: str
    # The answer itself: strictly a string.
    text: Annotated[str | None, Field(strict=True)] = None
    refusal: Note = None


class OutputItem(_Wire):
    """One item of a response's output: ``reasoning`` (summary parts and, when asked
    for, the encrypted reasoning) or ``message`` (the answer's content parts)."""

    type: str
    id: Note = None
    summary: Annotated[list[SummaryPart] | None, WrapValidator(_unknown_if_invalid)] = None
    encrypted_content: Note = None
    content: list[ContentPart] | None = None

    @property
    def summary_text(self) -> str:
        return "\n\n".join(p.text for p in self.summary or () if p.text)

    def replay(self) -> dict[str, Any]:
        """This reasoning item as it is passed back in a follow-up's ``input``."""
        return {
            "type": "reasoning",
            "id": self.id,
            "summary": [{"type": "summary_text", "text": p.text or ""} for p in self.summary or ()],
            "encrypted_content": self.encrypted_content,
        }


class _Reason(_Wire):
    reason: Note = None


class _Failure(_Wire):
    code: Note = None
    message: Note = None


class ResponseBody(_Wire):
    status: Note = None
    model: Note = None
    output: list[OutputItem] = Field(default_factory=list)
    usage: Annotated[ResponsesUsage | None, WrapValidator(_unknown_if_invalid)] = None
    incomplete_details: Annotated[_Reason | None, WrapValidator(_unknown_if_invalid)] = None
    error: Annotated[_Failure | None, WrapValidator(_unknown_if_invalid)] = None


class ResponseEvent(_Wire):
    """One typed event of a Responses stream; one flat shape for the few kinds we act
    on (a tagged union of ~50 kinds would validate fields we never read)."""

    type: Annotated[str, Field(strict=True)]
    # A piece of text: of the answer (output_text.delta, where anything but text makes
    # the event malformed, see `text_delta`) or of a summary (where it is only dropped).
    delta: Any = None
    summary_index: Count = None
    item: OutputItem | None = None
    response: ResponseBody | None = None
    # The ``error`` event's own fields.
    code: Note = None
    message: Note = None

    @property
    def note_delta(self) -> str:
        return self.delta if isinstance(self.delta, str) else ""


_W = TypeVar("_W", bound=BaseModel)


def loads(text: str) -> Any:
    """JSON, or `MalformedAnswer` raised from the decoder's error."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedAnswer("not JSON") from exc


def _read(shape: type[_W], body: Any, what: str) -> _W:
    """``body`` as ``shape``, or `MalformedAnswer` ("not <what>") raised from the error."""
    try:
        return shape.model_validate(body)
    except ValidationError as exc:
        raise MalformedAnswer(f"not {what}") from exc


def completion(body: Any) -> Completion:
    return _read(Completion, body, "a chat completion")


def chunk(body: Any) -> Chunk:
    return _read(Chunk, body, "a chat completion chunk")


def response(body: Any) -> ResponseBody:
    return _read(ResponseBody, body, "a response")


def event(body: Any) -> ResponseEvent:
    parsed = _read(ResponseEvent, body, "a response stream event")
    if parsed.type == "response.output_text.delta" and not isinstance(parsed.delta, str):
        raise MalformedAnswer("a piece of the answer that is not text")
    return parsed
