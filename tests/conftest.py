"""Test-wide set-up: no developer environment (tokens, .env, database URLs) leaks into
a test; each test builds exactly the settings it needs."""

from __future__ import annotations

import pytest

# Checks every request the fakes recorded against the official API specs.
pytest_plugins = ("tests.contract.plugin",)

_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_READ_TIMEOUT",
    "OPENAI_MAX_RETRIES",
    "DATABASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "DISCORD_TOKEN",
    "DISCORD_API_URL",
    "DISCORD_GATEWAY_URL",
    "DISCORD_GUILD_ID",
    "DISCORD_MESSAGE_CONTENT",
    "DISCORD_SHARD_COUNT",
    "DISCORD_SHARD_IDS",
    "PORT",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "LOG_PROMPTS",
    "REASONBOT_CONFIG",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
