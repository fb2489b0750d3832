"""The shapes of a Chat Completions answer (a JSON body, or one SSE chunk), read
defensively.

Providers and proxies send odd things: ``{"choices": [null]}``, a ``delta`` that is a
string, ``content: 12345``, usage counts as ``"abc"``. The parts an answer is made of
(choices, message or delta, content) must have the right shape, or the whole body is
refused with `MalformedAnswer`; the parts that only describe it (usage, model name,
reasoning text, finish reason) are lenient: a bad value reads as unknown (``None``), so a
usable answer is still delivered.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
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


class _PromptDetails(_Wire):
    cached_tokens: Count = None


class WireUsage(_Wire):
    prompt_tokens: Count = None
    completion_tokens: Count = None
    completion_tokens_details: Annotated[_Details | None, WrapValidator(_unknown_if_invalid)] = None
    prompt_tokens_details: Annotated[_PromptDetails | None, WrapValidator(_unknown_if_invalid)] = (
        None
    )

    def to_usage(self) -> Usage:
        """Unknown counts read as 0, which the footer leaves out."""
        details = self.completion_tokens_details
        return Usage(
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens or 0,
            reasoning_tokens=(details.reasoning_tokens if details else None) or 0,
            cached_tokens=(
                self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else None
            )
            or 0,
        )


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


def loads(text: str) -> Any:
    """JSON, or `MalformedAnswer` raised from the decoder's error."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedAnswer("not JSON") from exc


def completion(body: Any) -> Completion:
    try:
        return Completion.model_validate(body)
    except ValidationError as exc:
        raise MalformedAnswer("not a chat completion") from exc


def chunk(body: Any) -> Chunk:
    try:
        return Chunk.model_validate(body)
    except ValidationError as exc:
        raise MalformedAnswer("not a chat completion chunk") from exc
