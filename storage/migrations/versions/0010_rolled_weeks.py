"""Weeks rolled up into ``usage_weeks`` as they end (``rolled_weeks``): reports of
finished weeks read the weekly sums, and retention never adds a rolled week twice."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "rolled_weeks",
        *key("team", "window"),
        sa.Column("rolled_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rolled_weeks")
