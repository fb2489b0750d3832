"""The contract is wired in: each fake records what it receives, a violation fails the
test that sent it (at teardown), and without the specs the run says why in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from tests.contract import specs
from tests.contract.validate import check
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.recorded import take
from tests.fakes.slack_api import FakeSlack

RUN_S = 120.0  # a pytest run in a subprocess on a loaded machine


@pytest.mark.usefixtures("official_specs")
async def test_every_fake_records_what_it_receives_for_the_contract() -> None:
    take()
    async with (
        FakeSlack() as slack,
        FakeDiscord() as discord,
        FakeOpenAI() as model,
        aiohttp.ClientSession() as http,
    ):
        slack_auth = {"Authorization": f"Bearer {slack.token}"}
        async with http.post(
            f"{slack.base_url}users.info", json={"user": "U1"}, headers=slack_auth
        ):
            pass
        async with http.post(
            f"{slack.base_url}users.info", data={"user": "U1"}, headers=slack_auth
        ):
            pass
        discord_auth = {"Authorization": f"Bot {discord.token}"}
        messages = f"{discord.base}/channels/{discord.channel_id}/messages"
        async with http.post(messages, json={"content": "x" * 2_001}, headers=discord_auth):
            pass
        chat = {"model": "o1", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(f"{model.base_url}/chat/completions", json=chat) as resp:
            await resp.read()
        async with http.post(f"{model.base_url}/chat/completions", json={**chat, "n": "2"}):
            pass
    recorded = take()  # taken here, so the contract does not fail this test for them
    assert [(r.service, r.method, r.path, r.content_type) for r in recorded] == [
        ("slack", "POST", "/api/users.info", "application/json"),
        ("slack", "POST", "/api/users.info", "application/x-www-form-urlencoded"),
        ("discord", "POST", f"/api/v10/channels/{discord.channel_id}/messages", "application/json"),
        ("openai", "POST", "/v1/chat/completions", "application/json"),
        ("openai", "POST", "/v1/chat/completions", "application/json"),
    ]
    assert recorded[1].body == b"user=U1"
    assert [len(check(r).violations) for r in recorded] == [1, 0, 1, 0, 1]


INNER = """
import asyncio

import aiohttp
import pytest

from tests.fakes.slack_api import FakeSlack


async def post(args):
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {slack.token}"}
        async with http.post(f"{slack.base_url}chat.postMessage", data=args, headers=auth):
            pass


def test_sends_an_argument_slack_does_not_know():
    asyncio.run(post({"channel": "C0001", "text": "hi", "txt": "typo"}))


@pytest.mark.spec_violations_expected
def test_sends_it_on_purpose():
    asyncio.run(post({"channel": "C0001", "text": "hi", "txt": "typo"}))


def test_sends_what_slack_takes():
    asyncio.run(post({"channel": "C0001", "text": "hi"}))
"""


def run_inner(tmp_path: Path, *, specs_dir: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(specs.ROOT), REASONBOT_SPECS_DIR=str(specs_dir))
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-p", "tests.contract.plugin", "--rootdir", str(tmp_path), "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )


@pytest.mark.usefixtures("official_specs")
def test_a_violation_fails_the_test_that_sent_it(tmp_path: Path) -> None:
    run = run_inner(tmp_path, specs_dir=specs.specs_dir())
    out = run.stdout
    assert run.returncode == 1, out
    assert "ERROR at teardown of test_sends_an_argument_slack_does_not_know" in out
    assert "  slack chat.postMessage: unknown argument 'txt'" in out
    assert "3 passed, 1 error" in out  # the test itself passed; its teardown failed
    assert (
        "spec contract: 3 requests checked against the official specs "
        "(discord 0, openai 0, slack 3)" in out
    )
    assert "spec contract: 1 violations sent on purpose" in out


def test_without_the_specs_the_contract_says_why_in_one_line(tmp_path: Path) -> None:
    run = run_inner(tmp_path, specs_dir=tmp_path / "absent")
    assert run.returncode == 0, run.stdout
    lines = [line for line in run.stdout.splitlines() if line.startswith("spec contract")]
    assert lines == [
        f"spec contract skipped: discord_openapi.json, openai_openapi.json, "
        f"slack_web_openapi_v2.json not found in {tmp_path / 'absent'} (a fresh clone "
        "outside CI; set REASONBOT_SPECS_DIR to the specs folder)"
    ]


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("false", "1 skipped")])
def test_without_the_specs_contract_tests_skip_but_fail_in_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    env = {**os.environ, "CI": ci, "REASONBOT_SPECS_DIR": str(tmp_path / "absent")}
    test = "tests/contract/test_validator.py::test_nullable_becomes_a_null_type_in_2020_12"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", test],
        cwd=specs.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_S,
    )
    assert outcome in run.stdout, run.stdout
    assert "not found in" in run.stdout
