"""Each answer's reasoning record (OpenAI's encrypted reasoning items), so a follow-up
on any worker continues the model's line of thought."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    # Nullable and without a default: adding it rewrites no rows on either backend.
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("reasoning_state", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("reasoning_state")
