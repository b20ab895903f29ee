"""Secret keys every node sharing a database must agree on, kept in that database.

Several API nodes, each with its own data directory, commonly serve one PostgreSQL
database; what one node signs, another must accept. So such a key is not a file in a
node's data directory: it is a row of ``reclaim_shared_keys``, made once, at random, by
whichever node creates the tables first (an insert that does nothing on conflict, so
nodes starting together agree on the first one written), and read by every node once.

The paging cursors' HMAC key lives here (``infrastructure/read/cursors.py``): whoever
can read this table can forge a cursor, which buys nothing beyond what that reader can
already see. So does the audit head's signing key when none is configured
(``projections/audit.py``): one node's heads must verify on every other.
"""

from __future__ import annotations

import secrets
import weakref
from collections.abc import Callable

from infrastructure.store.database import Database

TABLE = "reclaim_shared_keys"
#: the paging cursors' HMAC key
CURSOR_KEY = "page-cursor-hmac"
#: the HMAC key in sent mail's Message-IDs and subject tags (``infrastructure/mail/refs.py``)
MAIL_REF_KEY = "mail-ref-hmac"
NAMES = (CURSOR_KEY, MAIL_REF_KEY)

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        name TEXT PRIMARY KEY,
        secret TEXT NOT NULL
    )""",
]
_INSERT = f"INSERT INTO {TABLE} (name, secret) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"

#: each database's keys, read once per process (a key never changes once written)
_read: weakref.WeakKeyDictionary[Database, dict[str, bytes]] = weakref.WeakKeyDictionary()


def create_tables(database: Database) -> None:
    """The table, and a random key for each name that has none yet."""
    with database.transaction() as cursor:
        for statement in CREATE_STATEMENTS:
            cursor.execute(statement)
        for name in NAMES:
            cursor.execute(_INSERT, (name, secrets.token_hex(32)))


def shared_key(database: Database, name: str) -> bytes:
    """The key called ``name``: made now if the tables were created before it was known
    (by an older version), the same on every node either way."""
    known = _read.setdefault(database, {})
    if name not in known:
        row = database.fetchone(f"SELECT secret FROM {TABLE} WHERE name = %s", (name,))
        if row is None:
            database.execute(_INSERT, (name, secrets.token_hex(32)))
            row = database.fetchone(f"SELECT secret FROM {TABLE} WHERE name = %s", (name,))
        assert row is not None
        known[name] = bytes.fromhex(row["secret"])
    return known[name]


def shared_text(database: Database, name: str, make: Callable[[], str]) -> str:
    """The secret called ``name`` as it is kept: the one already kept, or ``make()``'s,
    kept now (when two processes race, the first insert wins and both read it)."""
    row = database.fetchone(f"SELECT secret FROM {TABLE} WHERE name = %s", (name,))
    if row is None:
        database.execute(_INSERT, (name, make()))
        row = database.fetchone(f"SELECT secret FROM {TABLE} WHERE name = %s", (name,))
    assert row is not None
    return str(row["secret"])
