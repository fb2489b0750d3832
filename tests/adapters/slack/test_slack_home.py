"""Slack end to end: the App Home per person (admin and not), its refresh after an
answer, the "Set limits…" modal (validation, permissions, audit), and `/quota export`
as a file in a DM through files upload v2."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.slack.home import home_view, limits_modal
from bot import admin
from bot.domain import ModelUsage, TeamUsage, Window
from bot.reports import ModelWeek, Picture, UsageRow
from storage import SqlLedger, make_engine
from tests.adapters.slack.conftest import SECRET, SlackHarness, as_json, running_bot
from tests.builders import mention
from tests.fakes.slack_api import (
    FakeSlack,
    app_home_opened,
    interaction,
    post_signed,
)
from tests.fakes.slack_blocks import check_view

BOSS = "U0BOSS"


def home_text(view: dict[str, Any]) -> str:
    parts = []
    for b in view["blocks"]:
        if b["type"] in ("section", "header"):
            parts.append(b["text"]["text"])
        if b["type"] == "actions":
            parts += [e["text"]["text"] for e in b["elements"]]
    return "\n".join(parts)


async def open_home(bot: SlackHarness, user: str, n: int) -> dict[str, Any]:
    before = len(bot.slack.calls_to("views.publish"))
    await bot.event(app_home_opened(user), event_id=f"EvHome{user}{n}")
    await bot.until(lambda: len(bot.slack.calls_to("views.publish")) > before)
    return bot.slack.views[user]


async def ask(bot: SlackHarness, n: int, *, user: str = "U0ANN") -> None:
    ts = f"17000002{n:02d}.000100"
    await bot.event(mention(f"question {n}", ts=ts, user=user), event_id=f"EvH{n}")
    await bot.until(lambda: bool(bot.answers_in("C0001", ts)))


async def interact(bot: SlackHarness, payload: dict[str, Any]) -> tuple[int, str]:
    status, body, _ = await post_signed(
        bot.http, bot.url, interaction(payload), secret=SECRET, form=True
    )
    return status, body


def from_user(user: str, kind: str, *, trigger_id: str, **fields: Any) -> dict[str, Any]:
    """An interaction payload: what every kind carries, then ``fields``."""
    return {
        "type": kind,
        "team": {"id": "T0001", "domain": "fake"},
        "user": {"id": user, "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "deprecated",
        "trigger_id": trigger_id,
        **fields,
    }


def submission(user: str, values: dict[str, str]) -> dict[str, Any]:
    limits = {
        f"limit_{m}": {"value": {"type": "plain_text_input", "value": v}} for m, v in values.items()
    }
    view = {
        "id": "VM1",
        "type": "modal",
        "callback_id": "set_limits",
        "team_id": "T0001",
        "state": {"values": limits},
    }
    return from_user(user, "view_submission", trigger_id="1.2.abc", view=view)


def button(user: str, action_id: str) -> dict[str, Any]:
    return from_user(
        user,
        "block_actions",
        trigger_id="1.2.def",
        container={"type": "view", "view_id": "VHOME"},
        view={"id": "VHOME", "type": "home", "team_id": "T0001"},
        actions=[{"type": "button", "action_id": action_id, "block_id": "b", "value": ""}],
    )


async def test_home_shows_each_person_their_week_and_admins_the_team(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        bot.slack.admins.add(BOSS)
        bot.slack.user_tz["U0ANN"] = "Europe/Paris"
        await ask(bot, 1)
        await ask(bot, 2, user="U0BOB")
        await bot.settled(2)

        view = await open_home(bot, "U0ANN", 1)
        text = home_text(view)
        assert view["type"] == "home"
        assert "you asked 1 question" in text and "Europe/Paris" in text
        assert "2 of 30 used" in text  # the team's total, as a bar
        assert "U0BOB" not in text and "Set limits" not in text  # no admin extras

        boss = home_text(await open_home(bot, BOSS, 2))
        assert "Set limits…" in boss and "Export CSV" in boss
        assert "<@U0ANN> · `o1`: 1 question" in boss and "<@U0BOB>" in boss
        assert "America/Los_Angeles" in boss  # the fake's default tz for a profile
        assert boss.count("no questions") == 7  # 8 weeks, this one busy

        # An answer refreshes the asker's Home (once the burst settles).
        published = len(bot.slack.calls_to("views.publish"))
        await ask(bot, 3)
        await bot.until(lambda: len(bot.slack.calls_to("views.publish")) > published)
        await bot.until(lambda: "you asked 2 questions" in home_text(bot.slack.views["U0ANN"]))
        # Bob never opened his Home: his answer (long past its debounce) published none;
        # Slack's app_home_opened will, when he does.
        assert "U0BOB" not in bot.slack.views


async def test_limits_modal_validates_refuses_non_admins_and_audits(tmp_path: Path) -> None:
    async with running_bot(tmp_path) as bot:
        bot.slack.admins.add(BOSS)
        await open_home(bot, BOSS, 1)
        status, _ = await interact(bot, button(BOSS, "home_set_limits"))
        assert status == 200
        await bot.until(lambda: len(bot.slack.modals) == 1)
        modal = bot.slack.modals[0]
        assert modal["callback_id"] == "set_limits"
        inputs = {b["block_id"]: b["element"]["initial_value"] for b in modal["blocks"][1:]}
        assert inputs == {"limit_o1": "30", "limit_mini": "50"}

        # The same rules as /quota set: a negative or non-number value is refused.
        status, body = await interact(bot, submission(BOSS, {"o1": "-5", "mini": "ten"}))
        answer = as_json(body)
        assert status == 200 and answer["response_action"] == "errors"
        assert "negative" in answer["errors"]["limit_o1"]
        assert "not a number" in answer["errors"]["limit_mini"]

        # Not an admin: refused, nothing changed.
        status, body = await interact(bot, submission("U0ANN", {"o1": "3", "mini": "50"}))
        assert as_json(body)["response_action"] == "errors"
        assert "Only admins" in as_json(body)["errors"]["limit_o1"]
        status, _ = await interact(bot, button("U0ANN", "home_set_limits"))
        assert len(bot.slack.modals) == 1  # no modal opened for a non-admin

        status, body = await interact(bot, submission(BOSS, {"o1": "3", "mini": "50"}))
        assert status == 200 and as_json(body).get("response_action") is None
        _, shown, _ = await bot.command("/quota", "log", user=BOSS)
        assert f"<@{BOSS}>: set o1 3" in as_json(shown)["text"]  # the audit entry
        # The change refreshes the Homes opened (the admin's).
        await bot.until(lambda: "0 of 3 used" in home_text(bot.slack.views[BOSS]))


async def test_a_limit_set_by_another_process_refreshes_the_homes_open_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "QUOTA_CHANGES_EVERY_S", 0.05)
    async with running_bot(tmp_path) as bot:
        bot.slack.admins.add(BOSS)
        assert "0 of 30 used" in home_text(await open_home(bot, BOSS, 1))
        # Another process (its own connection pool on the same database) sets a limit.
        other = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'slack.db'}")
        try:
            ledger = SqlLedger(other)
            await ledger.set_limit("slack:T0001", "o1", 4, actor="U0OTHER", now=datetime.now(UTC))
        finally:
            await other.dispose()
        await bot.until(lambda: "0 of 4 used" in home_text(bot.slack.views[BOSS]))


async def test_export_arrives_as_a_file_in_a_dm_with_a_pointer_where_asked(
    tmp_path: Path,
) -> None:
    async with running_bot(tmp_path) as bot:
        bot.slack.admins.add(BOSS)
        for n in (1, 2):
            await ask(bot, n)
        await bot.settled(2)
        _, body, _ = await bot.command("/quota", "export 1", user=BOSS)
        pointer = as_json(body)
        assert pointer["response_type"] == "ephemeral"
        assert "direct messages" in pointer["text"] and "week_start" not in pointer["text"]
        await bot.until(lambda: bool(bot.slack.shared_files("D0BOSS")))
        shared = bot.slack.shared_files("D0BOSS")[0]
        assert shared.filename.endswith(".csv") and shared.content is not None
        rows = list(csv.reader(io.StringIO(shared.content.decode())))
        assert rows[0] == (
            "week_start,platform,team,model,user,questions,denied,"
            "input_tokens,output_tokens,reasoning_tokens,cost_usd"
        ).split(",")
        assert len(rows) == 2 and rows[1][1:6] == ["slack", "slack:T0001", "o1", "U0ANN", "2"]
        opened = bot.slack.calls_to("conversations.open")
        assert opened and opened[0].args["users"] == BOSS

        # The Home's button sends the same file.
        await interact(bot, button(BOSS, "home_export"))
        await bot.until(lambda: len(bot.slack.shared_files("D0BOSS")) == 2)


async def upload_url(http: aiohttp.ClientSession, slack: FakeSlack, length: int) -> str:
    async with http.post(
        slack.base_url + "files.getUploadURLExternal",
        data={"filename": "a.csv", "length": str(length)},
        headers={"Authorization": f"Bearer {slack.token}"},
    ) as resp:
        body = await resp.json()
    assert body["ok"], body
    return str(body["upload_url"])


async def test_fake_upload_url_refuses_a_bad_length_and_an_expired_url() -> None:
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        url = await upload_url(http, slack, 5)
        async with http.post(url, data=b"1234") as resp:
            assert resp.status == 400
        async with http.post(url, data=b"12345") as resp:
            assert resp.status == 200
        slack.upload_url_ttl_s = 0.0
        url = await upload_url(http, slack, 3)
        async with http.post(url, data=b"abc") as resp:
            assert resp.status == 404
        # Completing a file whose bytes never arrived fails as on Slack.
        file_id = url.rsplit("x", 1)[1]
        async with http.post(
            slack.base_url + "files.completeUploadExternal",
            data={"files": json.dumps([{"id": f"F{int(file_id):08d}"}]), "channel_id": "C0001"},
            headers={"Authorization": f"Bearer {slack.token}"},
        ) as resp:
            assert (await resp.json())["error"] == "file_not_found"


def big_picture(*, models: int, people: int) -> Picture:
    window = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    names = [f"model-{i}-" + "x" * 40 for i in range(models)]
    rows = tuple(
        UsageRow(window.key, names[i % models], f"U{i:08d}", 1_000 + i, 3, 1, 2, 1, 12.5)
        for i in range(people)
    )
    return Picture(
        usage=TeamUsage(
            team="slack:T0001",
            window=window,
            models=tuple(ModelUsage(n, limit=100_000, granted=5, used=99_999) for n in names),
        ),
        user="U00000001",
        admin=True,
        this_week=tuple(ModelWeek(window.key, n, 99_999, 5, 1234.5) for n in names),
        people=rows,
        weeks=tuple((f"2026-{w:02d}-01", ()) for w in range(1, 9)),
        more_people=4_000,
    )


def test_home_of_a_large_team_stays_within_slacks_view_limits() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    for models, people in ((2, 5_000), (60, 40)):
        view = home_view(big_picture(models=models, people=people), tz="Asia/Kolkata", now=now)
        check_view(json.dumps(view), surface="home")  # raises as Slack would refuse it
        assert len(view["blocks"]) <= 100
        modal = limits_modal(big_picture(models=min(models, 99), people=0))
        check_view(json.dumps(modal), surface="modal")
