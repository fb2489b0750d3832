"""What a running bot logs: with LOG_FORMAT=json one JSON object a line, each finished
question with its request id, platform, team, model, outcome and latency; never a token,
a key or a secret — at any level, in any message, field or traceback — and never the
question or the answer unless LOG_PROMPTS is set."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp

from app.logs import JsonFormatter, Masked
from tests.builders import slack_env
from tests.fakes.bot_process import start_bot
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, event_callback, post_signed

SECRET = "signing-secret-that-must-not-leak"
API_KEY = "sk-fake"
QUESTION = "what is the airspeed velocity of an unladen swallow"


async def run_and_log(tmp_path: Path, **extra: str) -> tuple[list[dict[str, Any]], str]:
    """Ask two questions (one answered, one the provider refuses) of a bot logging at
    DEBUG in JSON; return its log lines, parsed, and the raw log."""
    log_path = tmp_path / "bot.log"
    port = free_port()
    async with FakeOpenAI(api_key=API_KEY) as model, FakeSlack() as slack:
        env = slack_env(
            slack,
            model,
            db=f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}",
            secret=SECRET,
            port=port,
            LOG_FORMAT="json",
            OPENAI_MAX_RETRIES="0",
            **extra,
        )
        env["LOG_LEVEL"] = "DEBUG"
        with log_path.open("wb") as log:
            bot = await start_bot(env, stderr=log)
            try:
                async with aiohttp.ClientSession() as http:
                    for n, ts in enumerate(("1700000900.000100", "1700000901.000100")):
                        if n == 1:
                            model.fail(500, code="server_error")
                        event = {
                            "type": "app_mention",
                            "user": "U0ANN",
                            "channel": "C0001",
                            "text": f"<@UBOT> {QUESTION} {n}",
                            "ts": ts,
                        }
                        status, _, _ = await post_signed(
                            http,
                            f"http://127.0.0.1:{port}/slack/events",
                            event_callback(event, event_id=f"EvLog{n}"),
                            secret=SECRET,
                            form=False,
                        )
                        assert status == 200
                        async with asyncio.timeout(30):  # until it is finished and logged
                            while log_path.read_text().count('"outcome"') <= n:  # noqa: ASYNC110
                                await asyncio.sleep(0.05)
                    token = slack.token
            finally:
                bot.terminate()
                await bot.wait()
    raw = log_path.read_text()
    for secret in (SECRET, API_KEY, token):
        assert secret not in raw, f"a secret reached the log: {secret[:6]}…"
    return [json.loads(line) for line in raw.splitlines() if line.strip()], raw


def finished(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "outcome" in line]


async def test_json_logs_carry_each_outcome_and_no_secret_or_prompt(tmp_path: Path) -> None:
    lines, raw = await run_and_log(tmp_path)
    assert all({"ts", "level", "logger", "msg"} <= line.keys() for line in lines)
    outcomes = finished(lines)
    assert [line["outcome"] for line in outcomes] == ["answered", "failed"]
    for line in outcomes:
        assert line["request_id"].startswith("slack:")
        assert line["platform"] == "slack" and line["team"] == "slack:T0001"
        assert line["model"] == "o1" and isinstance(line["latency_ms"], int)
        assert "question" not in line
    assert QUESTION not in raw  # neither the question nor the answer (which echoes it)


async def test_prompts_are_logged_only_when_asked_for(tmp_path: Path) -> None:
    lines, _ = await run_and_log(tmp_path, LOG_PROMPTS="true")
    outcomes = finished(lines)
    assert [line["question"] for line in outcomes] == [f"{QUESTION} 0", f"{QUESTION} 1"]


def test_secrets_are_masked_in_messages_fields_and_tracebacks() -> None:
    formatter = Masked(JsonFormatter(), ["xoxb-123456-secret", "short"])
    try:
        raise RuntimeError("auth failed for xoxb-123456-secret")
    except RuntimeError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "token %s", ("xoxb-123456-secret",), exc_info
    )
    record.header = 'Bearer "xoxb-123456-secret"'
    line = formatter.format(record)
    # The message, the field, and the traceback's source line and exception.
    assert "xoxb-123456-secret" not in line and line.count("[secret]") == 4
    assert json.loads(line)["msg"] == "token [secret]"
