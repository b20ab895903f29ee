"""The reports projection: counters per workspace and owner, so that a report costs the
same at 1k and at 1M events.

Each case contributes to a few counter rows (how many cases, what they claimed and
recovered), keyed by the dimensions a report groups by. The projection keeps every
case's last contribution in a row of its own (``facts``): for each case a batch
touches it subtracts that and adds the new one, read from the aggregate as the
batch leaves it (the domain's own fold; no lifecycle rule is repeated here). A
counter row whose count falls to zero is deleted, so the same log gives the same
rows however it was cut into batches (inline, or a rebuild).

- ``counts``: one row per (workspace, owner, facet, value, currency). Facets over
  every case: ``state``, ``kind``, ``platform``, ``reason``; over resolved cases, what
  recovery groups by: ``resolved:platform``, ``resolved:kind``, ``resolved:reason``,
  ``resolved:month`` (of resolution). The summary reads the first four, recovery one
  of the others: both a GROUP BY over at most a few hundred rows per scope.
- ``outcomes``: (workspace, owner, appealed, highest escalation level, outcome or open).
- ``resolution_days`` and ``resolution_hours``: resolved cases by whole days (and
  hours) to resolution, rounded up. The median is found by walking the day counts to
  the middle day, the hour counts of that day to the middle hour, then reading the
  middle row(s) of that hour through the facts' index on microseconds to resolution
  (``ORDER BY ... LIMIT 2 OFFSET k``, k within one hour).
- ``contacts``: every outbound contact (submission, follow-up, appeal, escalation)
  and every event that can answer one (response, denial, resolution), one row per
  event. A touched case's contacts are worked out again in the order things happened
  (``occurred_at``, then version), as ``timeliness.py`` reads them: from its last row
  on (read through an index on that order) when every new row comes after it, from
  all its rows when one is back-dated (it can answer, or cut off, an earlier contact).
- ``answer_days``: contacts by (workspace, owner, platform, contact, whole days to
  the answer rounded up, or NULL when unanswered). ``d <= interval`` is
  ``days <= interval`` for a whole number of days, so the share answered within the
  platform's interval is read from these counts at query time, whatever the settings.
  ``answer_hours``: answered contacts by whole hours, for the medians as above.

Counter rows are keyed by a 63-bit hash of their dimensions (their unique whole-number
``order_by`` column; the same on every store and every rebuild).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from domain.actions import DECLARED
from domain.cases import Case, Credit
from infrastructure.projections.base import (
    Column,
    ProjectionContext,
    ReclaimProjection,
    Table,
    View,
    case_reads,
    last_row_reads,
    last_rows,
    load_rows,
    rows_of_cases,
)
from infrastructure.projections.events import Batch, Recorded, iso, milli
from infrastructure.store.database import Cursor, Read

#: microseconds in a day: durations are kept in microseconds, exactly as the
#: timestamps (``(later - earlier).total_seconds() / 86400`` is ``micro / 1e6 / 86400``)
DAY = 86_400_000_000
HOUR = 3_600_000_000

#: outbound events (timeline event types) -> the contact they are
OUTBOUND = DECLARED.outbound
#: the events that answer the contact before them
INBOUND = DECLARED.inbound
CONTACTS = DECLARED.contacts
#: the order things happened in, of one case's exchange rows (a new event's version is
#: higher than any stored one's, so it comes after every row with its ``occurred_at``)
EXCHANGE_ORDER = "case_id, occurred_at, version"
#: events that change none of a case's contribution (nor its contacts)
RECORD_ONLY = DECLARED.record_only
#: facets counted over every case, and over resolved cases (recovery's groupings)
CASE_FACETS = ("state", "kind", "platform", "reason")
RESOLVED_FACETS = {"platform": "platform", "kind": "kind", "reason": "reason", "month": "month"}

Row = dict[str, Any]
#: a rebuild writes its held counter changes once they name this many counter rows
HELD_KEYS = 20_000


def micro(delta: timedelta) -> int:
    """A duration in whole microseconds (exact)."""
    return delta // timedelta(microseconds=1)


def days_up(microseconds: int) -> int:
    """Whole days, rounded up: ``d <= n`` (d in days, n whole) exactly when ``days_up <= n``."""
    return -(-microseconds // DAY)


def hours_up(microseconds: int) -> int:
    """Whole hours, rounded up: day ``d`` holds hours ``24 (d - 1) + 1`` to ``24 d``."""
    return -(-microseconds // HOUR)


@lru_cache(maxsize=1 << 16)
def counter_id(key: tuple[Any, ...]) -> int:
    """A counter row's id: 63 bits of SHA-256 of its dimensions (positive on every store).

    Remembered for the most recent keys: a command's counters are mostly ones written
    before, and a rebuild writes the same few thousand keys batch after batch (this was
    5 % of a rebuild's time). A key holds text, whole numbers and None only (never a
    bool, which would share a cached entry with 1 or 0)."""
    digest = hashlib.sha256(json.dumps(list(key), separators=(",", ":")).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _counter(name: str, keys: Sequence[Column], sums: Sequence[str]) -> Table:
    return Table(
        name,
        (
            Column("id", "BIGINT", null=False),
            *keys,
            *(Column(s, "BIGINT", null=False) for s in sums),
        ),
        primary_key="id",
        order_by="id",
        indexes=(
            ", ".join(c.name for c in keys),
            ", ".join(c.name for c in keys if c.name != "owner"),
        ),
    )


def _text(name: str, null: bool = False) -> Column:
    return Column(name, "TEXT", null=null)


def case_contribution(case: Case, case_id: str, opened_position: int) -> Row:
    """What one case counts for, read from the aggregate."""
    resolved_at: datetime | None = case.resolved_at
    resolved = case.state == "resolved"
    return {
        "case_id": case_id,
        "opened_position": opened_position,
        "workspace": case.workspace,
        "owner": case.owner,
        "kind": case.kind,
        "platform": case.platform,
        "reason": case.problem if isinstance(case, Credit) else case.reason,  # type: ignore[attr-defined]
        "currency": case.currency,
        "state": case.state,
        "claimed_milli": milli(case.amount_claimed),
        "recovered_milli": milli(case.amount_recovered),
        "month": iso(resolved_at)[:7] if resolved and resolved_at is not None else None,
        "appealed": 1 if case.appeals else 0,
        "escalation_level": case.escalation_level,
        "outcome": case.outcome,
        "resolution_micro": (
            micro(resolved_at - case.opened_at) if resolved and resolved_at is not None else None
        ),
    }


class Deltas:
    """Net changes to one counter table: key -> sums, then written in two statements (an
    upsert adding them, and a delete of the rows they empty). A counter table's sums are
    its BIGINT columns after ``id``; its keys are the others."""

    def __init__(self, table: Table) -> None:
        self.table = table
        names = table.column_names
        self.sums = tuple(c.name for c in table.columns if c.type == "BIGINT" and c.name != "id")
        self.keys = tuple(n for n in names if n != "id" and n not in self.sums)
        self.changes: dict[tuple[Any, ...], list[int]] = {}

    def add(self, key: tuple[Any, ...], values: Sequence[int], sign: int) -> None:
        sums = self.changes.setdefault(key, [0] * len(self.sums))
        for i, value in enumerate(values):
            sums[i] += sign * value

    def write(self, cursor: Cursor) -> None:
        rows, emptied = [], []
        # in id order: the same order of rows whatever order the batch met them in
        for ident, key in sorted(((counter_id(k), k) for k in self.changes), key=_first):
            sums = self.changes[key]
            if not any(sums):
                continue
            rows.append((ident, *key, *sums))
            if sums[0] < 0:
                emptied.append((ident,))
        if not rows:
            return
        name = self.table.name
        columns = ("id", *self.keys, *self.sums)
        marks = ", ".join(["%s"] * len(columns))
        updates = ", ".join(f"{s} = {name}.{s} + excluded.{s}" for s in self.sums)
        cursor.executemany(
            f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            rows,
        )
        cursor.executemany(f"DELETE FROM {name} WHERE id = %s AND {self.sums[0]} = 0", emptied)


def _first(pair: tuple[int, Any]) -> int:
    return pair[0]


class Reports(ReclaimProjection):
    name = "reports"
    #: 2: counters (version 1 was one facts row per case, aggregated on every read)
    version = 2

    #: each case's last contribution (and the index the median of days to resolution reads)
    facts = Table(
        "reclaim_report_case_facts",
        (
            _text("case_id"),
            Column("opened_position", "BIGINT", null=False),
            _text("workspace"),
            _text("owner"),
            _text("kind"),
            _text("platform"),
            _text("reason"),
            _text("currency"),
            _text("state"),
            Column("claimed_milli", "BIGINT", null=False),
            Column("recovered_milli", "BIGINT", null=False),
            _text("month", null=True),
            Column("appealed", "INTEGER", null=False),
            _text("escalation_level", null=True),
            _text("outcome", null=True),
            Column("resolution_micro", "BIGINT"),
        ),
        primary_key="case_id",
        order_by="opened_position",
        unique=("opened_position",),
        indexes=("workspace, owner, resolution_micro", "workspace, resolution_micro"),
    )
    counts = _counter(
        "reclaim_report_counts",
        (_text("workspace"), _text("owner"), _text("facet"), _text("value"), _text("currency")),
        ("cases", "claimed_milli", "recovered_milli"),
    )
    outcomes = _counter(
        "reclaim_report_outcomes",
        (
            _text("workspace"),
            _text("owner"),
            Column("appealed", "INTEGER", null=False),
            _text("escalation_level", null=True),
            _text("outcome", null=True),
        ),
        ("cases",),
    )
    resolution_days = _counter(
        "reclaim_report_resolution_days",
        (_text("workspace"), _text("owner"), Column("days", "INTEGER", null=False)),
        ("cases",),
    )
    #: the same by whole hours: read only within a median's middle day
    resolution_hours = _counter(
        "reclaim_report_resolution_hours",
        (_text("workspace"), _text("owner"), Column("hours", "INTEGER", null=False)),
        ("cases",),
    )
    #: outbound contacts (``contact`` set) and the events that may answer them (``contact``
    #: NULL), one row per event; a contact's answer in microseconds, NULL while unanswered
    contacts = Table(
        "reclaim_report_contacts",
        (
            Column("position", "BIGINT", null=False),
            _text("case_id"),
            Column("version", "INTEGER", null=False),
            _text("occurred_at"),
            _text("event_type"),
            _text("workspace"),
            _text("owner"),
            _text("platform"),
            _text("contact", null=True),
            Column("answer_micro", "BIGINT"),
        ),
        # keyed by case first: a batch reads its cases' rows through the key, also while
        # a rebuild writes the table before making its indexes
        primary_key="case_id, position",
        order_by="position",
        unique=("position",),
        indexes=(
            "workspace, owner, platform, contact, answer_micro",
            "workspace, platform, contact, answer_micro",
            "workspace, owner, platform, answer_micro",
            "workspace, platform, answer_micro",
            EXCHANGE_ORDER,
        ),
    )
    answer_days = _counter(
        "reclaim_report_answer_days",
        (
            _text("workspace"),
            _text("owner"),
            _text("platform"),
            _text("contact"),
            Column("days", "INTEGER"),
        ),
        ("contacts",),
    )
    #: answered contacts by whole hours to the answer: read only within a median's middle day
    answer_hours = _counter(
        "reclaim_report_answer_hours",
        (
            _text("workspace"),
            _text("owner"),
            _text("platform"),
            _text("contact"),
            Column("hours", "INTEGER", null=False),
        ),
        ("contacts",),
    )
    tables: tuple[Table, ...] = (
        facts,
        counts,
        outcomes,
        resolution_days,
        resolution_hours,
        contacts,
        answer_days,
        answer_hours,
    )

    def __init__(self, view: View, context: ProjectionContext, *, suffix: str = "") -> None:
        super().__init__(view, context, suffix=suffix)
        #: a rebuild's counter changes not written yet (``_write_counters``)
        self._held: dict[str, Deltas] | None = None

    @property
    def counter_tables(self) -> tuple[Table, ...]:
        """The tables ``Deltas`` keep (rows of sums by key), under this instance's names."""
        return (
            self.counts,
            self.outcomes,
            self.resolution_days,
            self.resolution_hours,
            self.answer_days,
            self.answer_hours,
        )

    def prepare(self, batch: Batch) -> _Prepared:
        """What each case whose counted facts the batch may change counts for, and the
        batch's contacts and answers with their exchange rows, but for their positions.
        ``reads`` and ``apply`` both take their cases from here."""
        # a note or a piece of evidence changes nothing a report counts
        touched = sorted({r.case_id for r in batch.events if r.name not in RECORD_ONLY})
        return _Prepared(
            {c: case_contribution(batch.cases[c], c, 0) for c in touched},
            [
                (r, self._exchange(r, batch.cases[r.case_id]))
                for r in batch.events
                if r.event_type in OUTBOUND or r.event_type in INBOUND
            ],
        )

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        counted, exchanges = self.prepared(batch)
        opened = _opened(batch)
        before = load_rows(cursor, self.facts, [c for c in counted if c not in opened])
        counters = self._counters(cursor)
        counts, outcomes = counters[self.counts.name], counters[self.outcomes.name]
        days = counters[self.resolution_days.name]
        hours = counters[self.resolution_hours.name]
        changed: list[Row] = []
        for case_id in counted:
            old = before.get(case_id)
            if old is None and case_id not in opened:
                raise LookupError(f"case {case_id} has events but was never opened")
            new = counted[case_id]
            new["opened_position"] = opened[case_id] if old is None else old["opened_position"]
            if new == old:
                continue
            changed.append(new)
            for row, sign in ((old, -1), (new, 1)):
                if row is not None:
                    _count(row, sign, counts, outcomes, days, hours)
        self.facts.write(cursor, changed, upsert=True)
        self._apply_contacts(cursor, opened, exchanges, counters)
        self._write_counters(cursor, counters)

    # --- the counters: written with each batch, or held over a rebuild's batches ----------
    def _counters(self, cursor: Cursor) -> dict[str, Deltas]:
        """The net changes to every counter table, by table name: new for each batch; in a
        rebuild's bulk transactions, those held since the last were written."""
        if cursor.bulk and self._held is not None:
            return self._held
        counters = {t.name: Deltas(t) for t in self.counter_tables}
        if cursor.bulk:
            self._held = counters
        return counters

    def _write_counters(self, cursor: Cursor, counters: dict[str, Deltas]) -> None:
        """Inline, every batch's changes are written in its transaction. A rebuild writes
        into new tables nobody reads until they are complete and that its batches never
        read back (only the facts and contacts), so it holds the changes over batches and
        writes their sum once they name ``HELD_KEYS`` counter rows, and at ``finish``:
        one upsert a counter row for the rebuild instead of one a batch."""
        if cursor.bulk and sum(len(d.changes) for d in counters.values()) < HELD_KEYS:
            return
        for deltas in counters.values():
            deltas.write(cursor)
        self._held = None

    def finish(self, cursor: Cursor) -> None:
        if self._held is not None:
            for deltas in self._held.values():
                deltas.write(cursor)
            self._held = None

    def reads(self, batch: Batch) -> list[Read]:
        counted, exchanges = self.prepared(batch)
        opened = _opened(batch)
        reads = case_reads(self.facts, [c for c in counted if c not in opened])
        exchanging = {r.case_id for r, _ in exchanges}
        earlier = [c for c in exchanging if c not in opened]
        return reads + last_row_reads(self.contacts, earlier, EXCHANGE_ORDER)

    # --- timeliness ------------------------------------------------------------------------
    def _apply_contacts(
        self,
        cursor: Cursor,
        opened: Mapping[str, int],
        exchanges: list[tuple[Recorded, Row]],
        counters: dict[str, Deltas],
    ) -> None:
        fresh: dict[str, list[Row]] = {}
        for r, row in exchanges:
            row["position"] = r.position
            fresh.setdefault(r.case_id, []).append(row)
        if not fresh:
            return
        # a case's rows before its last one stay as they are when every new row comes
        # after that one (a contact is answered by the first answer after it and before
        # the next contact): its last row is all there is to read, one indexed step.
        # Only a back-dated event (before the case's last exchange) reads them all.
        earlier = [c for c in fresh if c not in opened]
        lasts = last_rows(cursor, self.contacts, earlier, EXCHANGE_ORDER)
        stored = {c: [last] for c, last in lasts.items()}
        back_dated = [
            c
            for c, last in lasts.items()
            if min(row["occurred_at"] for row in fresh[c]) < last["occurred_at"]
        ]
        for case_id in back_dated:
            stored[case_id] = []
        for row in rows_of_cases(cursor, self.contacts, back_dated):
            stored[row["case_id"]].append(row)
        deltas, hours = counters[self.answer_days.name], counters[self.answer_hours.name]
        written: list[Row] = []
        for case_id in sorted(fresh):
            old = {row["position"]: row for row in stored.get(case_id, [])}
            rows = {**old, **{row["position"]: row for row in fresh[case_id]}}
            for row in answered(rows.values()):
                previous = old.get(row["position"])
                if previous == row:
                    continue
                written.append(row)
                for contact, sign in ((previous, -1), (row, 1)):
                    if contact is None or contact["contact"] is None:
                        continue
                    deltas.add(_answer_key(contact), (1,), sign)
                    if contact["answer_micro"] is not None:
                        hours.add(_answer_hours_key(contact), (1,), sign)
        self.contacts.write(cursor, written, upsert=True)

    @staticmethod
    def _exchange(recorded: Recorded, case: Case) -> Row:
        return {
            "position": recorded.position,
            "case_id": recorded.case_id,
            "version": recorded.version,
            "occurred_at": recorded.occurred_at,
            "event_type": recorded.event_type,
            "workspace": case.workspace,
            "owner": case.owner,
            "platform": case.platform,
            "contact": OUTBOUND.get(recorded.event_type),
            "answer_micro": None,
        }


def _count(
    row: Row, sign: int, counts: Deltas, outcomes: Deltas, days: Deltas, hours: Deltas
) -> None:
    scope = (row["workspace"], row["owner"])
    money = (1, row["claimed_milli"], row["recovered_milli"])
    for facet in CASE_FACETS:
        counts.add((*scope, facet, row[facet], row["currency"]), money, sign)
    if row["state"] == "resolved":
        for group, column in RESOLVED_FACETS.items():
            counts.add((*scope, f"resolved:{group}", row[column], row["currency"]), money, sign)
    outcomes.add((*scope, row["appealed"], row["escalation_level"], row["outcome"]), (1,), sign)
    if row["resolution_micro"] is not None:
        days.add((*scope, days_up(row["resolution_micro"])), (1,), sign)
        hours.add((*scope, hours_up(row["resolution_micro"])), (1,), sign)


def _answer_key(row: Row) -> tuple[Any, ...]:
    answer = row["answer_micro"]
    days = None if answer is None else days_up(answer)
    return (row["workspace"], row["owner"], row["platform"], row["contact"], days)


def _answer_hours_key(row: Row) -> tuple[Any, ...]:
    scope = (row["workspace"], row["owner"], row["platform"], row["contact"])
    return (*scope, hours_up(row["answer_micro"]))


def answered(rows: Iterable[Row]) -> list[Row]:
    """One case's exchange rows with each contact's answer worked out again: in the order
    things happened (occurred_at, then version), a contact is answered by the first
    response, denial or resolution after it and before the next contact."""
    ordered = sorted(rows, key=lambda r: (r["occurred_at"], r["version"]))
    out: list[Row] = []
    waiting: Row | None = None
    for row in ordered:
        row = {**row, "answer_micro": None} if row["contact"] is not None else row
        if waiting is not None and row["contact"] is None:
            since = datetime.fromisoformat(waiting["occurred_at"])
            waiting["answer_micro"] = micro(datetime.fromisoformat(row["occurred_at"]) - since)
            waiting = None
        elif row["contact"] is not None:
            waiting = row
        out.append(row)
    return out


def _opened(batch: Batch) -> dict[str, int]:
    """The cases the batch opens, with the position of their opening."""
    return {r.case_id: r.position for r in batch.events if r.name == "Opened"}


class _Prepared(NamedTuple):
    #: case id -> what it counts for, in case id order
    counted: dict[str, Row]
    #: each contact or answer in the batch, with its exchange row
    exchanges: list[tuple[Recorded, Row]]
