"""Socket Mode while Slack refuses connections: slack_sdk retries forever, and SIGTERM
must still stop the real bot process within its grace period."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.builders import slack_env
from tests.fakes.bot_process import ROOT
from tests.fakes.loopback import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

GRACE_S = 3
EXIT_WITHIN_S = 20.0  # the grace period, plus a loaded machine's start-up and teardown


async def test_sigterm_during_a_socket_mode_reconnect_loop_exits_within_the_grace(
    tmp_path: Path,
) -> None:
    async with FakeOpenAI() as model, FakeSlack() as slack:
        slack.fail("apps.connections.open", "internal_error", times=10_000)
        env = slack_env(
            slack,
            model,
            db=f"sqlite+aiosqlite:///{tmp_path / 's.db'}",
            secret="unused-in-socket-mode",
            port=free_port(),
            socket_mode=True,
            SHUTDOWN_GRACE_SECONDS=str(GRACE_S),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "run",
            cwd=ROOT,
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            async with asyncio.timeout(30):
                await slack.wait_for(lambda: bool(slack.calls_to("apps.connections.open")))
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(EXIT_WITHIN_S):
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert code == 0
