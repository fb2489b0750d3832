"""Alembic environment: always run programmatically by `storage.engine.upgrade`, on the
connection it passes in (no alembic.ini, no URL in a file)."""

from __future__ import annotations

from alembic import context

from storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `reasonbot db upgrade`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
