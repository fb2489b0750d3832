"""What tests and benchmarks build again and again, built in one place: catalogues, a
bot's settings or environment wired to the loopback fakes, Slack mentions, and the
ledger's reservations at a fixed time.

Settings are built with ``_env_file=None`` and environments from an empty one, so
nothing of the developer's (a token, a ``.env``, a database URL) reaches a test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.settings import Settings
from bot.config import Catalogue, ModelSpec, load_catalogue
from bot.domain import Limits, Reservation, Window
from tests.fakes.slack_api import event_callback

if TYPE_CHECKING:
    from bot.ports import QuotaLedger
    from tests.fakes.discord_server import FakeDiscord
    from tests.fakes.openai_server import FakeOpenAI
    from tests.fakes.slack_api import FakeSlack

BOT_USER = "UBOT"  # the fake Slack's bot user, whom a mention names
ASKER = "U0ANN"
CHANNEL = "C0001"  # a channel the fake Slack's bot is a member of

# A Wednesday noon, in the week that began on Monday 23 November 2026 (UTC).
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))


# ---- catalogues ----------------------------------------------------------------------


def o1(weekly_limit: int = 30, **fields: Any) -> ModelSpec:
    return ModelSpec(alias="o1", id="o1", weekly_limit=weekly_limit, **fields)


def mini(weekly_limit: int = 50, **fields: Any) -> ModelSpec:
    return ModelSpec(alias="mini", id="o1-mini", weekly_limit=weekly_limit, **fields)


def gpt41(weekly_limit: int = 5, **fields: Any) -> ModelSpec:
    """A model that does not reason, on the Responses API: no efforts, no summary, no
    reasoning kept between turns."""
    return ModelSpec(
        alias="g",
        id="gpt-4.1",
        weekly_limit=weekly_limit,
        api="responses",
        efforts=(),
        reasoning_summary="off",
        keep_reasoning=False,
        **fields,
    )


def catalogue(*models: ModelSpec, **fields: Any) -> Catalogue:
    """``models`` (default: o1, 30 a week, and mini, 50) and any other field."""
    return Catalogue(models=list(models or (o1(), mini())), **fields)


def platform_catalogue(*, o1_limit: int = 30, **fields: Any) -> Catalogue:
    """o1 and mini, with progress shown often enough for a test to see it."""
    return catalogue(o1(o1_limit), mini(), **{"progress_every_s": 0.2, **fields})


def fallback_catalogue() -> Catalogue:
    """o1, one a week, falling back to mini (priced, so a budget has something to count):
    the platforms' fallback tests."""
    return catalogue(o1(1, fallback="mini"), mini(price_output=4.0), progress_every_s=0.2)


def one_model(weekly_limit: int, **fields: Any) -> Catalogue:
    """o1 alone, not streaming (one answer, one edit): the queue's and ledger's tests."""
    return catalogue(o1(weekly_limit, streaming=False), **fields)


def catalogue_from_toml(tmp_path: Path, toml: str) -> Catalogue:
    """``toml`` read as an operator's catalogue file would be (`load_catalogue`)."""
    path = tmp_path / "reasonbot.toml"
    path.write_text(toml)
    return load_catalogue(path)


class Sleeps(list[float]):
    """A model client's ``sleep``: records each back-off instead of waiting it out."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---- a bot's configuration -----------------------------------------------------------


def bot_settings(db: Path | str, model: FakeOpenAI, **fields: Any) -> Settings:
    """In-process settings against the fake model, which the client does not retry;
    ``db``: a SQLite file or a URL; ``fields``: the platform's, and any to change."""
    url = db if isinstance(db, str) else f"sqlite+aiosqlite:///{db}"
    defaults = {
        "database_url": url,
        "openai_base_url": model.base_url,
        "openai_api_key": "sk-test",
        "openai_max_retries": 0,
    }
    return Settings(**{**defaults, **fields}, _env_file=None)  # type: ignore[call-arg]


def bot_env(*, db: str, model_url: str, port: int, **variables: str) -> dict[str, str]:
    """The environment of a `reasonbot` process wired to the loopback fakes, with no
    variable of the developer's leaking in; ``variables``: the platform's and any more."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(
        DATABASE_URL=db,
        OPENAI_BASE_URL=model_url,
        OPENAI_API_KEY="sk-fake",
        PORT=str(port),
        HOST="127.0.0.1",
        LOG_LEVEL="WARNING",
    )
    env.update(variables)
    return env


def slack_env(
    slack: FakeSlack,
    model: FakeOpenAI,
    *,
    db: str,
    secret: str,
    port: int,
    socket_mode: bool = False,
    **extra: str,
) -> dict[str, str]:
    """A Slack bot against the fake Slack: HTTP mode, or Socket Mode."""
    if socket_mode:
        extra["SLACK_APP_TOKEN"] = slack.app_token
    return bot_env(
        db=db,
        model_url=model.base_url,
        port=port,
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=secret,
        SLACK_API_URL=slack.base_url,
        **extra,
    )


def short_lease_slack_env(
    slack: FakeSlack, model: FakeOpenAI, *, db: str, secret: str, port: int, **extra: str
) -> dict[str, str]:
    """A Slack bot whose jobs are leased for 5 s: the questions of a process killed
    mid-answer go to another process within seconds (the crash and many-process tests)."""
    return slack_env(slack, model, db=db, secret=secret, port=port, JOB_LEASE_SECONDS="5", **extra)


def discord_env(
    discord: FakeDiscord,
    model: FakeOpenAI,
    *,
    db: str,
    port: int,
    token: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """A Discord-only bot against the fake Discord (``token``: another than the fake's;
    ``extra``: e.g. DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS)."""
    return bot_env(
        db=db,
        model_url=model.base_url,
        port=port,
        DISCORD_TOKEN=token or discord.token,
        DISCORD_API_URL=discord.base,
        DISCORD_GATEWAY_URL=discord.gateway,
        **extra,
    )


# ---- Slack events ----------------------------------------------------------------------


def mention(
    text: str,
    *,
    ts: str,
    user: str = ASKER,
    channel: str = CHANNEL,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """An ``app_mention`` event asking ``text``, as Slack sends it."""
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def mention_callback(text: str, *, ts: str, event_id: str, user: str = ASKER) -> str:
    """The Events API body of a mention (sign it with `post_signed`)."""
    return event_callback(mention(text, ts=ts, user=user), event_id=event_id)


def reply(
    text: str, *, ts: str, thread_ts: str, user: str = ASKER, channel: str = CHANNEL
) -> dict[str, Any]:
    """A plain message in a thread (a follow-up, if the bot answers there)."""
    return {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "thread_ts": thread_ts,
        "channel_type": "channel",
        "event_ts": ts,
    }


# ---- the ledger --------------------------------------------------------------------------


async def reserve(
    ledger: QuotaLedger,
    key: str,
    *,
    team: str = "T",
    model: str = "o1",
    user: str = "ann",
    limit: int = 3,
    cap: int | None = None,
    limits: Limits | None = None,
    fallbacks: Sequence[tuple[str, Limits]] = (),
    window: Window = WEEK,
    now: datetime = NOW,
) -> Reservation:
    """Hold one message of ``model`` for ``user`` (team limit ``limit``, cap ``cap``, or
    ``limits``), falling back down ``fallbacks`` when it is used up."""
    return await ledger.reserve(
        key=key,
        team=team,
        model=model,
        user=user,
        channel="C",
        window=window,
        limits=limits if limits is not None else Limits(limit, cap),
        now=now,
        fallbacks=fallbacks,
    )
