"""Deployment settings of a process: the environment (and ``.env``), under the names the
ecosystem already uses, including each platform's credentials and Slack's mode rules.
Invalid settings raise one `ConfigError` naming the variable, before anything connects.
The catalogue and quota policy (the TOML file) are the core's: `bot.config`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config import ModelSpec, describe_invalid
from bot.errors import ConfigError


class Settings(BaseSettings):
    """Deployment settings, under the names the ecosystem already uses."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    openai_read_timeout: float = Field(default=600.0, gt=0)
    openai_max_retries: int = Field(default=3, ge=0, le=10)
    # The longest one question may wait for its model, retries included: a provider
    # that only sends keep-alives, or nothing, is given up on after this (and refunded).
    model_deadline_seconds: float = Field(default=900.0, gt=0)
    database_url: str = "sqlite+aiosqlite:///reasonbot.db"
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    # Stream answers with chat.startStream/appendStream/stopStream where the workspace
    # offers them (else, and when off, status-message edits).
    slack_streaming: bool = True
    discord_token: SecretStr | None = None
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_id: int | None = None
    discord_message_content: bool = False
    # Sharding: neither set, Discord's recommended shard count, all in this process; a
    # count alone, that many shards, all here; ids ("0,1") with the count, only those.
    discord_shard_count: int | None = Field(default=None, ge=1)
    discord_shard_ids: Annotated[list[int] | None, NoDecode] = None
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "0.0.0.0"
    # Capacity: model calls in flight per process, and the provider's requests per
    # minute (per process; o1's API launched at 20 RPM). Excess waits in the queue.
    max_concurrent_calls: int = Field(default=256, ge=1)
    provider_rpm: int | None = Field(default=None, ge=1)
    # A request whose worker stops renewing its lease is resumed by another after this.
    job_lease_seconds: float = Field(default=60.0, ge=5)
    # A question that failed (or took its worker down) this many times is given up:
    # the asker is told and refunded.
    job_max_attempts: int = Field(default=3, ge=1)
    # Retention (`storage.retention`): questions' records (requests; the weekly counters
    # of windows that old) and conversations (turns, threads) are deleted after these.
    request_retention_days: int = Field(default=90, ge=1)
    conversation_retention_days: int = Field(default=30, ge=1)
    # On SIGTERM, how long in-flight model calls may finish before being handed back.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Questions never reach the logs unless an operator turns this on (e.g. to debug).
    log_prompts: bool = False
    reasonbot_config: Path | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator(
        "discord_shard_count", "discord_shard_ids", "slack_signing_secret", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # `DISCORD_SHARD_COUNT=` in a .env file, as .env.example lists it: not set. A
        # blank signing secret verifies nothing: unset, so HTTP mode refuses to start.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("discord_shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, v: object) -> object:
        if isinstance(v, str):
            return [part.strip() for part in v.split(",") if part.strip()] or None
        return v

    @field_validator("discord_shard_ids")
    @classmethod
    def _shards_exist(cls, ids: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if ids is None or "discord_shard_count" not in info.data:
            return ids  # unset, or the count is invalid and says so itself
        count = info.data["discord_shard_count"]
        if count is None:
            raise ValueError("needs DISCORD_SHARD_COUNT, the total number of shards")
        for shard in ids:
            if not 0 <= shard < count:
                raise ValueError(
                    f"shard {shard} does not exist: with DISCORD_SHARD_COUNT={count}, "
                    f"shard ids go from 0 to {count - 1}"
                )
        twice = sorted({shard for shard in ids if ids.count(shard) > 1})
        if twice:
            raise ValueError(f"lists shard {', '.join(map(str, twice))} more than once")
        return ids

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None or self.slack_oauth

    @property
    def slack_oauth(self) -> bool:
        """Distributed to many workspaces: tokens come from the OAuth installations."""
        return self.slack_client_id is not None

    def check_platforms(self) -> None:
        """Fail before connecting when a platform is half configured."""
        if self.slack_enabled and self.slack_app_token is None and not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is required for Slack's HTTP mode "
                "(or set SLACK_APP_TOKEN for Socket Mode)"
            )
        if self.slack_app_token is not None and not self.slack_enabled:
            raise ConfigError("SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not")
        if self.slack_oauth and self.slack_client_secret is None:
            raise ConfigError("SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not")
        if self.slack_oauth and self.slack_app_token is not None:
            raise ConfigError("the OAuth install flow needs HTTP mode: unset SLACK_APP_TOKEN")

    @property
    def discord_enabled(self) -> bool:
        return self.discord_token is not None


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_invalid(exc, "environment")) from exc


def api_key_for(spec: ModelSpec, settings: Settings) -> str | None:
    if spec.api_key_env:
        return os.environ.get(spec.api_key_env)
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
