"""The fake Discord refuses what Discord refuses, with Discord's 400 body: content over
2,000 characters on every route that takes it (interaction callbacks, follow-ups and
``@original`` edits included), embed limits, thread names, and invalid enum values."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord_server import FakeDiscord

LONG = "x" * 2_001
WEBHOOK = "/webhooks/{app}/tok-{iid}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


async def call(fake: FakeDiscord, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, fake.base + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def deferred(fake: FakeDiscord) -> str:
    """An interaction, acknowledged with "thinking…": its `@original` can be edited."""
    iid = "1400000000000000001"
    status, _ = await call(fake, "POST", f"/interactions/{iid}/tok-{iid}/callback", {"type": 5})
    assert status == 200
    return iid


def first_error(errors: dict[str, Any], *path: str) -> str:
    for key in path:
        errors = errors[key]
    return str(errors["_errors"][0]["code"])


def embed(**fields: Any) -> dict[str, Any]:
    return {"title": "t", "description": "d", **fields}


CHANNEL = "/channels/{cid}/messages"
# (method, path, body, where the error is, its code)
REFUSED: list[tuple[str, str, Any, tuple[str, ...], str]] = [
    ("POST", CHANNEL, {"content": LONG}, ("content",), "BASE_TYPE_MAX_LENGTH"),
    ("POST", CHANNEL, {"embeds": [embed()] * 11}, ("embeds",), "BASE_TYPE_MAX_LENGTH"),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(title="t" * 257)]},
        ("embeds", "0", "title"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(description="d" * 4_097)]},
        ("embeds", "0", "description"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(fields=[{"name": "n", "value": "v"}] * 26)]},
        ("embeds", "0", "fields"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(fields=[{"name": "n" * 257, "value": "v"}])]},
        ("embeds", "0", "fields", "0", "name"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1_025}])]},
        ("embeds", "0", "fields", "0", "value"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(footer={"text": "f" * 2_049})]},
        ("embeds", "0", "footer", "text"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        CHANNEL,
        {"embeds": [embed(description="d" * 4_000)] * 2},
        ("embeds",),
        "MAX_EMBED_SIZE_EXCEEDED",
    ),
    (
        "POST",
        CHANNEL,
        {"content": "hi", "allowed_mentions": {"parse": ["all"]}},
        ("allowed_mentions", "parse", "0"),
        "BASE_TYPE_CHOICES",
    ),
    ("POST", CHANNEL, {"content": "hi", "flags": 64}, ("flags",), "MESSAGE_FLAGS_INVALID"),
    (
        "POST",
        "/channels/{cid}/threads",
        {"name": "n" * 101, "type": 11},
        ("name",),
        "BASE_TYPE_BAD_LENGTH",
    ),
    (
        "POST",
        "/channels/{cid}/threads",
        {"name": "", "type": 11},
        ("name",),
        "BASE_TYPE_BAD_LENGTH",
    ),
    ("POST", "/channels/{cid}/threads", {"name": "n", "type": 0}, ("type",), "BASE_TYPE_CHOICES"),
    (
        "POST",
        "/channels/{cid}/threads",
        {"name": "n", "auto_archive_duration": 30},
        ("auto_archive_duration",),
        "BASE_TYPE_CHOICES",
    ),
    (
        "POST",
        "/channels/{cid}/messages/{mid}/threads",
        {"name": "n" * 101},
        ("name",),
        "BASE_TYPE_BAD_LENGTH",
    ),
    ("POST", "/interactions/{iid}/tok-{iid}/callback", {"type": 3}, ("type",), "BASE_TYPE_CHOICES"),
    (
        "POST",
        "/interactions/{iid}/tok-{iid}/callback",
        {"type": 4, "data": {"content": LONG}},
        ("data", "content"),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "POST",
        "/interactions/{iid}/tok-{iid}/callback",
        {"type": 4, "data": {"content": "a", "flags": 1 << 13}},
        ("data", "flags"),
        "MESSAGE_FLAGS_INVALID",
    ),
    (
        "PATCH",
        WEBHOOK + "/messages/@original",
        {"content": LONG},
        ("content",),
        "BASE_TYPE_MAX_LENGTH",
    ),
    (
        "PATCH",
        WEBHOOK + "/messages/@original",
        {"content": "a", "allowed_mentions": {"parse": ["here"]}},
        ("allowed_mentions", "parse", "0"),
        "BASE_TYPE_CHOICES",
    ),
    ("POST", WEBHOOK, {"content": LONG, "flags": 64}, ("content",), "BASE_TYPE_MAX_LENGTH"),
    ("POST", WEBHOOK, {"embeds": [embed()] * 11, "flags": 64}, ("embeds",), "BASE_TYPE_MAX_LENGTH"),
]


@pytest.mark.spec_violations_expected
@pytest.mark.parametrize(("method", "path", "body", "where", "code"), REFUSED)
async def test_the_fake_refuses_what_discord_refuses_with_discords_error_body(
    fake: FakeDiscord,
    method: str,
    path: str,
    body: Any,
    where: tuple[str, ...],
    code: str,
) -> None:
    iid = await deferred(fake)
    mid = await fake.say("a message to start a thread on")
    url = path.format(cid=fake.channel_id, mid=mid, iid="1400000000000000002", app=fake.app_id)
    if "{iid}" not in path:
        url = url.replace("tok-1400000000000000002", f"tok-{iid}")
    status, answer = await call(fake, method, url, body)
    assert status == 400, answer
    assert answer["code"] == 50035 and answer["message"] == "Invalid Form Body"
    assert first_error(answer["errors"], *where) == code
    assert fake.refusals[-1].path == url


async def test_what_discord_accepts_at_its_limits_the_fake_accepts(fake: FakeDiscord) -> None:
    iid = await deferred(fake)
    webhook = WEBHOOK.format(app=fake.app_id, iid=iid)
    at_limits = {
        "content": "x" * 2_000,
        "embeds": [embed(title="t" * 256, description="d" * 1_000)] * 2,
        "allowed_mentions": {"parse": ["users", "roles", "everyone"]},
    }
    mid = await fake.say("a message to start a thread on")
    accepted = [
        ("POST", f"/channels/{fake.channel_id}/messages", {**at_limits, "flags": 4}),
        ("PATCH", f"{webhook}/messages/@original", at_limits),
        ("POST", webhook, {**at_limits, "flags": 64}),
        ("POST", f"/channels/{fake.channel_id}/threads", {"name": "n" * 100, "type": 11}),
        ("POST", f"/channels/{fake.channel_id}/messages/{mid}/threads", {"name": "n"}),
    ]
    for method, path, body in accepted:
        status, answer = await call(fake, method, path, body)
        assert status in (200, 201), (path, answer)
    assert not fake.refusals
