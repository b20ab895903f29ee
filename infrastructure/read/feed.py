"""Reading the event feed (``projections/feed.py``): a page of events after a position,
within a caller's reach. The feed API, its stream, the case book's notice, ``reclaim
events`` and the webhook dispatcher all shape an event here, so they say the same.

A page is one range of one index (the workspace's, a member's own, one case's), so it
costs the same at the log's first thousand events and its millionth.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.actions import DECLARED, snake
from domain.money import format_amount
from infrastructure.projections.feed import PUBLIC_FIELDS, Feed
from infrastructure.store.database import Database

FEED = Feed.table.name
#: every event type the feed carries (``note_added``, ``denied`` ...), as webhooks name them
EVENT_TYPES: tuple[str, ...] = tuple(sorted(snake(name) for name in DECLARED.titles))
MAX_LIMIT = 500
DEFAULT_LIMIT = 100


def item(row: dict[str, Any]) -> dict[str, Any]:
    """One event as the feed gives it: where it is, which case, what, when, and the case's
    public fields just after it."""
    case = {name: row[name] for name in PUBLIC_FIELDS}
    for name in ("amount_claimed", "amount_recovered"):
        case[name] = format_amount(Decimal(row[name]), row["currency"])
    return {
        "position": int(row["position"]),
        "case_id": row["case_id"],
        "version": int(row["version"]),
        "type": row["event_type"],
        "recorded_at": row["recorded_at"],
        "occurred_at": row["occurred_at"],
        "case": case,
    }


def events_after(
    db: Database,
    workspace: str,
    owner: str | None,
    *,
    after: int = 0,
    limit: int = DEFAULT_LIMIT,
    case_id: str | None = None,
) -> list[dict[str, Any]]:
    """The events after position ``after`` in log order: the workspace's, only ``owner``'s
    cases' when an owner is given (a member), only one case's with ``case_id``."""
    conditions, params = ["workspace = %s"], [workspace]
    if owner is not None:
        conditions.append("owner = %s")
        params.append(owner)
    if case_id is not None:
        conditions.append("case_id = %s")
        params.append(case_id)
    conditions.append("position > %s")
    params.append(max(int(after), 0))
    limit = max(1, min(int(limit), MAX_LIMIT))
    rows = db.fetchall(
        f"SELECT * FROM {FEED} WHERE {' AND '.join(conditions)} ORDER BY position LIMIT {limit}",
        params,
    )
    return [item(row) for row in rows]


def rows_at(db: Database, positions: list[int]) -> list[dict[str, Any]]:
    """The feed rows at these positions, of any workspace (the webhook dispatcher makes
    the bodies it sends from them)."""
    if not positions:
        return []
    marks = ", ".join(["%s"] * len(positions))
    return db.fetchall(f"SELECT * FROM {FEED} WHERE position IN ({marks})", positions)


def last_position(db: Database) -> int:
    row = db.fetchone(f"SELECT MAX(position) AS p FROM {FEED}")
    return int(row["p"]) if row and row["p"] is not None else 0


def position_of(db: Database, case_id: str, version: int) -> int | None:
    """Where the event that made ``version`` of the case is in the log (the case book's
    notice follows the case from there); None when the feed does not hold it (yet)."""
    row = db.fetchone(
        f"SELECT position FROM {FEED} WHERE case_id = %s AND version = %s", (case_id, version)
    )
    return int(row["position"]) if row else None
