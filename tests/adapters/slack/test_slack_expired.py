"""Slack end to end: a reply in a thread whose conversation retention pruned is
answered as a new conversation, and the answer says the earlier context expired."""

from __future__ import annotations

from datetime import timedelta

from bot.weeks import utc_now
from storage.retention import RetentionPolicy, SqlRetention
from tests.adapters.slack.conftest import SlackHarness
from tests.builders import mention, reply


async def test_a_reply_in_a_pruned_thread_says_its_context_expired(bot: SlackHarness) -> None:
    root = "1700000300.000100"
    await bot.event(mention("remember 42", ts=root), event_id="EvExp1")
    await bot.until(lambda: len(bot.answers_in("C0001", root)) == 1)
    await bot.settled(1)
    pruner = SqlRetention(bot.rt.engine, RetentionPolicy(conversation_days=30))
    report = await pruner.prune(now=utc_now() + timedelta(days=31), force=True)
    assert report.deleted["turns"] == 2

    await bot.event(
        reply("what did I say?", ts="1700000301.000100", thread_ts=root), event_id="EvExp2"
    )
    await bot.until(lambda: len(bot.answers_in("C0001", root)) == 2)
    await bot.settled(2)
    answer = bot.answers_in("C0001", root)[1]
    assert "no longer kept" in answer and "new conversation" in answer
    # The model was asked afresh: no earlier turn went with the question.
    last = bot.model.requests[-1]
    assert "remember 42" not in str(last)

    # The conversation goes on from there, without the note.
    await bot.event(reply("and now?", ts="1700000302.000100", thread_ts=root), event_id="EvExp3")
    await bot.until(lambda: len(bot.answers_in("C0001", root)) == 3)
    await bot.settled(3)
    assert "no longer kept" not in bot.answers_in("C0001", root)[2]
    assert "what did I say?" in str(bot.model.requests[-1])
