"""How the bot's Web API calls reach Slack: read methods as form or query arguments
(Slack ignores a JSON body there), write methods as JSON; and a fake that refuses what
Slack refuses, checked against Slack's published spec when it is present."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.webapi import JSON_METHODS, QUERY_METHODS, call
from tests.adapters.slack.conftest import SlackHarness, as_json
from tests.builders import mention, reply
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_methods import METHODS

# ../shared/specs/ from the checkout (or from any folder above a worktree).
SPEC = next(
    (
        p / "shared" / "specs" / "slack_web_openapi_v2.json"
        for p in Path(__file__).resolve().parents
        if (p / "shared" / "specs" / "slack_web_openapi_v2.json").exists()
    ),
    Path("../shared/specs/slack_web_openapi_v2.json"),
)

# Every method the bot calls through `call()`, with arguments as the bot passes them.
BOT_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("users.info", {"user": "U0ANN"}),
    ("conversations.replies", {"channel": "C0001", "ts": "1700000000.000100", "limit": 15}),
    ("conversations.info", {"channel": "C0001"}),
    ("conversations.join", {"channel": "C0001"}),
    ("chat.postMessage", {"channel": "C0001", "text": "hi", "unfurl_links": False}),
    ("chat.postEphemeral", {"channel": "C0001", "user": "U0ANN", "text": "hi"}),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    async with aiohttp.ClientSession() as session:
        yield AsyncWebClient(token=fake.token, base_url=fake.base_url, session=session)


async def raw(fake: FakeSlack, method: str, **kw: Any) -> dict[str, Any]:
    """One request as any HTTP client could send it, bypassing slack_sdk."""
    headers = {"Authorization": f"Bearer {fake.token}", **kw.pop("headers", {})}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake.base_url + method, headers=headers, **kw) as resp,
    ):
        return dict(await resp.json())


# ---- the bot --------------------------------------------------------------------------


async def test_admin_is_recognised_from_users_info_read_as_slack_reads_it(
    bot: SlackHarness,
) -> None:
    bot.slack.admins.add("U0BOSS")
    _, body, _ = await bot.command("/quota", "set mini 5", user="U0BOSS")
    assert "limit set to 5" in as_json(body)["text"]
    (info,) = bot.slack.calls_to("users.info")
    assert info.args["user"] == "U0BOSS" and not info.ignored
    assert info.content_type != "application/json"


async def test_thread_joined_late_gets_its_earlier_messages(bot: SlackHarness) -> None:
    root = "1700000700.000100"
    bot.slack.messages[("C0001", root)] = {
        "type": "message",
        "user": "U0X",
        "text": "the outage began after deploy 41",
        "ts": root,
    }
    await bot.event(
        mention("what changed?", ts="1700000700.000200", thread_ts=root), event_id="EvLateCtx"
    )
    await bot.settled(1)
    assert "deploy 41" in str(bot.model.requests[-1].body["messages"])
    (replies,) = bot.slack.calls_to("conversations.replies")
    assert replies.args["channel"] == "C0001" and replies.args["ts"] == root
    assert not replies.ignored


async def test_nothing_the_bot_sends_in_a_conversation_is_ignored_by_slack(
    bot: SlackHarness,
) -> None:
    bot.model.reply("Here is **why**.", delay=0.5, stream_chunks=4)
    await bot.event(mention("why?", ts="1700000710.000100"), event_id="EvAll1")
    await bot.settled(1)
    await bot.event(
        reply("and then?", ts="1700000710.000300", thread_ts="1700000710.000100"),
        event_id="EvAll2",
    )
    await bot.settled(2)
    await bot.command("/quota", "")
    assert bot.slack.calls
    for sent in bot.slack.calls:
        assert not sent.ignored, (sent.method, sent.ignored)


@pytest.mark.parametrize(("method", "args"), BOT_CALLS)
async def test_call_sends_each_method_the_way_slack_reads_it(
    fake: FakeSlack, client: AsyncWebClient, method: str, args: dict[str, Any]
) -> None:
    fake.messages[("C0001", "1700000000.000100")] = {"ts": "1700000000.000100", "text": "root"}
    data = await call(client, method, **args)
    assert data["ok"]
    (sent,) = fake.calls_to(method)
    assert not sent.ignored
    assert {k: str(v).lower() for k, v in sent.args.items() if k != "token"} == {
        k: str(v).lower() for k, v in args.items()
    }
    if method in JSON_METHODS:
        assert sent.content_type == "application/json"
    else:
        assert sent.content_type != "application/json"


async def test_read_methods_go_as_query_arguments_like_slack_sdks_own(
    fake: FakeSlack, client: AsyncWebClient
) -> None:
    await call(client, "users.info", user="U0ANN")
    await client.users_info(user="U0ANN")
    mine, sdk = fake.calls_to("users.info")
    assert (mine.http_verb, mine.args) == (sdk.http_verb, sdk.args)


# ---- the fake refuses what Slack refuses ------------------------------------------------


@pytest.mark.spec_violations_expected
async def test_fake_ignores_a_json_body_on_a_read_method(fake: FakeSlack) -> None:
    body = await raw(fake, "users.info", json={"user": "U0ANN"})
    assert body == {"ok": False, "error": "user_not_found"}
    assert fake.calls_to("users.info")[0].ignored == {"user": "U0ANN"}
    body = await raw(fake, "conversations.replies", json={"channel": "C0001", "ts": "1.2"})
    assert body["error"] == "channel_not_found"
    # The same arguments as a form are read.
    body = await raw(fake, "users.info", data={"user": "U0ANN"})
    assert body["ok"] and body["user"]["id"] == "U0ANN"


async def test_fake_reads_a_json_body_on_write_methods(fake: FakeSlack) -> None:
    body = await raw(fake, "chat.postMessage", json={"channel": "C0001", "text": "hi"})
    assert body["ok"]


JSON = {"Content-Type": "application/json"}
POST = {"channel": "C0001", "text": "x"}
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("conversations.replies", {"data": {"channel": "C1", "limit": "many"}}, "invalid_arguments"),
    ("chat.postMessage", {"json": {**POST, "text": {"a": 1}}}, "invalid_arguments"),
    ("chat.postMessage", {"json": {**POST, "blocks": "{"}}, "invalid_arguments"),
    ("chat.update", {"json": {**POST, "ts": "yesterday"}}, "invalid_arguments"),
    ("chat.postMessage", {"data": {**POST, "unfurl_links": "maybe"}}, "invalid_arguments"),
    ("users.info", {"data": {"user[]": "U1"}}, "invalid_array_arg"),
    ("users.info", {"data": {"us-er": "U1"}}, "invalid_arg_name"),
    ("chat.postMessage", {"data": "{not json", "headers": JSON}, "invalid_json"),
    ("chat.postMessage", {"data": "[1, 2]", "headers": JSON}, "json_not_object"),
    ("chat.update", {"data": "a", "headers": {"Content-Type": "text/csv"}}, "invalid_post_type"),
]  # fmt: skip


@pytest.mark.spec_violations_expected
@pytest.mark.parametrize(("method", "kw", "error"), REFUSED)
async def test_fake_refuses_what_slack_refuses(
    fake: FakeSlack, method: str, kw: dict[str, Any], error: str
) -> None:
    body = await raw(fake, method, **kw)
    assert body["ok"] is False and body["error"] == error
    if error == "invalid_arguments":
        assert body["response_metadata"]["messages"]


@pytest.mark.spec_violations_expected
async def test_fake_ignores_arguments_a_method_does_not_take(fake: FakeSlack) -> None:
    body = await raw(fake, "chat.postMessage", json={"channel": "C0001", "txt": "typo"})
    assert body == {"ok": False, "error": "no_text"}
    assert fake.calls_to("chat.postMessage")[0].ignored == {"txt": "typo"}


@pytest.mark.spec_violations_expected
async def test_a_token_in_a_json_body_does_not_authenticate(fake: FakeSlack) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.base_url + "chat.postMessage",
            json={"token": fake.token, "channel": "C0001", "text": "hi"},
        ) as resp,
    ):
        assert (await resp.json())["error"] == "invalid_auth"


def _spec() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"Slack's Web API spec is not at {SPEC} (a clone outside CI)")
    return dict(json.loads(SPEC.read_text()))


def test_fake_and_bot_agree_with_slacks_spec_on_json_bodies() -> None:
    paths = _spec()["paths"]
    for method, facts in METHODS.items():
        if f"/{method}" not in paths:
            continue  # newer than the spec (chat.startStream, assistant.threads.*, ...)
        (op,) = paths[f"/{method}"].values()
        takes_json = "application/json" in op.get("consumes", [])
        assert facts.json == takes_json, method
        if not takes_json:
            assert method not in JSON_METHODS, method
        # Every argument the spec names is known to the fake, with a matching kind.
        for param in op.get("parameters", []):
            name, kind = param["name"], param.get("type")
            if name == "token":
                continue
            assert name in facts.args, (method, name)
            expected = {"boolean": "bool", "integer": "int", "number": "ts"}.get(kind)
            if expected is not None:
                assert facts.args[name] == expected, (method, name)
    for method in QUERY_METHODS:
        (verb,) = paths[f"/{method}"]
        assert verb == "get", method
