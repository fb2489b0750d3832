"""Admin reports: each answer's cost, notify channels, alerts and digests sent once."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("cached_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
    op.create_table(
        "notify_channels",
        *key("team"),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "sent_alerts",
        *key("team", "model", "window"),
        sa.Column("threshold", sa.Integer(), primary_key=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "sent_digests",
        *key("team", "window"),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sent_digests")
    op.drop_table("sent_alerts")
    op.drop_table("notify_channels")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("cost_usd")
        batch.drop_column("cached_tokens")
