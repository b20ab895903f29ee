"""Running the projections from the log: rebuilds, and catching up a projection added
later. Commands write every projection inline (``inline.py``); this module is for
when the tables must be made again from the events.

- ``Projector.rebuild()`` builds every projection into new tables (one transaction
  per batch for all of them), then takes the store's write lock, applies the events
  recorded meanwhile and swaps the new tables in, in one transaction: readers see
  the old tables until the new ones are complete, never a half-built one.
- ``Projector.catch_up()`` rebuilds only the projections whose position is behind
  the log's end (one added later, or one whose tables were dropped); none behind,
  nothing to do.
- ``feed`` applies the log to projections up to given positions (``verify`` uses it
  on a scratch copy).

Rebuilds fold the log through the domain's own event classes (``Folder``): the
projections read the same aggregates they get inline, so replay equals live.
Only one rebuild at a time: each takes a lock per projection (``locks.py``).
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from infrastructure.projections.base import ReclaimProjection, table_exists, write_positions
from infrastructure.projections.events import Batch, Recorded
from infrastructure.projections.feed import public_facts
from infrastructure.projections.inline import (
    NAMES,
    PROJECTION_CLASSES,
    build,
    lag_behind,
    projection_context,
    read_positions,
)
from infrastructure.projections.locks import ProjectorBusy, acquire, locks_for
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.database import Cursor, Database

__all__ = ["NAMES", "PROJECTION_CLASSES", "Folder", "Projector", "ReplayFailed", "feed"]

log = logging.getLogger("reclaim.projections")

BATCH_SIZE = 2000

Progress = Callable[[int], None]


class ReplayFailed(Exception):
    """The log holds an event a projection cannot take (a log changed behind its back)."""

    def __init__(self, name: str, first: int, last: int, error: Exception) -> None:
        where = f"position {first}" if first == last else f"positions {first}-{last}"
        super().__init__(f"{name} cannot replay {where}: {error}")
        self.name = name
        self.position = first


class Folder:
    """The domain's fold of the log, for a rebuild: each event applied to its case by the
    event's own class, as the repository would. Keeps the cases it last saw (a bounded
    number, so a replay's memory does not grow with the log) and loads any other case
    from the store as it stood just before the event."""

    LIMIT = 5_000

    def __init__(self, store: ReclaimApplication, limit: int = LIMIT) -> None:
        self.store = store
        self.limit = limit
        self._cases: OrderedDict[str, Any] = OrderedDict()

    def batch(self, recorded: Sequence[Recorded]) -> Batch:
        touched: dict[str, Any] = {}
        for r in recorded:
            case = touched.get(r.case_id)
            if case is None:
                case = self._cases.get(r.case_id)
            if r.name == "Opened":
                case = None
            elif case is None or case.version != r.version - 1:
                case = self._load(r)
            try:
                case = r.event.mutate(case)
            except Exception as error:
                raise ReplayFailed("the log", r.position, r.position, error) from error
            r.facts_after = public_facts(case)
            touched[r.case_id] = case
        for case_id, case in touched.items():
            self._cases[case_id] = case
            self._cases.move_to_end(case_id)
        while len(self._cases) > self.limit:
            self._cases.popitem(last=False)
        return Batch(recorded, touched)

    def _load(self, r: Recorded) -> Any:
        try:
            return self.store.repository.get(UUID(r.case_id), version=r.version - 1)
        except Exception as error:
            raise ReplayFailed(
                "the log", r.position, r.position, LookupError(f"case {r.case_id}: {error}")
            ) from error


def decode(store: ReclaimApplication, notification: Any) -> Recorded:
    try:
        return Recorded(notification.id, store.mapper.to_domain_event(notification), notification)
    except Exception as error:
        raise ReplayFailed("the log", notification.id, notification.id, error) from error


def read_log(
    store: ReclaimApplication, start: int, stop: int | None, batch_size: int
) -> Iterator[list[Recorded]]:
    """The log after ``start`` up to ``stop`` (None: its end now), decoded, a batch at a time."""
    while stop is None or start < stop:
        notifications = store.recorder.select_notifications(
            start=start, limit=batch_size, stop=stop, inclusive_of_start=False
        )
        if not notifications:
            return
        yield [decode(store, n) for n in notifications]
        start = notifications[-1].id


def apply_all(cursor: Cursor, projections: Sequence[ReclaimProjection], batch: Batch) -> None:
    for projection in projections:
        try:
            projection.apply(cursor, batch)
        except ReplayFailed:
            raise
        except Exception as error:
            first, last = batch.events[0].position, batch.last_position
            raise ReplayFailed(projection.name, first, last, error) from error


def feed(
    store: ReclaimApplication,
    projections: Sequence[ReclaimProjection],
    *,
    stops: dict[str, int] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> int:
    """Give each projection the events after its position (up to its stop), a batch per
    transaction for all of them, with their positions. Returns how many events were
    read. (``verify`` feeds its scratch copy this way.)"""
    positions = {p.name: p.position() for p in projections}
    limits = {p.name: (stops or {}).get(p.name) for p in projections}
    behind = [
        p for p in projections if limits[p.name] is None or positions[p.name] < limits[p.name]
    ]
    if not behind:
        return 0
    start = min(positions[p.name] for p in behind)
    ends = [limits[p.name] for p in behind]
    stop = None if None in ends else max(e for e in ends if e is not None)
    folder = Folder(store)
    database = Database(projections[0].view.datastore, projections[0].view.dialect)
    total = 0
    for recorded in read_log(store, start, stop, batch_size):
        batch = folder.batch(recorded)
        with database.transaction() as cursor:
            for projection in behind:
                after, limit = positions[projection.name], limits[projection.name]
                part = [
                    r
                    for r in recorded
                    if r.position > after and (limit is None or r.position <= limit)
                ]
                if not part:
                    continue
                apply_all(cursor, [projection], Batch(part, batch.cases))
                write_positions(cursor, [projection.view], store.name, part[-1].position)
                positions[projection.name] = part[-1].position
        total += len(recorded)
        if progress is not None:
            progress(len(recorded))
    return total


class Projector:
    def __init__(
        self,
        store: ReclaimApplication,
        *,
        names: Sequence[str] = NAMES,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.store = store
        self.names = tuple(names)
        self.batch_size = batch_size
        self.database: Database = store.database
        self.context = projection_context(store.settings, store.database)
        self.projections = build(self.database, self.context, self.names)
        self.locks = locks_for(store.settings, self.names)

    # --- where they are ------------------------------------------------------------------
    def positions(self) -> dict[str, int]:
        """Each projection's position in the log (0 before its first event)."""
        return read_positions(self.database, self.projections, self.context.app_name)

    def lag(self) -> dict[str, int]:
        """How many positions each projection is behind the end of the log."""
        return lag_behind(self.positions(), self.store.recorder.max_notification_id())

    # --- making them again ---------------------------------------------------------------
    def catch_up(self, *, timeout: float = 10.0, progress: Progress | None = None) -> int:
        """Rebuild the projections that are behind the log; returns how many events were read."""
        behind = [name for name, lag in self.lag().items() if lag > 0]
        if not behind:
            return 0
        return Projector(self.store, names=behind, batch_size=self.batch_size).rebuild(
            timeout=timeout, progress=progress
        )

    def rebuild(self, *, timeout: float = 10.0, progress: Progress | None = None) -> int:
        """Every projection made again from the log into new tables, then swapped in."""
        with self._locked(timeout):
            return self._rebuild(progress)

    @contextmanager
    def _locked(self, timeout: float | None) -> Iterator[None]:
        if not acquire(self.locks, timeout):
            raise ProjectorBusy("another rebuild is running these projections")
        try:
            yield
        finally:
            self.locks.release()

    def _rebuild(self, progress: Progress | None) -> int:
        drop_unfinished(self.database)
        suffix = f"__r{secrets.token_hex(4)}"
        fresh = build(self.database, self.context, self.names, suffix=suffix)
        projections = list(fresh.values())
        try:
            with self.database.transaction() as cursor:
                for projection in projections:
                    projection.create_tables(cursor, indexes=False)
            folder = Folder(self.store)
            read, at = 0, 0
            for recorded in read_log(self.store, 0, None, self.batch_size):
                with self.database.transaction(bulk=True) as cursor:
                    apply_all(cursor, projections, folder.batch(recorded))
                at = recorded[-1].position
                read += len(recorded)
                if progress is not None:
                    progress(len(recorded))
            with self.database.transaction(bulk=True) as cursor:
                for projection in projections:
                    projection.finish(cursor)
            with self.database.transaction() as cursor:
                for projection in projections:
                    for table in projection.tables:
                        for statement in table.index_statements():
                            cursor.execute(statement)
            self._vacuum(projections)
            read += self._swap(fresh, folder, at, progress)
        except BaseException:
            self._drop(projections)
            raise
        return read

    def _vacuum(self, projections: Sequence[ReclaimProjection]) -> None:
        """On PostgreSQL, the new tables vacuumed and analysed before readers get them, as
        after any bulk load: the planner has their statistics at once (not after
        autovacuum's next round), and their visibility map lets an index-only scan skip
        the table (a timeliness median at 1M events read 510 table pages without it:
        9.9 against 6.5 ms). VACUUM runs outside a transaction, each table on its own."""
        if not self.database.is_postgres:
            return
        for projection in projections:
            for table in projection.tables:
                self.database.execute(f"VACUUM (ANALYZE) {table.name}")

    def _swap(
        self,
        fresh: dict[str, ReclaimProjection],
        folder: Folder,
        at: int,
        progress: Progress | None,
    ) -> int:
        """Under the store's write lock: the events recorded since ``at`` into the new
        tables, the old tables dropped, the new ones renamed into their place, and every
        position set, in one transaction."""
        read = 0
        with self.database.transaction() as cursor:
            self._lock_writes(cursor)
            for recorded in read_log(self.store, at, None, self.batch_size):
                apply_all(cursor, list(fresh.values()), folder.batch(recorded))
                at = recorded[-1].position
                read += len(recorded)
                if progress is not None:
                    progress(len(recorded))
            for name, projection in fresh.items():
                live = self.projections[name]
                for old, new in zip(live.tables, projection.tables, strict=True):
                    cursor.execute(f"DROP TABLE IF EXISTS {old.name}")
                    cursor.execute(f"ALTER TABLE {new.name} RENAME TO {old.name}")
            views = [p.view for p in self.projections.values()]
            cursor.execute(
                f"DELETE FROM {views[0].tracking_table} WHERE application_name IN "
                f"({', '.join(['%s'] * len(views))})",
                [v.tracking_key(self.context.app_name) for v in views],
            )
            if at:
                write_positions(cursor, views, self.context.app_name, at)
        return read

    def _lock_writes(self, cursor: Cursor) -> None:
        """Hold off every writer until this transaction ends (the events table's lock, as
        the library's PostgreSQL recorder takes it; on SQLite, a first write takes the
        database's one write lock)."""
        if self.database.is_postgres:
            cursor.execute(f"LOCK TABLE {self.store.recorder.events_table_name} IN EXCLUSIVE MODE")
        else:
            table = next(iter(self.projections.values())).view.tracking_table
            cursor.execute(f"DELETE FROM {table} WHERE application_name = %s", ("__swap__",))

    def _drop(self, projections: Sequence[ReclaimProjection]) -> None:
        """Take away a rebuild's unfinished tables."""
        try:
            with self.database.transaction() as cursor:
                for projection in projections:
                    for table in projection.tables:
                        if table_exists(cursor, table.name):
                            cursor.execute(f"DROP TABLE {table.name}")
        except Exception:  # noqa: BLE001 - the rebuild's own error matters more
            log.warning("could not drop an unfinished rebuild's tables", exc_info=True)


def drop_unfinished(database: Database) -> list[str]:
    """Tables a killed rebuild left behind (``<table>__r<hex>``): dropped; their names."""
    if database.is_postgres:
        rows = database.fetchall(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        )
    else:
        rows = database.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    live = {t.name for c in PROJECTION_CLASSES for t in c.tables}
    leftovers = [
        r["name"] for r in rows if "__r" in r["name"] and r["name"].rsplit("__r", 1)[0] in live
    ]
    with database.transaction() as cursor:
        for name in leftovers:
            cursor.execute(f"DROP TABLE {name}")
    return leftovers


def count_events(store: ReclaimApplication) -> int:
    row = store.database.fetchone(f"SELECT COUNT(*) AS n FROM {store.recorder.events_table_name}")
    return int(row["n"]) if row else 0
