"""The fake's Responses API against the official spec: every streamed event conforms to
its ``ResponseStreamEvent`` schema and comes in OpenAI's order, and a JSON answer is a
``Response``. (A fake that drifts from the real service would let the client drift.)"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.sse import sse_data
from tests.bot.spec_check import errors, event_schemas
from tests.fakes.openai_server import FakeOpenAI

BODY = {
    "model": "o3",
    "input": [{"role": "user", "content": "why?"}],
    "instructions": "Be brief.",
    "reasoning": {"effort": "low", "summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "store": False,
    "stream": True,
}


async def stream(fake: FakeOpenAI, body: dict[str, Any]) -> list[dict[str, Any]]:
    async with (
        httpx.AsyncClient() as http,
        http.stream("POST", f"{fake.base_url}/responses", json=body) as resp,
    ):
        assert resp.status_code == 200
        return [json.loads(d) async for d in sse_data(resp.aiter_lines())]


def conform(events: list[dict[str, Any]]) -> None:
    names = event_schemas()
    for event in events:
        assert event["type"] in names, event["type"]
        assert errors(names[event["type"]], event) == [], event["type"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_a_reasoned_answer_streams_in_order(fake: FakeOpenAI) -> None:
    fake.reply("Because.", reasoning="Thinking.")
    events = await stream(fake, BODY)
    conform(events)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[7]["item"]["encrypted_content"]
    usage = events[-1]["response"]["usage"]
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0


@pytest.mark.parametrize(
    ("script", "last"),
    [
        (lambda f: f.reply("", reasoning="Long.", finish_reason="length"), "response.incomplete"),
        (lambda f: f.reply("Half", finish_reason="length"), "response.incomplete"),
        (lambda f: f.failed("server_error"), "response.failed"),
        (lambda f: f.stream_error("rate_limit_exceeded"), "error"),
    ],
)
async def test_endings_conform(fake: FakeOpenAI, script: Any, last: str) -> None:
    script(fake)
    events = await stream(fake, BODY)
    conform(events)
    assert events[-1]["type"] == last


async def test_a_json_answer_is_a_response(fake: FakeOpenAI) -> None:
    fake.reply("Because.", reasoning="Thinking.")
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{fake.base_url}/responses", json={**BODY, "stream": False})
    assert errors("Response", resp.json()) == []
    assert [i["type"] for i in resp.json()["output"]] == ["reasoning", "message"]


@pytest.mark.spec_violations_expected
async def test_refusals_are_openai_error_bodies(fake: FakeOpenAI) -> None:
    fake.without_summaries = frozenset({"o3"})
    async with httpx.AsyncClient() as http:
        for body in (
            {**BODY, "temperature": 0.2},
            {**BODY, "max_completion_tokens": 10},
            {**BODY, "model": "gpt-4.1"},
            BODY,
        ):
            resp = await http.post(f"{fake.base_url}/responses", json=body)
            assert resp.status_code == 400
            assert set(resp.json()["error"]) == {"message", "type", "param", "code"}
