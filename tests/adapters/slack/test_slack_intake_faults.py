"""Faults on the way in: Slack's auth.test failing, a database that cannot be written
(or hangs), users.info failing. Nothing is lost silently: a question is answered, Slack
is told to retry, or the asker is told to try again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StorageError
from tests.adapters.slack.conftest import SECRET, SlackHarness, as_json, running_bot
from tests.adapters.slack.test_slack_intake_security import install
from tests.builders import mention
from tests.fakes.slack_api import event_callback, post_signed, slash_command


async def test_one_failed_auth_test_is_retried_and_both_requests_answered(
    bot: SlackHarness,
) -> None:
    bot.slack.server_error("auth.test", status=500)
    status, _, _ = await bot.event(mention("still there?", ts="1700000600.000100"), event_id="Ev1")
    assert status == 200
    await bot.until(lambda: any("You asked: still there?" in t for t in bot.posted()))
    status, body, _ = await bot.command("/reason", "and me?")
    assert status == 200 and body == ""
    await bot.until(lambda: any("You asked: and me?" in t for t in bot.posted()))


async def test_slack_outage_on_auth_test_asks_to_retry_and_loses_nothing(
    bot: SlackHarness,
) -> None:
    bot.slack.server_error("auth.test", status=503, times=1000)
    status, body, _ = await bot.command("/reason", "during the outage")
    assert status == 200
    shown = as_json(body)
    assert shown["response_type"] == "ephemeral" and "try again" in shown["text"]
    assert "reinstall" not in shown["text"]
    event = mention("retried by Slack", ts="1700000610.000100")
    status, _, _ = await bot.event(event, event_id="EvOut")
    assert status >= 500  # unacknowledged: Slack delivers it again
    assert await bot.rt.queue.depth() == 0
    bot.slack.clear_failures("auth.test")
    status, _, _ = await bot.event(event, event_id="EvOut", retry_num=1)
    assert status == 200
    await bot.until(lambda: any("You asked: retried by Slack" in t for t in bot.posted()))


async def test_a_revoked_token_says_reinstall(bot: SlackHarness) -> None:
    bot.slack.fail("auth.test", "invalid_auth", times=10)
    status, body, _ = await bot.command("/reason", "hello?")
    assert status == 200 and "reinstall" in body
    assert await bot.rt.queue.depth() == 0


async def test_a_mention_the_database_cannot_take_is_explained_to_the_asker(
    bot: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def disk_full(*args: Any, **kw: Any) -> bool:
        raise StorageError("database or disk is full")

    monkeypatch.setattr(bot.rt.queue, "submit", disk_full)
    status, _, _ = await bot.event(mention("lost?", ts="1700000620.000100"), event_id="EvDisk")
    assert status == 200
    await bot.until(lambda: bool(bot.slack.calls_to("chat.postEphemeral")))
    told = bot.slack.calls_to("chat.postEphemeral")[0].args
    assert told["user"] == "U0ANN" and told["channel"] == "C0001"
    assert told["thread_ts"] == "1700000620.000100" and "database" in told["text"]
    assert not bot.model.requests


async def test_a_hung_database_does_not_hold_the_ack_and_the_asker_is_told(
    bot: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()

    async def hang(*args: Any, **kw: Any) -> bool:
        await never.wait()
        return True

    monkeypatch.setattr(bot.rt.queue, "submit", hang)
    started = time.monotonic()
    status, _, _ = await bot.event(mention("slow db", ts="1700000630.000100"), event_id="EvHang")
    # Slack gives 3 s; the bound is 2 s (generous margin for a loaded machine).
    assert status == 200 and time.monotonic() - started < 6
    await bot.until(lambda: bool(bot.slack.calls_to("chat.postEphemeral")))
    assert "database" in bot.slack.calls_to("chat.postEphemeral")[0].args["text"]
    status, body, _ = await bot.command("/reason", "slow db again")
    assert status == 200 and "database" in as_json(body)["text"]


async def test_a_failed_admin_check_says_so_and_is_not_remembered(bot: SlackHarness) -> None:
    bot.slack.admins.add("U0BOSS")
    bot.slack.fail("users.info", "internal_error")
    _, body, _ = await bot.command("/quota", "set mini 5", user="U0BOSS")
    text = as_json(body)["text"]
    assert "couldn't check" in text and "Only admins" not in text
    _, body, _ = await bot.command("/quota", "set mini 5", user="U0BOSS")
    assert "limit set to 5" in as_json(body)["text"]


async def test_a_failed_admin_check_still_shows_what_is_left(bot: SlackHarness) -> None:
    bot.slack.fail("users.info", "internal_error")
    _, body, _ = await bot.command("/quota", "")
    assert "30 of 30 left" in as_json(body)["text"]


async def test_distributed_app_survives_an_auth_test_outage(tmp_path: Path) -> None:
    async with running_bot(
        tmp_path, slack_client_id="111.222", slack_client_secret="oauth-secret"
    ) as bot:
        await install(bot, "T0002")
        bot.slack.server_error("auth.test")
        event = event_callback(mention("hi", ts="1700000640.000100"), event_id="EvO", team="T0002")
        status, _, _ = await post_signed(bot.http, bot.url, event, secret=SECRET, form=False)
        assert status == 200
        await bot.until(lambda: any("You asked: hi" in t for t in bot.posted()))
        command = slash_command("/reason", "again", team="T0002", trigger_id="t-outage")
        bot.slack.server_error("auth.test", times=1000)
        # The token's auth.test is known by now: an outage no longer stands in the way.
        status, body, _ = await post_signed(bot.http, bot.url, command, secret=SECRET, form=True)
        assert status == 200 and body == ""
        await bot.until(lambda: any("You asked: again" in t for t in bot.posted()))


async def test_distributed_app_asks_to_try_again_when_slack_is_down_at_first(
    tmp_path: Path,
) -> None:
    async with running_bot(
        tmp_path, slack_client_id="111.222", slack_client_secret="oauth-secret"
    ) as bot:
        await install(bot, "T0002")
        bot.slack.server_error("auth.test", times=1000)
        command = slash_command("/reason", "now?", team="T0002")
        status, body, _ = await post_signed(bot.http, bot.url, command, secret=SECRET, form=True)
        assert status == 200 and "try again" in as_json(body)["text"]
        event = event_callback(mention("hm", ts="1700000650.000100"), event_id="EvD", team="T0002")
        status, _, _ = await post_signed(bot.http, bot.url, event, secret=SECRET, form=False)
        assert status >= 500
