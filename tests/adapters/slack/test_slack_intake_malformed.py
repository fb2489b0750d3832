"""Hostile or broken requests at ``/slack/events``: refused with a 4xx, never a 500 or a
traceback, and at most one log line for a flood of them; the signature is checked once.
Also Slack's own odd deliveries (``app_rate_limited``, thread broadcasts, file shares)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.adapters.slack.conftest import SECRET, SlackHarness, running_bot
from tests.builders import mention, reply, slack_env
from tests.fakes.bot_process import run_to_exit
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, event_callback, post_signed


def signature(body: bytes, timestamp: str) -> str:
    """Slack's v0 signature over raw bytes (what Slack signs, whatever the bytes)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()


async def post_raw(bot: SlackHarness, body: bytes, headers: dict[str, str]) -> int:
    async with bot.http.post(bot.url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


def signed(body: bytes, *, timestamp: str | None = None, sig: str | None = None) -> dict[str, str]:
    ts = str(int(time.time())) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sig if sig is not None else signature(body, ts),
    }


def mention_body(text: Any) -> bytes:
    event = mention("x", ts="1700000500.000100")
    event["text"] = text
    return event_callback(event, event_id="EvJunk").encode()


JUNK: dict[str, tuple[bytes, dict[str, str]]] = {
    "timestamp abc": (b"{}", signed(b"{}", timestamp="abc")),
    "timestamp 1e9": (b"{}", signed(b"{}", timestamp="1e9")),
    "timestamp empty": (b"{}", signed(b"{}", timestamp="")),
    "non-ASCII signature": (b"{}", signed(b"{}", sig="v0=" + "é" * 64)),
    "body not UTF-8": (b'{"a": "\xff\xfe"}', signed(b'{"a": "\xff\xfe"}')),
    "mention text null": (mention_body(None), signed(mention_body(None))),
    "mention text an integer": (mention_body(12345), signed(mention_body(12345))),
}


@pytest.mark.parametrize("case", sorted(JUNK))
async def test_malformed_requests_get_a_4xx_and_no_traceback(
    bot: SlackHarness, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = JUNK[case]
    with caplog.at_level(logging.INFO):
        status = await post_raw(bot, body, headers)
    assert 400 <= status < 500, f"{case}: HTTP {status}"
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1
    assert await bot.rt.queue.depth() == 0 and not bot.model.requests


async def test_a_flood_of_unsigned_junk_logs_one_line(
    bot: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for n in range(30):
            body = b'{"n": %d}' % n
            status = await post_raw(bot, body, signed(body, sig="v0=" + "0" * 64))
            assert status == 401
    noted = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(noted) == 1 and "30" not in noted[0].getMessage()  # the first is noted


async def test_the_signature_is_checked_once_per_request(
    bot: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[str] = []
    real = SignatureVerifier.is_valid

    def counted(self: SignatureVerifier, *args: Any, **kw: Any) -> bool:
        checks.append(str(kw.get("timestamp", args[1:2])))
        return real(self, *args, **kw)

    monkeypatch.setattr(SignatureVerifier, "is_valid", counted)
    status, _, _ = await bot.event(mention("once", ts="1700000510.000100"), event_id="EvOnce")
    assert status == 200
    await bot.until(lambda: any("You asked: once" in t for t in bot.posted()))
    assert len(checks) == 1


async def test_app_rate_limited_is_acknowledged_and_noted_once(
    bot: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    note = json.dumps(
        {
            "token": "deprecated",
            "type": "app_rate_limited",
            "team_id": "T0001",
            "minute_rate_limited": 1518467820,
            "api_app_id": "A0001",
        }
    )
    with caplog.at_level(logging.INFO):
        status, _, _ = await post_signed(bot.http, bot.url, note, secret=SECRET, form=False)
    assert status == 200
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "rate limit" in warnings[0].getMessage()


async def test_thread_broadcasts_and_file_shares_in_the_bots_thread_are_answered(
    bot: SlackHarness,
) -> None:
    root = "1700000520.000100"
    await bot.event(mention("start", ts=root), event_id="EvRoot")
    await bot.until(lambda: any("You asked: start" in t for t in bot.posted()))
    await bot.settled(1)
    broadcast = reply("also to the channel?", ts="1700000521.000100", thread_ts=root)
    broadcast["subtype"] = "thread_broadcast"
    await bot.event(broadcast, event_id="EvBroadcast")
    await bot.until(lambda: any("You asked: also to the channel?" in t for t in bot.posted()))
    await bot.settled(2)
    shared = reply("what about this file?", ts="1700000522.000100", thread_ts=root)
    shared["subtype"] = "file_share"
    shared["files"] = [{"id": "F1", "name": "log.txt"}]
    await bot.event(shared, event_id="EvFile")
    await bot.until(lambda: any("You asked: what about this file?" in t for t in bot.posted()))
    assert len(bot.model.requests) == 3


async def test_a_blank_signing_secret_is_a_configuration_error(tmp_path: Path) -> None:
    async with FakeOpenAI() as model, FakeSlack() as slack:
        env = slack_env(
            slack, model, db=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", secret="   ", port=0
        )
        env["PORT"] = str(free_port())
        code, err = await run_to_exit(env)
    assert code == 2, err
    assert "SLACK_SIGNING_SECRET" in err and "Traceback" not in err


async def test_socket_mode_mention_with_a_null_text_is_not_a_crash(tmp_path: Path) -> None:
    async with running_bot(tmp_path, socket_mode=True) as bot:
        junk = mention("x", ts="1700000530.000100")
        junk["text"] = None
        payload = {"team_id": "T0001", "type": "event_callback", "event_id": "EvN", "event": junk}
        await bot.slack.push("events_api", payload, envelope_id="env-null")
        await bot.slack.push(
            "events_api",
            {**payload, "event_id": "EvOk", "event": mention("fine", ts="1700000531.000100")},
            envelope_id="env-ok",
        )
        await bot.until(lambda: any("You asked: fine" in t for t in bot.posted()))
        assert {a.get("envelope_id") for a in bot.slack.acks} >= {"env-null", "env-ok"}
