"""Fair share across teams: when each team's question was last taken by a worker."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migrations._columns import key

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "team_turns",
        *key("team"),
        sa.Column("served_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("team_turns")
