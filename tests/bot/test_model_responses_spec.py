"""Every request body the client builds, for several catalogue entries, conforms to the
official spec: ``CreateResponse`` for ``api = "responses"``, ``CreateChatCompletionRequest``
for chat, with no key the spec does not declare."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.config import Catalogue, ModelSpec
from bot.domain import Effort, Role, Turn
from bot.model_chat import chat_payload
from bot.model_responses import responses_payload
from bot.ports import ModelCall
from tests.bot.spec_check import declared, errors
from tests.builders import gpt41

STATE = '{"model": "o3", "items": [{"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": "enc"}]}'  # noqa: E501
HISTORY = (Turn(Role.USER, "first"), Turn(Role.ASSISTANT, "answer", STATE))

RESPONSES = [
    ModelSpec(alias="o3", id="o3", weekly_limit=1, api="responses", max_completion_tokens=9000),
    ModelSpec(
        alias="o4",
        id="o4-mini",
        weekly_limit=1,
        api="responses",
        reasoning_summary="detailed",
        reasoning_effort=Effort.LOW,
        streaming=False,
    ),
    gpt41(weekly_limit=1),
    ModelSpec(alias="m", id="o1-mini", weekly_limit=1, api="responses"),
]
CHAT = [
    *Catalogue().models,
    ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=1, efforts=()),
    ModelSpec(
        alias="q",
        id="qwq",
        weekly_limit=1,
        instructions_role="system",
        max_completion_tokens=4000,
        streaming=False,
    ),
]


def calls(spec: ModelSpec) -> list[ModelCall]:
    question = Turn(Role.USER, "why?")
    return [
        ModelCall(spec=spec, messages=(question,)),
        ModelCall(
            spec=spec,
            messages=(*HISTORY, question),
            effort=Effort.HIGH,
            instructions="Answer in Markdown.",
        ),
    ]


BODIES = [
    *(
        pytest.param(responses_payload, "CreateResponse", s, id=f"responses-{s.alias}")
        for s in RESPONSES
    ),
    *(
        pytest.param(chat_payload, "CreateChatCompletionRequest", s, id=f"chat-{s.alias}")
        for s in CHAT
    ),
]


@pytest.mark.parametrize(("payload", "schema", "spec"), BODIES)
def test_request_bodies_conform(
    payload: Callable[[ModelCall], dict[str, Any]], schema: str, spec: ModelSpec
) -> None:
    for call in calls(spec):
        body = payload(call)
        assert errors(schema, body) == []
        assert set(body) <= declared(schema)


def test_the_check_catches_a_wrong_body() -> None:
    """The validation itself must be able to fail."""
    assert errors("CreateResponse", {"model": "o3", "reasoning": {"summary": "verbose"}})
    assert "max_completion_tokens" not in declared("CreateResponse")
