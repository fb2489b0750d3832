"""Quota-aware fallback and team budgets through the whole pipeline (real ledger on
SQLite, real model client against the fake OpenAI server), read as a transcript."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.wiring import build_runtime
from bot.config import Catalogue, ModelSpec
from bot.ports import FailureKind
from bot.service import AskOutcome
from tests.bot.test_service import Chat, Clock
from tests.builders import bot_settings
from tests.fakes.openai_server import FakeOpenAI


def catalogue() -> Catalogue:
    return Catalogue(
        models=[
            ModelSpec(
                alias="o1",
                id="o1",
                weekly_limit=2,
                streaming=False,
                fallback="mini",
                price_input=15.0,
                price_output=60.0,
                max_completion_tokens=10_000,  # holds $0.60 of a budget
            ),
            ModelSpec(
                alias="mini",
                id="o1-mini",
                weekly_limit=3,
                instructions_role="user",
                price_input=1.0,
                price_output=4.0,
                cost_estimate_usd=0.05,
            ),
        ],
        progress_every_s=0.05,
    )


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    async with FakeOpenAI() as fake:
        settings = bot_settings(tmp_path / "bot.db", fake, openai_max_retries=1)
        clock = Clock()
        async with build_runtime(settings, catalogue()) as rt:
            rt.service._clock = clock  # deterministic weeks
            yield Chat(rt, fake, clock)


async def test_the_default_model_used_up_is_answered_by_its_fallback_and_says_so(
    chat: Chat,
) -> None:
    for _ in range(2):
        outcome, _ = await chat.ask("What is 2+2?")
        assert outcome is AskOutcome.ANSWERED
    outcome, t = await chat.ask("And 3+3?")
    assert outcome is AskOutcome.ANSWERED
    ((_, footer),) = t.answers
    assert footer.startswith(
        "`o1`'s weekly quota is used up until Mon 00:00 UTC — answered with `mini`. mini"
    )
    assert chat.fake.requests[-1].body["model"] == "o1-mini"
    shown = await chat.quota()
    assert "`o1`: 0 of 2 left" in shown and "`mini`: 2 of 3 left" in shown
    assert "`o1` → `mini`" in shown


async def test_auto_falls_back_too(chat: Chat) -> None:
    for _ in range(2):
        await chat.ask("--model o1 Prove that there are infinitely many primes.")
    outcome, t = await chat.ask("--model auto Prove that the square root of 2 is irrational.")
    assert outcome is AskOutcome.ANSWERED
    ((_, footer),) = t.answers
    assert "answered with `mini`" in footer and "auto → mini: maths" in footer


async def test_a_model_named_explicitly_is_refused_with_its_reset_and_the_alternative(
    chat: Chat,
) -> None:
    for _ in range(2):
        await chat.ask("--model o1 hi")
    outcome, t = await chat.ask("--model o1 hi again")
    assert outcome is AskOutcome.DENIED and not t.answers
    ((text, kind),) = t.failures
    assert kind is FailureKind.DENIED
    assert "used all 2 `o1` messages" in text and "resets Mon 30 Nov 00:00 UTC" in text
    assert "`mini` (3 left)" in text and "/reason --model mini" in text
    assert "`mini`: 3 of 3 left" in await chat.quota()  # nothing charged to mini


async def test_a_persons_cap_falls_back_for_that_person(chat: Chat) -> None:
    await chat.quota("user ann 1 o1", admin=True)
    await chat.ask("hi")
    _, t = await chat.ask("hi again")
    ((_, footer),) = t.answers
    assert footer.startswith(
        "Your weekly quota of `o1` is used up until Mon 00:00 UTC — answered with `mini`."
    )
    _, t = await chat.ask("hello", user="bob")
    assert t.answers[0][1].startswith("o1 ")


async def test_a_team_budget_refuses_what_it_cannot_hold_and_quota_shows_it(
    chat: Chat,
) -> None:
    refused = await chat.quota("budget 1")
    assert "Only admins" in refused
    changed = await chat.quota("budget $1", admin=True)
    assert changed.startswith("✅ The team's weekly budget is now $1.00.")
    assert "**Budget this week**: $0.00 spent of $1.00 · $1.00 left" in changed
    outcome, _ = await chat.ask("What is 2+2?")  # o1 holds $0.60, then costs far less
    assert outcome is AskOutcome.ANSWERED
    shown = await chat.quota()
    assert "**Budget this week**: $0.00" in shown and "of $1.00" in shown
    # What was spent plus o1's ceiling ($0.60) no longer fits in $0.60.
    await chat.quota("budget 0.6", admin=True)
    outcome, t = await chat.ask("What is 3+3?")
    assert outcome is AskOutcome.DENIED
    ((text, kind),) = t.failures
    assert kind is FailureKind.DENIED
    assert "weekly budget of $0.60" in text and "resets Mon 30 Nov 00:00 UTC" in text
    assert "Nothing was charged" in text
    assert "`o1`: 1 of 2 left" in await chat.quota()
    log = await chat.quota("log", admin=True)
    assert "budget $0.60" in log and "budget $1.00" in log
    off = await chat.quota("budget off", admin=True)
    assert off.startswith("✅ The team's weekly budget is off") and "Budget this week" not in off
    assert (await chat.ask("What is 3+3?"))[0] is AskOutcome.ANSWERED
