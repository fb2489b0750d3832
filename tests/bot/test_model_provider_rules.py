"""The fake OpenAI server refuses what OpenAI refuses for a model family, with OpenAI's
own 400 bodies, and the real client turns those into a clear, unretried error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.config import ALL_EFFORTS, ModelSpec
from bot.domain import Effort, Role, Turn
from bot.errors import ModelBadRequest
from bot.model_client import OpenAIClient
from bot.ports import ModelCall
from tests.fakes.openai_server import FakeOpenAI

USER = {"role": "user", "content": "hi"}


async def post(fake: FakeOpenAI, **body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{fake.base_url}/chat/completions", json={"messages": [USER], **body}
        )


REFUSED = {
    "o1-mini-effort": (
        {"model": "o1-mini", "reasoning_effort": "high"},
        "unsupported_parameter",
        "reasoning_effort",
        "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
    ),
    "o1-preview-snapshot-effort": (
        {"model": "o1-preview-2024-09-12", "reasoning_effort": "low"},
        "unsupported_parameter",
        "reasoning_effort",
        "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
    ),
    "o1-mini-system": (
        {"model": "o1-mini", "messages": [{"role": "system", "content": "Be brief."}, USER]},
        "unsupported_value",
        "messages[0].role",
        "Unsupported value: 'messages[0].role' does not support 'system' with this model.",
    ),
    "o1-preview-developer-later": (
        {
            "model": "o1-preview",
            "messages": [USER, {"role": "developer", "content": "Be brief."}],
        },
        "unsupported_value",
        "messages[1].role",
        "Unsupported value: 'messages[1].role' does not support 'developer' with this model.",
    ),
    "o3-max-tokens": (
        {"model": "o3", "max_tokens": 100},
        "unsupported_parameter",
        "max_tokens",
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
    ),
    "o4-mini-temperature": (
        {"model": "o4-mini", "temperature": 0.7},
        "unsupported_value",
        "temperature",
        "Unsupported value: 'temperature' does not support 0.7 with this model. "
        "Only the default (1) value is supported.",
    ),
    "o1-temperature-zero": (
        {"model": "o1", "temperature": 0},
        "unsupported_value",
        "temperature",
        "Unsupported value: 'temperature' does not support 0 with this model. "
        "Only the default (1) value is supported.",
    ),
}


@pytest.mark.parametrize(("body", "code", "param", "message"), REFUSED.values(), ids=REFUSED.keys())
async def test_refused_with_openais_body(
    fake: FakeOpenAI, body: dict[str, Any], code: str, param: str, message: str
) -> None:
    response = await post(fake, **body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
        }
    }


ACCEPTED = {
    "o1-effort-developer": {
        "model": "o1",
        "reasoning_effort": "high",
        "messages": [{"role": "developer", "content": "Be brief."}, USER],
    },
    "o3-mini-effort-system": {
        "model": "o3-mini",
        "reasoning_effort": "low",
        "messages": [{"role": "system", "content": "Be brief."}, USER],
    },
    "o1-mini-max-completion-tokens": {"model": "o1-mini", "max_completion_tokens": 100},
    "o1-default-temperature": {"model": "o1", "temperature": 1},
    "gpt-4o-max-tokens-temperature": {"model": "gpt-4o", "max_tokens": 100, "temperature": 0.2},
    "r1-effort-system": {
        "model": "deepseek-reasoner",
        "reasoning_effort": "high",
        "messages": [{"role": "system", "content": "Be brief."}, USER],
    },
}


@pytest.mark.parametrize("body", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_what_the_family_takes_is_answered(fake: FakeOpenAI, body: dict[str, Any]) -> None:
    response = await post(fake, **body)
    assert response.status_code == 200, response.text


async def test_a_refusal_does_not_use_up_a_scripted_behaviour(fake: FakeOpenAI) -> None:
    fake.reply("scripted")
    assert (await post(fake, model="o1-mini", reasoning_effort="high")).status_code == 400
    response = await post(fake, model="o1-mini")
    assert response.json()["choices"][0]["message"]["content"] == "scripted"


async def test_a_misconfigured_model_gets_a_clear_unretried_error(fake: FakeOpenAI) -> None:
    # A catalogue that insists o1-mini takes effort and developer messages: the
    # provider's 400 is a bad request, never retried.
    spec = ModelSpec(
        alias="mini",
        id="o1-mini",
        weekly_limit=1,
        efforts=ALL_EFFORTS,
        instructions_role="developer",
    )
    client = OpenAIClient(base_url=fake.base_url, api_key=None, max_retries=3)
    try:
        with pytest.raises(ModelBadRequest) as caught:
            await client.complete(
                ModelCall(spec=spec, messages=(Turn(Role.USER, "hi"),), effort=Effort.HIGH)
            )
    finally:
        await client.aclose()
    assert caught.value.code == "unsupported_parameter" and len(fake.requests) == 1


async def test_o1_mini_as_the_default_catalogue_describes_it_is_answered(
    fake: FakeOpenAI,
) -> None:
    spec = ModelSpec(alias="mini", id="o1-mini", weekly_limit=1)
    client = OpenAIClient(base_url=fake.base_url, api_key=None)
    try:
        reply = await client.complete(
            ModelCall(
                spec=spec,
                messages=(Turn(Role.USER, "hi"),),
                effort=Effort.HIGH,
                instructions="Be brief.",
            )
        )
    finally:
        await client.aclose()
    assert reply.text == "You asked: Be brief.\n\nhi"
