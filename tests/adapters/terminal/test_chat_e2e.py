"""`reasonbot chat` and the operator commands driven end to end: a real subprocess,
stdin piped, the fake model server on loopback, a SQLite file. (Under a pseudo-terminal:
test_chat_pty.py.)"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from tests.fakes.loopback import free_port
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
    return {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        # History and the chat's log file go here, not into the developer's home.
        "XDG_DATA_HOME": str(tmp_path / "data"),
        **extra,
    }


def chat_env(tmp_path: Path, model: FakeOpenAI, *, config: str | None = None) -> dict[str, str]:
    """`base_env` against the fake model; ``config``: the catalogue's TOML, if not the
    built-in one."""
    extra = {"OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-x"}
    if config is not None:
        path = tmp_path / "reasonbot.toml"
        path.write_text(config)
        extra["REASONBOT_CONFIG"] = str(path)
    return base_env(tmp_path, **extra)


def table_row(out: str, *cells: str) -> bool:
    """Whether a rich table in ``out`` has a row starting with these cells."""
    pattern = r"\s*│\s*".join(re.escape(c) for c in cells)
    return re.search(r"│\s*" + pattern + r"\s*│", out) is not None


async def test_piped_chat_answers_each_question_and_shows_quota(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = base_env(tmp_path, OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-chat-secret")
        script = "What is a monad?\n/reason --model mini and a functor?\n/quota\n"
        code, out, err = await run_cli(["chat", "--team", "acme", "--user", "ann"], script, env)
    assert code == 0, err
    assert "What is a monad?" in out and "and a functor?" in out
    # /quota is a table (model, left, allowance), with no Slack mark-up in sight.
    assert table_row(out, "o1", "29", "30") and table_row(out, "mini", "49", "50")
    assert "*Quota this week*" not in out and "<@" not in out and "`" not in out
    assert "Thinking with o1" in err
    assert "sk-chat-secret" not in out + err
    # The second question continued the same conversation.
    assert "What is a monad?" in str(fake.requests[1].turns)


async def test_admin_flag_allows_quota_changes_and_they_persist(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = chat_env(tmp_path, fake)
        code, out, _ = await run_cli(["chat", "--team", "acme"], "/quota set mini 2\n", env)
        assert code == 1 and "Only admins" in out
        code, out, _ = await run_cli(
            ["chat", "--team", "acme", "--admin"], "/quota set mini 2\n", env
        )
        assert code == 0 and "limit set to 2" in out
        code, out, _ = await run_cli(["quota", "--team", "terminal:acme", "show"], "", env)
    assert code == 0 and table_row(out, "mini", "2", "2"), out


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
    # view, send, public threads, in threads, history, add reactions
    assert "permissions=309237713984" in out


async def test_unknown_command_suggests_the_closest_and_charges_nothing(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = chat_env(tmp_path, fake)
        code, out, _ = await run_cli(["chat", "--team", "acme"], "/qouta\n/foo bar\n/quota\n", env)
    assert "Unknown command /qouta" in out and "Did you mean /quota?" in out
    assert "Unknown command /foo" in out
    assert fake.requests == []  # nothing reached the model...
    assert table_row(out, "o1", "30", "30")  # ...and nothing was charged
    assert code == 1  # piped: a failed line makes the run fail


async def test_piped_chat_exits_non_zero_when_a_question_failed(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        fake.fail(400, code="invalid_request_error")
        env = chat_env(tmp_path, fake)
        code, out, _ = await run_cli(["chat"], "first\nsecond\n", env)
    assert "rejected the request" in out and "You asked: second" in out
    assert code == 1


async def test_missing_key_is_named_before_the_first_question(tmp_path: Path) -> None:
    # A provider on the internet needs a key (the URL does not resolve here, so no
    # request can leave the machine either way).
    env = base_env(tmp_path, OPENAI_BASE_URL="https://api.openai.invalid/v1")
    code, out, err = await run_cli(["chat"], "", env)
    # On stderr: piped answers stay only answers.
    assert "OPENAI_API_KEY is not set" in err and "o1, mini" in err and out == ""
    assert code == 0  # nothing was asked, so nothing failed


async def test_a_local_provider_needs_no_key(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        code, out, err = await run_cli(
            ["chat"], "hello\n", base_env(tmp_path, OPENAI_BASE_URL=fake.base_url)
        )
    assert code == 0, out + err
    assert "is not set" not in out + err and "You asked: hello" in out


async def test_unreachable_base_url_is_named_once_with_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    env = base_env(tmp_path, OPENAI_BASE_URL=url, OPENAI_API_KEY="sk-x", OPENAI_MAX_RETRIES="0")
    code, _, err = await run_cli(["chat"], "one\ntwo\n", env)
    assert err.count(f"Cannot reach the model provider at {url} (connection refused)") == 1
    assert "OPENAI_BASE_URL" in err
    assert code == 1


async def test_chat_logs_go_to_a_file_unless_verbose(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        fake.fail(400, code="invalid_request_error", times=2)
        env = chat_env(tmp_path, fake)
        _, out, err = await run_cli(["chat"], "question\n", env)
        log = (tmp_path / "data" / "reasonbot" / "chat.log").read_text()
        assert "request failed" in log or "failed" in log
        assert " WARNING " not in out + err  # the conversation stays clean
        _, out, err = await run_cli(["chat", "-v"], "question\n", env)
    assert " WARNING " in err and " WARNING " not in out


async def test_quota_without_platform_prefix_is_refused_listing_the_teams(tmp_path: Path) -> None:
    async with FakeOpenAI() as fake:
        env = chat_env(tmp_path, fake)
        await run_cli(["chat", "--team", "acme"], "hi\n", env)
        code, _, err = await run_cli(["quota", "--team", "acme", "show"], "", env)
        assert code == 2 and "put its platform in front" in err and "terminal:acme" in err
        code, out, _ = await run_cli(["quota", "teams"], "", env)
    assert code == 0 and out.split() == ["terminal:acme"]


async def test_operator_read_does_not_create_a_database(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    del env["DATABASE_URL"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "quota",
        "--team",
        "slack:T1",
        "show",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1
    assert f"no quota database at {tmp_path / 'reasonbot.db'}" in err.decode()
    assert "DATABASE_URL is not set" in err.decode()
    assert not (tmp_path / "reasonbot.db").exists()


async def test_discord_invite_url_refuses_an_id_that_is_no_snowflake(tmp_path: Path) -> None:
    for bad in ("-5", "0", "abc", str(2**64)):
        code, out, err = await run_cli(
            ["discord", "invite-url", f"--client-id={bad}"], "", base_env(tmp_path)
        )
        assert code == 2 and "not a Discord application id" in err and out == "", bad


async def test_terminal_admin_gets_the_80_percent_alert_once(tmp_path: Path) -> None:
    config = (
        'default_model = "o1"\nalert_at = [80]\n'
        '[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = 5\n'
    )
    async with FakeOpenAI() as fake:
        env = chat_env(tmp_path, fake, config=config)
        script = "/quota notify ops1\n" + "".join(f"question {n}\n" for n in range(5))
        code, out, err = await run_cli(["chat", "--team", "acme", "--admin"], script, env)
    assert code == 0, err
    assert "now go to #ops1" in out
    assert out.count("[#ops1] 🔔") == 1 and "4 of 5" in out


async def test_terminal_falls_back_for_the_default_and_refuses_a_named_model(
    tmp_path: Path,
) -> None:
    config = (
        'default_model = "o1"\n'
        '[[models]]\nalias = "o1"\nid = "o1"\nweekly_limit = 1\nfallback = "mini"\n'
        "price_output = 60.0\nmax_completion_tokens = 1000\n"
        '[[models]]\nalias = "mini"\nid = "o1-mini"\nweekly_limit = 5\n'
    )
    async with FakeOpenAI() as fake:
        env = chat_env(tmp_path, fake, config=config)
        script = (
            "/quota budget 5\nfirst question\nsecond question\n"
            "/reason --model o1 third question\n/quota\n"
        )
        code, out, err = await run_cli(["chat", "--team", "acme", "--admin"], script, env)
    assert code == 1, err  # the refused question
    assert "o1's weekly quota is used up until Mon 00:00 UTC — answered with mini" in out + err
    assert "used all 1 o1 message for this week" in out + err
    assert "/reason --model mini" in out + err
    assert table_row(out, "o1", "0", "1") and table_row(out, "mini", "4", "5")
    assert "Fallback when a quota is used up: o1 → mini" in out
    assert "Budget this week: $0.00" in out and "spent of $5.00" in out
