"""The claim order against a model of the fair-share rule, on SQLite and PostgreSQL: a
team's n-th unfinished question waits behind every other team's (n-1)-th; then the team
served longest ago goes first; then the oldest question. Random workloads of submits,
claims of various sizes, finishes and hand-backs, checked claim by claim; and concurrent
claimers on PostgreSQL, which must neither collide nor come back empty while work waits."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import AskRequest
from storage import SqlJobQueue, make_engine

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def request(team: str, key: str) -> AskRequest:
    return AskRequest(
        platform="test", team=team, channel="C1", thread=key, user="ann", text="?", key=key
    )


@dataclass
class FairShare:
    """The rule, written the plain way: rank every waiting question."""

    waiting: list[tuple[int, str, str]] = field(default_factory=list)  # (order, team, key)
    running: dict[str, str] = field(default_factory=dict)  # key -> team
    served: dict[str, datetime] = field(default_factory=dict)

    def order(self) -> list[str]:
        in_flight: dict[str, int] = {}
        for team in self.running.values():
            in_flight[team] = in_flight.get(team, 0) + 1
        seen: dict[str, int] = {}
        ranked = []
        for n, team, key in sorted(self.waiting):
            seen[team] = seen.get(team, 0) + 1
            turn = in_flight.get(team, 0) + seen[team]
            ranked.append((turn, self.served.get(team, NEVER), n, key))
        return [key for *_, key in sorted(ranked)]

    def claim(self, limit: int, now: datetime) -> list[str]:
        taken = self.order()[:limit]
        for key in taken:
            entry = next(w for w in self.waiting if w[2] == key)
            self.waiting.remove(entry)
            self.running[key] = entry[1]
            self.served[entry[1]] = now
        return taken


@pytest.mark.parametrize("seed", range(4))
async def test_claims_follow_the_fair_share_rule(engine: AsyncEngine, seed: int) -> None:
    rng = random.Random(seed)
    queue = SqlJobQueue(engine)
    model = FairShare()
    teams = [f"team{i}" for i in range(6)]
    order = 0
    for step in range(40):
        now = NOW + timedelta(seconds=step)
        for _ in range(rng.choice([0, 1, 3, 6])):
            team = rng.choice(teams)
            key = f"{team}-q{order}"
            # One at a time: submission order is the order of ids in the model too.
            assert await queue.submit(request(team, key), {}, now=now)
            model.waiting.append((order, team, key))
            order += 1
        limit = rng.choice([1, 1, 2, 3, 5, 8])
        taken = await queue.claim(worker="w", limit=limit, lease_s=600, now=now)
        assert [j.key for j in taken] == model.claim(limit, now), f"step {step}"
        for key in list(model.running):
            chance = rng.random()
            if chance < 0.3:
                await queue.finish(key, outcome="answered", now=now)
                del model.running[key]
            elif chance < 0.4:
                await queue.release([key], worker="w")
                team = model.running.pop(key)
                model.waiting.append((int(key.rsplit("-q", 1)[1]), team, key))


async def test_concurrent_claimers_share_the_work_without_empty_rounds(
    engine: AsyncEngine, db_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: its claims never run at once")
    queue = SqlJobQueue(engine)
    await asyncio.gather(
        *(queue.submit(request(f"t{i % 50}", f"k{i}"), {}, now=NOW) for i in range(200))
    )
    engines = [make_engine(db_url) for _ in range(8)]
    try:
        claimers = [SqlJobQueue(e) for e in engines]
        taken: list[str] = []
        for _ in range(200 // (8 * 5)):
            rounds = await asyncio.gather(
                *(
                    q.claim(worker=f"w{i}", limit=5, lease_s=600, now=NOW)
                    for i, q in enumerate(claimers)
                )
            )
            assert all(rounds), "a claimer came back empty while work waited"
            taken += [j.key for jobs in rounds for j in jobs]
    finally:
        for e in engines:
            await e.dispose()
    assert sorted(taken) == sorted(f"k{i}" for i in range(200))
    assert await queue.claim(worker="w", limit=5, lease_s=600, now=NOW) == []
