"""Poison answers, broken-off streams and the overall deadline: the real model client
against the fake OpenAI server answering garbage over loopback. Whatever the provider
sends, what escapes is a `ModelError`, raised from the original fault."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.config import ModelSpec
from bot.domain import Role, Turn
from bot.errors import (
    AnswerBrokeOff,
    ModelDeadlineExceeded,
    ModelRateLimited,
    ModelRefused,
    ModelUnavailable,
)
from bot.model_client import OpenAIClient
from bot.ports import ModelCall
from tests.builders import Sleeps
from tests.fakes.openai_server import FakeOpenAI

JSON = ModelSpec(alias="p", id="o1", weekly_limit=1, streaming=False)
SSE = ModelSpec(alias="s", id="o1", weekly_limit=1, streaming=True)
GENEROUS_S = 30.0  # bounds a test on a loaded machine; never a timing assertion
# The client never retries (the conftest's default): each scripted body is seen once,
# and the error is the first one.


def call(spec: ModelSpec) -> ModelCall:
    return ModelCall(spec=spec, messages=(Turn(Role.USER, "hi"),))


def completion(**fields: object) -> dict[str, object]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "o1", **fields}


def chunk(**fields: object) -> dict[str, object]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "o1", **fields}


ANSWER = {"index": 0, "message": {"role": "assistant", "content": "Four."}, "finish_reason": "stop"}
STREAMED_ANSWER = (
    chunk(choices=[{"index": 0, "delta": {"content": "Four."}, "finish_reason": None}]),
    chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
)

POISON_BODIES = {
    "choices-null": completion(choices=[None]),
    "content-number": completion(
        choices=[{"index": 0, "message": {"content": 12345}, "finish_reason": "stop"}]
    ),
    "message-string": completion(choices=[{"index": 0, "message": "Four."}]),
    "choices-object": completion(choices={"0": ANSWER}),
    "body-list": [ANSWER],
    "body-string": "Four.",
    "not-json": "<html>502 Bad Gateway</html>",
}


@pytest.mark.parametrize("body", POISON_BODIES.values(), ids=POISON_BODIES.keys())
async def test_json_answer_of_an_unexpected_shape_is_unavailable(
    fake: FakeOpenAI, client: OpenAIClient, body: object
) -> None:
    fake.raw(body if isinstance(body, str) and body.startswith("<") else json.dumps(body))
    with pytest.raises(ModelUnavailable) as caught:
        await client.complete(call(JSON))
    assert caught.value.__cause__ is not None  # raised from the original fault


POISON_EVENTS = {
    "choices-null": chunk(choices=[None]),
    "delta-string": chunk(choices=[{"index": 0, "delta": "Four.", "finish_reason": None}]),
    "content-number": chunk(choices=[{"index": 0, "delta": {"content": 12345}}]),
    "choices-string": chunk(choices="Four."),
    "data-list": [1, 2, 3],
    "not-json": "{'content': 'Four.'}",
}


@pytest.mark.parametrize("event", POISON_EVENTS.values(), ids=POISON_EVENTS.keys())
async def test_stream_chunk_of_an_unexpected_shape_is_unavailable(
    fake: FakeOpenAI, client: OpenAIClient, event: object
) -> None:
    fake.events(chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}]), event)
    with pytest.raises(ModelUnavailable) as caught:
        await client.complete(call(SSE))
    assert caught.value.__cause__ is not None


BAD_USAGE = {
    "prompt-text": {"prompt_tokens": "abc", "completion_tokens": 7},
    "negative": {"prompt_tokens": -1, "completion_tokens": 7},
    "details-string": {
        "prompt_tokens": None,
        "completion_tokens": 7,
        "completion_tokens_details": "lots",
    },
    "usage-list": [1, 2],
}


@pytest.mark.parametrize("usage", BAD_USAGE.values(), ids=BAD_USAGE.keys())
async def test_usable_answer_with_bad_usage_is_answered_with_usage_unknown(
    fake: FakeOpenAI, client: OpenAIClient, usage: object
) -> None:
    fake.raw(json.dumps(completion(choices=[ANSWER], usage=usage)))
    reply = await client.complete(call(JSON))
    assert reply.text == "Four."
    assert reply.usage.prompt_tokens == 0 and reply.usage.reasoning_tokens == 0


async def test_streamed_answer_with_bad_usage_is_answered(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.events(
        *STREAMED_ANSWER,
        chunk(choices=[], usage={"prompt_tokens": "abc", "completion_tokens": {"n": 1}}),
    )
    reply = await client.complete(call(SSE))
    assert reply.text == "Four." and reply.usage.total_tokens == 0


async def test_odd_descriptions_do_not_spoil_a_usable_answer(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.raw(
        json.dumps(
            completion(
                model=7,
                choices=[
                    {
                        "message": {"content": "Four.", "reasoning_content": ["x"]},
                        "finish_reason": 3,
                    }
                ],
                usage={"prompt_tokens": 3, "completion_tokens": "5"},
            )
        )
    )
    reply = await client.complete(call(JSON))
    assert (reply.text, reply.reasoning, reply.model) == ("Four.", "", "")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 5)


async def test_structured_refusal_is_a_refusal_not_an_outage(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    why = "I'm sorry, I can't help with that."
    fake.raw(
        json.dumps(
            completion(
                choices=[{"message": {"content": None, "refusal": why}, "finish_reason": "stop"}]
            )
        )
    )
    with pytest.raises(ModelRefused):
        await client.complete(call(JSON))
    fake.events(
        chunk(choices=[{"index": 0, "delta": {"content": None, "refusal": why}}]),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    )
    with pytest.raises(ModelRefused):
        await client.complete(call(SSE))


async def test_json_answer_to_a_stream_request_is_read_as_json(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.raw(json.dumps(completion(choices=[ANSWER])))
    assert (await client.complete(call(SSE))).text == "Four."
    fake.raw('{"choices": [null]}')
    with pytest.raises(ModelUnavailable):
        await client.complete(call(SSE))


async def test_stream_that_ends_without_finish_or_done_broke_off(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.cut_off("The answer is definitely not", times=1)
    shown: list[str] = []

    async def on_text(text: str) -> None:
        shown.append(text)

    with pytest.raises(AnswerBrokeOff):
        await client.complete(call(SSE), on_text=on_text)
    assert shown  # the user saw part of it, which is why it is not retried either
    assert len(fake.requests) == 1


async def test_stream_that_ends_with_finish_but_no_done_is_complete(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.events(
        *STREAMED_ANSWER,
        done=False,
    )
    assert (await client.complete(call(SSE))).text == "Four."


async def test_keepalives_forever_end_at_the_deadline(fake: FakeOpenAI) -> None:
    fake.trickle(3600, every=0.02)
    client = OpenAIClient(base_url=fake.base_url, api_key=None, deadline=0.5, read_timeout=60)
    try:
        async with asyncio.timeout(GENEROUS_S):
            with pytest.raises(ModelDeadlineExceeded) as caught:
                await client.complete(call(SSE))
    finally:
        await client.aclose()
    assert caught.value.deadline_s == 0.5 and not caught.value.retryable


async def test_deadline_counts_across_retries(fake: FakeOpenAI) -> None:
    # Each attempt hangs for less than the read timeout, and there are retries to
    # spare: only a total deadline stops them.
    fake.hang(0.4, times=50)
    client = OpenAIClient(
        base_url=fake.base_url,
        api_key=None,
        deadline=1.0,
        read_timeout=60,
        max_retries=10,
        sleep=Sleeps(),
    )
    try:
        async with asyncio.timeout(GENEROUS_S):
            with pytest.raises(ModelDeadlineExceeded):
                await client.complete(call(JSON))
    finally:
        await client.aclose()
    assert 1 <= len(fake.requests) < 11


async def test_a_retry_that_would_outlast_the_deadline_reports_the_real_error(
    fake: FakeOpenAI,
) -> None:
    fake.fail(429, code="rate_limit_exceeded", type="requests", retry_after=30)
    sleeps = Sleeps()
    client = OpenAIClient(base_url=fake.base_url, api_key=None, deadline=5.0, sleep=sleeps)
    try:
        with pytest.raises(ModelRateLimited):
            await client.complete(call(JSON))
    finally:
        await client.aclose()
    assert sleeps == [] and len(fake.requests) == 1
