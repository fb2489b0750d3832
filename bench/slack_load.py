"""Slack under load: 200 concurrent `/reason` requests and 200 mentions to a model that
takes 5 s, against the fake Slack and fake model, with the bot (`reasonbot run`) in its
own process, in HTTP mode and in Socket Mode.

Reports acknowledgement latency (HTTP: request sent → response, from a load generator
in its own process with every request signed and every connection opened beforehand,
see bench/burst.py; Socket Mode: envelope sent → ack received), and the time from the
last request until every answer is in its thread.
Targets: ack p99 < 100 ms; all answered within 8 s of the last request.

    python bench/slack_load.py [--n 200] [--latency 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burst import fire
from figures import pct

from tests.builders import mention, mention_callback, slack_env
from tests.fakes.bot_process import start_bot
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, slash_command

SECRET = "bench-secret"
PORT = free_port()
CONFIG = ROOT / "bench" / "bench.toml"


def rounds(n: int) -> tuple[tuple[str, int], ...]:
    """A small warm-up round (connection pools, caches), then the measured ones."""
    return (("/reason", 10), ("/reason", n), ("mention", n))


class Answered:
    """Counts distinct answers whose text starts with ``prefix``, scanning only the calls
    recorded since the last look (the fake re-checks after every call; rescanning all
    of them would make the bench's own process the bottleneck)."""

    def __init__(self, slack: FakeSlack, prefix: str, n: int) -> None:
        self.slack, self.prefix, self.n = slack, prefix, n
        self.seen = 0
        self.texts: set[str] = set()

    def __call__(self) -> bool:
        calls = self.slack.calls
        for c in calls[self.seen :]:
            text = str(c.args.get("text", ""))
            if (
                c.method in ("chat.update", "chat.postMessage")
                and self.prefix in text
                and "You asked" in text
            ):
                self.texts.add(text)
        self.seen = len(calls)
        return len(self.texts) >= self.n


async def wait_answers(slack: FakeSlack, prefix: str, n: int) -> float:
    await slack.wait_for(Answered(slack, prefix, n))
    return time.perf_counter()


async def send_http(
    slack: FakeSlack, kind: str, prefix: str, count: int
) -> tuple[list[float], float]:
    """Signed requests to /slack/events, all at once: each one's acknowledgement time,
    and when the last was sent."""
    bodies = []
    for i in range(count):
        if kind == "/reason":
            bodies.append(
                (slash_command("/reason", f"{prefix}{i}", trigger_id=f"{prefix}{i}"), True)
            )
        else:
            body = mention_callback(
                f"{prefix}{i}", ts=f"1800000000.{i:06d}", event_id=f"Ev{prefix}{i}"
            )
            bodies.append((body, False))
    return await fire(PORT, bodies, SECRET)


async def send_socket(
    slack: FakeSlack, kind: str, prefix: str, count: int
) -> tuple[list[float], float]:
    """Socket Mode envelopes, all at once, and when the last was sent (their
    acknowledgement times are read once the answers are in, from the fake)."""
    for i in range(count):
        if kind == "/reason":
            payload = {
                "command": "/reason",
                "text": f"{prefix}{i}",
                "team_id": "T0001",
                "channel_id": "C0001",
                "user_id": "U0ANN",
                "trigger_id": f"{prefix}{i}",
            }
            await slack.push("slash_commands", payload, envelope_id=f"{prefix}{i}")
        else:
            event = mention(f"{prefix}{i}", ts=f"1900000000.{i:06d}")
            await slack.push(
                "events_api",
                {
                    "team_id": "T0001",
                    "event": event,
                    "type": "event_callback",
                    "event_id": f"Ev{prefix}{i}",
                },
                envelope_id=f"{prefix}{i}",
            )
    return [], time.perf_counter()


async def measure(mode: str, n: int, latency: float, db: str) -> list[str]:
    """The rows of one mode ("HTTP" or "Socket Mode"): a bot of its own, the warm-up
    round left out."""
    socket_mode = mode == "Socket Mode"
    send = send_socket if socket_mode else send_http
    rows = []
    async with FakeOpenAI(latency=latency) as model, FakeSlack() as slack:
        env = slack_env(
            slack,
            model,
            db=db,
            secret=SECRET,
            port=PORT,
            socket_mode=socket_mode,
            REASONBOT_CONFIG=str(CONFIG),
        )
        bot = await start_bot(env)
        try:
            for rnd, (kind, count) in enumerate(rounds(n)):
                prefix = f"{'s' if socket_mode else 'q'}{rnd}-{kind}-"
                acks, last = await send(slack, kind, prefix, count)
                done = await asyncio.wait_for(wait_answers(slack, prefix, count), 120)
                if socket_mode:
                    acks = [
                        slack.acked_at[f"{prefix}{i}"] - slack.pushed_at[f"{prefix}{i}"]
                        for i in range(count)
                    ]
                if rnd == 0:
                    continue  # warm-up
                rows.append(
                    f"{mode:<13}{kind:<9}{statistics.median(acks) * 1000:>9.1f}"
                    f"{pct(acks, 0.99) * 1000:>9.1f}{done - last:>13.2f}"
                    f"{model.peak_in_flight:>11}"
                )
        finally:
            bot.terminate()
            await bot.wait()
    return rows


async def migrate(url: str) -> None:
    from storage import make_engine, upgrade

    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--latency", type=float, default=5.0)
    ap.add_argument("--pg-url", default=None, help="use a fresh PostgreSQL database")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.pg_url:
            os.environ["TEST_DATABASE_URL"] = args.pg_url
            from tests.dbutil import fresh_database

            async with (
                fresh_database("postgres", Path(tmp)) as a,
                fresh_database("postgres", Path(tmp)) as b,
            ):
                await migrate(a)
                await migrate(b)
                rows = await measure("HTTP", args.n, args.latency, a)
                rows += await measure("Socket Mode", args.n, args.latency, b)
        else:
            rows = await measure("HTTP", args.n, args.latency, f"sqlite+aiosqlite:///{tmp}/h.db")
            rows += await measure(
                "Socket Mode", args.n, args.latency, f"sqlite+aiosqlite:///{tmp}/s.db"
            )
    db = "PostgreSQL" if args.pg_url else "SQLite"
    print(f"{args.n} concurrent requests per row, model latency {args.latency:.0f} s, {db}")
    print(
        f"{'mode':<13}{'kind':<9}{'ack p50':>9}{'ack p99':>9}{'answered +s':>13}{'peak calls':>11}"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
