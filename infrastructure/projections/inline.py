"""Inline projections: a command's events and every read row they produce commit in
one transaction (the inline projection lifecycle of Marten and Emmett).

``ReclaimApplication.save`` hands the recorder its domain events and the cases they
changed (``inline=InlineSave(...)``). Before it takes the store's write lock the
recorder has the rows made as far as the cases and events alone make them
(``InlineProjections.prepare``); once it has inserted the events and knows their
positions, it calls ``InlineProjections.write`` with its own cursor, still inside the
transaction and still holding the lock, which fills in the positions, reads what it
must (the audit chain's head, the reports' rows of these cases) and writes. Each
projection's rows and tracking position go in with the events, or nothing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import StoredEvent

from infrastructure.projections.audit import AuditLog, signing_key
from infrastructure.projections.base import (
    ProjectionContext,
    ReclaimProjection,
    indexed_columns,
    make_view,
    table_exists,
    write_positions,
)
from infrastructure.projections.cases import CaseList
from infrastructure.projections.events import Batch, Recorded
from infrastructure.projections.feed import Feed
from infrastructure.projections.reports import Reports
from infrastructure.projections.timeline import Timeline
from infrastructure.settings import Settings
from infrastructure.store.database import Cursor, Database, Read
from infrastructure.store.pg_batch import Sent, StatementBatch

#: the application's name, which keys its events' tracking rows
APP_NAME = "Reclaim"

PROJECTION_CLASSES: tuple[type[ReclaimProjection], ...] = (
    CaseList,
    Timeline,
    AuditLog,
    Reports,
    Feed,
)
NAMES: tuple[str, ...] = tuple(c.name for c in PROJECTION_CLASSES)


def build(
    database: Database,
    context: ProjectionContext,
    names: Sequence[str] = NAMES,
    *,
    suffix: str = "",
) -> dict[str, ReclaimProjection]:
    """The projections, each with a view on the database's datastore."""
    classes = {c.name: c for c in PROJECTION_CLASSES}
    return {
        n: classes[n](
            make_view(database.datastore, database.dialect, classes[n].tracking_name()),
            context,
            suffix=suffix,
        )
        for n in names
    }


#: tables earlier versions kept and nothing reads any more: dropped when tables are made
#: (the reports' one facts row per case, aggregated on every read; the timeline's and the
#: audit log's copies of each case's scope, now read from the case itself)
RETIRED_TABLES = ("reclaim_report_cases", "reclaim_timeline_cases", "reclaim_audit_cases")


def projection_context(settings: Settings, database: Database | None = None) -> ProjectionContext:
    """``database``: the store whose shared audit signing key to use (see ``signing_key``)."""
    key = signing_key(settings, database)
    return ProjectionContext(APP_NAME, key, settings.deadline_policy())


def create_projection_tables(database: Database, projections: Iterable[ReclaimProjection]) -> None:
    """Each projection's tracking table and its own tables with their indexes. A table a
    rebuild swapped in keeps the index names it was built with: an index is only made
    where no index on the same columns exists."""
    projections = list(projections)
    for projection in projections:
        projection.view.create_table()
    with database.transaction() as cursor:
        for retired in RETIRED_TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {retired}")
        for projection in projections:
            for table in projection.tables:
                if not table_exists(cursor, table.name):
                    for statement in table.create_statements():
                        cursor.execute(statement)
                    continue
                for statement in table.index_statements(indexed_columns(cursor, table.name)):
                    cursor.execute(statement)


@dataclass(frozen=True)
class InlineSave:
    """What a save gives its recorder: the domain events in the order they are stored,
    and the cases they changed, by id."""

    events: Sequence[Any]
    cases: Mapping[Any, Any]
    #: each event's case's public fields just after it, where a save holds several
    #: events of one case (None: the case is as the event left it; ``feed.py``)
    facts_after: Sequence[dict[str, Any] | None] | None = None


class InlineProjections:
    def __init__(self, database: Database, context: ProjectionContext) -> None:
        self.database = database
        self.context = context
        self.projections = build(database, context)
        self.views = [p.view for p in self.projections.values()]

    def prepare(self, saved: InlineSave, stored_events: Sequence[StoredEvent]) -> Batch:
        """The batch of these events (their positions still to come), with every
        projection's ``prepare`` of it: the rows as far as the cases and events alone
        make them. The recorder calls this before it takes the store's write lock."""
        batch = Batch(
            [
                Recorded(0, event, stored)
                for event, stored in zip(saved.events, stored_events, strict=True)
            ],
            {str(case_id): case for case_id, case in saved.cases.items()},
        )
        if saved.facts_after is not None:
            for recorded, facts in zip(batch.events, saved.facts_after, strict=True):
                recorded.facts_after = facts
        for projection in self.projections.values():
            projection.prepared(batch)
        return batch

    def prefetch(self, statements: StatementBatch, batch: Batch) -> dict[Read, Sent]:
        """Send every query the projections will make for this batch down the
        recorder's statement batch, not waiting for the answers: they go with the
        events' INSERT (after the table lock) and come back in its round trip
        (PostgreSQL). ``write`` then reads them from there."""
        sent: dict[Read, Sent] = {}
        for projection in self.projections.values():
            for statement, params in projection.reads(batch):
                if (statement, params) not in sent:
                    sent[(statement, params)] = statements.execute(statement, params)
        return sent

    def write(
        self,
        raw_cursor: Any,
        batch: Batch,
        positions: Sequence[int],
        sent: dict[Read, Any] | None = None,
    ) -> None:
        """Every projection's rows for the batch, now that its events have their
        positions, and each one's new position, on the recorder's cursor inside its
        transaction (``sent``: what ``prefetch`` sent, answered there)."""
        if not positions:
            return
        for recorded, position in zip(batch.events, positions, strict=True):
            recorded.position = position
        cursor = Cursor(self.database, raw_cursor, prefetched=sent or {})
        for projection in self.projections.values():
            projection.apply(cursor, batch)
        write_positions(cursor, self.views, self.context.app_name, batch.last_position)

    def positions(self) -> dict[str, int]:
        """Each projection's position in the log (0 before its first event)."""
        return read_positions(self.database, self.projections, self.context.app_name)


def lag_behind(positions: Mapping[str, int], end: int | None) -> dict[str, int]:
    """How many positions each projection is behind the end of the log."""
    return {name: max((end or 0) - at, 0) for name, at in positions.items()}


def read_positions(
    database: Database, projections: Mapping[str, ReclaimProjection], app_name: str
) -> dict[str, int]:
    keys = {p.view.tracking_key(app_name): name for name, p in projections.items()}
    table = next(iter(projections.values())).view.tracking_table
    marks = ", ".join(["%s"] * len(keys))
    rows = database.fetchall(
        f"SELECT application_name, notification_id FROM {table} "
        f"WHERE application_name IN ({marks})",
        list(keys),
    )
    found = {keys[r["application_name"]]: r["notification_id"] for r in rows}
    return {name: found.get(name) or 0 for name in projections}
