"""`reasonbot chat` driven end to end: a real subprocess, stdin piped, the fake model
server on loopback, a SQLite file."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[3]


async def run_cli(args: list[str], stdin: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return {**keep, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", **extra}


async def test_piped_chat_answers_each_question_and_shows_quota(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = base_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-chat-secret")
        script = "What is a monad?\n/reason --model mini and a functor?\n/quota\n"
        code, out, err = await run_cli(["chat", "--team", "acme", "--user", "ann"], script, env)
    assert code == 0, err
    assert "What is a monad?" in out and "and a functor?" in out
    assert "`o1`: 29 of 30 left" in out and "`mini`: 49 of 50 left" in out
    assert "Thinking with `o1`" in err
    assert "sk-chat-secret" not in out + err
    # The second question continued the same conversation.
    assert "What is a monad?" in str(fake.requests[1].body["messages"])


async def test_admin_flag_allows_quota_changes_and_they_persist(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = base_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-x")
        code, out, _ = await run_cli(["chat", "--team", "acme"], "/quota set mini 2\n", env)
        assert code == 0 and "Only admins" in out
        code, out, _ = await run_cli(
            ["chat", "--team", "acme", "--admin"], "/quota set mini 2\n", env
        )
        assert code == 0 and "limit set to 2" in out
        code, out, _ = await run_cli(["quota", "--team", "terminal:acme", "show"], "", env)
    assert code == 0 and "`mini`: 2 of 2 left" in out


async def test_run_without_platforms_explains_and_exits_2(tmp_path: Path) -> None:
    code, _, err = await run_cli(["run"], "", base_env(tmp_path))
    assert code == 2
    assert "SLACK_BOT_TOKEN" in err and "DISCORD_TOKEN" in err and "reasonbot chat" in err


async def test_invalid_config_is_one_clear_message_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'default_model = "o1"\n[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = "lots"\n'
    )
    code, _, err = await run_cli(["chat"], "", base_env(tmp_path, REASONBOT_CONFIG=str(bad)))
    assert code == 2
    assert "configuration error" in err and "weekly_limit" in err
    assert not (tmp_path / "chat.db").exists()  # nothing connected


async def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    code, out, err = await run_cli(["db", "upgrade"], "", base_env(tmp_path))
    assert code == 0, err
    assert "up to date" in out and (tmp_path / "chat.db").exists()


async def test_discord_invite_url_asks_only_for_what_the_bot_needs(tmp_path: Path) -> None:
    code, out, err = await run_cli(
        ["discord", "invite-url", "--client-id", "123"], "", base_env(tmp_path)
    )
    assert code == 0, err
    assert "client_id=123" in out and "scope=bot+applications.commands" in out
    assert "permissions=309237713920" in out  # view, send, public threads, in threads, history


async def test_terminal_admin_gets_the_80_percent_alert_once(tmp_path: Path) -> None:
    config = tmp_path / "reasonbot.toml"
    config.write_text(
        'default_model = "o1"\nalert_at = [80]\n'
        '[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = 5\n'
    )
    async with FakeOpenAI() as fake:
        env = base_env(
            tmp_path,
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-x",
            REASONBOT_CONFIG=str(config),
        )
        script = "/quota notify ops1\n" + "".join(f"question {n}\n" for n in range(5))
        code, out, err = await run_cli(["chat", "--team", "acme", "--admin"], script, env)
    assert code == 0, err
    assert "now go to <#ops1>" in out
    assert out.count("[#ops1] 🔔") == 1 and "4 of 5" in out
