"""Slack end to end: signed requests into the real /slack/events, the fake Slack Web
API and the fake model on loopback, the real core and database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.adapters.slack.conftest import SECRET, SlackHarness, as_json, running_bot
from tests.builders import mention, platform_catalogue, reply
from tests.fakes.slack_api import event_callback, post_signed


async def test_reason_is_acknowledged_then_answered_in_a_new_thread(bot: SlackHarness) -> None:
    status, body, _ = await bot.command("/reason", "What is a monad?")
    assert status == 200 and body == ""
    await bot.until(lambda: any("You asked: What is a monad?" in t for t in bot.posted()))
    parent = bot.slack.calls_to("chat.postMessage")[0].args
    assert "thread_ts" not in parent and "<@U0ANN> asked" in parent["text"]
    root = next(ts for (ch, ts), m in bot.slack.messages.items() if "asked" in m["text"])
    answer = bot.answers_in("C0001", root)
    assert len(answer) == 1 and "What is a monad?" in answer[0]
    assert "o1" in answer[0] and "29 left this week" in answer[0]


async def test_follow_up_in_a_reason_thread_continues_the_conversation(bot: SlackHarness) -> None:
    await bot.command("/reason", "first question")
    await bot.until(
        lambda: (
            len(bot.slack.calls_to("chat.update")) >= 1
            and any("You asked: first question" in t for t in bot.posted())
        )
    )
    root = next(ts for (ch, ts), m in bot.slack.messages.items() if "asked" in m["text"])
    await bot.settled(1)
    await bot.event(
        reply("and then?", ts=f"{time.time():.6f}", thread_ts=root), event_id="Ev-follow"
    )
    await bot.until(lambda: any("You asked: and then?" in t for t in bot.posted()))
    history = str(bot.model.requests[-1].body["messages"])
    assert "first question" in history


async def test_empty_reason_gets_usage_privately_and_costs_nothing(bot: SlackHarness) -> None:
    status, body, _ = await bot.command("/reason", "   ")
    assert status == 200
    reply_body = as_json(body)
    assert reply_body["response_type"] == "ephemeral" and "/reason" in reply_body["text"]
    assert not bot.model.requests and not bot.slack.calls_to("chat.postMessage")


async def test_bad_or_stale_signature_is_refused_and_nothing_runs(bot: SlackHarness) -> None:
    status, _, _ = await bot.command("/reason", "hi", bad_signature=True)
    assert status == 401
    status, _, _ = await bot.command("/reason", "hi", timestamp=int(time.time()) - 3600)
    assert status == 401
    assert await bot.rt.queue.depth() == 0 and not bot.slack.calls_to("chat.postMessage")


async def test_mention_is_answered_in_its_thread_and_replies_continue(bot: SlackHarness) -> None:
    await bot.event(mention("what is 2+2?", ts="1700000000.000100"), event_id="Ev1")
    await bot.until(lambda: any("You asked: what is 2+2?" in t for t in bot.posted()))
    assert "You asked: what is 2+2?" in bot.answers_in("C0001", "1700000000.000100")[0]
    await bot.settled(1)
    await bot.event(
        reply("why?", ts="1700000001.000100", thread_ts="1700000000.000100"), event_id="Ev2"
    )
    await bot.until(lambda: any("You asked: why?" in t for t in bot.posted()))
    assert "what is 2+2?" in str(bot.model.requests[-1].body["messages"])


async def test_replies_in_threads_the_bot_never_answered_are_ignored(bot: SlackHarness) -> None:
    status, _, _ = await bot.event(
        reply("chatter", ts="1700000002.000100", thread_ts="1700000000.000900"), event_id="Ev3"
    )
    assert status == 200
    await bot.event(mention("ping", ts="1700000003.000100"), event_id="Ev4")
    await bot.until(lambda: any("You asked: ping" in t for t in bot.posted()))
    assert len(bot.model.requests) == 1


async def test_slack_retry_of_the_same_event_is_answered_and_charged_once(
    bot: SlackHarness,
) -> None:
    event = mention("once please", ts="1700000010.000100")
    first = await bot.event(event, event_id="EvR")
    again = await bot.event(event, event_id="EvR", retry_num=1)
    assert first[0] == again[0] == 200
    await bot.until(lambda: any("You asked: once please" in t for t in bot.posted()))
    _, body, _ = await bot.command("/quota", "")
    assert "29 of 30 left" in as_json(body)["text"]
    assert len(bot.model.requests) == 1
    assert len(bot.answers_in("C0001", "1700000010.000100")) == 1


async def test_quota_for_members_and_admins(bot: SlackHarness) -> None:
    _, body, _ = await bot.command("/quota", "")
    shown = as_json(body)
    assert shown["response_type"] == "ephemeral"
    assert "30 of 30 left" in shown["text"] and shown["blocks"][0]["type"] == "section"
    _, body, _ = await bot.command("/quota", "set mini 5")
    assert "Only admins" in as_json(body)["text"]
    bot.slack.admins.add("U0BOSS")
    _, body, _ = await bot.command("/quota", "set mini 5", user="U0BOSS")
    assert "limit set to 5" in as_json(body)["text"]
    _, body, _ = await bot.command("/quota", "")
    assert "5 of 5 left" in as_json(body)["text"]


async def test_exhausted_quota_is_explained_in_the_thread(tmp_path: Path) -> None:
    async with running_bot(tmp_path, catalogue=platform_catalogue(o1_limit=1)) as bot:
        await bot.event(mention("one", ts="1700000020.000100"), event_id="EvA")
        await bot.until(lambda: any("You asked: one" in t for t in bot.posted()))
        await bot.event(mention("two", ts="1700000021.000100"), event_id="EvB")
        await bot.until(lambda: bool(bot.answers_in("C0001", "1700000021.000100")))
        text = bot.answers_in("C0001", "1700000021.000100")[0]
        assert "used all 1" in text and "resets" in text and "mini" in text
        assert len(bot.model.requests) == 1


async def test_provider_failure_is_explained_and_refunded(bot: SlackHarness) -> None:
    bot.model.fail(500, code="server_error")
    await bot.event(mention("fail me", ts="1700000030.000100"), event_id="EvF")
    await bot.until(lambda: any("not counted" in t for t in bot.posted()))
    _, body, _ = await bot.command("/quota", "")
    assert "30 of 30 left" in as_json(body)["text"]


async def test_long_answer_continues_in_further_messages(bot: SlackHarness) -> None:
    paragraph = "word " * 150 + "\n\n"
    bot.model.reply(paragraph * 20 + "THE END")
    await bot.event(mention("essay", ts="1700000040.000100"), event_id="EvL")
    await bot.until(
        lambda: any("THE END" in t for t in bot.answers_in("C0001", "1700000040.000100"))
    )
    pieces = bot.answers_in("C0001", "1700000040.000100")
    assert len(pieces) >= 4 and all(len(p) <= 4000 for p in pieces)
    assert sum(p.count("word") for p in pieces) == 150 * 20


async def test_model_output_never_pings_anyone(bot: SlackHarness) -> None:
    bot.model.reply("Hey <!channel> and <!here>, @everyone: ask <@U0BOSS> or <!subteam^S1|@ops>")
    await bot.event(mention("greet", ts="1700000050.000100"), event_id="EvM")
    await bot.until(lambda: any("Hey" in t for t in bot.answers_in("C0001", "1700000050.000100")))
    text = bot.answers_in("C0001", "1700000050.000100")[0]
    for ping in ("<!channel>", "<!here>", "<!subteam", "<@U0BOSS>", "@everyone"):
        assert ping not in text


async def test_bot_messages_never_trigger_it(bot: SlackHarness) -> None:
    own = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "BOTHER",
        "text": "<@UBOT> loop?",
        "ts": "1700000060.000100",
        "channel": "C0001",
    }
    status, _, _ = await bot.event(own, event_id="EvBot")
    assert status == 200
    await bot.event(mention("real", ts="1700000061.000100"), event_id="EvReal")
    await bot.until(lambda: any("You asked: real" in t for t in bot.posted()))
    assert len(bot.model.requests) == 1


async def test_channel_the_bot_cannot_join_is_explained_privately(bot: SlackHarness) -> None:
    bot.slack.fail("conversations.join", "method_not_supported_for_channel_type")
    await bot.command("/reason", "secret?", channel="G0PRIV")
    await bot.until(lambda: bool(bot.slack.calls_to("chat.postEphemeral")))
    text = bot.slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert "/invite" in text
    _, body, _ = await bot.command("/quota", "")
    assert "30 of 30 left" in as_json(body)["text"]


async def test_socket_mode_envelopes_are_acknowledged_and_answered(tmp_path: Path) -> None:
    async with running_bot(tmp_path, socket_mode=True) as bot:
        await bot.slack.push(
            "slash_commands",
            {
                "command": "/reason",
                "text": "over the socket",
                "team_id": "T0001",
                "channel_id": "C0001",
                "user_id": "U0ANN",
                "trigger_id": "trig-1",
                "response_url": "https://hooks.slack.invalid/x",
            },
            envelope_id="env-1",
        )
        await bot.slack.push(
            "events_api",
            {
                "team_id": "T0001",
                "type": "event_callback",
                "event_id": "EvS",
                "event": mention("socket mention", ts="1700000070.000100"),
            },
            envelope_id="env-2",
        )
        await bot.until(
            lambda: (
                any("You asked: over the socket" in t for t in bot.posted())
                and any("You asked: socket mention" in t for t in bot.posted())
            )
        )
        assert {a.get("envelope_id") for a in bot.slack.acks} >= {"env-1", "env-2"}
        assert bot.slack.calls_to("apps.connections.open")


async def test_malformed_and_oversized_payloads_are_refused(bot: SlackHarness) -> None:
    from tests.fakes.slack_api import post_signed

    status, _, _ = await post_signed(
        bot.http, bot.url, "{not json", secret="test-signing-secret", form=False
    )
    assert 400 <= status < 500
    status, _, _ = await post_signed(
        bot.http, bot.url, "x" * (2 * 1024 * 1024), secret="test-signing-secret", form=False
    )
    assert status == 413
    assert await bot.rt.queue.depth() == 0 and not bot.model.requests


async def test_slack_rate_limits_are_waited_out_not_lost(bot: SlackHarness) -> None:
    bot.slack.rate_limit("chat.postMessage", retry_after=1)
    await bot.event(mention("patience", ts="1700000080.000100"), event_id="EvRL")
    await bot.until(
        lambda: any(
            "You asked: patience" in t for t in bot.answers_in("C0001", "1700000080.000100")
        )
    )
    assert len(bot.slack.calls_to("chat.postMessage")) >= 2  # the 429, then the retry


async def test_slack_errors_on_update_still_deliver_the_answer(bot: SlackHarness) -> None:
    bot.slack.fail("chat.update", "cant_update_message", times=5)
    await bot.event(mention("stubborn", ts="1700000090.000100"), event_id="EvUP")
    await bot.until(
        lambda: any(
            "You asked: stubborn" in t for t in bot.answers_in("C0001", "1700000090.000100")
        )
    )


async def test_health_and_metrics(bot: SlackHarness) -> None:
    base = bot.url.removesuffix("/slack/events")
    async with bot.http.get(base + "/healthz") as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    await bot.event(mention("count me", ts="1700000095.000100"), event_id="EvMet")
    await bot.until(lambda: any("You asked: count me" in t for t in bot.posted()))
    for _ in range(200):  # the outcome is counted just after the answer is delivered
        async with bot.http.get(base + "/metrics") as r:
            body = await r.text()
        if "answered" in body:
            break
        await asyncio.sleep(0.05)
    assert 'reasonbot_requests_total{model="o1",outcome="answered",platform="slack"}' in body
    assert "reasonbot_model_seconds_bucket" in body and "sk-test" not in body


async def test_oauth_install_then_the_new_workspace_is_answered_with_its_own_token(
    tmp_path: Path,
) -> None:
    import re
    import urllib.parse

    async with running_bot(
        tmp_path, slack_client_id="111.222", slack_client_secret="oauth-secret"
    ) as bot:
        base = bot.url.removesuffix("/slack/events")
        async with bot.http.get(base + "/slack/install", allow_redirects=False) as r:
            page = await r.text()
            cookie = r.headers.get("Set-Cookie", "").split(";")[0]
        assert r.status in (200, 302)
        link = r.headers.get("Location") or re.search(
            r'href="(https://slack\.com/oauth[^"]+)"', page
        ).group(1)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(link.replace("&amp;", "&")).query)
        assert query["client_id"] == ["111.222"] and "chat:write" in query["scope"][0]
        async with bot.http.get(
            base + "/slack/oauth_redirect",
            params={"code": "code-T0002", "state": query["state"][0]},
            headers={"Cookie": cookie},
        ) as r:
            assert r.status == 200, await r.text()
        event = mention("hello from the new workspace", ts="1700000200.000100")
        body = event_callback(event, event_id="EvNew", team="T0002")
        status, _, _ = await post_signed(bot.http, bot.url, body, secret=SECRET, form=False)
        assert status == 200
        await bot.until(
            lambda: any("You asked: hello from the new workspace" in t for t in bot.posted())
        )
        answers = [
            c
            for c in bot.slack.calls
            if "new workspace" in str(c.args.get("text"))
            and c.method in ("chat.postMessage", "chat.update")
        ]
        assert answers and {c.token for c in answers} == {"xoxb-t0002-installed"}


async def test_url_verification_is_answered_with_the_challenge(bot: SlackHarness) -> None:
    from tests.fakes.slack_api import url_verification

    status, body, _ = await post_signed(
        bot.http, bot.url, url_verification("chal-123"), secret=SECRET, form=False
    )
    assert status == 200 and "chal-123" in body
    status, _, _ = await post_signed(
        bot.http,
        bot.url,
        url_verification("chal-456"),
        secret=SECRET,
        form=False,
        bad_signature=True,
    )
    assert status == 401


async def test_threads_joined_late_read_earlier_messages_within_slacks_replies_limit(
    bot: SlackHarness,
) -> None:
    # Slack allows non-Marketplace apps one conversations.replies call a minute.
    bot.slack.min_interval["conversations.replies"] = 60.0
    roots = ["1700000300.000100", "1700000310.000100", "1700000320.000100"]
    for n, root in enumerate(roots):
        bot.slack.messages[("C0001", root)] = {
            "type": "message",
            "user": "U0X",
            "text": f"the bug is in module m{n}",
            "ts": root,
        }
    for n, root in enumerate(roots):
        ts = root.replace(".000100", ".000200")
        await bot.event(mention(f"late {n}?", ts=ts, thread_ts=root), event_id=f"EvLate{n}")
        await bot.until(lambda n=n: any(f"You asked: late {n}?" in t for t in bot.posted()))
        if n == 0:
            assert "module m0" in str(bot.model.requests[-1].body["messages"])
    assert len(bot.model.requests) == 3
    # The refused call is not repeated while Slack's minute lasts.
    assert len(bot.slack.calls_to("conversations.replies")) == 2


async def test_a_burst_after_start_asks_slack_who_the_bot_is_once(bot: SlackHarness) -> None:
    await asyncio.gather(
        *(
            bot.event(mention(f"burst {i}", ts=f"1700000400.{i:06d}"), event_id=f"EvBurst{i}")
            for i in range(10)
        )
    )
    await bot.settled(10)
    assert len(bot.slack.calls_to("auth.test")) == 1
