"""Reading the projections: what the HTTP layer and the command line ask.

Every query is scoped: ``workspace`` always, and ``owner`` unless the caller may
see the whole workspace (pass None). Results are plain dicts with Python values:
times as aware ``datetime`` (UTC), amounts as ``Decimal`` (exact), dates as ``date``.
"""

from __future__ import annotations

import base64
import binascii
import json
import statistics
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.cases import ESCALATION_LEVELS, OUTCOMES
from domain.lifecycle import STATES
from infrastructure.database import Database
from infrastructure.projections.audit import HEAD_TABLE, AuditLog
from infrastructure.projections.cases import CaseList, Reports
from infrastructure.projections.events import from_milli, iso, parse_iso
from infrastructure.projections.timeline import Timeline

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: sort name -> column (a leading "-" sorts descending)
SORTS = {
    "opened_at": "opened_at",
    "last_activity_at": "last_activity_at",
    "amount_claimed": "amount_claimed_milli",
    "amount_recovered": "amount_recovered_milli",
}
GROUPS = {"platform": "platform", "kind": "kind", "reason": "reason", "month": "resolved_month"}
_TIMES = {"opened_at", "last_activity_at", "resolved_at", "next_deadline", "occurred_at"}
_TIMES |= {"recorded_at", "last_outbound_at", "last_response_at", "last_denied_at"}
_HIDDEN = {"amount_claimed_milli", "amount_recovered_milli", "search_text", "opened_position"}
CASES = CaseList.table.name
REPORT_CASES = Reports.table.name
TIMELINE = Timeline.table.name
AUDIT = AuditLog.table.name


class InvalidQuery(ValueError):
    """A filter, sort, limit or cursor the query cannot take."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    #: pass back as ``cursor`` (cases) or ``after`` (audit events) for the next page
    next_cursor: str | None


def _scope(workspace: str, owner: str | None) -> tuple[list[str], list[Any]]:
    if owner is None:
        return ["workspace = %s"], [workspace]
    return ["workspace = %s", "owner = %s"], [workspace, owner]


def _where(conditions: list[str]) -> str:
    return " AND ".join(conditions)


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be from 1 to {MAX_LIMIT}")
    return limit


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in _HIDDEN:
            continue
        if key in _TIMES:
            value = parse_iso(value)
        elif key in ("amount_claimed", "amount_recovered"):
            value = Decimal(value)
        elif key == "expires_on" and value is not None:
            value = date.fromisoformat(value)
        elif key == "appealed":
            value = bool(value)
        out[key] = value
    return out


# --- the case list ---------------------------------------------------------------------------
def _case_item(row: dict[str, Any]) -> dict[str, Any]:
    item = _typed(row)
    item["id"] = item.pop("case_id")
    item["position"] = item.pop("last_position")
    item["escalated"] = item["escalation_level"] is not None
    return item


def _encode_cursor(sort: str, value: Any, case_id: str) -> str:
    raw = json.dumps([sort, value, case_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, case_id = json.loads(raw)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidQuery("cursor is not one this list gave out") from None
    if cursor_sort != sort or not isinstance(case_id, str):
        raise InvalidQuery("cursor belongs to a list sorted another way")
    return value, case_id


def _sort(sort: str) -> tuple[str, bool]:
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in SORTS:
        raise InvalidQuery(f"sort must be one of {', '.join(SORTS)} (with '-' for descending)")
    return SORTS[name], descending


def list_cases(
    db: Database,
    workspace: str,
    owner: str | None,
    *,
    kind: str | None = None,
    state: str | None = None,
    platform: str | None = None,
    opened_after: datetime | None = None,
    opened_before: datetime | None = None,
    due_before: datetime | None = None,
    q: str | None = None,
    sort: str = "-opened_at",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """One page of cases, by keyset: a page never repeats or skips a case when others
    are opened meanwhile. ``next_cursor`` is None on the last page."""
    column, descending = _sort(sort)
    conditions, params = _scope(workspace, owner)
    for name, value in (("kind", kind), ("state", state), ("platform", platform)):
        if value is not None:
            conditions.append(f"{name} = %s")
            params.append(value)
    for condition, moment in (
        ("opened_at >= %s", opened_after),
        ("opened_at < %s", opened_before),
        ("next_deadline < %s", due_before),
    ):
        if moment is not None:
            conditions.append(condition)
            params.append(iso(moment))
    if q:
        conditions.append("search_text LIKE %s ESCAPE '\\'")
        params.append("%" + _escape_like(q.strip().lower()) + "%")
    if cursor is not None:
        value, case_id = _decode_cursor(cursor, sort)
        op = "<" if descending else ">"
        conditions.append(f"({column} {op} %s OR ({column} = %s AND case_id {op} %s))")
        params += [value, value, case_id]
    order = "DESC" if descending else "ASC"
    rows = db.fetchall(
        f"SELECT * FROM {CASES} WHERE {_where(conditions)} "
        f"ORDER BY {column} {order}, case_id {order} LIMIT {_limit(limit) + 1}",
        params,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(sort, rows[-1][column], rows[-1]["case_id"]) if more else None
    return Page([_case_item(r) for r in rows], next_cursor)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def case_row(
    db: Database, case_id: str, workspace: str, owner: str | None
) -> dict[str, Any] | None:
    """One case's list row, if the caller may see it."""
    conditions, params = _scope(workspace, owner)
    row = db.fetchone(
        f"SELECT * FROM {CASES} WHERE case_id = %s AND {_where(conditions)}",
        [str(case_id), *params],
    )
    return None if row is None else _case_item(row)


# --- timeline and audit ----------------------------------------------------------------------
def timeline(db: Database, case_id: str, workspace: str, owner: str | None) -> list[dict[str, Any]]:
    """A case's events in the order they happened (ties by version)."""
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT position, case_id, version, event_type, occurred_at, recorded_at, actor, "
        f"request_id, title, details FROM {TIMELINE} "
        f"WHERE case_id = %s AND {_where(conditions)} ORDER BY occurred_at, version",
        [str(case_id), *params],
    )
    return [_typed(r) for r in rows]


def timeline_with_platform(db: Database, workspace: str, owner: str | None) -> list[dict[str, Any]]:
    """Every timeline entry the caller may see, with its case's platform: by case, then
    in the order things happened (what the timeliness report reads)."""
    conditions, params = _scope(workspace, owner)
    where = _where([f"t.{c}" for c in conditions])
    rows = db.fetchall(
        f"SELECT t.case_id, t.version, t.event_type, t.occurred_at, s.platform "
        f"FROM {TIMELINE} t JOIN {Timeline.scopes_table} s ON s.case_id = t.case_id "
        f"WHERE {where} ORDER BY t.case_id, t.occurred_at, t.version",
        params,
    )
    return [_typed(r) for r in rows]


def _audit_item(row: dict[str, Any]) -> dict[str, Any]:
    item = _typed(row)
    item["payload"] = json.loads(item["payload"])
    return item


def case_audit(
    db: Database, case_id: str, workspace: str, owner: str | None
) -> list[dict[str, Any]]:
    """Every event of a case as the audit log holds it, by version, with its chain hashes."""
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT * FROM {AUDIT} WHERE case_id = %s AND {_where(conditions)} ORDER BY version",
        [str(case_id), *params],
    )
    return [_audit_item(r) for r in rows]


def audit_events(
    db: Database,
    workspace: str,
    owner: str | None = None,
    *,
    after: int | None = None,
    limit: int = 100,
    actor: str | None = None,
    case_id: str | None = None,
) -> Page:
    """The workspace's audit log in log order, from after position ``after``.
    ``next_cursor`` is the position to pass as ``after`` for more (None: no more now)."""
    conditions, params = _scope(workspace, owner)
    for condition, value in (
        ("position > %s", after),
        ("actor = %s", actor),
        ("case_id = %s", None if case_id is None else str(case_id)),
    ):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    rows = db.fetchall(
        f"SELECT * FROM {AUDIT} WHERE {_where(conditions)} ORDER BY position LIMIT {_limit(limit)}",
        params,
    )
    next_after = str(rows[-1]["position"]) if len(rows) == limit else None
    return Page([_audit_item(r) for r in rows], next_after)


def audit_head(db: Database) -> dict[str, Any] | None:
    """The signed head: last position chained, its hash, how many events, the HMAC."""
    return db.fetchone(f"SELECT position, hash, events, signature FROM {HEAD_TABLE.name}")


# --- reports -------------------------------------------------------------------------------
def _money(currency: str, claimed: int, recovered: int, resolved_claimed: int) -> dict[str, Any]:
    rate = None
    if resolved_claimed:
        rate = (Decimal(recovered) / Decimal(resolved_claimed)).quantize(Decimal("0.0001"))
    return {
        "currency": currency,
        "claimed": from_milli(claimed, currency),
        "recovered": from_milli(recovered, currency),
        "rate": rate,
    }


def summary(db: Database, workspace: str, owner: str | None) -> dict[str, Any]:
    """Counts by state, kind and platform; per currency what was claimed (every case),
    recovered, and the recovery rate (recovered ÷ claimed, over resolved cases);
    the median days from opening to resolution (by when each happened)."""
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT state, kind, platform, currency, COUNT(*) AS cases, "
        f"SUM(amount_claimed_milli) AS claimed, SUM(amount_recovered_milli) AS recovered, "
        f"SUM(CASE WHEN state = 'resolved' THEN amount_claimed_milli ELSE 0 END) "
        f"AS resolved_claimed FROM {REPORT_CASES} WHERE {_where(conditions)} "
        f"GROUP BY state, kind, platform, currency",
        params,
    )
    by_state = dict.fromkeys(STATES, 0)
    by_kind: dict[str, int] = {"credit": 0, "dispute": 0}
    by_platform: dict[str, int] = {}
    money: dict[str, list[int]] = {}
    for r in rows:
        n = int(r["cases"])
        by_state[r["state"]] += n
        by_kind[r["kind"]] += n
        by_platform[r["platform"]] = by_platform.get(r["platform"], 0) + n
        sums = money.setdefault(r["currency"], [0, 0, 0])
        for i, column in enumerate(("claimed", "recovered", "resolved_claimed")):
            sums[i] += int(r[column])
    return {
        "cases": sum(by_state.values()),
        "by_state": by_state,
        "by_kind": by_kind,
        "by_platform": dict(sorted(by_platform.items())),
        "money": [_money(c, *money[c]) for c in sorted(money)],
        "median_days_to_resolution": _median_days(db, conditions, params),
    }


def _median_days(db: Database, conditions: list[str], params: list[Any]) -> float | None:
    rows = db.fetchall(
        f"SELECT opened_at, resolved_at FROM {REPORT_CASES} "
        f"WHERE {_where(conditions)} AND resolved_at IS NOT NULL",
        params,
    )
    days = [
        (parse_iso(r["resolved_at"]) - parse_iso(r["opened_at"])).total_seconds() / 86400  # type: ignore[operator]
        for r in rows
    ]
    return round(statistics.median(days), 2) if days else None


def recovery(
    db: Database, workspace: str, owner: str | None, group_by: str
) -> list[dict[str, Any]]:
    """Resolved cases grouped by platform, kind, reason or month (of resolution), and
    currency: how many, what they claimed and recovered, and the rate."""
    if group_by not in GROUPS:
        raise InvalidQuery(f"group_by must be one of {', '.join(GROUPS)}")
    column = GROUPS[group_by]
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT {column} AS grp, currency, COUNT(*) AS cases, "
        f"SUM(amount_claimed_milli) AS claimed, SUM(amount_recovered_milli) AS recovered "
        f"FROM {REPORT_CASES} WHERE {_where(conditions)} AND state = 'resolved' "
        f"GROUP BY {column}, currency ORDER BY {column}, currency",
        params,
    )
    return [
        {
            "group": r["grp"],
            "cases": int(r["cases"]),
            **_money(r["currency"], int(r["claimed"]), int(r["recovered"]), int(r["claimed"])),
        }
        for r in rows
    ]


def _tally() -> dict[str, int]:
    return {"cases": 0, **dict.fromkeys(OUTCOMES, 0), "open": 0}


def outcomes(db: Database, workspace: str, owner: str | None) -> dict[str, Any]:
    """How cases ended: those appealed, those escalated (by the highest level they
    reached), and those neither appealed nor escalated. A case both appealed and
    escalated counts in both. ``open``: not resolved yet."""
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT appealed, escalation_level, outcome, COUNT(*) AS cases FROM {REPORT_CASES} "
        f"WHERE {_where(conditions)} GROUP BY appealed, escalation_level, outcome",
        params,
    )
    result: dict[str, Any] = {
        "appealed": _tally(),
        "escalated": {level: _tally() for level in ESCALATION_LEVELS},
        "neither": _tally(),
    }
    for r in rows:
        groups = []
        if r["appealed"]:
            groups.append(result["appealed"])
        if r["escalation_level"] is not None:
            groups.append(result["escalated"][r["escalation_level"]])
        for tally in groups or [result["neither"]]:
            tally["cases"] += int(r["cases"])
            tally[r["outcome"] or "open"] += int(r["cases"])
    return result
