"""Browser sessions for the case book and the reports page: server-side, one row each.

The browser holds only a random session id, in an HttpOnly, SameSite=Strict cookie.
The store keeps its SHA-256 (so whoever reads the table holds no session), the API key
it was opened with, a CSRF token for the forms it renders, and when it ends. Every
request checks the key again: a revoked key ends its sessions at once, and they are
deleted. Signing out deletes the row, so the cookie is worth nothing afterwards, even
to someone who copied it.

The table lives in the same store as the API keys it joins (SQLite or PostgreSQL),
written with the same ``%s`` statements.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infrastructure.store.database import Database
from infrastructure.store.keys import Principal

COOKIE_NAME = "reclaim_session"
#: one sign-in lasts this long, however busy (a fixed end, not a sliding one)
MAX_AGE_SECONDS = 12 * 60 * 60
TABLE = "reclaim_sessions"

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        session_hash TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_key_id ON {TABLE} (key_id)",
]


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _iso(moment: datetime) -> str:
    # one fixed format in UTC, so that text order is time order on both stores
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf_token: str
    expires_at: datetime

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token, token or "")


@dataclass(frozen=True)
class Started:
    #: what goes into the cookie: shown once, stored only as its hash
    session_id: str
    session: Session


class SessionStore:
    def __init__(self, database: Database, max_age: int = MAX_AGE_SECONDS) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self.database = database
        self.max_age = max_age

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def start(self, principal: Principal, *, now: datetime | None = None) -> Started:
        """A new session for a key that has just been checked."""
        now = now or datetime.now(UTC)
        session_id = secrets.token_urlsafe(32)
        session = Session(
            principal=principal,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + timedelta(seconds=self.max_age),
        )
        with self.database.transaction() as cursor:
            # a sign-in also sweeps what has ended meanwhile (expired, or its key revoked
            # and never used since), so the table stays small and holds only live sessions
            cursor.execute(f"DELETE FROM {TABLE} WHERE expires_at <= %s", (_iso(now),))
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE key_id IN (SELECT key_id FROM reclaim_api_keys "
                "WHERE revoked_at IS NOT NULL)"
            )
            cursor.execute(
                f"INSERT INTO {TABLE} (session_hash, key_id, csrf_token, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    hash_session_id(session_id),
                    principal.key_id,
                    session.csrf_token,
                    _iso(now),
                    _iso(session.expires_at),
                ),
            )
        return Started(session_id, session)

    def find(self, session_id: str | None, *, now: datetime | None = None) -> Session | None:
        """The live session for a cookie's id, or None: unknown, ended, expired, or its key
        revoked (which ends every session of that key)."""
        if not session_id or len(session_id) > 200:
            return None
        now = now or datetime.now(UTC)
        wanted = hash_session_id(session_id)
        row = self.database.fetchone(
            f"SELECT s.session_hash, s.key_id, s.csrf_token, s.expires_at, k.user_id, "
            f"k.workspace, k.role, k.revoked_at, k.kind FROM {TABLE} s "
            "LEFT JOIN reclaim_api_keys k ON k.key_id = s.key_id WHERE s.session_hash = %s",
            (wanted,),
        )
        if row is None or not hmac.compare_digest(row["session_hash"], wanted):
            return None
        if row["user_id"] is None or row["revoked_at"] is not None or row["kind"] != "api":
            self.end_for_key(row["key_id"])
            return None
        if row["expires_at"] <= _iso(now):
            self.end(session_id)
            return None
        principal = Principal(row["key_id"], row["user_id"], row["workspace"], row["role"])
        expires_at = datetime.fromisoformat(row["expires_at"])
        return Session(principal, row["csrf_token"], expires_at)

    def end(self, session_id: str | None) -> bool:
        if not session_id or len(session_id) > 200:
            return False
        with self.database.transaction() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE session_hash = %s", (hash_session_id(session_id),)
            )
            return cursor.rowcount > 0

    def end_for_key(self, key_id: str) -> int:
        """End every session opened with a key (call it when the key is revoked)."""
        with self.database.transaction() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE key_id = %s", (key_id,))
            return cursor.rowcount

    def count(self, key_id: str | None = None) -> int:
        if key_id is None:
            row = self.database.fetchone(f"SELECT COUNT(*) AS n FROM {TABLE}")
        else:
            row = self.database.fetchone(
                f"SELECT COUNT(*) AS n FROM {TABLE} WHERE key_id = %s", (key_id,)
            )
        return int(row["n"]) if row else 0

    def count_of_user(self, user_id: str, workspace: str) -> int:
        """The session rows kept for any of a person's keys (live, or ended and not yet
        swept)."""
        row = self.database.fetchone(
            f"SELECT COUNT(*) AS n FROM {TABLE} s JOIN reclaim_api_keys k "
            "ON k.key_id = s.key_id WHERE k.user_id = %s AND k.workspace = %s",
            (user_id, workspace),
        )
        return int(row["n"]) if row else 0
