"""The model client on the Responses API, against the fake OpenAI server over loopback:
the request each catalogue entry builds, the typed events read in order, reasoning
exposed while it streams, errors mapped as for chat, and encrypted reasoning carried
across a thread's turns."""

from __future__ import annotations

import json

import pytest

from bot.config import ModelSpec
from bot.domain import Effort, Role, Turn
from bot.errors import (
    AnswerBrokeOff,
    AnswerCutOff,
    ModelBadRequest,
    ModelDeadlineExceeded,
    ModelRateLimited,
    ModelRefused,
    ModelUnavailable,
    ReasoningUsedAllTokens,
)
from bot.model_client import OpenAIClient
from bot.ports import ModelCall
from bot.render import reasoning_tail
from tests.builders import Sleeps, gpt41
from tests.fakes.openai_server import FakeOpenAI

pytestmark = pytest.mark.openai(api_key="sk-right", max_retries=2)

O3 = ModelSpec(
    alias="o3",
    id="o3",
    weekly_limit=5,
    api="responses",
    reasoning_effort=Effort.HIGH,
    max_completion_tokens=8000,
)
O3_JSON = O3.model_copy(update={"alias": "o3j", "streaming": False})


class Seen(list[tuple[str, str]]):
    """Every callback in order: ("text" | "reasoning", value)."""

    def on(self, kind: str):  # type: ignore[no-untyped-def]
        async def record(value: str) -> None:
            self.append((kind, value))

        return record


def ask(spec: ModelSpec, *turns: Turn, text: str = "why is the sky blue?") -> ModelCall:
    return ModelCall(
        spec=spec,
        messages=(*turns, Turn(Role.USER, text)),
        instructions="Answer in Markdown.",
    )


async def test_summary_streams_before_the_answer(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply(
        "Rayleigh scattering: blue light scatters more.",
        reasoning="**Recalling optics**\n\nShort wavelengths scatter more.",
        stream_chunks=4,
    )
    seen = Seen()
    reply = await client.complete(
        ask(O3), on_text=seen.on("text"), on_reasoning=seen.on("reasoning")
    )
    assert reply.text == "Rayleigh scattering: blue light scatters more."
    assert reply.reasoning == "**Recalling optics**\n\nShort wavelengths scatter more."
    kinds = [k for k, _ in seen]
    assert kinds.index("text") > kinds.index("reasoning")
    assert "text" not in kinds[: kinds.index("text")]
    reasoning = [v for k, v in seen if k == "reasoning"]
    assert len(reasoning) > 1 and reasoning[-1] == reply.reasoning  # accumulated, growing
    assert [v for k, v in seen if k == "text"][-1] == reply.text
    assert reply.reasoning_s is not None and reply.reasoning_s >= 0
    assert reply.usage.reasoning_tokens == 64 and reply.usage.prompt_tokens > 0
    assert reply.finish_reason == "stop" and not reply.truncated


async def test_request_carries_what_the_model_takes(fake: FakeOpenAI, client: OpenAIClient) -> None:
    await client.complete(ask(O3, Turn(Role.USER, "hi"), Turn(Role.ASSISTANT, "hello")))
    body = fake.requests[-1].body
    assert body["model"] == "o3"
    assert body["input"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "why is the sky blue?"},
    ]
    assert body["instructions"] == "Answer in Markdown."
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["max_output_tokens"] == 8000
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-right"


async def test_cached_tokens_are_read(fake: FakeOpenAI, client: OpenAIClient) -> None:
    usage = {
        "input_tokens": 1200,
        "input_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
        "output_tokens": 300,
        "output_tokens_details": {"reasoning_tokens": 256},
        "total_tokens": 1500,
    }
    for spec in (O3, O3_JSON):
        fake.reply("ok", usage=usage)
        reply = await client.complete(ask(spec))
        assert (reply.usage.prompt_tokens, reply.usage.cached_tokens) == (1200, 1024)
        assert (reply.usage.completion_tokens, reply.usage.reasoning_tokens) == (300, 256)


async def test_json_answer(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply("Blue.", reasoning="Thinking about light.")
    reply = await client.complete(ask(O3_JSON))
    assert (reply.text, reply.reasoning) == ("Blue.", "Thinking about light.")
    assert "stream" not in fake.requests[-1].body
    assert reply.reasoning_state is not None


@pytest.mark.parametrize("spec", [O3, O3_JSON], ids=["sse", "json"])
async def test_cut_off_by_max_output_tokens(
    fake: FakeOpenAI, client: OpenAIClient, spec: ModelSpec
) -> None:
    fake.reply("The answer starts but", finish_reason="length")
    reply = await client.complete(ask(spec))
    assert reply.text == "The answer starts but" and reply.truncated


@pytest.mark.parametrize("spec", [O3, O3_JSON], ids=["sse", "json"])
async def test_all_tokens_spent_reasoning_is_its_own_error(
    fake: FakeOpenAI, client: OpenAIClient, spec: ModelSpec
) -> None:
    fake.reply("", reasoning="Long thoughts", finish_reason="length")
    with pytest.raises(ReasoningUsedAllTokens) as err:
        await client.complete(ask(spec))
    assert isinstance(err.value, AnswerCutOff) and not err.value.retryable


async def test_failed_response_is_retried_like_chat(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.failed("server_error")
    fake.reply("after the retry")
    assert (await client.complete(ask(O3))).text == "after the retry"
    assert len(fake.requests) == 2


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("server_error", ModelUnavailable),
        ("rate_limit_exceeded", ModelRateLimited),
        ("invalid_prompt", ModelRefused),
    ],
)
async def test_failures_in_the_stream_map_like_http_errors(
    fake: FakeOpenAI, code: str, error: type[Exception]
) -> None:
    client = OpenAIClient(base_url=fake.base_url, api_key="sk-right", max_retries=0)
    try:
        fake.failed(code)
        with pytest.raises(error):
            await client.complete(ask(O3))
        fake.stream_error(code)
        with pytest.raises(error):
            await client.complete(ask(O3))
    finally:
        await client.aclose()


async def test_http_rate_limit_waits_the_servers_delay(fake: FakeOpenAI) -> None:
    sleeps = Sleeps()
    client = OpenAIClient(base_url=fake.base_url, api_key="sk-right", sleep=sleeps)
    try:
        fake.fail(429, code="rate_limit_exceeded", retry_after_ms=1500)
        assert (await client.complete(ask(O3))).text.startswith("You asked")
        assert sleeps == [1.5]
        assert all(r.body.get("input") for r in fake.requests)
    finally:
        await client.aclose()


async def test_a_stream_without_its_last_event_broke_off(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.cut_off("An answer that stops", times=3)
    with pytest.raises(AnswerBrokeOff):
        await client.complete(ask(O3))


async def test_a_malformed_event_is_unavailable(fake: FakeOpenAI) -> None:
    client = OpenAIClient(base_url=fake.base_url, api_key="sk-right", max_retries=0)
    try:
        fake.events(
            {"type": "response.created", "response": {"status": "in_progress"}},
            {"type": "response.output_text.delta", "delta": {"not": "text"}},
            done=False,
        )
        with pytest.raises(ModelUnavailable, match="malformed"):
            await client.complete(ask(O3))
    finally:
        await client.aclose()


async def test_reasoning_never_pings(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reply("Done.", reasoning="Should I tell @everyone and <!here>?")
    seen = Seen()
    reply = await client.complete(ask(O3), on_reasoning=seen.on("reasoning"))
    # The deltas are raw (neutralising all of it per delta is quadratic); what is shown
    # of them is their neutralised end, and the reply's reasoning is neutralised.
    for text in (reply.reasoning, reasoning_tail(seen[-1][1])):
        assert "@everyone" not in text and "<!here>" not in text


async def test_follow_up_passes_the_encrypted_reasoning_back(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    first = await client.complete(ask(O3, text="first"))
    assert first.reasoning_state is not None
    history = (Turn(Role.USER, "first"), Turn(Role.ASSISTANT, first.text, first.reasoning_state))
    # A fresh client stands for another worker: the state travels in the turn only.
    other = OpenAIClient(base_url=fake.base_url, api_key="sk-right")
    try:
        await other.complete(ask(O3, *history, text="and then?"))
    finally:
        await other.aclose()
    items = fake.requests[-1].body["input"]
    assert [i.get("type", i.get("role")) for i in items] == [
        "user",
        "reasoning",
        "assistant",
        "user",
    ]
    kept = json.loads(first.reasoning_state)["items"][0]
    assert items[1]["encrypted_content"] == kept["encrypted_content"]
    assert items[1]["encrypted_content"].startswith("enc:o3:")


async def test_reasoning_of_another_model_is_not_passed(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    first = await client.complete(ask(O3, text="first"))
    gpt5 = O3.model_copy(update={"alias": "g5", "id": "gpt-5"})
    history = (Turn(Role.USER, "first"), Turn(Role.ASSISTANT, first.text, first.reasoning_state))
    await client.complete(ask(gpt5, *history, text="and then?"))
    assert all(i.get("type") != "reasoning" for i in fake.requests[-1].body["input"])


async def test_chat_history_carries_no_reasoning(fake: FakeOpenAI, client: OpenAIClient) -> None:
    r1 = ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=5)
    state = json.dumps({"model": "deepseek-reasoner", "items": [{"type": "reasoning"}]})
    history = (Turn(Role.USER, "q"), Turn(Role.ASSISTANT, "a", state))
    await client.complete(ask(r1, *history))
    sent = fake.requests[-1].body["messages"]
    assert all(set(m) == {"role", "content"} for m in sent)
    assert "reasoning" not in json.dumps(sent)


async def test_summary_refused_by_the_model_is_a_bad_request(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    """The catalogue must say it: a model without summaries answers 400."""
    fake.without_summaries = frozenset({"o3"})
    with pytest.raises(ModelBadRequest):
        await client.complete(ask(O3))
    quiet = O3.model_copy(update={"reasoning_summary": "off"})
    reply = await client.complete(ask(quiet))
    assert "summary" not in fake.requests[-1].body["reasoning"] and reply.reasoning == ""


async def test_non_reasoning_model_gets_no_reasoning_parameters(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    reply = await client.complete(ask(gpt41()))
    body = fake.requests[-1].body
    assert "reasoning" not in body and "include" not in body
    assert reply.reasoning_s is None and reply.reasoning_state is None


async def test_a_provider_that_only_keeps_alive_meets_the_deadline(fake: FakeOpenAI) -> None:
    client = OpenAIClient(base_url=fake.base_url, api_key="sk-right", deadline=0.5)
    try:
        fake.trickle(3600, every=0.05)
        with pytest.raises(ModelDeadlineExceeded):
            await client.complete(ask(O3))
    finally:
        await client.aclose()


async def test_a_reset_before_any_text_is_retried(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.reset_mid_stream(text="lost")
    fake.reply("whole")
    seen = Seen()
    # Nothing of the first attempt was shown (no on_text), so a fresh attempt is safe.
    reply = await client.complete(ask(O3))
    assert reply.text == "whole" and len(fake.requests) == 2
    fake.reset_mid_stream(text="shown then lost")
    with pytest.raises(ModelUnavailable):
        await client.complete(ask(O3), on_text=seen.on("text"))
    assert seen  # the asker saw text: no silent second answer


async def test_bad_descriptions_do_not_lose_the_answer(
    fake: FakeOpenAI, client: OpenAIClient
) -> None:
    fake.events(
        {"type": "response.created", "response": {"status": "in_progress", "model": 7}},
        {"type": "response.some_future_event", "whatever": [1, 2]},
        {"type": "response.reasoning_summary_text.delta", "delta": {"odd": True}},
        {"type": "response.output_text.delta", "delta": "Still here."},
        {
            "type": "response.completed",
            "response": {"status": "completed", "usage": "abc", "output": []},
        },
        done=False,
    )
    reply = await client.complete(ask(O3))
    assert reply.text == "Still here." and reply.usage.total_tokens == 0


async def test_done_without_a_last_event_broke_off(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.events({"type": "response.output_text.delta", "delta": "Half"}, done=True, times=3)
    with pytest.raises(AnswerBrokeOff):
        await client.complete(ask(O3))
