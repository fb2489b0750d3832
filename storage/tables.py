"""The schema, as typed SQLAlchemy tables. Changes go through Alembic migrations
(`storage/migrations/versions`); the test suite checks the two agree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")

# The identities quota tables are keyed by, each one width in every table (``window`` is
# the week's key).
TeamKey = Annotated[str, mapped_column(String(200), primary_key=True)]
UserKey = Annotated[str, mapped_column(String(200), primary_key=True)]
ModelKey = Annotated[str, mapped_column(String(64), primary_key=True)]
WeekKey = Annotated[str, mapped_column(String(32), primary_key=True)]


class Base(DeclarativeBase):
    pass


class QuotaCounter(Base):
    """Messages a team used of one model in one week, and extra granted that week."""

    __tablename__ = "quota_counters"
    team: Mapped[TeamKey]
    model: Mapped[ModelKey]
    window: Mapped[WeekKey]
    used: Mapped[int] = mapped_column(Integer, default=0)
    granted: Mapped[int] = mapped_column(Integer, default=0)

    # For retention (`storage.retention`): old weeks are found without a full scan.
    __table_args__ = (Index("ix_quota_counters_window", "window"),)


class UserCounter(Base):
    """Messages one person used of one model in one week (for per-user caps)."""

    __tablename__ = "user_counters"
    team: Mapped[TeamKey]
    model: Mapped[ModelKey]
    window: Mapped[WeekKey]
    user: Mapped[UserKey]
    used: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_user_counters_window", "window"),)


class LimitOverride(Base):
    __tablename__ = "limit_overrides"
    team: Mapped[TeamKey]
    model: Mapped[ModelKey]
    weekly_limit: Mapped[int] = mapped_column(Integer)


class UserCap(Base):
    """A per-person weekly cap; model '*' applies to every model without its own."""

    __tablename__ = "user_caps"
    team: Mapped[TeamKey]
    user: Mapped[UserKey]
    model: Mapped[ModelKey]
    cap: Mapped[int] = mapped_column(Integer)


class RequestRow(Base):
    """One question: its reservation, outcome and usage. ``key`` is the platform's
    idempotency key (event or interaction id). ``counted``: the reservation still counts
    in its week's counters; a reset zeroes them and clears it, so a refund after the
    reset gives back nothing the reset did not already give (`SqlLedger.refund`)."""

    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    team: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    user: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    denied_scope: Mapped[str | None] = mapped_column(String(8))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)  # None: the model has no prices
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # What the team's budget holds for this question until it is committed or refunded
    # (micro-USD); None when the team had no budget at reservation.
    hold_micros: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_requests_team_window", "team", "window"),)


class AuditRow(Base):
    __tablename__ = "quota_audit"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    team: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    model: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[int | None] = mapped_column(Integer)
    target: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_quota_audit_team", "team"),)


class TurnRow(Base):
    """One message of a thread's conversation, in order (``id``)."""

    __tablename__ = "turns"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    thread: Mapped[str] = mapped_column(String(255))
    team: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # The model client's opaque reasoning record (OpenAI's encrypted reasoning items),
    # passed back on the thread's next question; NULL for most answers.
    reasoning_state: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_turns_thread", "thread"),)


class ThreadRow(Base):
    """A thread the bot has taken part in: replies there continue the conversation.
    ``pruned_at``: when retention removed its last turns (the row stays a while, so a
    reply there is told the earlier context expired)."""

    __tablename__ = "threads"
    thread: Mapped[str] = mapped_column(String(255), primary_key=True)
    team: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    pruned_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class JobRow(Base):
    """An accepted question waiting for, or held by, a worker (see `bot.dispatch`)."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    team: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(32))
    request: Mapped[str] = mapped_column(Text)
    route: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    # Partial indexes hold only the few live rows, so their cost follows the work in
    # hand, not the history. ``lease_until`` is in none of them: renewing a lease is then
    # a HOT update (no index entry written), the most frequent write a job gets.
    __table_args__ = (
        Index(
            "ix_jobs_waiting",
            "team",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_jobs_running",
            "id",
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        Index(
            "ix_jobs_finished",
            "finished_at",
            postgresql_where=text("status = 'done'"),
            sqlite_where=text("status = 'done'"),
        ),
    )


class QueueTeam(Base):
    """A team's place in the queue (see `storage.jobs`), kept exact with its jobs in the
    same transactions: questions being answered (``in_flight``), waiting for a worker
    (``waiting``), and when a worker last took one (``served_at``; 1970 for never), so a
    claim reads the first few teams with work instead of ranking every waiting job.
    ``since_id`` is its oldest waiting job: first come, first served among teams
    otherwise equal."""

    __tablename__ = "queue_teams"
    team: Mapped[TeamKey]
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    waiting: Mapped[int] = mapped_column(Integer, default=0)
    served_at: Mapped[datetime] = mapped_column(DateTime)
    since_id: Mapped[int] = mapped_column(Id, default=0)

    __table_args__ = (
        Index(
            "ix_queue_teams_next",
            "in_flight",
            "served_at",
            "since_id",
            postgresql_where=text("waiting > 0"),
            sqlite_where=text("waiting > 0"),
        ),
    )


class Lease(Base):
    """A named, time-limited lock for work that one process at a time should do (the
    retention pass): taken by a conditional update, so it never holds a database lock."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(DateTime)


class Heartbeat(Base):
    """One row, rewritten by every health check: proof the database takes writes."""

    __tablename__ = "heartbeat"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)


class NotifyChannel(Base):
    """Where a team's alerts and weekly digest go (``/quota notify``): a channel
    reference opaque to us, posted to through the platform's adapter."""

    __tablename__ = "notify_channels"
    team: Mapped[TeamKey]
    platform: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(200))
    set_by: Mapped[str] = mapped_column(String(200))
    set_at: Mapped[datetime] = mapped_column(DateTime)


class SentAlert(Base):
    """An alert sent: the key makes it once per threshold, model and week, whichever
    worker noticed first."""

    __tablename__ = "sent_alerts"
    team: Mapped[TeamKey]
    model: Mapped[ModelKey]
    window: Mapped[WeekKey]
    threshold: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class SentDigest(Base):
    """A weekly digest sent (once per team and week, across workers)."""

    __tablename__ = "sent_digests"
    team: Mapped[TeamKey]
    window: Mapped[WeekKey]
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class TeamBudget(Base):
    """A team's weekly spending limit (``/quota budget``), in micro-USD: whole numbers,
    so holds added and taken back always return to the same total."""

    __tablename__ = "team_budgets"
    team: Mapped[TeamKey]
    weekly_micros: Mapped[int] = mapped_column(BigInteger)


class BudgetCounter(Base):
    """A team's spend in one week (``spent``: answers committed) and what questions
    still being answered hold (``held``), both micro-USD. A reservation takes its hold
    only while ``spent + held + hold`` stays within the budget."""

    __tablename__ = "budget_counters"
    team: Mapped[TeamKey]
    window: Mapped[WeekKey]
    spent_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    held_micros: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_budget_counters_window", "window"),)


class UsageWeek(Base):
    """One person's use of one model in one week, rolled up from ``requests`` once the
    week is over (`storage.rollup`; ``rolled_weeks`` marks it): reports read these sums
    for finished weeks and reach back past the raw rows retention prunes. (Weeks that
    retention began to prune before the roll-up existed have sums for the deleted rows,
    to which their roll-up adds the rest.)"""

    __tablename__ = "usage_weeks"
    team: Mapped[TeamKey]
    window: Mapped[WeekKey]
    model: Mapped[ModelKey]
    user: Mapped[UserKey]
    questions: Mapped[int] = mapped_column(BigInteger, default=0)
    denied: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float | None] = mapped_column(Float)  # None: no price was known


class RolledWeek(Base):
    """A team's week whose requests are all summed in ``usage_weeks`` (`storage.rollup`):
    reports read the sums, not the raw rows, and retention deletes those rows without
    adding them again. The key makes each week rolled up once, whichever worker is
    first."""

    __tablename__ = "rolled_weeks"
    team: Mapped[TeamKey]
    window: Mapped[WeekKey]
    rolled_at: Mapped[datetime] = mapped_column(DateTime)
