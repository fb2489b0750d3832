"""A running bot (real bolt app, real core, SQLite) between the fake Slack and the fake
model, reached over loopback HTTP exactly as Slack reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.platforms import serve_platforms
from app.wiring import Runtime, build_runtime
from bot.config import Catalogue
from tests.builders import bot_settings, platform_catalogue
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, event_callback, post_signed, slash_command
from tests.harness import Waits, serving

SECRET = "test-signing-secret"


@dataclass
class SlackHarness(Waits):
    rt: Runtime
    slack: FakeSlack
    model: FakeOpenAI
    http: aiohttp.ClientSession
    url: str

    async def command(self, command: str, text: str, **kw: Any) -> tuple[int, str, float]:
        body = slash_command(
            command, text, **{k: v for k, v in kw.items() if k in ("user", "channel", "trigger_id")}
        )
        return await post_signed(
            self.http,
            self.url,
            body,
            secret=SECRET,
            form=True,
            **{k: v for k, v in kw.items() if k in ("bad_signature", "timestamp")},
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None
    ) -> tuple[int, str, float]:
        return await post_signed(
            self.http,
            self.url,
            event_callback(event, event_id=event_id),
            secret=SECRET,
            form=False,
            retry_num=retry_num,
        )

    @property
    def fake(self) -> FakeSlack:
        return self.slack

    def posted(self) -> list[str]:
        return [
            str(c.args.get("text", ""))
            for c in self.slack.calls
            if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
        ]

    def answers_in(self, channel: str, root: str) -> list[str]:
        return [m["text"] for m in self.slack.thread(channel, root)]


@contextlib.asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    catalogue: Catalogue | None = None,
    socket_mode: bool = False,
    latency: float = 0.0,
    **settings: Any,
) -> AsyncIterator[SlackHarness]:
    async with FakeOpenAI(latency=latency) as model, FakeSlack() as slack:
        config = bot_settings(
            tmp_path / "slack.db",
            model,
            slack_bot_token=None if settings.get("slack_client_id") else slack.token,
            slack_signing_secret=SECRET,
            slack_app_token=slack.app_token if socket_mode else None,
            slack_api_url=slack.base_url,
            host="127.0.0.1",
            port=0,
            **settings,
        )
        async with build_runtime(config, catalogue or platform_catalogue()) as rt:
            bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            async with serving(
                rt, lambda stop: serve_platforms(rt, stop=stop, started=bound.set_result)
            ):
                port = await asyncio.wait_for(bound, 15)
                async with aiohttp.ClientSession() as http:
                    yield SlackHarness(
                        rt, slack, model, http, f"http://127.0.0.1:{port}/slack/events"
                    )


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[SlackHarness]:
    async with running_bot(tmp_path) as harness:
        yield harness


def as_json(text: str) -> dict[str, Any]:
    return json.loads(text) if text else {}
