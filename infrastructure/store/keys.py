"""API keys: shown once, stored only as a SHA-256 hash, each a user in a workspace with a role.

Keys carry 256 random bits, so a fast hash is as safe as a slow one here: there is
nothing to brute-force. Calendar tokens (for calendar apps, which send no headers)
are the same kind of secret, one per user, rotated and revoked on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infrastructure.store.database import Database

ROLES = ("member", "auditor", "admin")
KEY_PREFIX = "rk_"
CALENDAR_PREFIX = "rc_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")

CREATE_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS reclaim_api_keys (
        key_id TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        workspace TEXT NOT NULL,
        role TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'api',
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
]


class InvalidKeyRequest(ValueError):
    """A key request that cannot be met (a malformed name, an unknown role): a plain
    message for the command line."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    user_id: str
    workspace: str
    role: str

    @property
    def can_write(self) -> bool:
        return self.role in ("member", "admin")

    @property
    def reads_workspace(self) -> bool:
        return self.role in ("auditor", "admin")

    @property
    def scope(self) -> str:
        return f"{self.workspace}/{self.user_id}"


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    user_id: str
    workspace: str
    role: str
    kind: str
    created_at: str
    revoked_at: str | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value or ""):
        raise InvalidKeyRequest(
            f"{what} must be 1-100 letters, digits or . _ @ - (starting with a letter or digit)"
        )
    return value


class KeyStore:
    #: most verified keys remembered at once (then the memory starts again)
    CACHE_LIMIT = 10_000

    def __init__(self, database: Database, *, cache_seconds: float = 0.0) -> None:
        self.database = database
        #: how long a verified API key is trusted without asking the store again; a key
        #: revoked elsewhere (another node, the command line) stops working within it
        self.cache_seconds = cache_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def create(
        self, user_id: str, workspace: str, role: str, *, kind: str = "api"
    ) -> tuple[str, KeyInfo]:
        """A new key and its record; the key itself is returned once and never stored."""
        _check_name(user_id, "user")
        _check_name(workspace, "workspace")
        if role not in ROLES:
            raise InvalidKeyRequest(f"role must be one of {', '.join(ROLES)}")
        prefix = CALENDAR_PREFIX if kind == "calendar" else KEY_PREFIX
        key = prefix + secrets.token_urlsafe(32)
        info = KeyInfo(
            key_id=secrets.token_hex(6),
            user_id=user_id,
            workspace=workspace,
            role=role,
            kind=kind,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            revoked_at=None,
        )
        self.database.execute(
            "INSERT INTO reclaim_api_keys (key_id, key_hash, user_id, workspace, role, kind, "
            "created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (info.key_id, hash_key(key), user_id, workspace, role, kind, info.created_at),
        )
        return key, info

    def remembered(self, key: str) -> Principal | None:
        """The API key's principal if it was verified within ``cache_seconds``, without
        asking the store (None: ask ``authenticate``)."""
        return self._remembered(hash_key(key)) if self.cache_seconds > 0 else None

    def _remembered(self, digest: str) -> Principal | None:
        known = self._verified.get(digest)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        return None

    def authenticate(self, key: str, *, kind: str = "api") -> Principal | None:
        if not key or len(key) > 200:
            return None
        if kind != "api" or self.cache_seconds <= 0:
            return self._look_up(key, kind)
        digest = hash_key(key)
        known = self._remembered(digest)
        if known is not None:
            return known
        now = time.monotonic()
        principal = self._look_up(key, kind)
        if principal is None:
            self._verified.pop(digest, None)
            return None
        if len(self._verified) >= self.CACHE_LIMIT:
            self._verified.clear()
        self._verified[digest] = (principal, now + self.cache_seconds)
        return principal

    def _look_up(self, key: str, kind: str) -> Principal | None:
        row = self.database.fetchone(
            "SELECT key_id, key_hash, user_id, workspace, role FROM reclaim_api_keys "
            "WHERE key_hash = %s AND kind = %s AND revoked_at IS NULL",
            (hash_key(key), kind),
        )
        if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key)):
            return None
        return Principal(row["key_id"], row["user_id"], row["workspace"], row["role"])

    def of_user(self, user_id: str, workspace: str) -> list[KeyInfo]:
        """Every key and calendar token a person in a workspace has had, revoked ones too."""
        rows = self.database.fetchall(
            "SELECT key_id, user_id, workspace, role, kind, created_at, revoked_at "
            "FROM reclaim_api_keys WHERE user_id = %s AND workspace = %s "
            "ORDER BY created_at, key_id",
            (user_id, workspace),
        )
        return [KeyInfo(**_str_row(r)) for r in rows]

    def list(self, *, kind: str | None = None) -> list[KeyInfo]:
        rows = self.database.fetchall(
            "SELECT key_id, user_id, workspace, role, kind, created_at, revoked_at "
            "FROM reclaim_api_keys ORDER BY created_at, key_id"
        )
        return [KeyInfo(**_str_row(r)) for r in rows if kind is None or r["kind"] == kind]

    def forget_verified(self) -> None:
        """Ask the store again for every key (after keys were revoked): in this process at
        once; other processes forget theirs within ``cache_seconds``."""
        self._verified.clear()

    def revoke(self, key_id: str) -> bool:
        self.forget_verified()
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE reclaim_api_keys SET revoked_at = %s WHERE key_id = %s "
                "AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(timespec="seconds"), key_id),
            )
            return cursor.rowcount > 0

    def count_active(self, kind: str = "api") -> int:
        row = self.database.fetchone(
            "SELECT COUNT(*) AS n FROM reclaim_api_keys WHERE revoked_at IS NULL AND kind = %s",
            (kind,),
        )
        return int(row["n"]) if row else 0

    def rotate_calendar_token(self, user_id: str, workspace: str, role: str) -> str:
        """Revoke the user's calendar tokens and issue a new one."""
        self.revoke_calendar_tokens(user_id, workspace)
        token, _ = self.create(user_id, workspace, role, kind="calendar")
        return token

    def revoke_calendar_tokens(self, user_id: str, workspace: str) -> int:
        with self.database.transaction() as cursor:
            cursor.execute(
                "UPDATE reclaim_api_keys SET revoked_at = %s WHERE user_id = %s AND "
                "workspace = %s AND kind = 'calendar' AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(timespec="seconds"), user_id, workspace),
            )
            return cursor.rowcount


def _str_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if v is not None else None) for k, v in row.items()}
