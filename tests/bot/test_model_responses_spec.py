"""Every request body the client builds, for several catalogue entries, conforms to the
official spec: ``CreateResponse`` for ``api = "responses"``, ``CreateChatCompletionRequest``
for chat, with no key the spec does not declare."""

from __future__ import annotations

import pytest

from bot.config import Catalogue, ModelSpec
from bot.domain import Effort, Role, Turn
from bot.model_chat import chat_payload
from bot.model_responses import responses_payload
from bot.ports import ModelCall
from tests.bot.spec_check import declared, errors

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
    ModelSpec(
        alias="g",
        id="gpt-4.1",
        weekly_limit=1,
        api="responses",
        efforts=(),
        reasoning_summary="off",
        keep_reasoning=False,
    ),
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


@pytest.mark.parametrize("spec", RESPONSES, ids=lambda s: s.alias)
def test_responses_bodies_conform(spec: ModelSpec) -> None:
    for call in calls(spec):
        body = responses_payload(call)
        assert errors("CreateResponse", body) == []
        assert set(body) <= declared("CreateResponse")


@pytest.mark.parametrize("spec", CHAT, ids=lambda s: s.alias)
def test_chat_bodies_conform(spec: ModelSpec) -> None:
    for call in calls(spec):
        body = chat_payload(call)
        assert errors("CreateChatCompletionRequest", body) == []
        assert set(body) <= declared("CreateChatCompletionRequest")


def test_the_check_catches_a_wrong_body() -> None:
    """The validation itself must be able to fail."""
    assert errors("CreateResponse", {"model": "o3", "reasoning": {"summary": "verbose"}})
    assert "max_completion_tokens" not in declared("CreateResponse")
