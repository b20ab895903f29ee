"""What the IMAP intake keeps of each message it has read: one row per message of the
mailbox (its source, the folder's UIDVALIDITY and the message's UID), written once the
message has been dealt with, so a restart or a second writer never takes it in twice.

``state`` is what became of it:

- ``recorded``: filed on a case through the e-mail intake (``record_mail``, which keeps
  the message as the case's evidence and records nothing twice for one Message-ID);
- ``unmatched``: no case named it; it waits for a workspace admin, who assigns it to a
  case (then ``recorded``) or dismisses it (``dismissed``);
- ``refused``: never recorded, with the reason (an auto-reply, a bounce, a message that
  cannot be read, a duplicate).

``reason`` says why, in words that name no one. The sender, subject, date, the start of
the text and the raw message of an *unmatched* message are personal data: they are
kept sealed (AES-GCM) under the data key of the workspace's inbox (``personal.py``,
subject ``INBOX_SUBJECT``), and deleted from the row as soon as it is assigned (the
message then lives on as the case's sealed evidence) or dismissed. Refused and recorded
rows keep no content at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from infrastructure.store.database import Database
from infrastructure.store.personal import DataKeys

INTAKE = "reclaim_mail_intake"
#: the data key an inbox's unmatched mail is sealed under (not a user id: those cannot
#: start with "~")
INBOX_SUBJECT = "~mail-inbox"
STATES = ("recorded", "unmatched", "refused", "dismissed")

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {INTAKE} (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        uidvalidity BIGINT NOT NULL,
        uid BIGINT NOT NULL,
        workspace TEXT NOT NULL,
        message_key TEXT,
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        case_id TEXT,
        matched_by TEXT,
        key_id TEXT,
        sealed TEXT,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (source, uidvalidity, uid)
    )""",
    f"CREATE INDEX IF NOT EXISTS {INTAKE}_ix0 ON {INTAKE} (workspace, state, received_at, id)",
    f"CREATE INDEX IF NOT EXISTS {INTAKE}_ix1 ON {INTAKE} (workspace, message_key)",
]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def source_of(mailbox_source: str) -> str:
    """The mailbox's user, server and folder, hashed: rows name it without saying it."""
    return hashlib.sha256(f"reclaim-imap\n{mailbox_source}".encode()).hexdigest()[:32]


def message_key(message_id: str | None) -> str | None:
    if not message_id or not message_id.strip():
        return None
    return hashlib.sha256(message_id.strip().lower().encode()).hexdigest()


def row_id(source: str, uidvalidity: int, uid: int) -> str:
    return "in_" + hashlib.sha256(f"{source}\n{uidvalidity}\n{uid}".encode()).hexdigest()[:20]


def _aad(workspace: str, item_id: str) -> bytes:
    return f"reclaim-mail-inbox\n{workspace}\n{item_id}".encode()


class Inbox:
    def __init__(self, database: Database, keys: DataKeys) -> None:
        self.database = database
        self.keys = keys

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def known_uids(self, source: str, uidvalidity: int) -> set[int]:
        rows = self.database.fetchall(
            f"SELECT uid FROM {INTAKE} WHERE source = %s AND uidvalidity = %s",
            (source, uidvalidity),
        )
        return {int(r["uid"]) for r in rows}

    def waiting_with(self, workspace: str, key: str | None) -> bool:
        """Whether a message with this Message-ID already waits in the inbox, or was
        dismissed or recorded (assigned) from it, so a copy is not listed again."""
        if key is None:
            return False
        row = self.database.fetchone(
            f"SELECT id FROM {INTAKE} WHERE workspace = %s AND message_key = %s "
            "AND state IN ('unmatched', 'dismissed', 'recorded') LIMIT 1",
            (workspace, key),
        )
        return row is not None

    def put(
        self,
        *,
        source: str,
        uidvalidity: int,
        uid: int,
        workspace: str,
        message_id: str | None,
        state: str,
        reason: str,
        case_id: str | None = None,
        matched_by: str | None = None,
        content: dict[str, Any] | None = None,
    ) -> str:
        """Keep what became of one message (once: a second writer's row changes nothing)."""
        assert state in STATES
        item_id = row_id(source, uidvalidity, uid)
        key_id = sealed = None
        if content is not None:
            key = self.keys.for_subject(workspace, INBOX_SUBJECT)
            plain = json.dumps(content).encode()
            sealed = base64.b64encode(key.seal(plain, _aad(workspace, item_id))).decode()
            key_id = key.key_id
        now = now_iso()
        self.database.execute(
            f"INSERT INTO {INTAKE} (id, source, uidvalidity, uid, workspace, message_key, "
            "state, reason, case_id, matched_by, key_id, sealed, received_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (
                item_id,
                source,
                uidvalidity,
                uid,
                workspace,
                message_key(message_id),
                state,
                reason[:500],
                case_id,
                matched_by,
                key_id,
                sealed,
                now,
                now,
            ),
        )
        return item_id

    def _open(self, row: dict[str, Any], *, raw: bool = False) -> dict[str, Any]:
        item = {k: row[k] for k in ("id", "state", "reason", "case_id", "matched_by")}
        item["received_at"] = row["received_at"]
        item["updated_at"] = row["updated_at"]
        content: dict[str, Any] = {}
        if row.get("sealed") and row.get("key_id"):
            key = self.keys.by_id(row["key_id"])
            plain = (
                None
                if key is None
                else key.open(base64.b64decode(row["sealed"]), _aad(row["workspace"], row["id"]))
            )
            if plain is not None:
                content = json.loads(plain)
        for name in ("sender", "subject", "date", "snippet"):
            item[name] = content.get(name)
        if raw:
            item["raw"] = base64.b64decode(content["raw"]) if content.get("raw") else None
        return item

    def get(self, workspace: str, item_id: str, *, raw: bool = False) -> dict[str, Any] | None:
        row = self.database.fetchone(
            f"SELECT * FROM {INTAKE} WHERE workspace = %s AND id = %s", (workspace, item_id)
        )
        return None if row is None else self._open(row, raw=raw)

    def list(
        self, workspace: str, state: str, limit: int, after: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """A workspace's messages in one state, oldest first, ``limit`` at most, after
        ``(received_at, id)``."""
        conditions = ["workspace = %s", "state = %s"]
        params: list[Any] = [workspace, state]
        if after is not None:
            conditions.append("(received_at > %s OR (received_at = %s AND id > %s))")
            params += [after[0], after[0], after[1]]
        rows = self.database.fetchall(
            f"SELECT * FROM {INTAKE} WHERE {' AND '.join(conditions)} "
            f"ORDER BY received_at, id LIMIT {int(limit)}",
            tuple(params),
        )
        return [self._open(r) for r in rows]

    def counts(self, workspace: str) -> dict[str, int]:
        rows = self.database.fetchall(
            f"SELECT state, COUNT(*) AS n FROM {INTAKE} WHERE workspace = %s GROUP BY state",
            (workspace,),
        )
        found = {state: 0 for state in STATES}
        found.update({r["state"]: int(r["n"]) for r in rows})
        return found

    def settle(
        self,
        workspace: str,
        item_id: str,
        state: str,
        reason: str,
        case_id: str | None = None,
        matched_by: str | None = None,
    ) -> bool:
        """An unmatched message assigned (``recorded``) or dismissed: its content goes.
        False when it was no longer unmatched."""
        assert state in ("recorded", "dismissed")
        with self.database.transaction() as cursor:
            cursor.execute(
                f"UPDATE {INTAKE} SET state = %s, reason = %s, case_id = %s, matched_by = %s, "
                "sealed = NULL, key_id = NULL, updated_at = %s "
                "WHERE workspace = %s AND id = %s AND state = 'unmatched'",
                (state, reason[:500], case_id, matched_by, now_iso(), workspace, item_id),
            )
            return bool(cursor.rowcount and cursor.rowcount > 0)
