"""Team budgets: the weekly limit in USD, spend and holds per week, each request's hold."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("hold_micros", sa.BigInteger(), nullable=True))
    op.create_table(
        "team_budgets",
        *key("team"),
        sa.Column("weekly_micros", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "budget_counters",
        *key("team", "window"),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.Column("held_micros", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_budget_counters_window", "budget_counters", ["window"])


def downgrade() -> None:
    op.drop_index("ix_budget_counters_window", table_name="budget_counters")
    op.drop_table("budget_counters")
    op.drop_table("team_budgets")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("hold_micros")
