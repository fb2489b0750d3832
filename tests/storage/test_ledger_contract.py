"""The quota ledger contract, run on every backend (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain import Exchange, ReservationStatus, Role, Turn, Usage, Window
from storage import (
    SqlConversationStore,
    SqlLedger,
    current_revision,
    head_revision,
    upgrade,
)
from storage.teams import known_teams
from tests.builders import NOW, WEEK, reserve
from tests.storage.race_worker import race

NEXT = Window(WEEK.end, WEEK.end + timedelta(days=7))
DEFAULTS = {"o1": 3, "mini": 5}


@pytest.fixture
def ledger(engine: AsyncEngine) -> SqlLedger:
    return SqlLedger(engine)


async def used(ledger: SqlLedger, model: str = "o1", window: Window = WEEK, team: str = "T") -> int:
    usage = await ledger.usage(team, window, limits=DEFAULTS, with_users=False)
    return next(m.used for m in usage.models if m.model == model)


async def test_reservations_stop_at_the_limit(ledger: SqlLedger) -> None:
    statuses = [(await reserve(ledger, f"k{i}")).status for i in range(4)]
    assert statuses == [ReservationStatus.RESERVED] * 3 + [ReservationStatus.DENIED]
    assert await used(ledger) == 3


async def test_teams_and_models_have_separate_quotas(ledger: SqlLedger) -> None:
    for i in range(3):
        await reserve(ledger, f"a{i}")
    assert (await reserve(ledger, "b", team="other")).status is ReservationStatus.RESERVED
    assert (await reserve(ledger, "c", model="mini", limit=5)).status is ReservationStatus.RESERVED


async def test_replay_returns_the_first_outcome_without_charging(ledger: SqlLedger) -> None:
    first = await reserve(ledger, "evt")
    again = await reserve(ledger, "evt")
    assert not first.replayed and again.replayed
    assert again.status is ReservationStatus.RESERVED
    assert await used(ledger) == 1


async def test_a_denied_key_stays_denied_on_replay(ledger: SqlLedger) -> None:
    for i in range(3):
        await reserve(ledger, f"k{i}")
    assert (await reserve(ledger, "late")).status is ReservationStatus.DENIED
    await ledger.refund("k0", error="x", now=NOW)
    replay = await reserve(ledger, "late")
    assert replay.replayed and replay.status is ReservationStatus.DENIED
    assert await used(ledger) == 2


async def test_commit_records_usage_and_cannot_be_refunded(ledger: SqlLedger) -> None:
    await reserve(ledger, "k")
    await ledger.commit("k", usage=Usage(10, 20, 5), latency_ms=1234, now=NOW)
    assert await ledger.refund("k", error="late", now=NOW) is False
    usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=True)
    assert usage.users[0].tokens == 30 and await used(ledger) == 1


async def test_usage_counts_the_reservations_still_in_flight(ledger: SqlLedger) -> None:
    for key in ("k1", "k2", "k3"):
        await reserve(ledger, key)
    await ledger.commit("k1", usage=Usage(1, 1, 0), latency_ms=1, now=NOW)
    await ledger.refund("k2", error="x", now=NOW)

    async def in_flight() -> int:
        usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=False)
        return next(m.in_flight for m in usage.models if m.model == "o1")

    assert await in_flight() == 1
    await ledger.reset("T", "o1", WEEK, actor="admin", now=NOW)
    assert await in_flight() == 0  # no longer counted: its refund gives nothing back


async def test_refund_is_idempotent_and_gives_the_message_back(ledger: SqlLedger) -> None:
    await reserve(ledger, "k")
    assert await ledger.refund("k", error="ModelTimeout", now=NOW) is True
    assert await ledger.refund("k", error="ModelTimeout", now=NOW) is False
    assert await ledger.refund("unknown", error="x", now=NOW) is False
    assert await used(ledger) == 0
    assert (await reserve(ledger, "k")).status is ReservationStatus.REFUNDED


async def test_refund_goes_to_the_week_it_was_reserved_in(ledger: SqlLedger) -> None:
    for i in range(3):
        await reserve(ledger, f"k{i}")
    await reserve(ledger, "n0", window=NEXT)
    await ledger.refund("k0", error="x", now=NEXT.start + timedelta(hours=1))
    assert await used(ledger, window=WEEK) == 2
    assert await used(ledger, window=NEXT) == 1


async def test_grant_adds_messages_for_this_week_only(ledger: SqlLedger) -> None:
    await ledger.grant("T", "o1", WEEK, 2, actor="boss", now=NOW)
    assert [(await reserve(ledger, f"k{i}")).status for i in range(6)].count(
        ReservationStatus.RESERVED
    ) == 5
    usage = await ledger.usage("T", NEXT, limits=DEFAULTS, with_users=False)
    assert usage.models[0].allowance == 3


async def test_limit_override_and_reset(ledger: SqlLedger) -> None:
    async def limit() -> int:
        usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=False)
        return usage.models[0].limit

    assert await limit() == DEFAULTS["o1"]
    await ledger.set_limit("T", "o1", 7, actor="boss", now=NOW)
    await ledger.set_limit("T", "o1", 8, actor="boss", now=NOW)
    assert await limit() == 8
    await reserve(ledger, "k1", limit=8)
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    assert await used(ledger) == 0
    usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=False)
    assert usage.models[0].limit == 8 and usage.models[1].limit == 5


async def test_refund_after_a_reset_never_goes_below_zero(ledger: SqlLedger) -> None:
    await reserve(ledger, "k")
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    await ledger.refund("k", error="x", now=NOW)
    assert await used(ledger) == 0


async def test_refunds_of_questions_in_flight_at_a_reset_do_not_admit_more(
    ledger: SqlLedger,
) -> None:
    # Three questions are running when an admin resets the week; three more are asked
    # after it, then the first three fail. The week's limit is 3: no seventh question.
    for i in range(3):
        assert (await reserve(ledger, f"before{i}")).status is ReservationStatus.RESERVED
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    for i in range(3):
        assert (await reserve(ledger, f"after{i}")).status is ReservationStatus.RESERVED
    for i in range(3):
        assert await ledger.refund(f"before{i}", error="ModelTimeout", now=NOW) is True
    assert await used(ledger) == 3
    assert (await reserve(ledger, "seventh")).status is ReservationStatus.DENIED


async def test_a_reset_racing_reservations_leaves_counters_equal_to_what_still_counts(
    ledger: SqlLedger, engine: AsyncEngine
) -> None:
    # Reservations and a reset at the same moment (PostgreSQL: on separate connections):
    # afterwards each counter holds exactly the reservations still marked as counting,
    # so refunding any of them later gives back exactly what was taken.
    from sqlalchemy import func, select

    from storage.tables import QuotaCounter, RequestRow, UserCounter

    for round_ in range(4):
        tasks = [
            asyncio.create_task(reserve(ledger, f"r{round_}-{i}", user=f"u{i % 3}", limit=10**6))
            for i in range(24)
        ]
        if round_:  # and refunds of the round before, at the same moment
            tasks += [
                asyncio.create_task(ledger.refund(f"r{round_ - 1}-{i}", error="x", now=NOW))
                for i in range(0, 24, 2)
            ]
        await asyncio.sleep(0.005 * round_)
        await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
        await asyncio.gather(*tasks)
        async with engine.connect() as conn:
            counted = select(func.count()).where(
                RequestRow.status == "reserved", RequestRow.counted.is_(True)
            )
            team_used = await conn.scalar(select(QuotaCounter.used))
            assert team_used == await conn.scalar(counted)
            # A person's counter may keep one that no longer counts (see `reset`): never
            # fewer, or a refund would give back a message the reset already did.
            for user, used_by_user in (
                await conn.execute(select(UserCounter.user, UserCounter.used))
            ).all():
                assert used_by_user >= await conn.scalar(counted.where(RequestRow.user == user))


async def test_a_persons_cap_holds_across_a_reset_and_refunds(ledger: SqlLedger) -> None:
    # The same rule for each person's counter: bob (cap 1) asks, the week is reset, he
    # asks again; the refund of the first must not let him ask a third time.
    assert (await reserve(ledger, "b1", user="bob", cap=1, limit=10)).status.value == "reserved"
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    assert (await reserve(ledger, "b2", user="bob", cap=1, limit=10)).status.value == "reserved"
    await ledger.refund("b1", error="x", now=NOW)
    third = await reserve(ledger, "b3", user="bob", cap=1, limit=10)
    assert third.status is ReservationStatus.DENIED and third.denied_scope == "user"


async def test_a_grant_after_a_reset_is_not_eaten_by_earlier_refunds(ledger: SqlLedger) -> None:
    # Granted messages are extra room in the new count; a refund of a reservation made
    # before the reset must not add to that room either.
    for i in range(3):
        await reserve(ledger, f"k{i}")
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    await ledger.grant("T", "o1", WEEK, 1, actor="boss", now=NOW)
    admitted = [(await reserve(ledger, f"n{i}")).status for i in range(4)]
    for i in range(3):
        await ledger.refund(f"k{i}", error="x", now=NOW)
    assert admitted == [ReservationStatus.RESERVED] * 4
    assert (await reserve(ledger, "late")).status is ReservationStatus.DENIED


async def test_a_refund_still_gives_back_a_message_reserved_after_a_reset(
    ledger: SqlLedger,
) -> None:
    await reserve(ledger, "old")
    await ledger.reset("T", "o1", WEEK, actor="boss", now=NOW)
    await reserve(ledger, "new")
    assert await ledger.refund("new", error="x", now=NOW) is True
    assert await used(ledger) == 0


async def test_user_caps_per_model_and_for_every_model(ledger: SqlLedger) -> None:
    await ledger.set_user_cap("T", "bob", "*", 1, actor="boss", now=NOW)
    await ledger.set_user_cap("T", "bob", "mini", 2, actor="boss", now=NOW)
    assert await ledger.user_cap("T", "o1", "bob") == 1
    assert await ledger.user_cap("T", "mini", "bob") == 2
    assert await ledger.user_cap("T", "o1", "ann") is None
    assert (await reserve(ledger, "b1", user="bob", cap=1)).status is ReservationStatus.RESERVED
    denied = await reserve(ledger, "b2", user="bob", cap=1)
    assert denied.status is ReservationStatus.DENIED and denied.denied_scope == "user"
    assert await used(ledger) == 1  # the team counter was not charged for the refusal
    await ledger.set_user_cap("T", "bob", "*", None, actor="boss", now=NOW)
    assert await ledger.user_cap("T", "o1", "bob") is None


async def test_usage_report_per_person(ledger: SqlLedger) -> None:
    await reserve(ledger, "a1", user="ann")
    await reserve(ledger, "a2", user="ann")
    await reserve(ledger, "b1", user="bob", model="mini", limit=5)
    usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=True)
    assert {(u.user, u.model, u.used) for u in usage.users} == {
        ("ann", "o1", 2),
        ("bob", "mini", 1),
    }
    assert [m.model for m in usage.models] == ["o1", "mini"]


async def test_every_change_is_audited_newest_first(ledger: SqlLedger) -> None:
    await ledger.set_limit("T", "o1", 9, actor="boss", now=NOW)
    await ledger.grant("T", "o1", WEEK, 1, actor="boss", now=NOW + timedelta(minutes=1))
    await ledger.reset("T", "mini", WEEK, actor="ops", now=NOW + timedelta(minutes=2))
    await ledger.set_user_cap("T", "bob", "*", 4, actor="boss", now=NOW)
    log = await ledger.audit_log("T")
    assert [e.action for e in log] == ["user", "reset", "grant", "set"]
    assert log[0].target == "bob" and log[0].value == 4 and log[1].actor == "ops"
    assert log[2].at == NOW + timedelta(minutes=1)
    assert await ledger.audit_log("other") == []


async def test_concurrent_reservations_in_one_process_admit_exactly_the_limit(
    ledger: SqlLedger,
) -> None:
    results = await asyncio.gather(*(reserve(ledger, f"c{i}", limit=7) for i in range(30)))
    assert sum(r.status is ReservationStatus.RESERVED for r in results) == 7
    assert await used(ledger) == 7


async def answer(ledger: SqlLedger, key: str, exchange: Exchange) -> None:
    await reserve(ledger, key, limit=10, team=exchange.team)
    await ledger.commit(key, usage=Usage(), latency_ms=1, now=NOW, exchange=exchange)


async def test_conversation_turns_keep_their_order(engine: AsyncEngine, ledger: SqlLedger) -> None:
    store = SqlConversationStore(engine)
    assert not await store.knows("th")
    for i in range(5):
        await answer(ledger, f"k{i}", Exchange("th", "T", f"q{i}", f"a{i}"))
    await answer(ledger, "x", Exchange("other", "T", "x", "y"))
    history = await store.history("th", limit=4)
    assert history == [
        Turn(Role.USER, "q3"),
        Turn(Role.ASSISTANT, "a3"),
        Turn(Role.USER, "q4"),
        Turn(Role.ASSISTANT, "a4"),
    ]
    assert await store.knows("th") and len(await store.history("th")) == 10


async def test_a_retried_commit_neither_charges_nor_appends_again(
    engine: AsyncEngine, ledger: SqlLedger
) -> None:
    exchange = Exchange("th", "T", "q", "a")
    await answer(ledger, "k", exchange)
    await ledger.commit("k", usage=Usage(5, 5, 0), latency_ms=1, now=NOW, exchange=exchange)
    assert await SqlConversationStore(engine).history("th") == list(exchange.turns)
    usage = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=True)
    assert usage.users[0].tokens == 0 and await used(ledger) == 1


async def test_a_refunded_question_leaves_no_turns(engine: AsyncEngine, ledger: SqlLedger) -> None:
    await reserve(ledger, "k")
    assert await ledger.refund("k", error="ModelTimeout", now=NOW)
    exchange = Exchange("th", "T", "q", "late answer")
    await ledger.commit("k", usage=Usage(), latency_ms=1, now=NOW, exchange=exchange)
    assert await SqlConversationStore(engine).history("th") == []
    assert await used(ledger) == 0


async def test_migrating_twice_is_a_no_op(engine: AsyncEngine) -> None:

    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


async def test_processes_racing_admit_exactly_the_limit(db_url: str, engine: AsyncEngine) -> None:
    """8 OS processes, 40 reservations each, against a remaining 100."""
    results = await race(db_url, procs=8, per_proc=40, o1=100, start_in_s=1.5)
    admitted = sum(r.reserved for r in results)
    assert admitted == 100
    from storage import SqlLedger as _L
    from storage import make_engine

    eng = make_engine(db_url)
    try:
        usage = await _L(eng).usage("race", WEEK, limits={"o1": 100}, with_users=True)
    finally:
        await eng.dispose()
    assert usage.models[0].used == 100
    assert sum(u.used for u in usage.users) == 100


async def test_migrations_match_the_table_definitions(engine: AsyncEngine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage.tables import Base

    async with engine.connect() as conn:
        # slack_sdk owns the OAuth tables' definitions (migration 0002 creates them).
        def ours(name: str | None, kind: str, parents: dict[str, str | None]) -> bool:
            table = name if kind == "table" else parents.get("table_name")
            return not (table or "").startswith("slack_")

        diff = await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"include_name": ours}), Base.metadata
            )
        )
    assert diff == []


async def test_the_teams_own_limits_apply_inside_the_reservation(ledger: SqlLedger) -> None:
    await ledger.set_limit("T", "o1", 1, actor="boss", now=NOW)
    first = await reserve(ledger, "k1", limit=30)
    assert first.status is ReservationStatus.RESERVED
    assert first.limits is not None and first.limits.remaining == 0
    denied = await reserve(ledger, "k2", limit=30)
    assert denied.status is ReservationStatus.DENIED and denied.limits.team_limit == 1
    await ledger.set_user_cap("T", "bob", "*", 0, actor="boss", now=NOW)
    capped = await reserve(ledger, "b1", user="bob", model="mini", limit=5)
    assert capped.denied_scope == "user" and capped.limits.user_limit == 0


async def test_a_zero_limit_admits_only_granted_messages(ledger: SqlLedger) -> None:
    assert (await reserve(ledger, "k0", limit=0)).status is ReservationStatus.DENIED
    await ledger.grant("T", "o1", WEEK, 1, actor="boss", now=NOW)
    assert (await reserve(ledger, "k1", limit=0)).status is ReservationStatus.RESERVED
    assert (await reserve(ledger, "k2", limit=0)).status is ReservationStatus.DENIED


async def test_known_teams_are_every_team_that_used_or_was_given_a_quota(
    engine: AsyncEngine, ledger: SqlLedger
) -> None:
    assert await known_teams(engine) == []
    await reserve(ledger, "k", team="slack:T2")
    await ledger.grant("discord:9", "o1", WEEK, 2, actor="boss", now=NOW)
    await ledger.set_user_cap("terminal:local", "ann", "*", 1, actor="boss", now=NOW)
    await ledger.set_limit("slack:T1", "o1", 4, actor="boss", now=NOW)
    assert await known_teams(engine) == ["discord:9", "slack:T1", "slack:T2", "terminal:local"]


async def test_one_models_usage_in_one_read_matches_the_report(ledger: SqlLedger) -> None:
    """The footer's read (`model_usage`) says what `/quota` says of the same model."""

    async def both(model: str) -> tuple[object, object]:
        report = await ledger.usage("T", WEEK, limits=DEFAULTS, with_users=False)
        row = next(m for m in report.models if m.model == model)
        one = await ledger.model_usage("T", model, WEEK, default_limit=DEFAULTS[model])
        return row, one

    row, one = await both("o1")
    assert one == row and one.used == 0 and one.in_flight == 0
    await reserve(ledger, "k1")
    await reserve(ledger, "k2")
    await ledger.commit("k1", usage=Usage(), latency_ms=1, now=NOW)
    await ledger.set_limit("T", "o1", 7, actor="boss", now=NOW)
    await ledger.grant("T", "o1", WEEK, 2, actor="boss", now=NOW)
    row, one = await both("o1")
    assert one == row
    assert (one.limit, one.granted, one.used, one.in_flight) == (7, 2, 2, 1)
    row, one = await both("mini")
    assert one == row and one.used == 0
