"""What each catalogue entry says it takes, and that the bot never sends more."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Catalogue, ModelSpec, load_catalogue
from bot.domain import Effort, Role, Turn
from bot.model_chat import chat_payload
from bot.model_responses import responses_payload
from bot.ports import ModelCall

ROOT = Path(__file__).resolve().parents[2]


def spec(**kw: object) -> ModelSpec:
    return ModelSpec.model_validate({"alias": "m", "id": "o3", "weekly_limit": 1, **kw})


def test_chat_is_the_default_and_has_no_summaries() -> None:
    m = spec()
    assert (m.api, m.summary, m.inputs, m.streaming) == ("chat", None, ("text",), True)


def test_responses_ask_for_summaries_by_default() -> None:
    assert spec(api="responses").summary == "auto"
    assert spec(api="responses", reasoning_summary="detailed").summary == "detailed"
    assert spec(api="responses", reasoning_summary="off").summary is None


def test_inputs_must_include_text() -> None:
    with pytest.raises(ValueError, match="text"):
        spec(inputs=["image"])
    assert spec(inputs=["text", "image"]).inputs == ("text", "image")


def test_first_o1_models_take_no_effort_summary_or_developer_message() -> None:
    mini = spec(id="o1-mini-2024-09-12", api="responses")
    assert (mini.efforts, mini.instructions_role, mini.summary) == ((), "user", None)
    body = responses_payload(
        ModelCall(
            spec=mini,
            messages=(Turn(Role.USER, "q"),),
            effort=Effort.HIGH,
            instructions="Be brief.",
        )
    )
    assert "reasoning" not in body and "instructions" not in body
    assert body["input"][0]["content"] == "Be brief.\n\nq"


def test_default_catalogue_sends_o1_mini_nothing_it_refuses() -> None:
    mini = Catalogue().get("mini")
    assert mini is not None
    body = chat_payload(
        ModelCall(spec=mini, messages=(Turn(Role.USER, "q"),), effort=Effort.HIGH, instructions="I")
    )
    assert "reasoning_effort" not in body
    assert {m["role"] for m in body["messages"]} == {"user"}


def test_example_catalogue_serves_openai_reasoning_models_on_responses() -> None:
    catalogue = load_catalogue(ROOT / "reasonbot.example.toml")
    o1 = catalogue.get("o1")
    assert o1 is not None and o1.api == "responses" and o1.summary == "auto"


def test_chat_models_of_openai_take_no_reasoning_on_responses() -> None:
    gpt = spec(id="gpt-4.1", api="responses")
    assert (gpt.efforts, gpt.summary, gpt.keep_reasoning) == ((), None, False)
    body = responses_payload(
        ModelCall(spec=gpt, messages=(Turn(Role.USER, "q"),), effort=Effort.HIGH)
    )
    assert "reasoning" not in body and "include" not in body
    # Said explicitly, the catalogue wins (a model the rule does not know yet).
    assert spec(id="gpt-4.1", api="responses", keep_reasoning=True).keep_reasoning
