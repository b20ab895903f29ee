"""The audit log: every event in log order, chained by hashes, under a signed head.

Chain: ``hash = SHA-256(previous hash ‖ canonical event bytes)``, with 32 zero bytes
before the first event, hashes written as lower-case hex (the bytes of the previous
hash go in, not its hex).

Canonical event bytes, deterministic and the same on every store::

    UTF-8("<originator id>\\n<originator version>\\n<topic>\\n") ‖ <stored state bytes>

The originator id is the UUID in its hyphenated lower-case form and the version in
decimal; the state is the event's stored record exactly as the store holds it (the
library's JSON). The log position is left out on purpose: a log moved to another
store by export and import gets new positions and keeps its chain.

Signed head: after every batch the projection stores the last position, its hash
and the number of events chained, with an HMAC-SHA256 over them, keyed by
``RECLAIM_AUDIT_SIGNING_KEY`` (or a key generated into the data directory). A log
cut short no longer reaches the head, and a head rewritten to match it would need
the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from eventsourcing.persistence import StoredEvent

from infrastructure.projections.base import Column, ReclaimProjection, Table
from infrastructure.projections.events import Batch, Recorded, as_text
from infrastructure.settings import Settings
from infrastructure.store.database import Cursor, Database, Read

GENESIS = "0" * 64
KEY_FILE = "audit-signing.key"
#: event attributes that are columns of their own rather than payload
_NOT_PAYLOAD = {"originator_id", "originator_version", "timestamp"}


def canonical_bytes(stored: StoredEvent) -> bytes:
    head = f"{_uuid_text(stored.originator_id)}\n{stored.originator_version}\n{stored.topic}\n"
    return head.encode() + bytes(stored.state)


def _uuid_text(originator_id: Any) -> str:
    from uuid import UUID

    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))


def chain_hash(previous: str, stored: StoredEvent) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical_bytes(stored)).hexdigest()


def sign_head(key: bytes, position: int, hash_: str, events: int) -> str:
    message = f"reclaim-audit-head-v1\n{position}\n{hash_}\n{events}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def head_signature_ok(key: bytes, head: dict[str, Any]) -> bool:
    expected = sign_head(key, head["position"], head["hash"], head["events"])
    return hmac.compare_digest(expected, head["signature"])


def signing_key(settings: Settings, database: Database | None = None) -> bytes:
    """The configured key; or the store's own (``store/shared_keys.py``), the same on every
    node: a key file that an earlier version generated into the data directory becomes
    the store's when the store has none yet. Without a database (a check of a data
    directory alone), that file, generated on first use."""
    if settings.audit_signing_key:
        return settings.audit_signing_key.encode()
    path = settings.data_dir / KEY_FILE
    if database is not None:
        from infrastructure.store.shared_keys import shared_text

        def kept_or_new() -> str:
            return path.read_text().strip() if path.is_file() else secrets.token_hex(32)

        return shared_text(database, "audit-signing-key", kept_or_new).encode()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def payload(event: Any) -> str:
    fields = {k: v for k, v in vars(event).items() if k not in _NOT_PAYLOAD}
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=as_text
    )


HEAD_TABLE = Table(
    "reclaim_audit_head",
    (
        Column("id", "INTEGER", null=False),
        Column("position", "BIGINT", null=False),
        Column("hash", "TEXT", null=False),
        Column("events", "BIGINT", null=False),
        Column("signature", "TEXT", null=False),
    ),
    primary_key="id",
    order_by="id",
)


class AuditLog(ReclaimProjection):
    name = "audit"
    table = Table(
        "reclaim_audit_log",
        (
            Column("position", "BIGINT", null=False),
            Column("case_id", "TEXT", null=False),
            Column("version", "INTEGER", null=False),
            Column("topic", "TEXT", null=False),
            Column("event_type", "TEXT", null=False),
            Column("workspace", "TEXT", null=False),
            Column("owner", "TEXT", null=False),
            Column("actor", "TEXT", null=False),
            Column("request_id", "TEXT", null=False),
            Column("recorded_at", "TEXT", null=False),
            Column("occurred_at", "TEXT"),
            Column("payload", "TEXT", null=False),
            Column("prev_hash", "TEXT", null=False),
            Column("hash", "TEXT", null=False),
        ),
        primary_key="position",
        order_by="position",
        unique=("case_id, version",),
        indexes=("workspace, position", "workspace, actor, position"),
    )
    head_table = HEAD_TABLE

    tables = (table, head_table)

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        """The next links of the chain. Inline this runs while the store's write lock is
        held (the events' INSERT took it), so the head read here is the last link and
        the chain follows the log's order exactly."""
        payloads: list[str] = self.prepared(batch)
        head = read_head(cursor, self.head_table)
        previous = head["hash"] if head else GENESIS
        count = head["events"] if head else 0
        rows = []
        for recorded, text in zip(batch.events, payloads, strict=True):
            row = self.row(recorded, batch.cases[recorded.case_id], previous, text)
            rows.append(row)
            previous = row["hash"]
        self.table.write(cursor, rows)
        self.write_head(cursor, batch.last_position, previous, count + len(batch))

    def rewrite(self, cursor: Cursor, batch: Batch) -> None:
        """Only the payloads: the chain hashes the stored events, which an erasure leaves
        as they were."""
        cursor.executemany(
            f"UPDATE {self.table.name} SET payload = %s WHERE position = %s",
            [(payload(r.event), r.position) for r in batch.events],
        )

    def prepare(self, batch: Batch) -> list[str]:
        """Each event's payload text (the chain's links need the head, read under the lock)."""
        return [payload(recorded.event) for recorded in batch.events]

    def reads(self, batch: Batch) -> list[Read]:
        return [head_read(self.head_table)]

    def row(
        self, recorded: Recorded, case: Any, previous: str, payload_text: str
    ) -> dict[str, Any]:
        stored = recorded.stored
        assert stored is not None, "the audit chain hashes the stored record"
        return {
            "position": recorded.position,
            "case_id": recorded.case_id,
            "version": recorded.version,
            "topic": stored.topic,
            "event_type": recorded.event_type,
            "workspace": case.workspace,
            "owner": case.owner,
            "actor": recorded.actor,
            "request_id": recorded.request_id,
            "recorded_at": recorded.recorded_at,
            "occurred_at": recorded.stated_occurred_at,
            "payload": payload_text,
            "prev_hash": previous,
            "hash": chain_hash(previous, stored),
        }

    def write_head(self, cursor: Cursor, position: int, hash_: str, events: int) -> None:
        signature = sign_head(self.context.signing_key, position, hash_, events)
        row = {"id": 1, "position": position, "hash": hash_, "events": events}
        row["signature"] = signature
        self.head_table.write(cursor, [row], upsert=True)


def head_read(table: Table = HEAD_TABLE) -> Read:
    return (f"SELECT * FROM {table.name} WHERE id = 1", ())


def read_head(cursor: Cursor, table: Table = HEAD_TABLE) -> dict[str, Any] | None:
    return cursor.fetchone(*head_read(table))
