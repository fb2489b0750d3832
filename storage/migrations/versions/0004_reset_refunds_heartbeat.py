"""Refunds after a reset: each reservation records whether it still counts in its
week's counters (a reset clears it). And a one-row table the health check writes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    # batch mode: SQLite cannot alter a table in place beyond adding a plain column.
    with op.batch_alter_table("requests") as batch:
        batch.add_column(
            sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "heartbeat",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("heartbeat")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("counted")
