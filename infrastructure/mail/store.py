"""What mail keeps in the store: each user's mail settings and each mail sent.

A user's address is personal data: it is sealed under their data key (``personal.py``),
with the token of their one-click unsubscribe link, so erasing them (destroying the
key, and ``forget`` here) leaves nothing to read. Only a hash of the token is in clear,
to find whose link was followed.

Each mail has one row, its id made from what it is (``digest:<workspace>:<user>:<day>``;
``draft:<case>:<Message-ID>`` for a draft sent from the case, which waits ``held`` until
its step is recorded), written before anything is sent: a second writer after a failover
finds it and sends nothing twice. Its status moves ``pending`` → ``sending`` (just
before the message's data goes out) → ``sent``; a row found ``sending`` by a new
follower was cut off mid-send and becomes ``uncertain``, never sent again. A failure
before the data went out keeps it ``pending``, tried again after a back-off
(``attempts``, ``next_attempt_ms``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infrastructure.store.database import Cursor, Database
from infrastructure.store.personal import DataKeys

PREFS = "reclaim_mail_prefs"
SENDS = "reclaim_mail_sends"
HEALTH = "reclaim_mail_health"

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {PREFS} (
        workspace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,
        sealed TEXT NOT NULL,
        key_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        digest_time TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        digests INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (workspace, user_id)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {SENDS} (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        workspace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        day TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        message_id TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        detail TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {SENDS}_ix0 ON {SENDS} (status, next_attempt_ms)",
    f"CREATE INDEX IF NOT EXISTS {SENDS}_ix1 ON {SENDS} (workspace, user_id, created_at)",
    f"""CREATE TABLE IF NOT EXISTS {HEALTH} (
        name TEXT PRIMARY KEY,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
]

#: a status that ends a mail's life (the rest are pending or sending)
FINAL = ("sent", "failed", "uncertain", "nothing_due", "skipped")


def now_iso(timespec: str = "seconds") -> str:
    return datetime.now(UTC).isoformat(timespec=timespec)


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def token_hash(token: str) -> str:
    return hashlib.sha256(f"reclaim-unsubscribe\n{token}".encode()).hexdigest()


def _aad(workspace: str, user_id: str) -> bytes:
    return f"reclaim-mail-prefs\n{workspace}\n{user_id}".encode()


@dataclass(frozen=True)
class MailPrefs:
    workspace: str
    user_id: str
    role: str
    address: str
    unsubscribe_token: str
    digest_time: str
    time_zone: str
    digests: bool
    updated_at: str


class MailStore:
    def __init__(self, database: Database, keys: DataKeys) -> None:
        self.database = database
        self.keys = keys

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    # --- each user's settings --------------------------------------------------------------
    def set_prefs(
        self,
        workspace: str,
        user_id: str,
        role: str,
        *,
        address: str,
        digest_time: str,
        time_zone: str,
        digests: bool,
    ) -> MailPrefs:
        """Keep the user's settings; their unsubscribe link stays the same while they keep
        the same address (a new address gets a new link)."""
        old = self.prefs(workspace, user_id)
        token = (
            old.unsubscribe_token
            if old is not None and old.address == address
            else secrets.token_urlsafe(24)
        )
        key = self.keys.for_subject(workspace, user_id)
        plain = json.dumps({"address": address, "token": token}).encode()
        sealed = base64.b64encode(key.seal(plain, _aad(workspace, user_id))).decode()
        self.database.execute(
            f"INSERT INTO {PREFS} (workspace, user_id, role, sealed, key_id, token_hash, "
            "digest_time, time_zone, digests, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (workspace, user_id) DO UPDATE SET role = excluded.role, "
            "sealed = excluded.sealed, key_id = excluded.key_id, "
            "token_hash = excluded.token_hash, digest_time = excluded.digest_time, "
            "time_zone = excluded.time_zone, digests = excluded.digests, "
            "updated_at = excluded.updated_at",
            (
                workspace,
                user_id,
                role,
                sealed,
                key.key_id,
                token_hash(token),
                digest_time,
                time_zone,
                1 if digests else 0,
                now_iso(),
            ),
        )
        found = self.prefs(workspace, user_id)
        assert found is not None
        return found

    def prefs(self, workspace: str, user_id: str) -> MailPrefs | None:
        row = self.database.fetchone(
            f"SELECT * FROM {PREFS} WHERE workspace = %s AND user_id = %s", (workspace, user_id)
        )
        return None if row is None else self._open(row)

    def all_prefs(self) -> list[MailPrefs]:
        """Everyone's settings that still open (an erased person's do not)."""
        rows = self.database.fetchall(f"SELECT * FROM {PREFS} WHERE digests = 1")
        return [p for p in (self._open(r) for r in rows) if p is not None]

    def _open(self, row: dict[str, Any]) -> MailPrefs | None:
        key = self.keys.by_id(row["key_id"])
        if key is None:
            return None
        plain = key.open(base64.b64decode(row["sealed"]), _aad(row["workspace"], row["user_id"]))
        if plain is None:
            return None
        values = json.loads(plain)
        return MailPrefs(
            workspace=row["workspace"],
            user_id=row["user_id"],
            role=row["role"],
            address=values["address"],
            unsubscribe_token=values["token"],
            digest_time=row["digest_time"],
            time_zone=row["time_zone"],
            digests=bool(row["digests"]),
            updated_at=row["updated_at"],
        )

    def unsubscribe(self, token: str) -> tuple[str, str] | None:
        """Stop the digests of whoever's link this is; returns whose (None: no such link)."""
        with self.database.transaction() as cursor:
            row = cursor.fetchone(
                f"SELECT workspace, user_id FROM {PREFS} WHERE token_hash = %s",
                (token_hash(token),),
            )
            if row is None:
                return None
            cursor.execute(
                f"UPDATE {PREFS} SET digests = 0, updated_at = %s "
                "WHERE workspace = %s AND user_id = %s",
                (now_iso(), row["workspace"], row["user_id"]),
            )
        return row["workspace"], row["user_id"]

    def forget(self, cursor: Cursor, workspace: str, user_id: str) -> None:
        """Remove the person's settings (their erasure, in its transaction, or their own
        wish): the sealed address goes, and the rows of what was sent lose the
        Message-IDs, which name no one but could be matched against a mailbox."""
        cursor.execute(
            f"DELETE FROM {PREFS} WHERE workspace = %s AND user_id = %s", (workspace, user_id)
        )
        cursor.execute(
            f"UPDATE {SENDS} SET detail = NULL WHERE workspace = %s AND user_id = %s",
            (workspace, user_id),
        )

    # --- mail sent --------------------------------------------------------------------------
    def add(
        self,
        mail_id: str,
        kind: str,
        workspace: str,
        user_id: str,
        day: str | None,
        *,
        status: str = "pending",
        message_id: str | None = None,
    ) -> bool:
        """A mail to send (once): False when it was already there. A ``held`` one waits
        for ``release`` (a sent draft, until its step is recorded on the case)."""
        assert status in ("pending", "held")
        with self.database.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {SENDS} (id, kind, workspace, user_id, day, status, attempts, "
                "next_attempt_ms, message_id, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 0, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                # (to the millisecond: a case's sent drafts are listed in the order they came)
                (
                    mail_id,
                    kind,
                    workspace,
                    user_id,
                    day,
                    status,
                    now_ms(),
                    message_id,
                    now_iso("milliseconds"),
                ),
            )
            return bool(cursor.rowcount and cursor.rowcount > 0)

    def release(self, mail_id: str) -> None:
        """A held mail may go: its step is on the case."""
        self.database.execute(
            f"UPDATE {SENDS} SET status = 'pending', next_attempt_ms = %s "
            "WHERE id = %s AND status = 'held'",
            (now_ms(), mail_id),
        )

    def drop(self, mail_id: str) -> None:
        """A held mail whose step was not recorded: it never existed."""
        self.database.execute(f"DELETE FROM {SENDS} WHERE id = %s AND status = 'held'", (mail_id,))

    def held(self, before: str) -> list[dict[str, Any]]:
        """Mail held since before ``before`` (ISO time): its request died before it said
        whether the step was recorded."""
        return self.database.fetchall(
            f"SELECT * FROM {SENDS} WHERE status = 'held' AND created_at < %s", (before,)
        )

    def of_case(self, kind: str, id_prefix: str) -> list[dict[str, Any]]:
        """The mail of one kind whose id starts with ``id_prefix`` (a case's sent drafts),
        newest first."""
        return self.database.fetchall(
            f"SELECT * FROM {SENDS} WHERE kind = %s AND id LIKE %s "
            "ORDER BY created_at DESC, id DESC",
            (kind, id_prefix + "%"),  # (ids are made of a case's UUID: no % or _ in them)
        )

    def get(self, mail_id: str) -> dict[str, Any] | None:
        return self.database.fetchone(f"SELECT * FROM {SENDS} WHERE id = %s", (mail_id,))

    def due(self, kind: str, limit: int = 50) -> list[dict[str, Any]]:
        return self.database.fetchall(
            f"SELECT * FROM {SENDS} WHERE status = 'pending' AND kind = %s "
            f"AND next_attempt_ms <= %s ORDER BY next_attempt_ms LIMIT {int(limit)}",
            (kind, now_ms()),
        )

    def sending(self, mail_id: str, message_id: str) -> None:
        """The message's data is about to go out: from here on it is never sent again."""
        self.database.execute(
            f"UPDATE {SENDS} SET status = 'sending', message_id = %s WHERE id = %s "
            "AND status = 'pending'",
            (message_id, mail_id),
        )

    def finish(self, mail_id: str, status: str, detail: str | None = None) -> None:
        assert status in FINAL
        self.database.execute(
            f"UPDATE {SENDS} SET status = %s, detail = %s, attempts = attempts + 1, "
            "sent_at = %s WHERE id = %s",
            (status, detail, now_iso() if status == "sent" else None, mail_id),
        )

    def retry(self, mail_id: str, in_ms: int, detail: str) -> None:
        self.database.execute(
            f"UPDATE {SENDS} SET attempts = attempts + 1, next_attempt_ms = %s, detail = %s "
            "WHERE id = %s AND status = 'pending'",
            (now_ms() + in_ms, detail, mail_id),
        )

    def cut_off(self) -> int:
        """Mail left ``sending`` by a follower that died mid-send: uncertain, not resent."""
        with self.database.transaction() as cursor:
            cursor.execute(
                f"UPDATE {SENDS} SET status = 'uncertain', detail = %s WHERE status = 'sending'",
                ("the server stopped while this mail went out: it may have arrived",),
            )
            return max(cursor.rowcount, 0)

    def latest(self, workspace: str, user_id: str, kind: str) -> dict[str, Any] | None:
        return self.database.fetchone(
            f"SELECT * FROM {SENDS} WHERE workspace = %s AND user_id = %s AND kind = %s "
            "ORDER BY created_at DESC, id DESC LIMIT 1",
            (workspace, user_id, kind),
        )

    # --- how the mail servers answer ----------------------------------------------------------
    def set_health(self, name: str, ok: bool, detail: str) -> None:
        self.database.execute(
            f"INSERT INTO {HEALTH} (name, ok, detail, at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (name) DO UPDATE SET ok = excluded.ok, detail = excluded.detail, "
            "at = excluded.at",
            (name, 1 if ok else 0, detail[:300], now_iso()),
        )

    def health(self) -> dict[str, dict[str, Any]]:
        rows = self.database.fetchall(f"SELECT * FROM {HEALTH}")
        return {
            r["name"]: {"ok": bool(r["ok"]), "detail": r["detail"], "at": r["at"]} for r in rows
        }
