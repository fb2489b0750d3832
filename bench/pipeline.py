"""Pipeline overhead per request: validate → reserve → model → deliver → commit.

Two set-ups, both on a fresh SQLite file (and PostgreSQL with --pg-url):
  * in-process model: a ReasoningModel that answers at once, so the figure is the core
    plus the ledger and conversation store;
  * loopback model: the real OpenAI client against the fake OpenAI server (zero
    latency, in its own process as a real provider would be), adding HTTP and JSON.

    python bench/pipeline.py [--requests 500] [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from figures import pct

from app.settings import Settings
from app.wiring import build_runtime
from bot.domain import AskRequest, ModelReply, Usage
from bot.ports import FailureKind, ModelCall, Progress, ProgressCallback
from tests.builders import one_model


class InstantModel:
    """A `ReasoningModel` that answers at once, all in one piece: it never calls the
    progress callbacks (``on_text``, ``on_reasoning``)."""

    async def complete(self, call: ModelCall, **callbacks: ProgressCallback | None) -> ModelReply:
        return ModelReply(text="42", usage=Usage(10, 20, 5), finish_reason="stop")


class NullReplier:
    thread = None

    async def progress(self, progress: Progress) -> None:
        pass

    async def answer(self, text: str, *, footer: str) -> None:
        pass

    async def fail(self, text: str, *, kind: FailureKind) -> None:
        raise RuntimeError(text)


async def measure(url: str, base_url: str, n: int, *, in_process: bool) -> list[float]:
    catalogue = one_model(n * 2)
    settings = Settings(
        database_url=url, openai_base_url=base_url, openai_api_key="sk-bench", _env_file=None
    )  # type: ignore[call-arg]
    async with build_runtime(settings, catalogue, migrate=True) as rt:
        if in_process:
            rt.service._model = InstantModel()
        replier = NullReplier()
        times: list[float] = []
        for i in range(n):
            req = AskRequest(
                platform="bench",
                team=f"bench:{in_process}",
                channel="C",
                thread=f"t{i % 50}",
                user=f"u{i % 7}",
                text="What is 6*7?",
                key=f"bench-{in_process}-{i}",
            )
            t0 = time.perf_counter()
            await rt.service.ask(req, replier)
            times.append((time.perf_counter() - t0) * 1000)
    return times[n // 10 :]  # drop warm-up


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--pg-url", default=None)
    args = ap.parse_args()
    rows = []
    async with fake_server() as fake:
        with tempfile.TemporaryDirectory() as tmp:
            dbs = [("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.db")]
            if args.pg_url:
                import os

                from tests.dbutil import fresh_database  # created and dropped per run

                os.environ["TEST_DATABASE_URL"] = args.pg_url
                async with fresh_database("postgres", Path(tmp)) as pg:
                    dbs.append(("postgresql", pg))
                    rows += await run_all(dbs, fake.base_url, args.requests)
            else:
                rows += await run_all(dbs, fake.base_url, args.requests)
    print(f"{'database':<12}{'model':<14}{'p50 ms':>8}{'p99 ms':>8}{'req/s':>8}")
    for db, model, t in rows:
        print(
            f"{db:<12}{model:<14}{statistics.median(t):>8.2f}{pct(t, 0.99):>8.2f}"
            f"{1000 / statistics.mean(t):>8.0f}"
        )


@contextlib.asynccontextmanager
async def fake_server() -> AsyncIterator[SimpleNamespace]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.openai_server",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # "fake OpenAI at ..." once it listens
    try:
        yield SimpleNamespace(base_url=f"http://127.0.0.1:{port}/v1")
    finally:
        proc.terminate()
        await proc.wait()


async def run_all(dbs: list[tuple[str, str]], base_url: str, n: int) -> list:
    rows = []
    for name, url in dbs:
        for in_process in (True, False):
            t = await measure(url, base_url, n, in_process=in_process)
            rows.append((name, "in-process" if in_process else "loopback", t))
    return rows


if __name__ == "__main__":
    asyncio.run(main())
