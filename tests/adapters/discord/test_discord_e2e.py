"""Discord end to end: the real discord.py client against the fake Discord's REST API
and gateway, the real core and database, the fake model."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.adapters.discord.conftest import DiscordHarness, running_discord
from tests.builders import platform_catalogue


def opt(name: str, value: object, kind: int = 3) -> dict[str, object]:
    return {"name": name, "type": kind, "value": value}


async def test_commands_are_synced_to_the_test_guild_on_start(bot: DiscordHarness) -> None:
    synced = bot.discord.calls_to("PUT", f"/guilds/{bot.discord.guild_id}/commands")
    assert synced
    names = {c["name"] for c in synced[-1].body}
    assert {"reason", "quota"} <= names


async def test_reason_is_deferred_then_answered_in_a_public_thread(bot: DiscordHarness) -> None:
    iid = await bot.discord.slash("reason", [opt("question", "What is a monad?")])
    await bot.until(lambda: any("You asked: What is a monad?" in m["content"] for m in bot.sent()))
    assert bot.discord.responded[iid] == 5  # deferred (thinking) first
    thread_id = bot.thread_ids()[0]
    thread = bot.discord.threads[thread_id]
    assert thread["type"] == 11 and thread["name"] == "What is a monad?"
    answer = bot.texts_in(thread_id)
    assert any("You asked: What is a monad?" in t and "left this week" in t for t in answer)
    await bot.until(lambda: bool(bot.discord.calls_to("PATCH", "/messages/@original")))
    pointer = bot.discord.calls_to("PATCH", "/messages/@original")[0].body
    assert f"<#{thread_id}>" in pointer["content"]
    # The "thinking" reply in the channel became that pointer: one message, not two.
    reply = bot.discord.messages[bot.discord.originals[iid]]
    assert f"<#{thread_id}>" in reply["content"] and not reply["flags"] & 128
    assert [m["id"] for m in bot.discord.channel_messages(bot.discord.channel_id)] == [reply["id"]]


async def test_mention_starts_a_thread_and_follow_up_uses_history(bot: DiscordHarness) -> None:
    mid = await bot.discord.say(f"<@{bot.discord.bot_id}> first question", mention_bot=True)
    await bot.until(lambda: any("You asked: first question" in m["content"] for m in bot.sent()))
    assert mid in bot.discord.threads  # a thread started on the message itself
    await bot.settled(1)
    await bot.discord.say(f"<@{bot.discord.bot_id}> and then?", channel_id=mid, mention_bot=True)
    await bot.until(lambda: any("You asked: and then?" in m["content"] for m in bot.sent()))
    assert "first question" in str(bot.model.requests[-1].body["messages"])


async def test_role_mention_counts_as_a_mention(bot: DiscordHarness) -> None:
    role = bot.discord.bot_role_id
    msg_id = await _say_with_role(bot, f"<@&{role}> role question", role)
    await bot.until(lambda: any("You asked: role question" in m["content"] for m in bot.sent()))
    assert msg_id in bot.discord.threads


async def _say_with_role(bot: DiscordHarness, content: str, role: str) -> str:
    fake = bot.discord
    msg = fake._message(
        fake.channel_id,
        {"content": content},
        author={
            "id": "302",
            "username": "r",
            "discriminator": "0",
            "global_name": "r",
            "avatar": None,
            "bot": False,
        },
    )
    msg["mention_roles"] = [role]
    msg["member"] = {k: v for k, v in fake.member("302").items() if k != "user"}
    await fake.dispatch("MESSAGE_CREATE", msg)
    return str(msg["id"])


async def test_duplicate_dispatch_is_answered_once(bot: DiscordHarness) -> None:
    fake = bot.discord
    msg = fake._message(
        fake.channel_id,
        {"content": f"<@{fake.bot_id}> once"},
        author={
            "id": "303",
            "username": "d",
            "discriminator": "0",
            "global_name": "d",
            "avatar": None,
            "bot": False,
        },
    )
    msg["mentions"] = [
        {
            "id": fake.bot_id,
            "username": "reasonbot",
            "discriminator": "0",
            "global_name": "reasonbot",
            "avatar": None,
            "bot": True,
        }
    ]
    msg["member"] = {k: v for k, v in fake.member("303").items() if k != "user"}
    await fake.dispatch("MESSAGE_CREATE", msg)
    await fake.dispatch("MESSAGE_CREATE", msg)  # e.g. replayed after a resume
    await bot.until(lambda: any("You asked: once" in m["content"] for m in bot.sent()))
    await bot.discord.say(f"<@{fake.bot_id}> marker", mention_bot=True)
    await bot.until(lambda: any("You asked: marker" in m["content"] for m in bot.sent()))
    assert sum("You asked: once" in m["content"] for m in bot.sent()) == 1
    assert len(bot.model.requests) == 2


async def test_quota_for_members_and_managers(bot: DiscordHarness) -> None:
    await bot.discord.slash("quota", [{"name": "show", "type": 1, "options": []}])
    await bot.discord.slash(
        "quota", [{"name": "set", "type": 1, "options": [opt("model", "mini"), opt("limit", 5, 4)]}]
    )
    await bot.until(lambda: len(bot.discord.calls_to("POST", "/webhooks/")) >= 2)
    bodies = [c.body for c in bot.discord.calls_to("POST", "/webhooks/")[:2]]
    assert all(b["flags"] & 64 for b in bodies)  # ephemeral
    shown = " | ".join(
        b["embeds"][0]["description"]
        + " ".join(f["value"] for f in b["embeds"][0].get("fields", []))
        for b in bodies
    )
    assert "Only admins" in shown and "30 left for you" in shown
    await bot.discord.slash(
        "quota",
        [{"name": "set", "type": 1, "options": [opt("model", "mini"), opt("limit", 5, 4)]}],
        admin=True,
    )
    await bot.until(lambda: len(bot.discord.calls_to("POST", "/webhooks/")) >= 3)
    done = bot.discord.calls_to("POST", "/webhooks/")[2].body
    assert "limit set to 5" in done["embeds"][0]["description"]


async def test_exhausted_quota_is_explained(tmp_path: Path) -> None:
    async with running_discord(tmp_path, catalogue=platform_catalogue(o1_limit=1)) as bot:
        await bot.discord.slash("reason", [opt("question", "one")])
        await bot.until(lambda: any("You asked: one" in m["content"] for m in bot.sent()))
        await bot.discord.slash("reason", [opt("question", "two")])
        await bot.until(
            lambda: any(
                "used all 1" in str((c.body or {}).get("content"))
                for c in bot.discord.calls_to("PATCH", "@original")
            )
        )
        assert len(bot.model.requests) == 1


async def test_long_answer_is_split_with_code_blocks_intact(bot: DiscordHarness) -> None:
    code = "\n".join(f"value_{i} = {i}" for i in range(300))
    bot.model.reply(f"Here:\n```python\n{code}\n```\nDone.")
    await bot.discord.say(f"<@{bot.discord.bot_id}> code please", mention_bot=True)
    await bot.until(lambda: any("Done." in m["content"] for m in bot.sent()))
    thread = bot.thread_ids()[0]
    pieces = [t for t in bot.texts_in(thread) if "value_" in t or "Done." in t]
    assert len(pieces) >= 3 and all(len(p) <= 2000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)


async def test_nothing_the_bot_sends_can_ping(bot: DiscordHarness) -> None:
    bot.model.reply("@everyone @here <@&1> <@42> look")
    await bot.discord.say(f"<@{bot.discord.bot_id}> ping test", mention_bot=True)
    await bot.until(lambda: any("look" in m["content"] for m in bot.sent()))
    sends = [
        c.body
        for c in bot.discord.calls
        if c.method in ("POST", "PATCH")
        and "/messages" in c.path
        and isinstance(c.body, dict)
        and "content" in c.body
    ]
    assert sends and all(b.get("allowed_mentions") == {"parse": []} for b in sends)
    answer = next(m["content"] for m in bot.sent() if "look" in m["content"])
    assert "@everyone" not in answer and "<@42>" not in answer and "<@&1>" not in answer


async def test_direct_messages_get_a_clear_guild_only_reply(bot: DiscordHarness) -> None:
    iid = await bot.discord.slash("reason", [opt("question", "hi")], guild=False)
    await bot.until(lambda: iid in bot.discord.responded)
    assert not bot.model.requests


async def test_gateway_reconnect_resumes_and_answers_nothing_twice(bot: DiscordHarness) -> None:
    await bot.discord.say(f"<@{bot.discord.bot_id}> before", mention_bot=True)
    await bot.until(lambda: any("You asked: before" in m["content"] for m in bot.sent()))
    await bot.discord.reconnect()  # op 7: the client reconnects and resumes its session
    await bot.until(lambda: bot.discord.resumes >= 1)
    await bot.discord.say(f"<@{bot.discord.bot_id}> after", mention_bot=True)
    await bot.until(lambda: any("You asked: after" in m["content"] for m in bot.sent()))
    assert bot.discord.identifies == 1  # resumed, not a new session
    assert sum("You asked: before" in m["content"] for m in bot.sent()) == 1
    assert len(bot.model.requests) == 2


def original_reply(bot: DiscordHarness, iid: str) -> str | None:
    """What the interaction's deferred reply was last edited to (None: still thinking)."""
    edits = [
        c.body["content"]
        for c in bot.discord.calls_to("PATCH", f"/tok-{iid}/messages/@original")
        if isinstance(c.body, dict)
    ]
    return edits[-1] if edits else None


async def thread_of_a_first_answer(bot: DiscordHarness) -> str:
    await bot.discord.slash("reason", [opt("question", "first")])
    await bot.until(lambda: any("You asked: first" in m["content"] for m in bot.sent()))
    await bot.settled(1)
    (thread_id,) = bot.thread_ids()
    return thread_id


async def test_reason_inside_a_thread_answers_there_and_edits_its_reply(
    bot: DiscordHarness,
) -> None:
    thread_id = await thread_of_a_first_answer(bot)
    iid = await bot.discord.slash("reason", [opt("question", "and next?")], channel_id=thread_id)
    await bot.until(lambda: any("You asked: and next?" in t for t in bot.texts_in(thread_id)))
    await bot.until(lambda: original_reply(bot, iid) is not None)
    assert bot.discord.responded[iid] == 5
    reply = original_reply(bot, iid)
    assert reply is not None and "and next?" in reply and "Answered below" in reply
    assert bot.thread_ids() == [thread_id]  # no new thread
    assert "first" in str(bot.model.requests[-1].body["messages"])  # the thread's history


async def test_exhausted_quota_inside_a_thread_is_the_reply_to_the_command(
    tmp_path: Path,
) -> None:
    async with running_discord(tmp_path, catalogue=platform_catalogue(o1_limit=1)) as bot:
        thread_id = await thread_of_a_first_answer(bot)
        posts = f"/channels/{thread_id}/messages"
        before = len(bot.discord.calls_to("POST", posts))
        iid = await bot.discord.slash("reason", [opt("question", "two")], channel_id=thread_id)
        await bot.until(lambda: original_reply(bot, iid) is not None)
        await bot.settled(2)
        assert "used all 1" in str(original_reply(bot, iid))
        assert len(bot.discord.calls_to("POST", posts)) == before  # said in the reply alone
        assert len(bot.model.requests) == 1


async def test_provider_failure_inside_a_thread_is_explained_there(bot: DiscordHarness) -> None:
    thread_id = await thread_of_a_first_answer(bot)
    bot.model.fail(500, code="server_error")
    iid = await bot.discord.slash("reason", [opt("question", "fail me")], channel_id=thread_id)
    await bot.until(lambda: any("not counted" in t for t in bot.texts_in(thread_id)))
    await bot.until(lambda: original_reply(bot, iid) is not None)
    assert "Answered below" in str(original_reply(bot, iid))


async def test_refusal_inside_a_thread_after_the_token_expired_is_said_in_the_thread(
    tmp_path: Path,
) -> None:
    async with running_discord(tmp_path, catalogue=platform_catalogue(o1_limit=1)) as bot:
        thread_id = await thread_of_a_first_answer(bot)
        # The interaction token lives 15 minutes; a queued question can outlive it.
        bot.discord.fail("/messages/@original", 404, {"message": "Unknown Webhook", "code": 10015})
        await bot.discord.slash("reason", [opt("question", "late")], channel_id=thread_id)
        posts = f"/channels/{thread_id}/messages"
        await bot.until(
            lambda: any(
                "used all 1" in c.body["content"] for c in bot.discord.calls_to("POST", posts)
            )
        )


async def test_duplicate_interaction_is_answered_once_without_an_error(
    bot: DiscordHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adapters.discord")
    iid = await bot.discord.slash("reason", [opt("question", "only once")])
    # The same interaction delivered again (as after a gateway replay): Discord refuses
    # the second acknowledgement with 40060.
    await bot.discord.dispatch("INTERACTION_CREATE", bot.discord.interactions[iid])
    await bot.until(lambda: len(bot.discord.calls_to("POST", f"/interactions/{iid}/")) == 2)
    await bot.until(lambda: any("You asked: only once" in m["content"] for m in bot.sent()))
    await bot.discord.say(f"<@{bot.discord.bot_id}> marker", mention_bot=True)
    await bot.until(lambda: any("You asked: marker" in m["content"] for m in bot.sent()))
    assert sum("You asked: only once" in m["content"] for m in bot.sent()) == 1
    assert len(bot.model.requests) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert any("already acknowledged" in r.getMessage() for r in caplog.records)


async def test_interaction_acknowledged_too_late_is_dropped_without_a_traceback(
    bot: DiscordHarness, caplog: pytest.LogCaptureFixture
) -> None:
    # Past its three seconds (a stalled loop), Discord no longer knows the interaction.
    bot.discord.fail("/interactions/", 404, {"message": "Unknown interaction", "code": 10062})
    iid = await bot.discord.slash("reason", [opt("question", "too late")])
    await bot.until(lambda: bool(bot.discord.calls_to("POST", f"/interactions/{iid}/")))
    await bot.discord.say(f"<@{bot.discord.bot_id}> marker", mention_bot=True)
    await bot.until(lambda: any("You asked: marker" in m["content"] for m in bot.sent()))
    assert len(bot.model.requests) == 1  # the marker's
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"interaction {iid} expired before it was acknowledged"
    ]
