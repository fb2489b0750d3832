"""Columns the migrations share: the identities quota tables are keyed by, each one width
in every table (as `storage.tables` declares them).

Migrations are history: what a migration creates must never change, so an entry here is
never edited once a migration uses it (a new width is a new name).
"""

from __future__ import annotations

import sqlalchemy as sa

WIDTHS = {"team": 200, "user": 200, "model": 64, "window": 32}


def key(*names: str) -> list[sa.Column]:
    """The primary-key columns ``names``, in that order (``window`` is the week)."""
    return [sa.Column(name, sa.String(WIDTHS[name]), primary_key=True) for name in names]
