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
from storage.retention import RetentionPolicy, SqlRetention

__all__ = [
    "RetentionPolicy",
    "SqlConversationStore",
    "SqlJobQueue",
    "SqlLedger",
    "SqlRetention",
    "current_revision",
    "head_revision",
    "make_engine",
    "normalise_url",
    "upgrade",
]
