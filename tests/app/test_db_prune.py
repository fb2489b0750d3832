"""`reasonbot db prune`: an operator runs a retention pass on demand."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from app.cli import main
from bot.domain import AskRequest
from bot.weeks import utc_now
from storage import SqlJobQueue, make_engine


async def finished_job(url: str, key: str, *, days_ago: float) -> None:
    engine = make_engine(url)
    try:
        at = utc_now() - timedelta(days=days_ago)
        queue = SqlJobQueue(engine)
        request = AskRequest(
            platform="test", team="T", channel="C", thread=key, user="u", text="q", key=key
        )
        await queue.submit(request, {}, now=at)
        await queue.claim(worker="w", limit=1, lease_s=60, now=at)
        await queue.finish(key, outcome="answered", now=at)
        assert await queue.depth() == 0
    finally:
        await engine.dispose()


def test_db_prune_deletes_what_is_past_retention_and_says_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    asyncio.run(finished_job(url, "old", days_ago=3))
    asyncio.run(finished_job(url, "new", days_ago=0))
    capsys.readouterr()
    assert main(["db", "prune"]) == 0
    assert "jobs 1," in capsys.readouterr().out
    # On demand means now, even right after a pass.
    assert main(["db", "prune"]) == 0
    assert "jobs 0," in capsys.readouterr().out
