"""Load and throughput of one `reasonbot run` process (Slack HTTP mode) against the
fake Slack and fake model, each bot in its own OS process.

1. In flight: 1,000 questions at once to a model that takes 30 s. Reports the bot's
   peak RSS, event-loop lag p99 (from its /metrics), acknowledgement latency of probe
   requests sent every 0.25 s *during* the load (from the burst until after the 1,000
   answers have arrived), and whether all 1,000 were answered. The burst and the probes
   come from a load generator in a process of its own (bench/burst.py), so the fakes'
   work in this process never counts as the bot's latency.
   Targets: RSS < 300 MB, lag p99 < 50 ms, ack p99 < 100 ms, all answered.
2. Throughput: questions answered per second end to end with a zero-latency model,
   1 and 2 worker processes sharing one PostgreSQL database (target ≥ 200/s for one).

3. With ``--summaries chat|responses`` the in-flight run uses models that think aloud:
   each answer streams its reasoning (``reasoning_content`` on chat, summary deltas on
   Responses) for half its latency, then the answer, and the bot shows it live
   (``show_reasoning = "live"``; the workspace has no native streaming, so through the
   rate-limited status edits). Same targets.

    python bench/load.py [--n 1000] [--latency 30] [--pg-url postgresql://...]
    python bench/load.py --summaries chat --skip-throughput
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

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from burst import fire, paced
from figures import pct

from storage import make_engine, upgrade
from tests.builders import mention_callback, slack_env
from tests.fakes.bot_process import start_bot
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack, post_signed

SECRET = "load-secret"
PROBE_EVERY_S = 0.25
# More variables for the bot's process (`--bot-env`), e.g. PYTHONASYNCIODEBUG=1: the
# fakes' environment filter passes only what the bot needs.
BOT_ENV: dict[str, str] = {}


async def start_load_bot(
    slack: FakeSlack, model: FakeOpenAI, db: str, port: int, *, config: str = "bench.toml"
) -> asyncio.subprocess.Process:
    return await start_bot(
        slack_env(
            slack,
            model,
            db=db,
            secret=SECRET,
            port=port,
            MAX_CONCURRENT_CALLS="5000",
            REASONBOT_CONFIG=str(ROOT / "bench" / config),
            **BOT_ENV,
        )
    )


def mention_body(tag: str, i: int, *, model: str | None = None) -> str:
    ask = f"--model {model} " if model else ""
    ts = f"{1_800_000_000 + i}.{abs(hash(tag)) % 10**6:06d}"
    return mention_callback(
        f"{ask}{tag}-{i}", ts=ts, event_id=f"Ev-{tag}-{i}", user=f"U{i % 50:04d}"
    )


class Answers:
    """Distinct questions answered so far, counted incrementally (the fake's call log
    grows by thousands; rescanning it on every call would make the bench the
    bottleneck)."""

    def __init__(self, slack: FakeSlack) -> None:
        self._slack = slack
        self._pos = 0
        self._seen: set[str] = set()

    def count(self, tag: str) -> int:
        calls = self._slack.calls
        for c in calls[self._pos :]:
            text = str(c.args.get("text", ""))
            # The footer marks a whole answer (a status edit may show part of one).
            answered = "You asked: " in text and "left this week" in text
            if c.method in ("chat.update", "chat.postMessage") and answered:
                self._seen.add(text.split("You asked: ")[1].split("\n")[0])
        self._pos = len(calls)
        return sum(1 for q in self._seen if q.startswith(f"{tag}-"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def lag_over(metrics: str, bound_s: float) -> tuple[int, int]:
    """Samples of the loop lag over ``bound_s`` (a bucket bound), and all samples."""
    within, total = 0.0, 0.0
    for line in metrics.splitlines():
        if line.startswith(f'reasonbot_event_loop_lag_seconds_bucket{{le="{bound_s}"}}'):
            within = float(line.split()[-1])
        elif line.startswith("reasonbot_event_loop_lag_seconds_count"):
            total = float(line.split()[-1])
    return int(total - within), int(total)


def lag_p99_ms(metrics: str) -> float:
    buckets, total = [], 0.0
    for line in metrics.splitlines():
        if line.startswith("reasonbot_event_loop_lag_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith("reasonbot_event_loop_lag_seconds_count"):
            total = float(line.split()[-1])
    for le, count in buckets:
        if total and count >= 0.99 * total:
            return le * 1000
    return float("nan")


async def in_flight(n: int, latency: float, db: str, summaries: str | None = None) -> str:
    port = free_port()
    model_alias = {"chat": "r1", "responses": "o3"}.get(summaries or "")
    async with (
        FakeOpenAI(latency=latency, summaries=summaries is not None) as model,
        FakeSlack() as slack,
    ):
        if summaries:
            slack.no_streaming.add(slack.team_id)
        bot = await start_load_bot(
            slack, model, db, port, config="bench_reasoning.toml" if summaries else "bench.toml"
        )
        try:
            async with aiohttp.ClientSession() as http:
                # One question first, so the bot's one auth.test (a 1.5 s bound, then a
                # 503 that Slack would deliver again) is not raced by the burst on a
                # loaded machine: the burst measures a bot that is up.
                await fire(port, [(mention_body("warm", 0, model=model_alias), False)], SECRET)
                started = time.perf_counter()
                load_acks, _ = await fire(
                    port,
                    [(mention_body("load", i, model=model_alias), False) for i in range(n)],
                    SECRET,
                )
                # Probes from a process of its own (the fakes in this one are busy
                # serving the bot), from the burst until after the answers arrive.
                probes_n = int((latency + 15) / PROBE_EVERY_S)
                probing = asyncio.create_task(
                    paced(
                        port,
                        [
                            (mention_body("probe", i, model=model_alias), False)
                            for i in range(probes_n)
                        ],
                        SECRET,
                        every_s=PROBE_EVERY_S,
                    )
                )
                answers = Answers(slack)
                async with asyncio.timeout(latency * 4 + 60):
                    await slack.wait_for(lambda: answers.count("load") >= n)
                took = time.perf_counter() - started
                probes = await probing
                async with asyncio.timeout(latency * 4 + 60):
                    await slack.wait_for(lambda: answers.count("probe") >= probes_n)
                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    metrics = await r.text()
            rss = peak_rss_mb(bot.pid)
        finally:
            bot.terminate()
            await bot.wait()
    shown = sum(
        1
        for c in slack.calls
        if c.method == "chat.update" and "Thinking…" in str(c.args.get("text", ""))
    )
    over, samples = lag_over(metrics, 0.05)
    over_25, _ = lag_over(metrics, 0.025)
    thinking = (
        f", {summaries} summaries · {shown} status edits showed reasoning" if summaries else ""
    )
    return (
        f"{n} in flight, model {latency:.0f} s{thinking}: peak RSS {rss:.0f} MB · loop lag p99 "
        f"≤ {lag_p99_ms(metrics):.0f} ms ({over} of {samples} samples over 50 ms, "
        f"{over_25} over 25 ms) · "
        f"ack p99 of {len(probes)} probes during load "
        f"{pct(probes, 0.99) * 1000:.0f} ms (p50 {statistics.median(probes) * 1000:.0f}) · "
        f"burst ack p50/p99 {statistics.median(load_acks) * 1000:.0f}/"
        f"{pct(load_acks, 0.99) * 1000:.0f} ms · all {n} answered in {took:.1f} s "
        f"(peak {model.peak_in_flight} concurrent model calls)"
    )


async def throughput(n: int, db: str, workers: int) -> str:
    ports = [free_port() for _ in range(workers)]
    async with FakeOpenAI(latency=0) as model, FakeSlack() as slack:
        bots = [await start_load_bot(slack, model, db, p) for p in ports]
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
                started = time.perf_counter()

                async def send(i: int) -> None:
                    url = f"http://127.0.0.1:{ports[i % workers]}/slack/events"
                    status, _, _ = await post_signed(
                        http, url, mention_body("tp", i), secret=SECRET, form=False
                    )
                    assert status == 200

                await asyncio.gather(*(send(i) for i in range(n)))
                answers = Answers(slack)
                async with asyncio.timeout(300):
                    await slack.wait_for(lambda: answers.count("tp") >= n)
                took = time.perf_counter() - started
            cpu = sum(cpu_seconds(b.pid) for b in bots)
        finally:
            for b in bots:
                b.terminate()
                await b.wait()
    return (
        f"{workers} worker(s): {n} questions answered end to end in {took:.1f} s = "
        f"{n / took:.0f}/s (bot CPU {cpu / n * 1000:.1f} ms per question, bench process "
        f"{time.process_time() * 1000 / n:.1f} ms)"
    )


async def fresh(kind: str, tmp: str, pg_url: str | None):
    from tests.dbutil import fresh_database

    if pg_url:
        os.environ["TEST_DATABASE_URL"] = pg_url
    return fresh_database(kind, Path(tmp))


async def migrated(url: str) -> str:
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=30.0)
    ap.add_argument("--tp-n", type=int, default=1000)
    ap.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL"))
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument(
        "--summaries",
        choices=("chat", "responses"),
        help="models stream their reasoning first, shown live (in-flight run)",
    )
    ap.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a variable in the bot's process, e.g. PYTHONASYNCIODEBUG=1 (its "
        "slow-callback warnings go to this process's stderr); repeatable",
    )
    args = ap.parse_args()
    BOT_ENV.update(v.split("=", 1) for v in args.bot_env)
    kind = "postgres" if args.pg_url else "sqlite"
    with tempfile.TemporaryDirectory() as tmp:
        async with await fresh(kind, tmp, args.pg_url) as url:
            print(
                f"[{kind}] "
                + await in_flight(args.n, args.latency, await migrated(url), args.summaries),
                flush=True,
            )
        if args.skip_throughput or not args.pg_url:
            return
        for workers in (1, 2):
            async with await fresh(kind, tmp, args.pg_url) as url:
                print(
                    f"[{kind}] " + await throughput(args.tp_n, await migrated(url), workers),
                    flush=True,
                )


if __name__ == "__main__":
    asyncio.run(main())
