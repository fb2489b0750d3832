"""The real model client against the fake OpenAI server over loopback."""

from __future__ import annotations

import itertools

import pytest

from bot.config import ModelSpec
from bot.domain import Effort, Role, Turn
from bot.errors import (
    AnswerCutOff,
    ContextTooLong,
    ModelAuthError,
    ModelBadRequest,
    ModelOutOfCredit,
    ModelRateLimited,
    ModelRefused,
    ModelTimeout,
    ModelUnavailable,
)
from bot.model_client import OpenAIClient, retry_after
from bot.ports import ModelCall
from tests.builders import Sleeps
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.openai(api_key="sk-right", max_retries=3)

STREAM = ModelSpec(alias="s", id="o1", weekly_limit=1, streaming=True)
PLAIN = ModelSpec(
    alias="p",
    id="o1",
    weekly_limit=1,
    streaming=False,
    reasoning_effort=Effort.MEDIUM,
    max_completion_tokens=4000,
)


def call(spec: ModelSpec = PLAIN, text: str = "hi", **kw: object) -> ModelCall:
    return ModelCall(spec=spec, messages=(Turn(Role.USER, text),), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", [PLAIN, STREAM], ids=["json", "sse"])
async def test_answer_reasoning_and_usage(
    fake: FakeOpenAI, client: OpenAIClient, spec: ModelSpec
) -> None:
    fake.reply(
        "Four.",
        reasoning="2+2 is 4",
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 70,
            "completion_tokens_details": {"reasoning_tokens": 64},
        },
    )
    reply = await client.complete(call(spec))
    assert reply.text == "Four." and reply.reasoning == "2+2 is 4"
    assert (
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
        reply.usage.reasoning_tokens,
    ) == (10, 70, 64)
    assert fake.requests[0].headers["Authorization"] == "Bearer sk-right"


async def test_request_carries_reasoning_settings_and_developer_instructions(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    await client.complete(call(instructions="Be brief.", effort=Effort.HIGH))
    body = fake.requests[0].body
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 4000
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert "stream" not in body


async def test_instructions_fold_into_the_question_for_models_without_roles(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    spec = ModelSpec(alias="m", id="o1-mini", weekly_limit=1, instructions_role="user")
    await client.complete(call(spec, "What?", instructions="Be brief."))
    body = fake.requests[0].body
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["messages"][0]["content"] == "Be brief.\n\nWhat?"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("spec", [PLAIN, STREAM], ids=["json", "sse"])
async def test_think_tags_go_to_reasoning_never_to_the_answer(
    fake: FakeOpenAI, client: OpenAIClient, spec: ModelSpec
) -> None:
    fake.reply("<think>Let me see... 2 and 2</think>\n\nIt is 4.", stream_chunks=13)
    partials: list[str] = []

    async def on_text(text: str) -> None:
        partials.append(text)

    reply = await client.complete(call(spec), on_text=on_text)
    assert reply.text == "It is 4." and "2 and 2" in reply.reasoning
    assert all("think" not in p and "2 and 2" not in p for p in partials)


async def test_stream_reports_growing_answer(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply("one two three four five six", stream_chunks=6)
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    reply = await client.complete(call(STREAM), on_text=on_text)
    assert len(seen) >= 3 and seen[-1] == reply.text == "one two three four five six"
    assert all(b.startswith(a) for a, b in itertools.pairwise(seen))


async def test_sse_keepalive_comments_are_tolerated() -> None:
    async with FakeOpenAI(keepalive_every=0.01) as fake:
        c = OpenAIClient(base_url=fake.base_url, api_key=None)
        fake.reply("fine", stream_chunks=3)
        assert (await c.complete(call(STREAM))).text == "fine"
        await c.aclose()


async def test_rate_limit_is_retried_after_the_servers_delay(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.fail(429, code="rate_limit_exceeded", retry_after=2)
    fake.fail(429, code="rate_limit_exceeded", retry_after_ms=1500)
    assert (await client.complete(call())).text == "You asked: hi"
    assert client._sleep == [2.0, 1.5]  # type: ignore[comparison-overlap]


async def test_rate_limit_that_persists_is_reported(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.fail(429, code="rate_limit_exceeded", retry_after=1, times=4)
    with pytest.raises(ModelRateLimited) as info:
        await client.complete(call())
    assert info.value.retry_after == 1.0 and len(fake.requests) == 4


async def test_out_of_credit_is_never_retried(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.fail(429, code="insufficient_quota")
    with pytest.raises(ModelOutOfCredit):
        await client.complete(call())
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "context_length_exceeded", ContextTooLong),
        (400, "invalid_prompt", ModelRefused),
        (400, None, ModelBadRequest),
        (404, "model_not_found", ModelBadRequest),
        (401, "invalid_api_key", ModelAuthError),
    ],
)
async def test_errors_a_retry_cannot_fix_fail_at_once(
    fake: FakeOpenAI, client: OpenAIClient, status: int, code: str | None, error: type[Exception]
) -> None:
    fake.fail(status, code=code)
    with pytest.raises(error):
        await client.complete(call())
    assert len(fake.requests) == 1


async def test_wrong_key_is_an_auth_error(fake: FakeOpenAI) -> None:
    c = OpenAIClient(base_url=fake.base_url, api_key="sk-wrong", sleep=Sleeps())
    with pytest.raises(ModelAuthError):
        await c.complete(call())
    await c.aclose()


async def test_server_errors_are_retried_with_backoff(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.fail(500, code="server_error")
    fake.fail(503)
    assert (await client.complete(call())).text == "You asked: hi"
    sleeps = client._sleep  # type: ignore[attr-defined]
    assert len(sleeps) == 2 and 0 < sleeps[0] <= 0.5 and 0 < sleeps[1] <= 1.0


async def test_persistent_outage_becomes_unavailable(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.fail(502, times=10)
    with pytest.raises(ModelUnavailable) as info:
        await client.complete(call())
    assert info.value.retryable and len(fake.requests) == 4


async def test_read_timeout_is_a_timeout(fake: FakeOpenAI) -> None:
    c = OpenAIClient(
        base_url=fake.base_url, api_key="sk-right", read_timeout=0.2, max_retries=1, sleep=Sleeps()
    )
    fake.hang(5, times=2)
    with pytest.raises(ModelTimeout):
        await c.complete(call())
    assert len(fake.requests) == 2
    await c.aclose()


async def test_connection_reset_mid_stream_is_not_retried_once_text_was_shown(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.reset_mid_stream()
    shown: list[str] = []

    async def on_text(text: str) -> None:
        shown.append(text)

    with pytest.raises(ModelUnavailable):
        await client.complete(call(STREAM), on_text=on_text)
    assert shown and len(fake.requests) == 1


async def test_malformed_body_is_a_clear_error(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.malformed(times=4)
    with pytest.raises(ModelUnavailable, match="malformed"):
        await client.complete(call())


async def test_empty_answer_is_an_error(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply("", times=4)
    with pytest.raises(ModelUnavailable, match="empty"):
        await client.complete(call())


async def test_budget_spent_on_reasoning_says_so(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply("", finish_reason="length")
    with pytest.raises(AnswerCutOff):
        await client.complete(call())


async def test_answer_cut_by_length_is_marked_truncated(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.reply("A long answer that", finish_reason="length")
    assert (await client.complete(call(STREAM))).truncated


async def test_unreachable_server_is_unavailable() -> None:
    c = OpenAIClient(base_url="http://127.0.0.1:9/v1", api_key=None, max_retries=1, sleep=Sleeps())
    with pytest.raises(ModelUnavailable):
        await c.complete(call())
    await c.aclose()


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after": "Wed, 25 Nov 2026 00:00:10 GMT"}, now=1795564800.0) == 10.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
