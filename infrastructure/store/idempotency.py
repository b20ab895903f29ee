"""Idempotency records: a POST retried with the same key gets its first answer again.

A record is written in the same transaction as the command's events (see
``recorders.py``), so a command is either recorded with its answer or not at all,
and two racing requests with one key cannot both record: the second one's
transaction fails on the primary key and it answers with the first one's record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infrastructure.store.database import Database

TABLE = "reclaim_idempotency"

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        body TEXT NOT NULL,
        headers TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (scope, key)
    )""",
]

IDEMPOTENCY_INSERT = (
    f"INSERT INTO {TABLE} (scope, key, request_hash, status, body, headers, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: str
    key: str
    request_hash: str
    status: int
    body: str
    headers: dict[str, str]

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.scope,
            self.key,
            self.request_hash,
            self.status,
            self.body,
            json.dumps(self.headers),
            datetime.now(UTC).isoformat(),
        )


class IdempotencyStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def find(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self.database.fetchone(
            f"SELECT * FROM {TABLE} WHERE scope = %s AND key = %s", (scope, key)
        )
        if row is None:
            return None
        return IdempotencyRecord(
            scope=row["scope"],
            key=row["key"],
            request_hash=row["request_hash"],
            status=int(row["status"]),
            body=row["body"],
            headers=json.loads(row["headers"]),
        )
