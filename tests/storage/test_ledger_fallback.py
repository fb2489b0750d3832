"""The ledger contract for fallback chains and team budgets, on SQLite and PostgreSQL:
walking the chain and holding against the budget are one transaction, so workers
racing for the last messages (or dollars) never over-admit."""

from __future__ import annotations

import functools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Limits, ReservationStatus, Usage, Window
from storage import SqlLedger, make_engine
from tests import builders
from tests.storage.race_worker import admitted_by_all, race

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = Window(datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
NEXT = Window(WEEK.end, WEEK.end + timedelta(days=7))
DEFAULTS = {"o1": 1, "mini": 2}
CHAIN = [("mini", Limits(2))]


@pytest.fixture
def ledger(engine: AsyncEngine) -> SqlLedger:
    return SqlLedger(engine)


# One message of o1 (limit 1), falling back to mini (limit 2).
reserve = functools.partial(builders.reserve, limits=Limits(1), fallbacks=CHAIN)


async def used(ledger: SqlLedger) -> dict[str, int]:
    usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=False)
    return {m.model: m.used for m in usage.models}


async def test_a_used_up_model_falls_back_down_the_chain(ledger: SqlLedger) -> None:
    got = [await reserve(ledger, f"k{i}") for i in range(4)]
    assert [(r.status, r.model) for r in got] == [
        (ReservationStatus.RESERVED, "o1"),
        (ReservationStatus.RESERVED, "mini"),
        (ReservationStatus.RESERVED, "mini"),
        (ReservationStatus.DENIED, "o1"),
    ]
    assert [r.fallback_from for r in got] == [None, "o1", "o1", None]
    assert got[1].fallback_scope == "team" and got[1].limits is not None
    assert got[1].limits.used == 1 and got[1].limits.team_limit == 2
    assert got[3].denied_scope == "team"
    assert await used(ledger) == {"o1": 1, "mini": 2}


async def test_a_persons_cap_falls_back_for_that_person_only(ledger: SqlLedger) -> None:
    capped = Limits(10, user_limit=1)
    ann = [await reserve(ledger, f"a{i}", limits=capped) for i in range(2)]
    bob = await reserve(ledger, "b0", user="bob", limits=capped)
    assert [r.model for r in ann] == ["o1", "mini"]
    assert ann[1].fallback_scope == "user"
    assert bob.model == "o1" and bob.fallback_from is None


async def test_without_a_chain_a_used_up_model_is_denied(ledger: SqlLedger) -> None:
    await reserve(ledger, "k0", fallbacks=[])
    denied = await reserve(ledger, "k1", fallbacks=[])
    assert denied.status is ReservationStatus.DENIED and denied.model == "o1"
    assert await used(ledger) == {"o1": 1, "mini": 0}


async def test_a_replayed_fallback_is_the_same_model_and_charged_once(ledger: SqlLedger) -> None:
    await reserve(ledger, "k0")
    first = await reserve(ledger, "k1")
    again = await reserve(ledger, "k1")
    assert again.replayed and again.model == "mini" == first.model
    assert await used(ledger) == {"o1": 1, "mini": 1}


async def test_a_refunded_fallback_gives_the_fallbacks_message_back(ledger: SqlLedger) -> None:
    await reserve(ledger, "k0")
    await reserve(ledger, "k1")
    assert await ledger.refund("k1", error="ModelTimeout", now=NOW)
    assert await used(ledger) == {"o1": 1, "mini": 0}


async def test_a_budget_admits_while_its_holds_fit_and_settles_on_the_cost(
    ledger: SqlLedger,
) -> None:
    await ledger.set_budget("T", 1.0, window=WEEK, actor="admin", now=NOW)
    costly = Limits(100, estimate_usd=0.4)
    got = [await reserve(ledger, f"k{i}", limits=costly, fallbacks=[]) for i in range(3)]
    assert [r.status for r in got] == [ReservationStatus.RESERVED] * 2 + [ReservationStatus.DENIED]
    assert got[2].denied_scope == "budget"
    state = await ledger.budget("T", WEEK)
    assert (state.budget_usd, state.spent_usd, state.held_usd) == (1.0, 0.0, 0.8)

    after = await ledger.commit("k0", usage=Usage(10, 10), latency_ms=1, now=NOW, cost_usd=0.1)
    assert after is not None
    assert (after.spent_before_usd, after.spent_usd, after.held_usd) == (0.0, 0.1, 0.4)
    assert (await reserve(ledger, "k3", limits=costly, fallbacks=[])).status is (
        ReservationStatus.RESERVED
    )
    assert await ledger.refund("k1", error="ModelTimeout", now=NOW)
    assert await ledger.refund("k3", error="ModelTimeout", now=NOW)
    state = await ledger.budget("T", WEEK)
    assert (state.spent_usd, state.held_usd, state.left_usd) == (0.1, 0.0, 0.9)
    # A new week starts with nothing spent.
    assert (await ledger.budget("T", NEXT)).spent_usd == 0.0


async def test_a_budget_denial_does_not_walk_the_chain(ledger: SqlLedger) -> None:
    await ledger.set_budget("T", 0.5, window=WEEK, actor="admin", now=NOW)
    denied = await reserve(
        ledger, "k0", limits=Limits(1, estimate_usd=1.0), fallbacks=[("mini", Limits(2, 0, 0.1))]
    )
    assert denied.status is ReservationStatus.DENIED and denied.denied_scope == "budget"
    assert await used(ledger) == {"o1": 0, "mini": 0}


async def test_models_without_prices_are_not_held_and_no_budget_limits_nothing(
    ledger: SqlLedger,
) -> None:
    await ledger.set_budget("T", 0.01, window=WEEK, actor="admin", now=NOW)
    free = Limits(100)
    assert (await reserve(ledger, "k0", limits=free, fallbacks=[])).status is (
        ReservationStatus.RESERVED
    )
    await ledger.set_budget("T", None, window=WEEK, actor="admin", now=NOW)
    priced = Limits(100, estimate_usd=5.0)
    assert (await reserve(ledger, "k1", limits=priced, fallbacks=[])).status is (
        ReservationStatus.RESERVED
    )
    assert (await ledger.budget("T", WEEK)).budget_usd is None


async def test_a_budget_set_mid_week_counts_what_was_spent_before(ledger: SqlLedger) -> None:
    await reserve(ledger, "k0", fallbacks=[])
    await ledger.commit("k0", usage=Usage(1, 1), latency_ms=1, now=NOW, cost_usd=0.75)
    await ledger.set_budget("T", 1.0, window=WEEK, actor="admin", now=NOW)
    assert (await ledger.budget("T", WEEK)).spent_usd == 0.75
    denied = await reserve(ledger, "k1", limits=Limits(5, estimate_usd=0.5), fallbacks=[])
    assert denied.denied_scope == "budget"
    entries = await ledger.audit_log("T")
    assert (entries[0].action, entries[0].value) == ("budget", 100)


async def _race(db_url: str, mode: str, *, procs: int, each: int) -> Counter[str]:
    return admitted_by_all(
        await race(db_url, procs=procs, per_proc=each, start_in_s=1.5, mode=mode)
    )


async def test_processes_racing_down_a_chain_admit_exactly_each_models_limit(
    db_url: str, engine: AsyncEngine
) -> None:
    """8 OS processes, 20 questions each, for o1 (30 left) falling back to mini (50)."""
    total = await _race(db_url, "chain", procs=8, each=20)
    assert total == Counter({"o1": 30, "mini": 50, "denied": 80})
    eng = make_engine(db_url)
    try:
        usage = await SqlLedger(eng).usage(
            "race", WEEK, limits={"o1": 30, "mini": 50}, with_users=True
        )
    finally:
        await eng.dispose()
    assert {m.model: m.used for m in usage.models} == {"o1": 30, "mini": 50}
    assert sum(u.used for u in usage.users) == 80


async def test_processes_racing_for_a_budget_never_hold_more_than_it(
    db_url: str, engine: AsyncEngine
) -> None:
    """8 OS processes, 10 questions each holding $0.25, against a $10 budget."""
    await SqlLedger(engine).set_budget("race", 10.0, window=WEEK, actor="admin", now=NOW)
    total = await _race(db_url, "budget", procs=8, each=10)
    assert total == Counter({"o1": 40, "denied": 40})
    state = await SqlLedger(engine).budget("race", WEEK)
    assert (state.spent_usd, state.held_usd) == (0.0, 10.0)
