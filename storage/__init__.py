"""The only package that speaks SQL: tables, migrations, and the stores the core's
ports need (quota ledger, conversations, durable job queue)."""

from storage.conversations import SqlConversationStore
from storage.engine import (
    current_revision,
    head_revision,
    make_engine,
    normalise_url,
    upgrade,
)
from storage.jobs import SqlJobQueue
from storage.ledger import SqlLedger

__all__ = [
    "SqlConversationStore",
    "SqlJobQueue",
    "SqlLedger",
    "current_revision",
    "head_revision",
    "make_engine",
    "normalise_url",
    "upgrade",
]
