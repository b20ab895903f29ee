"""The audit log: every event in log order, chained by hashes and in a Merkle tree,
under a head signed with Ed25519 that anyone with the public key can check.

Chain: ``hash = SHA-256(previous hash ‖ canonical event bytes)``, with 32 zero bytes
before the first event, hashes written as lower-case hex (the bytes of the previous
hash go in, not its hex). Kept beside the tree because it is what ``reclaim verify``,
export and import have always checked, at one hash per event.

Canonical event bytes, deterministic and the same on every store::

    UTF-8("<originator id>\\n<originator version>\\n<topic>\\n") ‖ <stored state bytes>

The originator id is the UUID in its hyphenated lower-case form and the version in
decimal; the state is the event's stored record exactly as the store holds it (the
library's JSON, personal fields sealed). The log position is left out on purpose: a
log moved to another store by export and import gets new positions and keeps its chain.

Tree: RFC 9162's, over the same bytes as leaves in log order (``merkle.py``): each
audit entry records its leaf index, ``reclaim_audit_nodes`` keeps every complete
subtree's hash, and the head keeps the frontier, so a batch appends in O(log n) and a
proof reads O(log n) hashes.

Signed head, made after every batch in its transaction: the tree's size and root, the
time of the batch's last event, the chain's last hash and position, and the key's id,
signed with Ed25519 (``head_message``). The private key is ``RECLAIM_AUDIT_SIGNING_KEY``
(64 hex digits: its seed; any other text is hashed into one), or one generated once and
kept in the store. Heads also leave the store (``witness.py``), so that a log cut short
or rolled back to an older head is caught by ``reclaim verify --witness``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.persistence import StoredEvent

from infrastructure.projections import merkle
from infrastructure.projections.base import Column, ReclaimProjection, Table
from infrastructure.projections.events import Batch, Recorded, as_text
from infrastructure.projections.verify_dossier import canonical_bytes as event_bytes
from infrastructure.projections.verify_dossier import head_message
from infrastructure.settings import Settings
from infrastructure.store.database import Cursor, Database, Read

GENESIS = "0" * 64
KEY_FILE = "audit-signing.key"
#: event attributes that are columns of their own rather than payload
_NOT_PAYLOAD = {"originator_id", "originator_version", "timestamp"}


def canonical_bytes(stored: StoredEvent) -> bytes:
    return event_bytes(
        _uuid_text(stored.originator_id),
        stored.originator_version,
        stored.topic,
        bytes(stored.state),
    )


def _uuid_text(originator_id: Any) -> str:
    from uuid import UUID

    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))


def chain_hash(previous: str, stored: StoredEvent) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + canonical_bytes(stored)).hexdigest()


def sign_head(key: Ed25519PrivateKey, head: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(head_message(head))).decode()


def head_signature_ok(public: Ed25519PublicKey, head: dict[str, Any]) -> bool:
    try:
        public.verify(base64.b64decode(head["signature"]), head_message(head))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _private_key(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        seed = bytes.fromhex(text)
    else:  # (an older HMAC key of any form keeps naming one key)
        seed = hashlib.sha256(b"reclaim-audit-signing-key\n" + text.encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key(settings: Settings, database: Database | None = None) -> Ed25519PrivateKey:
    """The configured key; or the store's own (``store/shared_keys.py``), the same on every
    node: a key file that an earlier version generated into the data directory becomes
    the store's when the store has none yet. Without a database (a check of a data
    directory alone), that file, generated on first use."""
    if settings.audit_signing_key:
        return _private_key(settings.audit_signing_key)
    path = settings.data_dir / KEY_FILE
    if database is not None:
        from infrastructure.store.shared_keys import shared_text

        def kept_or_new() -> str:
            return path.read_text().strip() if path.is_file() else secrets.token_hex(32)

        return _private_key(shared_text(database, "audit-signing-key", kept_or_new))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _private_key(path.read_text())
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return _private_key(path.read_text())


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
        Column("root", "TEXT", null=False),
        #: the roots of the tree's perfect subtrees, largest first, as a JSON list of hex
        Column("frontier", "TEXT", null=False),
        Column("signed_at", "TEXT", null=False),
        Column("key_id", "TEXT", null=False),
        Column("signature", "TEXT", null=False),
    ),
    primary_key="id",
    order_by="id",
)
#: every complete subtree's hash: id = index << 6 | level (leaves are level 0)
NODE_TABLE = Table(
    "reclaim_audit_nodes",
    (Column("id", "BIGINT", null=False), Column("hash", "TEXT", null=False)),
    primary_key="id",
    order_by="id",
)


def node_id(level: int, index: int) -> int:
    return index << 6 | level


class AuditLog(ReclaimProjection):
    name = "audit"
    #: 2: the Merkle tree (leaf indexes, nodes, the head's root and frontier) and Ed25519
    version = 2
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
            Column("leaf", "BIGINT", null=False),
        ),
        primary_key="position",
        order_by="position",
        unique=("case_id, version", "leaf"),
        indexes=("workspace, position", "workspace, actor, position"),
    )
    head_table = HEAD_TABLE
    node_table = NODE_TABLE

    tables = (table, head_table, node_table)

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        """The next links of the chain and leaves of the tree, and the new signed head.
        Inline this runs while the store's write lock is held (the events' INSERT took
        it), so the head read here is the last one and both follow the log's order."""
        payloads: list[str] = self.prepared(batch)
        head = read_head(cursor, self.head_table)
        previous = head["hash"] if head else GENESIS
        count = head["events"] if head else 0
        frontier = [bytes.fromhex(h) for h in json.loads(head["frontier"])] if head else []
        rows, nodes = [], []
        for recorded, text in zip(batch.events, payloads, strict=True):
            row = self.row(recorded, batch.cases[recorded.case_id], previous, text)
            assert recorded.stored is not None
            leaf = merkle.leaf_hash(canonical_bytes(recorded.stored))
            frontier, made = merkle.append(frontier, count, leaf)
            nodes += [{"id": node_id(lv, i), "hash": h.hex()} for lv, i, h in made]
            row["leaf"] = count
            count += 1
            rows.append(row)
            previous = row["hash"]
        self.table.write(cursor, rows)
        self.node_table.write(cursor, nodes)
        self.write_head(
            cursor, batch.last_position, previous, count, frontier, batch.events[-1].recorded_at
        )

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

    def write_head(
        self,
        cursor: Cursor,
        position: int,
        hash_: str,
        events: int,
        frontier: list[bytes],
        signed_at: str,
    ) -> None:
        key = self.context.signing_key
        row: dict[str, Any] = {
            "id": 1,
            "position": position,
            "hash": hash_,
            "events": events,
            "root": merkle.root(frontier).hex(),
            "frontier": json.dumps([h.hex() for h in frontier]),
            "signed_at": signed_at,
            "key_id": key_id(key),
        }
        row["signature"] = sign_head(key, row)
        self.head_table.write(cursor, [row], upsert=True)
        #: the last head this process wrote (sent to the witness once it commits)
        self.written = row


def head_read(table: Table = HEAD_TABLE) -> Read:
    return (f"SELECT * FROM {table.name} WHERE id = 1", ())


def read_head(cursor: Cursor, table: Table = HEAD_TABLE) -> dict[str, Any] | None:
    return cursor.fetchone(*head_read(table))
