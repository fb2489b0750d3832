"""Reasoning exposed while a Chat Completions model streams: DeepSeek's
``reasoning_content``, vLLM's ``reasoning`` and ``<think>`` text all reach
``on_reasoning`` (accumulated, before the answer), never the answer itself."""

from __future__ import annotations

import pytest

from bot.config import ModelSpec
from bot.domain import Role, Turn
from bot.model_client import OpenAIClient
from bot.ports import ModelCall
from bot.render import reasoning_tail
from tests.fakes.openai_server import FakeOpenAI

R1 = ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=5, efforts=())


def chunk(**delta: str) -> dict[str, object]:
    return {"model": "deepseek-reasoner", "choices": [{"index": 0, "delta": delta}]}


END = {
    "model": "deepseek-reasoner",
    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
}


async def run(client: OpenAIClient) -> tuple[list[tuple[str, str]], object]:
    seen: list[tuple[str, str]] = []

    async def text(value: str) -> None:
        seen.append(("text", value))

    async def reasoning(value: str) -> None:
        seen.append(("reasoning", value))

    call = ModelCall(spec=R1, messages=(Turn(Role.USER, "2+2?"),))
    reply = await client.complete(call, on_text=text, on_reasoning=reasoning)
    return seen, reply


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_fields_stream_to_the_callback(
    fake: FakeOpenAI, client: OpenAIClient, field: str
) -> None:
    fake.events(
        chunk(**{field: "Two plus "}),
        chunk(**{field: "two is four."}),
        chunk(content="4"),
        END,
    )
    seen, reply = await run(client)
    assert seen == [
        ("reasoning", "Two plus"),
        ("reasoning", "Two plus two is four."),
        ("text", "4"),
    ]
    assert reply.text == "4" and reply.reasoning == "Two plus two is four."  # type: ignore[attr-defined]
    assert reply.reasoning_s is not None  # type: ignore[attr-defined]


async def test_think_text_split_across_chunks(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.events(
        chunk(content="<thi"),
        chunk(content="nk>Add them"),
        chunk(content=" up, ping @here.</th"),
        chunk(content="ink>The answer is 4"),
        END,
    )
    seen, reply = await run(client)
    reasoning = [v for k, v in seen if k == "reasoning"]
    texts = [v for k, v in seen if k == "text"]
    assert reasoning[0] == "Add them"
    # Raw while it streams (the service neutralises the end it shows), safe in the reply.
    assert "Add them up, ping @here." in reasoning[-1]
    assert "@here" not in reasoning_tail(reasoning[-1]) and "@here" not in reply.reasoning  # type: ignore[attr-defined]
    assert texts[-1] == "The answer is 4" and all("Add" not in t for t in texts)
    assert seen.index(("text", texts[0])) > seen.index(("reasoning", reasoning[0]))
    assert reply.text == "The answer is 4"  # type: ignore[attr-defined]


async def test_no_reasoning_no_callback_no_duration(fake: FakeOpenAI, client: OpenAIClient) -> None:
    fake.events(chunk(content="4"), END)
    seen, reply = await run(client)
    assert seen == [("text", "4")]
    assert reply.reasoning == "" and reply.reasoning_s is None  # type: ignore[attr-defined]
