"""What the webhooks keep in the store: endpoints, one delivery per endpoint and event,
each delivery's attempts, and how far the dispatcher has read the log. A delivery
names its event by position (the body is made from the feed's row when sent); a taken
attempt, always a delivery's last, is kept in the delivery's own row, every other in
the attempts.

A delivery's id is made from its endpoint and the event's position, so writing it twice
(a dispatcher that died after writing but before moving its position) writes it once,
and it is the ``webhook-id`` every attempt of it sends: a receiver deduplicates by it.

An endpoint's secret is kept sealed under the master key (AES-GCM, its id as associated
data) and given back in the clear only once, when the endpoint is made.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infrastructure.store.database import Cursor, Database

ENDPOINTS = "reclaim_webhooks"
DELIVERIES = "reclaim_webhook_deliveries"
ATTEMPTS = "reclaim_webhook_attempts"
POSITIONS = "reclaim_webhook_position"
#: the most of a receiver's answer kept with an attempt (characters)
SNIPPET_CHARS = 500

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {ENDPOINTS} (
        id TEXT PRIMARY KEY,
        workspace TEXT NOT NULL,
        url TEXT NOT NULL,
        event_types TEXT NOT NULL,
        description TEXT NOT NULL,
        secret_sealed TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        after_position BIGINT NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        failing_since TEXT,
        disabled_at TEXT
    )""",
    f"CREATE INDEX IF NOT EXISTS {ENDPOINTS}_ix0 ON {ENDPOINTS} (workspace, created_at)",
    f"""CREATE TABLE IF NOT EXISTS {DELIVERIES} (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL,
        workspace TEXT NOT NULL,
        position BIGINT NOT NULL,
        case_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_ms BIGINT NOT NULL,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        last_status INTEGER,
        last_latency_ms INTEGER,
        last_error TEXT,
        last_response TEXT
    )""",
    # the delivery log's, and the pending ones' in log order (the dispatcher's look for
    # work; a delivered one leaves it)
    f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_ix2 ON {DELIVERIES} (endpoint_id, position)",
    f"CREATE INDEX IF NOT EXISTS {DELIVERIES}_pending ON {DELIVERIES} (position) "
    "WHERE status = 'pending'",
    # (before 2026-12-06 three more indexes were kept, each written on every fan-out and
    # every outcome, and read by nothing since the look for work reads a window in order)
    f"DROP INDEX IF EXISTS {DELIVERIES}_ix0",
    f"DROP INDEX IF EXISTS {DELIVERIES}_ix1",
    f"DROP INDEX IF EXISTS {DELIVERIES}_ix3",
    f"""CREATE TABLE IF NOT EXISTS {ATTEMPTS} (
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at TEXT NOT NULL,
        status_code INTEGER,
        latency_ms INTEGER NOT NULL,
        error TEXT,
        response TEXT NOT NULL,
        PRIMARY KEY (delivery_id, attempt)
    )""",
    f"""CREATE TABLE IF NOT EXISTS {POSITIONS} (
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL
    )""",
]


#: how many pending deliveries one look for due ones reads, oldest first
DUE_WINDOW = 2000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: ``whsec_`` and 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def delivery_id(endpoint_id: str, position: int) -> str:
    """The ``webhook-id`` of the event at ``position`` sent to this endpoint: the same on
    every attempt, on every dispatcher."""
    return f"msg_{uuid.UUID(endpoint_id).hex[:16]}_{position}"


@dataclass(frozen=True)
class Attempt:
    """What one try of a delivery came to."""

    status_code: int | None
    latency_ms: int
    response: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookStore:
    def __init__(self, database: Database, master: bytes) -> None:
        self.database = database
        self._aead = AESGCM(master)

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)
        # a store from before deliveries were sent from the feed's row keeps a copy of each
        # body, read no more (the feed's row makes the same body)
        if self.database.is_postgres:
            copied = self.database.fetchone(
                "SELECT 1 AS copied FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND column_name = 'payload'",
                (DELIVERIES,),
            )
            if copied is not None:  # (IF EXISTS: another process may drop it first)
                self.database.execute(f"ALTER TABLE {DELIVERIES} DROP COLUMN IF EXISTS payload")
            return
        with self.database.transaction() as cursor:  # (under the write lock: alone)
            columns = cursor.fetchall("SELECT name FROM pragma_table_info(%s)", (DELIVERIES,))
            if "payload" in {c["name"] for c in columns}:
                cursor.execute(f"ALTER TABLE {DELIVERIES} DROP COLUMN payload")

    # --- endpoints -----------------------------------------------------------------------
    def add(
        self,
        workspace: str,
        url: str,
        event_types: list[str],
        description: str,
        *,
        by: str,
        after_position: int,
    ) -> tuple[dict[str, Any], str]:
        """A new endpoint, sent the events recorded after ``after_position``; with its
        secret, which is never given again."""
        endpoint_id = str(uuid.uuid4())
        secret = new_secret()
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, secret.encode(), endpoint_id.encode())
        self.database.execute(
            f"INSERT INTO {ENDPOINTS} (id, workspace, url, event_types, description, "
            "secret_sealed, created_at, created_by, after_position, status) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'active')",
            (
                endpoint_id,
                workspace,
                url,
                json.dumps(sorted(set(event_types))),
                description,
                base64.b64encode(sealed).decode(),
                now_iso(),
                by,
                after_position,
            ),
        )
        endpoint = self.get(workspace, endpoint_id)
        assert endpoint is not None
        return endpoint, secret

    def rewrap(self, cursor: Any, new_master: bytes) -> int:
        """Seal every endpoint's secret under ``new_master`` instead (a master key rotation,
        in its transaction: ``DataKeys.rotate``); returns how many."""
        new = AESGCM(new_master)
        rows = cursor.fetchall(f"SELECT id, secret_sealed FROM {ENDPOINTS}")
        for row in rows:
            secret = self.secret_of(row).encode()
            nonce = os.urandom(12)
            sealed = nonce + new.encrypt(nonce, secret, row["id"].encode())
            cursor.execute(
                f"UPDATE {ENDPOINTS} SET secret_sealed = %s WHERE id = %s",
                (base64.b64encode(sealed).decode(), row["id"]),
            )
        return len(rows)

    def secret_of(self, endpoint: dict[str, Any]) -> str:
        sealed = base64.b64decode(endpoint["secret_sealed"])
        return self._aead.decrypt(sealed[:12], sealed[12:], endpoint["id"].encode()).decode()

    def get(self, workspace: str, endpoint_id: str) -> dict[str, Any] | None:
        """The endpoint, if it is this workspace's (another's is not there at all)."""
        row = self.database.fetchone(
            f"SELECT * FROM {ENDPOINTS} WHERE id = %s AND workspace = %s",
            (endpoint_id, workspace),
        )
        return None if row is None else _endpoint(row)

    def list(self, workspace: str) -> list[dict[str, Any]]:
        rows = self.database.fetchall(
            f"SELECT * FROM {ENDPOINTS} WHERE workspace = %s ORDER BY created_at, id",
            (workspace,),
        )
        return [_endpoint(r) for r in rows]

    def live_endpoints(self, cursor: Cursor) -> list[dict[str, Any]]:
        rows = cursor.fetchall(f"SELECT * FROM {ENDPOINTS} WHERE status <> 'disabled'")
        return [_endpoint(r) for r in rows]

    def disable(self, workspace: str, endpoint_id: str, reason: str) -> bool:
        """Sends nothing more; its deliveries and their attempts are kept."""
        with self.database.transaction() as cursor:
            row = cursor.fetchone(
                f"SELECT status FROM {ENDPOINTS} WHERE id = %s AND workspace = %s",
                (endpoint_id, workspace),
            )
            if row is None:
                return False
            if row["status"] != "disabled":
                cursor.execute(
                    f"UPDATE {ENDPOINTS} SET status = 'disabled', status_reason = %s, "
                    "disabled_at = %s WHERE id = %s",
                    (reason, now_iso(), endpoint_id),
                )
        return True

    # --- the dispatcher's position and fan-out ------------------------------------------
    def position(self, cursor: Cursor, name: str = "dispatcher") -> int:
        row = cursor.fetchone(f"SELECT position FROM {POSITIONS} WHERE name = %s", (name,))
        return int(row["position"]) if row else 0

    def reading_from(self, cursor: Cursor) -> tuple[int, list[dict[str, Any]]] | None:
        """Where fan-out reads on from, and the endpoints it reads for: past the
        dispatcher's position to the earliest one a live endpoint wants (a new endpoint
        wants nothing before its registration). None: no endpoint is live, so nothing
        is wanted and the position stays."""
        endpoints = self.live_endpoints(cursor)
        if not endpoints:
            return None
        wanted_from = min(int(e["after_position"]) for e in endpoints)
        return max(self.position(cursor), wanted_from), endpoints

    def any_live(self) -> bool:
        """Whether an endpoint is not disabled (the dispatcher runs only then)."""
        row = self.database.fetchone(
            f"SELECT 1 AS live FROM {ENDPOINTS} WHERE status <> 'disabled' LIMIT 1"
        )
        return row is not None

    def move_position(self, cursor: Cursor, position: int, name: str = "dispatcher") -> None:
        cursor.execute(
            f"INSERT INTO {POSITIONS} (name, position) VALUES (%s, %s) ON CONFLICT (name) "
            f"DO UPDATE SET position = excluded.position "
            f"WHERE {POSITIONS}.position < excluded.position",
            (name, position),
        )

    def add_deliveries(self, cursor: Cursor, rows: list[tuple[Any, ...]]) -> None:
        """(id, endpoint, workspace, position, case, type): each written once. The body is
        not copied: it is made from the event's feed row when sent."""
        if not rows:
            return
        at, due = now_iso(), now_ms()
        cursor.executemany(
            f"INSERT INTO {DELIVERIES} (id, endpoint_id, workspace, position, case_id, "
            "event_type, status, attempts, next_attempt_ms, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            [(*row, due, at) for row in rows],
        )

    # --- sending -------------------------------------------------------------------------
    def due(
        self, limit: int, busy: set[tuple[str, str]], taken: Collection[str] = ()
    ) -> list[list[dict[str, Any]]]:
        """Deliveries to try now, as lanes: for each endpoint that is not disabled and each
        case, its undelivered events in log order, from its earliest, which must be due
        (so a case's events arrive in order). At most ``limit`` lanes, none of them
        ``busy`` (in flight: (endpoint id, case id)); deliveries ``taken`` (by id: the
        receiver took them, their outcomes not written yet) are left out.

        The pending deliveries are read in log order, a window at a time, and sorted into
        lanes here: asking the database for "no earlier pending one" row by row cost a
        scan of the backlog per row (a backlog of 1,500 took minutes to drain, section (k)
        of the bench); a lane sent in one go, rather than one delivery per look, drains
        it without a look per delivery."""
        rows = self.database.fetchall(
            f"SELECT d.*, w.url, w.secret_sealed, w.status AS endpoint_status "
            f"FROM {DELIVERIES} d JOIN {ENDPOINTS} w ON w.id = d.endpoint_id "
            "WHERE d.status = 'pending' AND w.status <> 'disabled' "
            f"ORDER BY d.position LIMIT {DUE_WINDOW}"
        )
        now = now_ms()
        blocked = set(busy)
        lanes: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            lane = (row["endpoint_id"], row["case_id"])
            if lane in blocked or row["id"] in taken:
                continue
            if lane not in lanes:
                if row["next_attempt_ms"] > now or len(lanes) == limit:
                    blocked.add(lane)
                    continue
                lanes[lane] = []
            lanes[lane].append(row)
        return list(lanes.values())

    def record_attempt(
        self,
        delivery: dict[str, Any],
        attempt: Attempt,
        *,
        retry_in_ms: int | None,
        failing_after: int,
        gone: bool = False,
    ) -> None:
        """An attempt's outcome: delivered, tried again in ``retry_in_ms``, or (None) failed
        for good. The endpoint is marked failing after ``failing_after`` failed attempts
        in a row and active again on a success; a 410 (``gone``) disables it, its
        backlog kept."""
        self.record_attempts([(delivery, attempt, retry_in_ms, gone)], failing_after)

    def record_attempts(
        self,
        outcomes: Sequence[tuple[dict[str, Any], Attempt, int | None, bool]],
        failing_after: int,
    ) -> None:
        """Several attempts' outcomes (``record_attempt``'s) in one transaction: the
        dispatcher writes every outcome that came in while the last write ran. Deliveries
        taken (most of them) are written together, a statement for all of them rather
        than four round trips each; the rest one by one."""
        taken = [o for o in outcomes if o[1].ok and not o[3]]
        with self.database.transaction() as cursor:
            if taken:
                self._record_taken(cursor, [(d, a) for d, a, _, _ in taken])
            for delivery, attempt, retry_in_ms, gone in outcomes:
                if not (attempt.ok and not gone):
                    self._record(cursor, delivery, attempt, retry_in_ms, failing_after, gone)

    def _record_taken(self, cursor: Any, taken: list[tuple[dict[str, Any], Attempt]]) -> None:
        """Deliveries the receiver took: each one delivered, its attempt kept in its own
        row (the last attempt, so no row of its own in the attempts: most deliveries
        are taken at once, and a row each was a third of what sending wrote), and each
        endpoint among them that was failing active again."""
        at, now = now_iso(), now_ms()
        cursor.executemany(
            f"UPDATE {DELIVERIES} SET status = 'delivered', attempts = attempts + 1, "
            "next_attempt_ms = %s, delivered_at = %s, last_status = %s, "
            "last_latency_ms = %s, last_error = %s, last_response = %s WHERE id = %s",
            [
                (now, at, a.status_code, a.latency_ms, a.error, a.response[:SNIPPET_CHARS], d["id"])
                for d, a in taken
            ],
        )
        for endpoint_id in sorted({d["endpoint_id"] for d, _ in taken}):
            cursor.execute(
                f"UPDATE {ENDPOINTS} SET status = 'active', failing_since = NULL, "
                "status_reason = NULL WHERE id = %s AND status = 'failing'",
                (endpoint_id,),
            )

    def _record(
        self,
        cursor: Any,
        delivery: dict[str, Any],
        attempt: Attempt,
        retry_in_ms: int | None,
        failing_after: int,
        gone: bool,
    ) -> None:
        at = now_iso()
        row = cursor.fetchone(
            f"SELECT attempts, status FROM {DELIVERIES} WHERE id = %s", (delivery["id"],)
        )
        number = (int(row["attempts"]) if row else 0) + 1
        cursor.execute(
            f"INSERT INTO {ATTEMPTS} (delivery_id, attempt, at, status_code, latency_ms, "
            "error, response) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (delivery_id, attempt) DO NOTHING",
            (
                delivery["id"],
                number,
                at,
                attempt.status_code,
                attempt.latency_ms,
                attempt.error,
                attempt.response[:SNIPPET_CHARS],
            ),
        )
        if attempt.ok:
            status, next_ms = "delivered", now_ms()
        elif retry_in_ms is None:
            status, next_ms = "failed", now_ms()
        else:
            status, next_ms = "pending", now_ms() + retry_in_ms
        cursor.execute(
            f"UPDATE {DELIVERIES} SET status = %s, attempts = %s, next_attempt_ms = %s, "
            "delivered_at = %s, last_status = %s, last_latency_ms = %s, last_error = %s, "
            "last_response = %s WHERE id = %s",
            (
                status,
                number,
                next_ms,
                at if attempt.ok else None,
                attempt.status_code,
                attempt.latency_ms,
                attempt.error,
                attempt.response[:SNIPPET_CHARS],
                delivery["id"],
            ),
        )
        endpoint_id = delivery["endpoint_id"]
        if gone:
            cursor.execute(
                f"UPDATE {ENDPOINTS} SET status = 'disabled', disabled_at = %s, "
                "status_reason = %s WHERE id = %s AND status <> 'disabled'",
                (at, "the receiver answered 410 Gone", endpoint_id),
            )
        elif attempt.ok:
            cursor.execute(
                f"UPDATE {ENDPOINTS} SET status = 'active', failing_since = NULL, "
                "status_reason = NULL WHERE id = %s AND status = 'failing'",
                (endpoint_id,),
            )
        elif number >= failing_after:
            cursor.execute(
                f"UPDATE {ENDPOINTS} SET status = 'failing', failing_since = %s, "
                "status_reason = %s WHERE id = %s AND status = 'active'",
                (at, f"{number} failed attempts in a row", endpoint_id),
            )

    def redeliver(self, workspace: str, endpoint_id: str, delivery: str) -> dict[str, Any] | None:
        """Send a delivery again, now (after the earlier undelivered events of its case).
        A delivered one's taken attempt moves from its row to the attempts first, as the
        next one will be its row's."""
        with self.database.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {ATTEMPTS} (delivery_id, attempt, at, status_code, latency_ms, "
                "error, response) SELECT id, attempts, delivered_at, last_status, "
                f"last_latency_ms, last_error, last_response FROM {DELIVERIES} "
                "WHERE id = %s AND endpoint_id = %s AND workspace = %s "
                "AND status = 'delivered' ON CONFLICT (delivery_id, attempt) DO NOTHING",
                (delivery, endpoint_id, workspace),
            )
            cursor.execute(
                f"UPDATE {DELIVERIES} SET status = 'pending', next_attempt_ms = %s "
                "WHERE id = %s AND endpoint_id = %s AND workspace = %s",
                (now_ms(), delivery, endpoint_id, workspace),
            )
        return self.delivery(workspace, endpoint_id, delivery)

    # --- the delivery log ----------------------------------------------------------------
    def deliveries(
        self, workspace: str, endpoint_id: str, *, before: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest first, each with its attempts."""
        conditions = "endpoint_id = %s AND workspace = %s"
        params: list[Any] = [endpoint_id, workspace]
        if before is not None:
            conditions += " AND position < %s"
            params.append(before)
        rows = self.database.fetchall(
            f"SELECT * FROM {DELIVERIES} WHERE {conditions} ORDER BY position DESC "
            f"LIMIT {int(limit)}",
            params,
        )
        return self._with_attempts(rows)

    def delivery(self, workspace: str, endpoint_id: str, delivery: str) -> dict[str, Any] | None:
        rows = self.database.fetchall(
            f"SELECT * FROM {DELIVERIES} WHERE id = %s AND endpoint_id = %s AND workspace = %s",
            (delivery, endpoint_id, workspace),
        )
        found = self._with_attempts(rows)
        return found[0] if found else None

    def _with_attempts(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each delivery with its attempts: the attempts' rows, and a delivered one's
        taken attempt from its own row (see ``_record_taken``)."""
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ", ".join(["%s"] * len(ids))
        attempts: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        for a in self.database.fetchall(
            f"SELECT * FROM {ATTEMPTS} WHERE delivery_id IN ({marks}) "
            "ORDER BY delivery_id, attempt",
            ids,
        ):
            attempts[a["delivery_id"]].append(a)
        for r in rows:
            log = attempts[r["id"]]
            if r["status"] == "delivered" and not any(a["attempt"] == r["attempts"] for a in log):
                log.append(
                    {
                        "delivery_id": r["id"],
                        "attempt": r["attempts"],
                        "at": r["delivered_at"],
                        "status_code": r["last_status"],
                        "latency_ms": r["last_latency_ms"],
                        "error": r["last_error"],
                        "response": r["last_response"],
                    }
                )
        return [{**r, "attempt_log": attempts[r["id"]]} for r in rows]

    def pending(self) -> int:
        """How many deliveries wait to be sent or tried again (one index range)."""
        row = self.database.fetchone(
            f"SELECT COUNT(*) AS n FROM {DELIVERIES} WHERE status = 'pending'"
        )
        return int(row["n"]) if row else 0


def _endpoint(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "event_types": json.loads(row["event_types"])}
