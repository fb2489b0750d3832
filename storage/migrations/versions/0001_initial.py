"""Initial schema: quota counters, overrides, caps, requests, audit, turns, threads, jobs."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0001"
down_revision = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quota_counters",
        *key("team", "model", "window"),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
    )
    op.create_table(
        "user_counters",
        *key("team", "model", "window", "user"),
        sa.Column("used", sa.Integer(), nullable=False),
    )
    op.create_table(
        "limit_overrides",
        *key("team", "model"),
        sa.Column("weekly_limit", sa.Integer(), nullable=False),
    )
    op.create_table(
        "user_caps",
        *key("team", "user", "model"),
        sa.Column("cap", sa.Integer(), nullable=False),
    )
    op.create_table(
        "requests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("window", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("denied_scope", sa.String(8)),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("error", sa.String(200)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_index("ix_requests_team_window", "requests", ["team", "window"])
    op.create_table(
        "quota_audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("model", sa.String(64)),
        sa.Column("value", sa.Integer()),
        sa.Column("target", sa.String(200)),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_quota_audit_team", "quota_audit", ["team"])
    op.create_table(
        "turns",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("thread", sa.String(255), nullable=False),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_turns_thread", "turns", ["thread"])
    op.create_table(
        "threads",
        sa.Column("thread", sa.String(255), primary_key=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("worker", sa.String(64)),
        sa.Column("lease_until", sa.DateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text()),
        sa.Column("footer", sa.Text()),
        sa.Column("outcome", sa.String(16)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_index("ix_jobs_status_lease", "jobs", ["status", "lease_until"])


def downgrade() -> None:
    for index, table in (
        ("ix_jobs_status_lease", "jobs"),
        ("ix_turns_thread", "turns"),
        ("ix_quota_audit_team", "quota_audit"),
        ("ix_requests_team_window", "requests"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "jobs",
        "threads",
        "turns",
        "quota_audit",
        "requests",
        "user_caps",
        "limit_overrides",
        "user_counters",
        "quota_counters",
    ):
        op.drop_table(table)
