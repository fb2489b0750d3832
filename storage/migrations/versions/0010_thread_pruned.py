"""Threads whose conversation retention pruned keep a tombstone (``pruned_at``), so a
reply there is told its earlier context expired.

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.add_column(sa.Column("pruned_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("threads") as batch:
        batch.drop_column("pruned_at")
