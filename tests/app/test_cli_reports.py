"""`reasonbot quota --team T digest|export`: what the ledger holds, on stdout."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from app.cli import main
from bot.config import WeekPolicy
from bot.domain import Limits, Usage
from bot.reports import previous_window
from bot.weeks import utc_now, week_window
from storage import SqlLedger, make_engine, upgrade

TEAM = "slack:T0001"


async def _seed(url: str) -> None:
    engine = make_engine(url)
    await upgrade(engine)
    ledger = SqlLedger(engine)
    this = week_window(utc_now(), WeekPolicy())
    last = previous_window(this, WeekPolicy())
    for n, (window, user) in enumerate([(this, "U1"), (this, "U1"), (this, "U2"), (last, "U1")]):
        r = await ledger.reserve(
            key=f"k{n}",
            team=TEAM,
            model="o1",
            user=user,
            channel="C",
            window=window,
            limits=Limits(30),
            now=window.start,
        )
        usage = Usage(prompt_tokens=10, completion_tokens=20, reasoning_tokens=5)
        await ledger.commit(r.key, usage=usage, latency_ms=1, now=window.start, cost_usd=0.5)
    await engine.dispose()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env, no reasonbot.toml: the default catalogue
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    asyncio.run(_seed(url))


@pytest.mark.usefixtures("database")
def test_export_writes_csv_and_json_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quota", "--team", TEAM, "export", "--weeks", "2"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    this = week_window(utc_now(), WeekPolicy()).start.date().isoformat()
    assert [(r["week_start"] == this, r["user"], r["questions"]) for r in rows] == [
        (False, "U1", "1"),
        (True, "U1", "2"),
        (True, "U2", "1"),
    ]
    assert rows[1] == {
        "week_start": this,
        "platform": "slack",
        "team": TEAM,
        "model": "o1",
        "user": "U1",
        "questions": "2",
        "denied": "0",
        "input_tokens": "20",
        "output_tokens": "40",
        "reasoning_tokens": "10",
        "cost_usd": "1.000000",
    }
    assert main(["quota", "--team", TEAM, "export", "--weeks", "1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["user"], d["cost_usd"]) for d in data] == [("U1", 1.0), ("U2", 0.5)]


@pytest.mark.usefixtures("database")
def test_digest_prints_the_week_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    this = week_window(utc_now(), WeekPolicy())
    day = this.start.date().isoformat()
    assert main(["quota", "--team", TEAM, "digest", "--week", day]) == 0
    out = capsys.readouterr().out
    assert f"week of {day}" in out and "`o1`: 3 questions, $1.50" in out
    assert "Questions: 3 (+2 on the week before)" in out and "Askers: 2" in out


@pytest.mark.usefixtures("database")
def test_export_refuses_impossible_weeks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quota", "--team", TEAM, "export", "--weeks", "53"]) == 2
    assert "--weeks" in capsys.readouterr().err


@pytest.mark.usefixtures("database")
def test_an_operator_sets_a_budget_and_show_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quota", "--team", TEAM, "budget", "2.50"]) == 0
    out = capsys.readouterr().out
    assert "weekly budget is now $2.50" in out
    # This week's answers before the budget count against it: $1.50 of three.
    assert "$1.50 spent of $2.50" in out and "$1.00 left" in out
    assert main(["quota", "--team", TEAM, "log"]) == 0
    assert "budget $2.50" in capsys.readouterr().out
    assert main(["quota", "--team", TEAM, "budget", "off"]) == 0
    assert "Budget this week" not in capsys.readouterr().out
