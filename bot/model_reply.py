"""What both APIs' readers share: the final `ModelReply` (with the rules for an empty
answer) and the shape of a stream reader."""

from __future__ import annotations

from typing import Protocol

from bot.domain import ModelReply, Usage
from bot.errors import AnswerCutOff, ModelRefused, ModelUnavailable, ReasoningUsedAllTokens
from bot.render import neutralise_mentions


class StreamReader(Protocol):
    """Reads one attempt's stream, event by event."""

    @property
    def emitted(self) -> bool:
        """Whether answer text has been shown (a retry could not take it back)."""
        ...

    async def feed(self, data: str) -> bool:
        """Take one SSE ``data``; True when the stream says it is finished."""
        ...

    def finish(self) -> ModelReply:
        """The reply, once the stream has ended; raises if it is not a whole answer."""
        ...


def reply_of(
    answer: str,
    reasoning: str,
    usage: Usage,
    finish: str | None,
    model: str,
    *,
    reasoning_s: float | None = None,
    reasoning_state: str | None = None,
) -> ModelReply:
    if not answer:
        if finish == "content_filter":
            raise ModelRefused("the provider filtered the answer")
        if finish == "length":
            if reasoning or usage.reasoning_tokens:
                raise ReasoningUsedAllTokens(
                    "the model used all its tokens reasoning and gave no answer", usage=usage
                )
            raise AnswerCutOff("the token limit was reached before any answer")
        raise ModelUnavailable("the model returned an empty answer")
    return ModelReply(
        text=answer,
        # Reasoning is model output like the answer: it must never ping anyone.
        reasoning=neutralise_mentions(reasoning.strip()),
        usage=usage,
        finish_reason=finish,
        model=model,
        reasoning_s=reasoning_s,
        reasoning_state=reasoning_state,
    )
