"""The reports projection's counters (``infrastructure/projections/reports.py``).

- For random histories (random walks with back-dated events, saved in random chunks),
  on both stores: the counters equal a from-scratch GROUP BY over the per-case facts,
  the facts equal the aggregates, the rows are the same however the log is cut into
  batches, and every report (summary, recovery, outcomes, timeliness) equals what the
  old implementation worked out in Python over every case and every timeline entry.
- Medians with odd and even counts, within one day's bucket and across buckets.
- Timeliness with back-dated answers and back-dated contacts.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.history import Walk
from domain.cases import Case, Credit
from domain.deadlines import DeadlinePolicy
from domain.errors import DomainError
from domain.lifecycle import STATES
from infrastructure.projections import inline
from infrastructure.projections import reports as reports_module
from infrastructure.projections.base import last_row_reads, make_view
from infrastructure.projections.events import from_milli, iso
from infrastructure.projections.projector import Folder, read_log
from infrastructure.projections.reports import (
    CASE_FACETS,
    EXCHANGE_ORDER,
    INBOUND,
    OUTBOUND,
    RESOLVED_FACETS,
    Reports,
    case_contribution,
)
from infrastructure.read import queries
from infrastructure.read.timeliness import timeliness as timeliness_in_python
from infrastructure.store.database import Cursor
from tests.support.commands import as_users
from tests.support.factories import NOW, action_args, at, credit_facts

D = Decimal
LIVE = "reports" in inline.NAMES


# --- running the projection ----------------------------------------------------------------
def _projection(app: Any, suffix: str = "") -> Reports:
    view = make_view(app.database.datastore, app.database.dialect, Reports.name)
    return Reports(view, inline.projection_context(app.settings, app.database), suffix=suffix)


def replay(app: Any, *, batch_size: int, suffix: str = "", bulk: bool = False) -> Reports:
    """The reports projection made again from the whole log, ``batch_size`` events per
    batch (one transaction each), into its tables (renamed by ``suffix``). ``bulk``: as a
    rebuild makes it (bulk transactions, the counters held over batches, then finished)."""
    projection = _projection(app, suffix)
    with app.database.transaction() as cursor:
        projection.create_tables(cursor)
        for table in projection.tables:
            cursor.execute(f"DELETE FROM {table.name}")
    folder = Folder(app)
    for recorded in read_log(app, 0, None, batch_size):
        batch = folder.batch(recorded)
        with app.database.transaction(bulk=bulk) as cursor:
            projection.apply(cursor, batch)
    if bulk:
        with app.database.transaction(bulk=True) as cursor:
            projection.finish(cursor)
    return projection


def project(app: Any) -> None:
    """The reports' own tables up to date: inline once the write path keeps them (then
    nothing to do), until then made from the log here."""
    if not LIVE:
        replay(app, batch_size=50)


def dump(app: Any, projection: Reports) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name.removesuffix(projection.suffix): app.database.fetchall(
            f"SELECT * FROM {table.name} ORDER BY {table.order_by}"
        )
        for table in projection.tables
    }


# --- random histories ---------------------------------------------------------------------
class BackDatingWalk(Walk):
    """The benchmark's random walk, with some events back-dated (between the opening and
    the last event) and some answers exactly a whole number of days after the contact."""

    opened: datetime | None = None

    def tick(self) -> datetime:
        roll = self.rng.random()
        if roll < 0.25 and self.opened is not None:
            span = (self.clock - self.opened).total_seconds()
            return self.opened + timedelta(seconds=self.rng.uniform(0, span))
        if roll < 0.45:
            self.clock += timedelta(days=self.rng.randint(1, 6))
            return self.clock
        return super().tick()

    def open(self) -> Case:
        self.opened = None
        case = super().open()
        self.opened = case.opened_at
        return case


def record_history(app: Any, seed: int, count: int) -> None:
    """``count`` cases walked at random, their events saved a few cases at a time; some
    cases are saved again later with more events (a batch then meets a known case)."""
    rng = random.Random(seed)
    cases = []
    for number in range(count):
        walk = BackDatingWalk(rng, seed * 1000 + number)
        cases.append((walk, walk.run(rng.randint(0, 4))))
    for start in range(0, len(cases), 3):
        app.save(*(case for _, case in cases[start : start + 3]))
    for walk, case in cases:  # a second round for some: events of known cases
        if rng.random() < 0.5:
            steps = rng.randint(1, 4)
            for _ in range(steps):
                allowed = [a for a in case.allowed_actions if a != "attach_evidence"]
                action = rng.choice(allowed)
                try:
                    getattr(case, action)(**walk.args(case, action))
                except DomainError:  # a rule refused it: the walk tries something else
                    continue
            app.save(case)


def every_case(app: Any) -> Iterator[Case]:
    ids = {r.case_id for batch in read_log(app, 0, None, 1000) for r in batch}
    for case_id in sorted(ids):
        yield app.repository.get(UUID(case_id))


# --- what the reports were before: Python over every case and every event ---------------
def scopes(app: Any) -> list[tuple[str, str | None]]:
    found = {(c.workspace, c.owner) for c in every_case(app)}
    return sorted({(w, None) for w, _ in found} | found, key=lambda s: (s[0], s[1] or ""))


def _visible(case: Case, workspace: str, owner: str | None) -> bool:
    return case.workspace == workspace and owner in (None, case.owner)


def _reason(case: Case) -> str:
    return case.problem if isinstance(case, Credit) else case.reason  # type: ignore[attr-defined]


def _rate(recovered: int, claimed: int) -> Decimal | None:
    if not claimed:
        return None
    return (Decimal(recovered) / Decimal(claimed)).quantize(Decimal("0.0001"))


def _milli(amount: Decimal) -> int:
    return int(amount.scaleb(3))


def expected_summary(cases: list[Case], workspace: str, owner: str | None) -> dict[str, Any]:
    mine = [c for c in cases if _visible(c, workspace, owner)]
    by_state = dict.fromkeys(STATES, 0)
    by_kind = {"credit": 0, "dispute": 0}
    by_platform: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    money: dict[str, list[int]] = {}
    days = []
    for c in mine:
        by_state[c.state] += 1
        by_kind[c.kind] += 1
        by_platform[c.platform] = by_platform.get(c.platform, 0) + 1
        by_reason[_reason(c)] = by_reason.get(_reason(c), 0) + 1
        sums = money.setdefault(c.currency, [0, 0, 0])
        sums[0] += _milli(c.amount_claimed)
        sums[1] += _milli(c.amount_recovered)
        if c.state == "resolved":
            sums[2] += _milli(c.amount_claimed)
            days.append((c.resolved_at - c.opened_at).total_seconds() / 86400)
    return {
        "cases": len(mine),
        "by_state": by_state,
        "by_kind": by_kind,
        "by_platform": dict(sorted(by_platform.items())),
        "by_reason": dict(sorted(by_reason.items())),
        "money": [
            {
                "currency": cur,
                "claimed": from_milli(s[0], cur),
                "recovered": from_milli(s[1], cur),
                "rate": _rate(s[1], s[2]),
            }
            for cur, s in sorted(money.items())
        ],
        "median_days_to_resolution": round(statistics.median(days), 2) if days else None,
    }


def expected_recovery(
    cases: list[Case], workspace: str, owner: str | None, group_by: str
) -> dict[tuple[str, str], tuple[int, int, int]]:
    groups: dict[tuple[str, str], list[int]] = {}
    for c in cases:
        if not _visible(c, workspace, owner) or c.state != "resolved":
            continue
        value = {
            "platform": c.platform,
            "kind": c.kind,
            "reason": _reason(c),
            "month": iso(c.resolved_at)[:7],
        }[group_by]
        sums = groups.setdefault((value, c.currency), [0, 0, 0])
        sums[0] += 1
        sums[1] += _milli(c.amount_claimed)
        sums[2] += _milli(c.amount_recovered)
    return {k: (v[0], v[1], v[2]) for k, v in groups.items()}


def expected_outcomes(cases: list[Case], workspace: str, owner: str | None) -> dict[str, Any]:
    def tally() -> dict[str, int]:
        return {"cases": 0, "granted": 0, "partial": 0, "rejected": 0, "withdrawn": 0, "open": 0}

    result: dict[str, Any] = {
        "appealed": tally(),
        "escalated": {
            level: tally()
            for level in ("supervisor", "social_media", "consumer_agency", "payment_provider")
        },
        "neither": tally(),
    }
    for c in cases:
        if not _visible(c, workspace, owner):
            continue
        groups = []
        if c.appeals:
            groups.append(result["appealed"])
        if c.escalation_level is not None:
            groups.append(result["escalated"][c.escalation_level])
        for t in groups or [result["neither"]]:
            t["cases"] += 1
            t[c.outcome or "open"] += 1
    return result


def timeline_rows(app: Any, workspace: str, owner: str | None) -> list[dict[str, Any]]:
    """What ``queries.timeline_with_platform`` gives, straight from the log: every event of
    the scope's cases with its platform, by case, then occurred_at, then version."""
    cases = {str(c.id): c for c in every_case(app)}
    rows = []
    for batch in read_log(app, 0, None, 1000):
        for r in batch:
            case = cases[r.case_id]
            if _visible(case, workspace, owner):
                rows.append(
                    {
                        "case_id": r.case_id,
                        "version": r.version,
                        "event_type": r.event_type,
                        "occurred_at": datetime.fromisoformat(r.occurred_at),
                        "platform": case.platform,
                    }
                )
    return sorted(rows, key=lambda x: (x["case_id"], x["occurred_at"], x["version"]))


# --- from-scratch GROUP BYs over the per-case facts ------------------------------------------
def regrouped(app: Any, projection: Reports) -> dict[str, set[tuple[Any, ...]]]:
    """Each counter table's rows (without ids) as a GROUP BY over the per-case facts (or
    contacts) gives them from scratch."""
    facts, contacts = projection.facts.name, projection.contacts.name
    selects = [
        f"SELECT workspace, owner, '{facet}' AS facet, {facet} AS value, currency, COUNT(*) AS n, "
        f"SUM(claimed_milli) AS c, SUM(recovered_milli) AS r FROM {facts} "
        f"GROUP BY workspace, owner, {facet}, currency"
        for facet in CASE_FACETS
    ]
    selects += [
        f"SELECT workspace, owner, 'resolved:{group}' AS facet, {column} AS value, currency, "
        f"COUNT(*) AS n, SUM(claimed_milli) AS c, SUM(recovered_milli) AS r FROM {facts} "
        f"WHERE state = 'resolved' GROUP BY workspace, owner, {column}, currency"
        for group, column in RESOLVED_FACETS.items()
    ]
    up = "(x + 86400000000 - 1) / 86400000000"  # whole days rounded up, x >= 0
    hours = "(x + 3600000000 - 1) / 3600000000"  # whole hours rounded up
    grouped = {
        "counts": " UNION ALL ".join(selects),
        "outcomes": f"SELECT workspace, owner, appealed, escalation_level, outcome, COUNT(*) AS n "
        f"FROM {facts} GROUP BY workspace, owner, appealed, escalation_level, outcome",
        "resolution_days": f"SELECT workspace, owner, {up.replace('x', 'resolution_micro')} AS d, "
        f"COUNT(*) AS n FROM {facts} WHERE resolution_micro IS NOT NULL "
        f"GROUP BY workspace, owner, {up.replace('x', 'resolution_micro')}",
        "resolution_hours": f"SELECT workspace, owner, "
        f"{hours.replace('x', 'resolution_micro')} AS h, COUNT(*) AS n FROM {facts} "
        f"WHERE resolution_micro IS NOT NULL "
        f"GROUP BY workspace, owner, {hours.replace('x', 'resolution_micro')}",
        "answer_hours": f"SELECT workspace, owner, platform, contact, "
        f"{hours.replace('x', 'answer_micro')} AS h, COUNT(*) AS n FROM {contacts} "
        f"WHERE contact IS NOT NULL AND answer_micro IS NOT NULL "
        f"GROUP BY workspace, owner, platform, contact, {hours.replace('x', 'answer_micro')}",
        "answer_days": f"SELECT workspace, owner, platform, contact, "
        f"CASE WHEN answer_micro IS NULL THEN NULL ELSE {up.replace('x', 'answer_micro')} END "
        f"AS d, COUNT(*) AS n FROM {contacts} WHERE contact IS NOT NULL "
        f"GROUP BY workspace, owner, platform, contact, "
        f"CASE WHEN answer_micro IS NULL THEN NULL ELSE {up.replace('x', 'answer_micro')} END",
    }
    return {
        name: {tuple(int(v) if isinstance(v, Decimal) else v for v in r.values()) for r in rows}
        for name, sql in grouped.items()
        for rows in [app.database.fetchall(sql)]
    }


def stored_counters(app: Any, projection: Reports) -> dict[str, set[tuple[Any, ...]]]:
    tables = {
        "counts": projection.counts,
        "outcomes": projection.outcomes,
        "resolution_days": projection.resolution_days,
        "resolution_hours": projection.resolution_hours,
        "answer_days": projection.answer_days,
        "answer_hours": projection.answer_hours,
    }
    found = {}
    for name, table in tables.items():
        rows = app.database.fetchall(f"SELECT * FROM {table.name}")
        found[name] = {tuple(v for k, v in r.items() if k != "id") for r in rows}
    return found


def check_reports(app: Any, policy: DeadlinePolicy, *, narrowing: bool = True) -> None:
    """Every report in every scope as the old code worked it out; and again with every
    median's middle day narrowed to its middle hour first (done for big days only)."""
    if narrowing:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(queries, "NARROW_DAY_ROWS", {"postgres": 0, "sqlite": 0})
            check_reports(app, policy, narrowing=False)
    cases = list(every_case(app))
    db = app.database
    for workspace, owner in scopes(app):
        assert queries.summary(db, workspace, owner) == expected_summary(cases, workspace, owner)
        for group_by in queries.GROUPS:
            found = {
                (g["group"], g["currency"]): (
                    g["cases"],
                    _milli(g["claimed"]),
                    _milli(g["recovered"]),
                )
                for g in queries.recovery(db, workspace, owner, group_by)
            }
            assert found == expected_recovery(cases, workspace, owner, group_by)
        assert queries.outcomes(db, workspace, owner) == expected_outcomes(cases, workspace, owner)
        reference = timeliness_in_python(timeline_rows(app, workspace, owner), policy)
        assert queries.timeliness(db, workspace, owner, policy) == reference


# --- the tests -----------------------------------------------------------------------------
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10**6), count=st.integers(1, 9))
def test_counters_equal_a_group_by_over_the_facts_for_random_histories(app, seed, count) -> None:
    record_history(app, seed, count)  # the app's log grows over the examples
    whole = replay(app, batch_size=10_000, suffix="_whole")
    single = replay(app, batch_size=1, suffix="_single")
    sevens = replay(app, batch_size=7, suffix="_sevens")
    # as a rebuild makes them: the counters held over every batch and written at the end,
    # and written whenever they name a few rows (so some are written mid-way, some held)
    held = replay(app, batch_size=7, suffix="_held", bulk=True)
    with patch.object(reports_module, "HELD_KEYS", 5):
        flushed = replay(app, batch_size=3, suffix="_flushed", bulk=True)
    rows = dump(app, whole)
    # the same rows however the log is cut into batches (and inline, once live)
    assert dump(app, single) == rows
    assert dump(app, sevens) == rows
    assert dump(app, held) == rows
    assert dump(app, flushed) == rows
    if LIVE:
        assert dump(app, _projection(app)) == rows
    # the facts are the aggregates' and the counters a from-scratch GROUP BY over them
    by_id = {r["case_id"]: r for r in rows[Reports.facts.name]}
    for case in every_case(app):
        fact = by_id.pop(str(case.id))
        assert fact == case_contribution(case, str(case.id), fact["opened_position"])
    assert by_id == {}
    assert stored_counters(app, whole) == regrouped(app, whole)
    assert all(r["cases"] > 0 for r in rows[Reports.counts.name])  # emptied rows are gone
    # every contact and answering event has its row
    kinds = set(OUTBOUND) | INBOUND
    logged = [r for b in read_log(app, 0, None, 1000) for r in b if r.event_type in kinds]
    assert [r["position"] for r in rows[Reports.contacts.name]] == [r.position for r in logged]
    # and the reports read from them are the reports worked out in Python
    project(app)
    policy = DeadlinePolicy(follow_up_days={"temu": 3, "tiktok": 5}, follow_up_days_default=4)
    check_reports(app, policy)


def _act(app: Any, case_id: Any, action: str, day: float, **overrides: Any) -> None:
    getattr(as_users(app), action)(case_id, **action_args(action, at(day), **overrides))


def _resolved_after(app: Any, days: list[float], owner: str = "user-1") -> None:
    for d in days:
        case_id = as_users(app).open_credit(**credit_facts(owner=owner), now=NOW).case.id
        _act(app, case_id, "resolve", 60 + d)


def test_median_days_to_resolution_with_odd_and_even_counts(app) -> None:
    db = app.database
    project(app)
    assert queries.summary(db, "ws-1", None)["median_days_to_resolution"] is None
    _resolved_after(app, [10, 3, 5])
    project(app)
    assert queries.summary(db, "ws-1", None)["median_days_to_resolution"] == 5.0
    _resolved_after(app, [2.5])  # even: the mean of 3 and 5
    project(app)
    assert queries.summary(db, "ws-1", None)["median_days_to_resolution"] == 4.0
    # the two middle values in one day's bucket (1 < d <= 2), at an offset within it
    _resolved_after(app, [1.25, 1.5, 1.75, 1.8], owner="user-2")
    project(app)
    assert queries.summary(db, "ws-1", "user-2")["median_days_to_resolution"] == 1.62
    # all eight: 1.25 1.5 1.75 1.8 | 2.5 3 5 10 -> (1.8 + 2.5) / 2, across two buckets
    assert queries.summary(db, "ws-1", None)["median_days_to_resolution"] == 2.15
    _resolved_after(app, [0])  # resolved the moment it opened: nine, the fifth is 1.8
    project(app)
    assert queries.summary(db, "ws-1", None)["median_days_to_resolution"] == 1.8
    assert queries.summary(db, "ws-1", "user-1")["median_days_to_resolution"] == 3.0
    check_reports(app, DeadlinePolicy())


def _temu(report: list[dict[str, Any]]) -> dict[str, Any]:
    (entry,) = [p for p in report if p["platform"] == "temu"]
    return entry


def test_timeliness_with_back_dated_answers_and_contacts(app) -> None:
    db, policy = app.database, DeadlinePolicy(follow_up_days={"temu": 3})
    case_id = as_users(app).open_credit(**credit_facts(), now=NOW).case.id
    _act(app, case_id, "submit", 61)
    _act(app, case_id, "record_response", 65)
    project(app)
    after = _temu(queries.timeliness(db, "ws-1", None, policy))["after"]
    assert (after["submission"]["answered"], after["submission"]["median_days_to_answer"]) == (
        1,
        4.0,
    )
    assert after["submission"]["share_answered_within_interval"] == 0.0
    # a follow-up recorded now but sent on day 63: the submission went unanswered, and the
    # response of day 65 answered the follow-up after 2 days
    _act(app, case_id, "follow_up", 63)
    project(app)
    after = _temu(queries.timeliness(db, "ws-1", None, policy))["after"]
    assert after["submission"]["contacts"] == 1 and after["submission"]["answered"] == 0
    assert after["follow_up"]["median_days_to_answer"] == 2.0
    assert after["follow_up"]["share_answered_within_interval"] == 1.0
    # a response recorded last but received on day 62: it answered the submission (1 day)
    _act(app, case_id, "record_response", 62)
    project(app)
    temu = _temu(queries.timeliness(db, "ws-1", None, policy))
    assert temu["after"]["submission"]["median_days_to_answer"] == 1.0
    assert temu["after"]["follow_up"]["median_days_to_answer"] == 2.0
    assert temu["overall"] == {
        "contacts": 2,
        "answered": 2,
        "answer_rate": 1.0,
        "median_days_to_answer": 1.5,
        "share_answered_within_interval": 1.0,
    }
    # exactly the interval (3 days) is within it; a moment more is not
    other = as_users(app).open_credit(**credit_facts(owner="user-2"), now=NOW).case.id
    _act(app, other, "submit", 61)
    _act(app, other, "deny", 64)
    late = as_users(app).open_credit(**credit_facts(owner="user-2"), now=NOW).case.id
    _act(app, late, "submit", 61)
    as_users(app).deny(late, **action_args("deny", at(64) + timedelta(microseconds=1)))
    project(app)
    theirs = _temu(queries.timeliness(db, "ws-1", "user-2", policy))["after"]["submission"]
    assert (theirs["contacts"], theirs["answered"]) == (2, 2)
    assert theirs["share_answered_within_interval"] == 0.5
    # the interval is the settings' at query time
    wider = DeadlinePolicy(follow_up_days={"temu": 4})
    assert (
        _temu(queries.timeliness(db, "ws-1", "user-2", wider))["after"]["submission"][
            "share_answered_within_interval"
        ]
        == 1.0
    )
    for p in (policy, wider):
        check_reports(app, p)


def test_a_resolved_case_moves_between_counters_and_empties_the_old_rows(app) -> None:
    case_id = as_users(app).open_credit(**credit_facts(), now=NOW).case.id
    project(app)
    opened = app.database.fetchall(
        f"SELECT value FROM {queries.REPORT_COUNTS} WHERE facet = 'state'"
    )
    assert opened == [{"value": "opened"}]
    _act(app, case_id, "submit", 61)
    _act(app, case_id, "resolve", 63)
    project(app)
    states = app.database.fetchall(
        f"SELECT value, cases FROM {queries.REPORT_COUNTS} WHERE facet = 'state'"
    )
    assert states == [{"value": "resolved", "cases": 1}]
    assert queries.recovery(app.database, "ws-1", None, "month") == [
        {
            "group": "2026-03",
            "cases": 1,
            "currency": "USD",
            "claimed": D("25.00"),
            "recovered": D("25.00"),
            "rate": D("1.0000"),
        }
    ]


@pytest.mark.parametrize("store", ["sqlite"])
def test_a_report_reads_only_the_counters_and_the_middle_rows(app, store) -> None:
    """The summary's statements touch the counters and at most two rows of the facts."""
    _resolved_after(app, [float(d % 9) + 0.5 for d in range(60)])
    project(app)
    plan = app.database.fetchall(
        f"EXPLAIN QUERY PLAN SELECT resolution_micro FROM {queries.REPORT_CASES} "
        f"WHERE workspace = %s AND owner = %s AND resolution_micro IS NOT NULL "
        f"AND resolution_micro > 0 ORDER BY resolution_micro LIMIT 2 OFFSET 1",
        ["ws-1", "user-1"],
    )
    detail = " ".join(str(r.get("detail")) for r in plan)
    assert "USING COVERING INDEX" in detail and "TEMP B-TREE" not in detail
    assert queries.summary(app.database, "ws-1", "user-1")["median_days_to_resolution"] == 4.5


def test_a_new_exchange_reads_its_cases_last_exchange_and_a_back_dated_one_all(
    app, store, monkeypatch
) -> None:
    """The inline write of an exchange that comes after the case's last one reads that one
    row of the case's contacts, however many it has; a back-dated one reads them all."""
    case_id = as_users(app).open_credit(**credit_facts(), now=NOW).case.id
    _act(app, case_id, "submit", 61)
    for day in range(62, 92):
        _act(app, case_id, "follow_up", day)
    read: list[int] = []
    fetchall = Cursor.fetchall

    def counted(self: Cursor, statement: str, params: Any = ()) -> list[dict[str, Any]]:
        rows = fetchall(self, statement, params)
        if Reports.contacts.name in statement:
            read.append(len(rows))
        return rows

    monkeypatch.setattr(Cursor, "fetchall", counted)
    _act(app, case_id, "record_response", 92)
    assert read == [1]
    read.clear()
    _act(app, case_id, "record_response", 70)  # answers the follow-up of day 70
    assert read == [1, 32]
    monkeypatch.undo()
    if store == "sqlite":  # the last row is found through the index, without a sort
        (statement, params), *_ = last_row_reads(Reports.contacts, [str(case_id)], EXCHANGE_ORDER)
        plan = app.database.fetchall(f"EXPLAIN QUERY PLAN {statement}", list(params))
        detail = " ".join(str(r.get("detail")) for r in plan)
        assert "USING INDEX" in detail and "TEMP B-TREE" not in detail, detail
    check_reports(app, DeadlinePolicy(follow_up_days={"temu": 3}))
