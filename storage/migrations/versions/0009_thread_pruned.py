"""Threads whose conversation retention pruned keep a tombstone (``pruned_at``), so a
reply there is told its earlier context expired; weekly per-person usage rolled up from
the requests retention prunes (``usage_weeks``), so reports reach back a year."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.add_column(sa.Column("pruned_at", sa.DateTime(), nullable=True))
    op.create_table(
        "usage_weeks",
        *key("team", "window", "model", "user"),
        sa.Column("questions", sa.BigInteger(), nullable=False),
        sa.Column("denied", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("usage_weeks")
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("pruned_at")
