"""A job queue whose cost follows the work in hand, not the history: per-team queue
state, partial indexes over live jobs only, a lease table for once-across-workers chores,
indexes retention needs, and autovacuum settings for the churning ``jobs`` table (PostgreSQL).

Jobs being answered get their own status (``running``), so "pending" means waiting."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0005"
down_revision = "0004"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WAITING = sa.text("status = 'pending'")
RUNNING = sa.text("status = 'running'")
DONE = sa.text("status = 'done'")

# jobs is small and hot: every question inserts a row and rewrites it a few times, and
# finished rows are deleted in batches. The defaults (vacuum at 20% dead rows) would let
# it bloat to many times its live size between vacuums on a big table; vacuum and analyze
# it after a fixed number of changes instead, and leave room on each page so lease
# renewals and route saves stay on their page (HOT updates).
JOBS_STORAGE = (
    "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 5000, "
    "autovacuum_vacuum_insert_scale_factor = 0.0, autovacuum_vacuum_insert_threshold = 10000, "
    "autovacuum_analyze_scale_factor = 0.0, autovacuum_analyze_threshold = 5000, "
    "fillfactor = 80"
)
QUEUE_TEAMS_STORAGE = "autovacuum_vacuum_scale_factor = 0.0, autovacuum_vacuum_threshold = 2000"


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "queue_teams",
        *key("team"),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("served_at", sa.DateTime(), nullable=False),
        sa.Column("since_id", ID, nullable=False),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
    )
    # Leased jobs become "running"; the queue state is rebuilt from the jobs and the
    # fair-share history of team_turns, which it replaces.
    op.execute("UPDATE jobs SET status = 'running' WHERE status = 'pending' AND worker IS NOT NULL")
    op.execute(
        "INSERT INTO queue_teams (team, in_flight, waiting, served_at, since_id) "
        "SELECT j.team, "
        "SUM(CASE WHEN j.status = 'running' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN j.status = 'pending' THEN 1 ELSE 0 END), "
        "COALESCE((SELECT t.served_at FROM team_turns t WHERE t.team = j.team), '1970-01-01'), "
        "MIN(j.id) "
        "FROM jobs j WHERE j.status IN ('pending', 'running') GROUP BY j.team"
    )
    op.execute(
        "INSERT INTO queue_teams (team, in_flight, waiting, served_at, since_id) "
        "SELECT t.team, 0, 0, t.served_at, 0 FROM team_turns t "
        "WHERE NOT EXISTS (SELECT 1 FROM queue_teams q WHERE q.team = t.team)"
    )
    op.drop_table("team_turns")
    op.drop_index("ix_jobs_status_lease", table_name="jobs")
    op.create_index(
        "ix_jobs_waiting", "jobs", ["team", "id"], postgresql_where=WAITING, sqlite_where=WAITING
    )
    op.create_index(
        "ix_jobs_running", "jobs", ["id"], postgresql_where=RUNNING, sqlite_where=RUNNING
    )
    op.create_index(
        "ix_jobs_finished", "jobs", ["finished_at"], postgresql_where=DONE, sqlite_where=DONE
    )
    has_work = sa.text("waiting > 0")
    op.create_index(
        "ix_queue_teams_next",
        "queue_teams",
        ["in_flight", "served_at", "since_id"],
        postgresql_where=has_work,
        sqlite_where=has_work,
    )
    # Retention finds old weeks by window (the primary keys lead with the team).
    op.create_index("ix_quota_counters_window", "quota_counters", ["window"])
    op.create_index("ix_user_counters_window", "user_counters", ["window"])
    if pg:
        op.execute(f"ALTER TABLE jobs SET ({JOBS_STORAGE})")
        op.execute(f"ALTER TABLE queue_teams SET ({QUEUE_TEAMS_STORAGE})")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute(
            "ALTER TABLE jobs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,"
            " autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold,"
            " autovacuum_analyze_scale_factor, autovacuum_analyze_threshold, fillfactor)"
        )
    op.create_table(
        "team_turns",
        *key("team"),
        sa.Column("served_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO team_turns (team, served_at) "
        "SELECT team, served_at FROM queue_teams WHERE served_at > '1970-01-01'"
    )
    op.drop_index("ix_user_counters_window", table_name="user_counters")
    op.drop_index("ix_quota_counters_window", table_name="quota_counters")
    op.drop_index("ix_queue_teams_next", table_name="queue_teams")
    op.drop_index("ix_jobs_finished", table_name="jobs")
    op.drop_index("ix_jobs_running", table_name="jobs")
    op.drop_index("ix_jobs_waiting", table_name="jobs")
    op.create_index("ix_jobs_status_lease", "jobs", ["status", "lease_until"])
    op.execute("UPDATE jobs SET status = 'pending' WHERE status = 'running'")
    op.drop_table("leases")
    op.drop_table("queue_teams")
