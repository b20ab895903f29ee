"""Secrets every process of one store must share, kept in the store itself.

A secret Reclaim generates for itself (the audit head's signing key when none is
configured) would differ between nodes if each made its own in its data directory, and
a second node's heads would then fail to verify. So the first process to need one
writes it here, and every process reads that one.
"""

from __future__ import annotations

from collections.abc import Callable

from infrastructure.store.database import Database

CREATE_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS reclaim_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
]


def create_tables(database: Database) -> None:
    database.create_tables(CREATE_STATEMENTS)


def shared_secret(database: Database, name: str, make: Callable[[], str]) -> str:
    """The store's secret ``name``: the one already kept, or ``make()``'s, kept now (when
    two processes race, the first insert wins and both read it)."""
    row = database.fetchone("SELECT value FROM reclaim_secrets WHERE name = %s", (name,))
    if row is not None:
        return str(row["value"])
    database.execute(
        "INSERT INTO reclaim_secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
        (name, make()),
    )
    row = database.fetchone("SELECT value FROM reclaim_secrets WHERE name = %s", (name,))
    assert row is not None
    return str(row["value"])
