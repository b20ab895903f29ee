"""Reading the projections: what the HTTP layer and the command line ask.

Every query is scoped: ``workspace`` always, and ``owner`` unless the caller may
see the whole workspace (pass None). Results are plain dicts with Python values:
times as aware ``datetime`` (UTC), amounts as ``Decimal`` (exact), dates as ``date``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.cases import ESCALATION_LEVELS, OUTCOMES
from domain.deadlines import DeadlinePolicy
from domain.lifecycle import STATES
from infrastructure.projections.audit import HEAD_TABLE, AuditLog
from infrastructure.projections.cases import CaseList
from infrastructure.projections.events import from_milli, iso, parse_iso
from infrastructure.projections.reports import CONTACTS, DAY, HOUR, RESOLVED_FACETS, Reports
from infrastructure.projections.timeline import Timeline
from infrastructure.read import cursors
from infrastructure.read.timeliness import figures, platform_figures
from infrastructure.store.database import Cursor, Database
from infrastructure.store.shared_keys import CURSOR_KEY, shared_key

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: sort name -> column (a leading "-" sorts descending)
SORTS = {
    "opened_at": "opened_at",
    "last_activity_at": "last_activity_at",
    "amount_claimed": "amount_claimed_milli",
    "amount_recovered": "amount_recovered_milli",
}
#: recovery's groupings (each a facet of the reports' counters over resolved cases)
GROUPS = {group: f"resolved:{group}" for group in RESOLVED_FACETS}
_TIMES = {"opened_at", "last_activity_at", "resolved_at", "next_deadline", "occurred_at"}
_TIMES |= {"recorded_at", "last_outbound_at", "last_response_at", "last_denied_at"}
_HIDDEN = {"amount_claimed_milli", "amount_recovered_milli", "search_text", "opened_position"}
CASES = CaseList.table.name
#: the reports projection's tables (see ``reports.py``)
REPORT_CASES = Reports.facts.name
REPORT_COUNTS = Reports.counts.name
REPORT_OUTCOMES = Reports.outcomes.name
REPORT_RESOLUTION_DAYS = Reports.resolution_days.name
REPORT_RESOLUTION_HOURS = Reports.resolution_hours.name
REPORT_CONTACTS = Reports.contacts.name
REPORT_ANSWER_DAYS = Reports.answer_days.name
REPORT_ANSWER_HOURS = Reports.answer_hours.name
TIMELINE = Timeline.table.name
AUDIT = AuditLog.table.name


#: what a query reads through: the database (a transaction per statement) or one cursor
Reader = Database | Cursor


class InvalidQuery(ValueError):
    """A filter, sort, limit or cursor the query cannot take; ``field`` names which."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


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
        raise InvalidQuery(f"limit must be from 1 to {MAX_LIMIT}", "limit")
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


#: the list's stored times: fixed-width UTC text (``events.iso``)
_ISO_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BIGINT = range(-(2**63), 2**63)
_NOT_GIVEN_OUT = "cursor is not one this list gave out"


def _encode_cursor(db: Database, sort: str, value: Any, case_id: str) -> str:
    return cursors.sign(shared_key(db, CURSOR_KEY), [sort, value, case_id])


def _cursor_value(column: str, value: Any) -> bool:
    """Whether ``value`` is one ``column`` can hold: what goes into the SQL."""
    if column.endswith("_milli"):
        return type(value) is int and value in _BIGINT
    if not isinstance(value, str) or not _ISO_UTC.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _decode_cursor(db: Database, cursor: str, sort: str, column: str) -> tuple[Any, str]:
    """The last row's sort value and case id, from a cursor this list gave out. Every part
    is checked as well, though it is signed: whoever reads the key out of the database can
    sign anything, and still nothing but a column's own type goes into the SQL."""
    parts = cursors.open_signed(shared_key(db, CURSOR_KEY), cursor)
    if parts is None or len(parts) != 3:
        raise InvalidQuery(_NOT_GIVEN_OUT, "cursor")
    cursor_sort, value, case_id = parts
    if cursor_sort != sort:
        raise InvalidQuery("cursor belongs to a list sorted another way", "cursor")
    if not _cursor_value(column, value) or not isinstance(case_id, str):
        raise InvalidQuery(_NOT_GIVEN_OUT, "cursor")
    if not _UUID.fullmatch(case_id):
        raise InvalidQuery(_NOT_GIVEN_OUT, "cursor")
    return value, case_id


def _sort(sort: str) -> tuple[str, bool]:
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in SORTS:
        raise InvalidQuery(
            f"sort must be one of {', '.join(SORTS)} (with '-' for descending)", "sort"
        )
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
        value, case_id = _decode_cursor(db, cursor, sort, column)
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
    next_cursor = _encode_cursor(db, sort, rows[-1][column], rows[-1]["case_id"]) if more else None
    return Page([_case_item(r) for r in rows], next_cursor)


def due_soon(
    db: Database, workspace: str, owner: str | None, before: datetime, limit: int
) -> list[dict[str, Any]]:
    """The cases whose next deadline falls before ``before``, most urgent first, at most
    ``limit`` of them: read through the (workspace[, owner], next_deadline) index, so the
    cost does not grow with the number of cases."""
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT * FROM {CASES} WHERE {_where(conditions)} AND next_deadline < %s "
        f"ORDER BY next_deadline, case_id LIMIT {int(limit)}",
        [*params, iso(before)],
    )
    return [_case_item(r) for r in rows]


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
    """Every timeline entry the caller may see, with its case's platform (from the case
    list): by case, then in the order things happened (what ``timeliness.timeliness``
    reads; the API's report comes from the counters, ``timeliness`` below)."""
    conditions, params = _scope(workspace, owner)
    where = _where([f"t.{c}" for c in conditions])
    rows = db.fetchall(
        f"SELECT t.case_id, t.version, t.event_type, t.occurred_at, c.platform "
        f"FROM {TIMELINE} t JOIN {CASES} c ON c.case_id = t.case_id "
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
    """The signed head: how many events (the tree's size), the tree's root, when, the
    chain's last position and hash, the key's id and the Ed25519 signature."""
    return db.fetchone(
        f"SELECT position, hash, events, root, signed_at, key_id, signature FROM {HEAD_TABLE.name}"
    )


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
    """Counts by state, kind, platform and reason; per currency what was claimed (every
    case), recovered, and the recovery rate (recovered ÷ claimed, over resolved cases);
    the median days from opening to resolution (by when each happened). From the
    reports' counters: a few hundred rows per scope at most, whatever the log's length."""
    with db.transaction(commit=False) as cursor:  # one connection for its three statements
        return _summary(cursor, workspace, owner)


def _summary(db: Reader, workspace: str, owner: str | None) -> dict[str, Any]:
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT facet, value, currency, SUM(cases) AS cases, SUM(claimed_milli) AS claimed, "
        f"SUM(recovered_milli) AS recovered FROM {REPORT_COUNTS} WHERE {_where(conditions)} "
        f"AND facet IN ('state', 'kind', 'platform', 'reason', 'resolved:kind') "
        f"GROUP BY facet, value, currency",
        params,
    )
    tallies: dict[str, dict[str, int]] = {
        "state": dict.fromkeys(STATES, 0),
        "kind": {"credit": 0, "dispute": 0},
        "platform": {},
        "reason": {},
    }
    money: dict[str, list[int]] = {}
    for r in rows:
        facet, n = r["facet"], int(r["cases"])
        sums = money.setdefault(r["currency"], [0, 0, 0])
        if facet == "resolved:kind":
            sums[2] += int(r["claimed"])
            continue
        tally = tallies[facet]
        tally[r["value"]] = tally.get(r["value"], 0) + n
        if facet == "kind":
            sums[0] += int(r["claimed"])
            sums[1] += int(r["recovered"])
    return {
        "cases": sum(tallies["state"].values()),
        "by_state": tallies["state"],
        "by_kind": tallies["kind"],
        "by_platform": dict(sorted(tallies["platform"].items())),
        "by_reason": dict(sorted(tallies["reason"].items())),
        "money": [_money(c, *money[c]) for c in sorted(money)],
        "median_days_to_resolution": _median_days(db, conditions, params),
    }


@dataclass(frozen=True)
class _Medians:
    """A family of medians over one table's ``column`` (microseconds) within one scope:
    one per group, a group being the rows whose ``filters`` columns hold its values.
    Each group comes with the counts of its rows by whole days (rounded up); ``hours``
    counts them by whole hours (its count column ``counted``)."""

    table: str
    column: str
    hours: str
    counted: str
    scope: list[str]
    scope_params: list[Any]
    filters: tuple[str, ...]
    #: (the filter columns' values, days -> rows)
    groups: list[tuple[tuple[Any, ...], dict[int, int]]]


#: a median's middle day with more rows than this is narrowed to its middle hour before its
#: rows are read. Measured at 734k events (140k cases): skipping costs about 0.3 us a row
#: on PostgreSQL (25 groups of ~2,000 rows a middle day: 10.3 ms unnarrowed, 5.1 ms
#: narrowed) and 0.1 us on SQLite (where narrowing doubled the time: 1.6 -> 3.1 ms)
NARROW_DAY_ROWS = {"postgres": 512, "sqlite": 4096}
_TOKEN = re.compile(r"%s|:(\w+)")


def _middle(histogram: dict[int, int]) -> tuple[int, int, int] | None:
    """Where the middle row(s) are: (their day, how many to read, how many rows of that day
    to skip); None for no rows. The days before the middle's are counted, not read."""
    n = sum(histogram.values())
    if not n:
        return None
    k, before = (n - 1) // 2, 0
    for days in sorted(histogram):
        if before + histogram[days] > k:
            return days, 2 - n % 2, k - before
        before += histogram[days]
    raise AssertionError("unreachable")


def _is_postgres(db: Reader) -> bool:
    return (db.database if isinstance(db, Cursor) else db).is_postgres


def _per_group(
    db: Reader, subqueries: list[tuple[str, list[Any], list[tuple[int, dict[str, Any]]]]]
) -> list[dict[str, Any]]:
    """Several subqueries, each run once per group, in one statement; each answer row
    carries its group's ``g``. A subquery is SQL with ``%s`` for its scope's parameters
    (given) and ``:name`` for each group's values (text or whole numbers). On PostgreSQL
    each subquery is joined LATERAL to a VALUES list of its groups, so it is planned once
    (planning 25 copies took 0.6 ms); SQLite, which has no LATERAL, gets a copy per group
    and plans it cheaply."""
    parts: list[str] = []
    params: list[Any] = []
    postgres = _is_postgres(db)
    for sql, scope_params, groups in subqueries:
        if not groups:
            continue
        names = list(dict.fromkeys(m.group(1) for m in _TOKEN.finditer(sql) if m.group(1)))
        if postgres:
            first = groups[0][1]
            kinds = ["text" if isinstance(first[n], str) else "bigint" for n in names]
            row = ", ".join(["%s::int", *(f"%s::{kind}" for kind in kinds)])
            columns = ", ".join(["g", *(f"p_{n}" for n in names)])
            inner = _TOKEN.sub(lambda m: f"x.p_{m.group(1)}" if m.group(1) else "%s", sql)
            parts.append(
                f"SELECT x.g, q.* FROM (VALUES {', '.join([f'({row})'] * len(groups))}) "
                f"AS x({columns}) CROSS JOIN LATERAL ({inner}) AS q"
            )
            for g, values in groups:
                params += [g, *(values[n] for n in names)]
            params += scope_params
            continue
        for g, values in groups:
            scope = iter(scope_params)
            for m in _TOKEN.finditer(sql):
                params.append(values[m.group(1)] if m.group(1) else next(scope))
            parts.append(f"SELECT {g} AS g, q{g}.* FROM ({_TOKEN.sub('%s', sql)}) AS q{g}")
    if not parts:
        return []
    return db.fetchall(" UNION ALL ".join(parts), params)


def _medians(db: Reader, families: list[_Medians]) -> list[list[float | None]]:
    """Each family's medians in days (as ``statistics.median`` of ``microseconds / 1e6 /
    86400`` gives them, unrounded; None for a group without rows). The day counts give
    each group's middle day; a big middle day is narrowed to its middle hour by the day's
    hour counts (one statement for every group, at most 24 rows each); then each group
    reads its middle row(s) through an index, skipping only rows of its middle day or hour
    (one statement)."""
    narrow_above = NARROW_DAY_ROWS["postgres" if _is_postgres(db) else "sqlite"]
    slots: list[list[int | None]] = []  # per family, per group: its g, None without rows
    plans: dict[int, dict[str, Any]] = {}
    for index, family in enumerate(families):
        slots.append([])
        for key, histogram in family.groups:
            middle = _middle(histogram)
            if middle is None:
                slots[-1].append(None)
                continue
            day, count, skip = middle
            slots[-1].append(len(plans))
            plans[len(plans)] = {
                "family": index,
                "values": dict(zip(family.filters, key, strict=True)),
                "day": day,
                "count": count,
                "skip": skip,
                "lower": (day - 1) * DAY,
                "narrow": histogram[day] > narrow_above,
            }

    def matching(family: _Medians) -> str:
        return _where([*family.scope, *(f"{f} = :{f}" for f in family.filters)])

    def of(index: int, narrow: bool = False) -> list[tuple[int, dict[str, Any]]]:
        return [(g, p) for g, p in plans.items() if p["family"] == index and p["narrow"] >= narrow]

    narrowing = [
        (
            f"SELECT hours, SUM({f.counted}) AS n FROM {f.hours} WHERE {matching(f)} "
            f"AND hours > :lower AND hours <= :upper GROUP BY hours",
            f.scope_params,
            [
                (g, {**p["values"], "lower": 24 * (p["day"] - 1), "upper": 24 * p["day"]})
                for g, p in of(i, narrow=True)
            ],
        )
        for i, f in enumerate(families)
    ]
    day_hours: dict[int, list[tuple[int, int]]] = {}
    for row in _per_group(db, narrowing):
        day_hours.setdefault(int(row["g"]), []).append((int(row["hours"]), int(row["n"])))
    for g, counts in day_hours.items():  # the middle hour: where the day's count passes skip
        plan, before = plans[g], 0
        for hours, n in sorted(counts):
            if before + n > plan["skip"]:
                plan["lower"], plan["skip"] = (hours - 1) * HOUR, plan["skip"] - before
                break
            before += n
    reading = [
        (
            f"SELECT {f.column} AS v FROM {f.table} WHERE {matching(f)} AND {f.column} > :lower "
            f"ORDER BY {f.column} LIMIT :count OFFSET :skip",
            f.scope_params,
            [
                (g, {**p["values"], "lower": p["lower"], "count": p["count"], "skip": p["skip"]})
                for g, p in of(i)
            ],
        )
        for i, f in enumerate(families)
    ]
    found: dict[int, list[int]] = {}
    for row in _per_group(db, reading):
        found.setdefault(int(row["g"]), []).append(int(row["v"]))
    medians: list[list[float | None]] = []
    for family_slots in slots:
        medians.append([])
        for g in family_slots:
            days_each = [] if g is None else [v / 10**6 / 86400 for v in sorted(found.get(g, []))]
            if g is None or len(days_each) != plans[g]["count"]:
                medians[-1].append(None)
            else:
                medians[-1].append(sum(days_each) / len(days_each))
    return medians


def _median_days(db: Reader, conditions: list[str], params: list[Any]) -> float | None:
    rows = db.fetchall(
        f"SELECT days, SUM(cases) AS n FROM {REPORT_RESOLUTION_DAYS} "
        f"WHERE {_where(conditions)} GROUP BY days",
        params,
    )
    histogram = {int(r["days"]): int(r["n"]) for r in rows}
    family = _Medians(
        REPORT_CASES,
        "resolution_micro",
        REPORT_RESOLUTION_HOURS,
        "cases",
        conditions,
        params,
        (),
        [((), histogram)],
    )
    median = _medians(db, [family])[0][0]
    return None if median is None else round(median, 2)


def recovery(
    db: Database, workspace: str, owner: str | None, group_by: str
) -> list[dict[str, Any]]:
    """Resolved cases grouped by platform, kind, reason or month (of resolution), and
    currency: how many, what they claimed and recovered, and the rate."""
    if group_by not in GROUPS:
        raise InvalidQuery(f"group_by must be one of {', '.join(GROUPS)}", "group_by")
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT value AS grp, currency, SUM(cases) AS cases, "
        f"SUM(claimed_milli) AS claimed, SUM(recovered_milli) AS recovered "
        f"FROM {REPORT_COUNTS} WHERE {_where(conditions)} AND facet = %s "
        f"GROUP BY value, currency ORDER BY value, currency",
        [*params, GROUPS[group_by]],
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
        f"SELECT appealed, escalation_level, outcome, SUM(cases) AS cases FROM {REPORT_OUTCOMES} "
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


def timeliness(
    db: Database, workspace: str, owner: str | None, policy: DeadlinePolicy
) -> list[dict[str, Any]]:
    """How promptly each platform answers (see ``infrastructure/read/timeliness.py``, which
    works out the same figures from timeline entries): from the reports' counters of
    contacts by whole days to their answer, compared with each platform's follow-up
    interval here, at query time, so a change of settings shows at once. A contact
    answered after d days (a fraction) is within an interval of n whole days exactly when
    d rounded up is at most n."""
    with db.transaction(commit=False) as cursor:  # one connection for its two statements
        return _timeliness(cursor, workspace, owner, policy)


def _timeliness(
    db: Reader, workspace: str, owner: str | None, policy: DeadlinePolicy
) -> list[dict[str, Any]]:
    conditions, params = _scope(workspace, owner)
    rows = db.fetchall(
        f"SELECT platform, contact, days, SUM(contacts) AS n FROM {REPORT_ANSWER_DAYS} "
        f"WHERE {_where(conditions)} GROUP BY platform, contact, days",
        params,
    )
    # platform -> contact -> days (None: unanswered) -> contacts
    found: dict[str, dict[str, dict[int | None, int]]] = {}
    for r in rows:
        days = None if r["days"] is None else int(r["days"])
        found.setdefault(r["platform"], {}).setdefault(r["contact"], {})[days] = int(r["n"])
    contacts, overall = (
        _Medians(
            REPORT_CONTACTS,
            "answer_micro",
            REPORT_ANSWER_HOURS,
            "contacts",
            conditions,
            params,
            filters,
            [],
        )
        for filters in (("platform", "contact"), ("platform",))
    )
    for platform in sorted(found):
        every: dict[int, int] = {}
        for contact in CONTACTS:
            answered = {d: n for d, n in found[platform].get(contact, {}).items() if d is not None}
            contacts.groups.append(((platform, contact), answered))
            for d, n in answered.items():
                every[d] = every.get(d, 0) + n
        overall.groups.append(((platform,), every))
    by_contact, by_platform = _medians(db, [contacts, overall])
    medians = iter(by_contact)
    overall_medians = iter(by_platform)
    report = []
    for platform in sorted(found):
        interval = policy.follow_up_interval(platform)
        totals = [0, 0, 0]
        after: dict[str, Any] = {}
        for contact in CONTACTS:
            tally = found[platform].get(contact, {})
            contacts = sum(tally.values())
            answered = contacts - tally.get(None, 0)
            within = sum(n for d, n in tally.items() if d is not None and d <= interval)
            after[contact] = figures(
                contacts=contacts, answered=answered, within=within, median_days=next(medians)
            )
            for i, value in enumerate((contacts, answered, within)):
                totals[i] += value
        overall_figures = figures(
            contacts=totals[0],
            answered=totals[1],
            within=totals[2],
            median_days=next(overall_medians),
        )
        report.append(platform_figures(platform, interval, after, overall_figures))
    return report
