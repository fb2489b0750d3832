"""A Responses model end to end: the service, the real ledger and conversation store
(SQLite and PostgreSQL), two workers sharing the database, the real model client and
the fake OpenAI server. A follow-up answered by the other worker continues the model's
reasoning; an answer with no text because all tokens went to reasoning is explained
and refunded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.wiring import Runtime, build_runtime
from bot.config import Catalogue, ModelSpec
from bot.domain import AskRequest, QuotaCommand
from bot.service import AskOutcome
from bot.weeks import utc_now, week_window
from tests.bot.test_model_service_faults import GENEROUS_S, Transcript
from tests.builders import bot_settings
from tests.dbutil import BACKENDS, fresh_database
from tests.fakes.openai_server import FakeOpenAI

TEAM = "test:T1"
CATALOGUE = Catalogue(
    default_model="o3",
    models=[
        ModelSpec(
            alias="o3",
            id="o3",
            weekly_limit=5,
            api="responses",
            price_input=2.0,
            price_output=8.0,
        ),
        ModelSpec(alias="r1", id="deepseek-reasoner", weekly_limit=5, price_output=2.0),
    ],
    progress_every_s=0.05,
)


@pytest.fixture(params=BACKENDS)
async def workers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[FakeOpenAI, Runtime, Runtime]]:
    async with fresh_database(request.param, tmp_path) as url, FakeOpenAI() as fake:
        settings = bot_settings(url, fake, openai_api_key="sk-test-secret")
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(
                build_runtime(settings, CATALOGUE, migrate=True)
            )
            second = await stack.enter_async_context(build_runtime(settings, CATALOGUE))
            yield fake, first, second


async def ask(rt: Runtime, text: str, key: str) -> tuple[AskOutcome, Transcript]:
    t = Transcript()
    request = AskRequest("test", TEAM, "C1", "th-1", "ann", text, key)
    async with asyncio.timeout(GENEROUS_S):
        return await rt.service.ask(request, t), t


async def test_follow_up_on_another_worker_continues_the_reasoning(
    workers: tuple[FakeOpenAI, Runtime, Runtime],
) -> None:
    fake, first, second = workers
    outcome, t = await ask(first, "Why is the sky blue?", "k1")
    assert outcome is AskOutcome.ANSWERED, t.failures
    outcome, t = await ask(second, "And at sunset?", "k2")
    assert outcome is AskOutcome.ANSWERED, t.failures
    items = fake.requests[-1].body["input"]
    assert [i.get("type") or i["role"] for i in items] == [
        "user",
        "reasoning",
        "assistant",
        "user",
    ]
    assert items[1]["encrypted_content"].startswith("enc:o3:")
    assert fake.requests[-1].body["store"] is False


async def test_all_tokens_spent_reasoning_is_explained_and_refunded(
    workers: tuple[FakeOpenAI, Runtime, Runtime],
) -> None:
    fake, first, _ = workers
    fake.reply("", reasoning="Thinking at length.", finish_reason="length")
    outcome, t = await ask(first, "Prove it.", "k1")
    assert outcome is AskOutcome.FAILED
    text = t.failures[0][0]
    assert "still reasoning" in text and "--effort low" in text and "not counted" in text
    quota = await first.service.quota(QuotaCommand("test", TEAM, "ann", ""))
    assert "5 of 5 left" in quota.text


@pytest.mark.parametrize("model", ["o3", "r1"])
async def test_all_tokens_spent_reasoning_still_records_tokens_and_cost(
    workers: tuple[FakeOpenAI, Runtime, Runtime], model: str
) -> None:
    """Responses ``response.incomplete`` (max_output_tokens, no text) and chat
    ``finish_reason: length`` with empty content: refunded, named fields in the hint,
    and what the provider billed is still in the ledger's usage and spend."""
    fake, first, _ = workers
    fake.reply("", reasoning="Thinking at length.", finish_reason="length")
    outcome, t = await ask(first, f"--model {model} Prove it.", "k1")
    assert outcome is AskOutcome.FAILED
    text = t.failures[0][0]
    assert "`reasoning_effort`" in text and "`max_completion_tokens`" in text
    quota = await first.service.quota(QuotaCommand("test", TEAM, "ann", ""))
    assert "5 of 5 left" in quota.text
    assert first.service.admin is not None
    key = week_window(utc_now(), CATALOGUE.week).key
    rows = await first.service.admin.reports.usage_rows(TEAM, since=key, until=key)
    [row] = [r for r in rows if r.model == model]
    assert row.questions == 0
    assert row.output_tokens > 0 and row.output_tokens >= row.reasoning_tokens
    if model == "o3":  # the fake's chat usage names no reasoning tokens
        assert row.reasoning_tokens > 0
    assert row.cost_usd is not None and row.cost_usd > 0
    spend = await first.service.admin.spend(TEAM, week_window(utc_now(), CATALOGUE.week))
    assert spend[("ann", model)] == row.cost_usd
