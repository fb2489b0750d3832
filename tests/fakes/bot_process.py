"""`reasonbot run` as a real OS process, wired to the loopback fakes (tests, benches)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import IO

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 30.0


async def run_to_exit(env: dict[str, str], *, timeout_s: float = STARTUP_S) -> tuple[int, str]:
    """Run `reasonbot run` until it exits by itself: its exit code and what it printed
    on stderr (for start-up failures)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "run", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(timeout_s):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def start_bot(
    env: dict[str, str], *, command: str = "run", stderr: IO[bytes] | None = None
) -> asyncio.subprocess.Process:
    """Start the bot and return once its /healthz answers (its log goes to ``stderr``,
    an open file, when given)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", command, cwd=ROOT, env=env, stderr=stderr
    )
    url = f"http://127.0.0.1:{env['PORT']}/healthz"
    async with aiohttp.ClientSession() as http, asyncio.timeout(STARTUP_S):
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"reasonbot {command} exited with {proc.returncode}")
            try:
                async with http.get(url) as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
