"""What every projection shares: its view (the library's tracking recorder, on the
application's own datastore), its tables, and how a batch of events is applied.

A projection's rows and its tracking position are written in one transaction, so
after a crash the projection resumes exactly after the last event it committed.
The tracking row is written first: on SQLite that takes the write lock at once
(no deferred read-then-write upgrade to fail), and the library's single-row
tracking statement refuses a position that is not past the stored one, so an
event can never be applied twice.

The store differences live in the two view classes below and nowhere else.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder

from domain.cases import UNSTORABLE
from domain.deadlines import DeadlinePolicy
from infrastructure.database import Cursor, Database
from infrastructure.projections.events import Recorded

#: PostgreSQL's table for the projections' tracking rows (SQLite's is the library's
#: fixed ``tracking``); one row per projection, keyed "<application>.<projection>"
POSTGRES_TRACKING_TABLE = "reclaim_projection_tracking"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # TEXT, INTEGER or BIGINT only: the same values back on both stores
    null: bool = True

    def ddl(self) -> str:
        return f"{self.name} {self.type}{'' if self.null else ' NOT NULL'}"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: str
    #: a unique whole-number column: rows are compared in this order
    order_by: str
    indexes: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def create_statements(self) -> list[str]:
        parts = [c.ddl() for c in self.columns]
        parts.append(f"PRIMARY KEY ({self.primary_key})")
        parts.extend(f"UNIQUE ({u})" for u in self.unique)
        statements = [f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(parts)})"]
        for i, columns in enumerate(self.indexes):
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {self.name}_ix{i} ON {self.name} ({columns})"
            )
        return statements

    def insert_statement(self) -> str:
        names = self.column_names
        marks = ", ".join(["%s"] * len(names))
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({marks})"

    def upsert_statement(self) -> str:
        keys = set(self.primary_key.replace(" ", "").split(","))
        updates = ", ".join(f"{n} = excluded.{n}" for n in self.column_names if n not in keys)
        return f"{self.insert_statement()} ON CONFLICT ({self.primary_key}) DO UPDATE SET {updates}"

    def write(
        self, cursor: Cursor, rows: Sequence[dict[str, Any]], *, upsert: bool = False
    ) -> None:
        """Insert (or upsert) rows with one prepared statement (pipelined on PostgreSQL)."""
        statement = self.upsert_statement() if upsert else self.insert_statement()
        cursor.executemany(statement, [self.values(row) for row in rows])

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_storable(row[n]) for n in self.column_names)


def _storable(value: Any) -> Any:
    """A text the store can keep. Commands refuse NUL and lone surrogates, but a log written
    before they did may hold them: shown as U+FFFD, so one old event can never stall a
    projection for everyone (the audit chain hashes the stored bytes, not these rows)."""
    if isinstance(value, str) and UNSTORABLE.search(value):
        return UNSTORABLE.sub("\ufffd", value)
    return value


@dataclass(frozen=True)
class Context:
    """What projections need besides their view."""

    app_name: str
    signing_key: bytes
    #: the stored record of one event (the audit chain hashes the stored bytes)
    load_stored: Callable[[Any, int], StoredEvent]
    #: how many days each deadline allows (the case list's next_deadline); settings-made
    deadline_policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)


class View:
    """A projection's materialised view: tracking plus plain SQL on the same datastore."""

    dialect: ClassVar[str]
    tracking_table: str
    projection_name: str
    datastore: Any
    table_migration_identifier: str

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[Cursor]:
        with Database(self.datastore, self.dialect).transaction(commit=commit) as cursor:
            yield cursor

    def track(self, cursor: Cursor, tracking: Tracking) -> None:
        self._insert_tracking(cursor.raw, tracking)

    def forget(self, cursor: Cursor, application_name: str) -> None:
        """Drop the tracking row, so the projection starts again from position zero."""
        cursor.execute(
            f"DELETE FROM {self.tracking_table} WHERE application_name = %s",
            (self.tracking_key(application_name),),
        )

    def position(self, cursor: Cursor, application_name: str) -> int:
        return self._max_tracking_id(application_name, cursor.raw) or 0

    # The library keys tracking rows by application name; several projections of one
    # application share the table, so each keys its row with its own name as well.
    def tracking_key(self, application_name: str) -> str:
        if application_name == self.table_migration_identifier:
            return application_name
        return f"{application_name}.{self.projection_name}"

    def _insert_tracking(self, c: Any, tracking: Tracking) -> None:
        keyed = Tracking(self.tracking_key(tracking.application_name), tracking.notification_id)
        super()._insert_tracking(c, keyed)  # type: ignore[misc]

    def _max_tracking_id(self, application_name: str, c: Any) -> int | None:
        return super()._max_tracking_id(self.tracking_key(application_name), c)  # type: ignore[misc]


class SQLiteView(View, SQLiteTrackingRecorder):
    dialect = "sqlite"
    tracking_table = "tracking"

    def __init__(self, datastore: Any, *, projection_name: str) -> None:
        self.projection_name = projection_name
        super().__init__(datastore)


class PostgresView(View, PostgresTrackingRecorder):
    dialect = "postgres"

    def __init__(self, datastore: Any, *, projection_name: str) -> None:
        self.projection_name = projection_name
        super().__init__(datastore, tracking_table_name=POSTGRES_TRACKING_TABLE)
        self.tracking_table = POSTGRES_TRACKING_TABLE


def make_view(datastore: Any, dialect: str, projection_name: str) -> View:
    view_class = PostgresView if dialect == "postgres" else SQLiteView
    return view_class(datastore, projection_name=projection_name)


class ReclaimProjection(Projection[Any]):
    """One read model. Subclasses name their tables and say how a batch changes them."""

    name = ""
    #: every table the projection writes (its rows are compared by ``verify``)
    tables: tuple[Table, ...] = ()

    def __init__(self, view: View, context: Context) -> None:
        super().__init__(view)
        self.context = context
        #: called with (projection name, position) after each commit
        self.on_commit: Callable[[str, int], None] | None = None

    def create_tables(self) -> None:
        self.view.create_table()
        with self.view.transaction() as cursor:
            for table in self.tables:
                for statement in table.create_statements():
                    cursor.execute(statement)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        """The library's entry point (its projection runner): one event, one transaction."""
        self.process([Recorded(tracking.notification_id, domain_event)])

    def process(self, batch: Sequence[Recorded]) -> None:
        """Apply a batch of consecutive events and record the last one's position, atomically."""
        if not batch:
            return
        last = batch[-1].position
        with self.view.transaction() as cursor:
            self.view.track(cursor, Tracking(self.context.app_name, last))
            self.apply(cursor, batch)
        if self.on_commit is not None:
            self.on_commit(self.name, last)

    def position(self) -> int:
        with self.view.transaction(commit=False) as cursor:
            return self.view.position(cursor, self.context.app_name)

    def clear(self) -> None:
        """Empty the tables and forget the position, in one transaction."""
        with self.view.transaction() as cursor:
            for table in self.tables:
                cursor.execute(f"DELETE FROM {table.name}")
            self.view.forget(cursor, self.context.app_name)
        self.forget_cached()

    def forget_cached(self) -> None:
        """Drop anything held in memory between batches."""

    @abstractmethod
    def apply(self, cursor: Cursor, batch: Sequence[Recorded]) -> None:
        """Write what the batch changes, inside the caller's transaction."""


class CaseScopes:
    """Who may see a case, its platform and currency: all fixed when it opens.

    A projection that needs these for every event keeps them in a small table of its
    own (projections never read each other's tables) and in memory between batches.
    """

    LIMIT = 100_000

    def __init__(self, table_name: str) -> None:
        self.table = Table(
            table_name,
            (
                Column("case_id", "TEXT", null=False),
                Column("opened_position", "BIGINT", null=False),
                Column("workspace", "TEXT", null=False),
                Column("owner", "TEXT", null=False),
                Column("currency", "TEXT", null=False),
                Column("platform", "TEXT", null=False),
            ),
            primary_key="case_id",
            order_by="opened_position",
            unique=("opened_position",),
        )
        self._cache: dict[str, dict[str, Any]] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def remember(self, cursor: Cursor, batch: Sequence[Recorded]) -> None:
        """Record the scopes of cases opened in the batch; load the others it touches."""
        opened = [r for r in batch if r.name == "Opened"]
        rows = [
            {
                "case_id": r.case_id,
                "opened_position": r.position,
                "workspace": r.event.workspace,
                "owner": r.event.owner,
                "currency": r.event.currency,
                "platform": r.event.platform,
            }
            for r in opened
        ]
        self.table.write(cursor, rows)
        if len(self._cache) > self.LIMIT:
            self._cache.clear()
        self._cache.update((x["case_id"], x) for x in rows)
        self._load(cursor, {r.case_id for r in batch} - self._cache.keys())

    def _load(self, cursor: Cursor, case_ids: set[str]) -> None:
        self._cache.update(load_rows(cursor, self.table, sorted(case_ids)))

    def __getitem__(self, case_id: str) -> dict[str, Any]:
        return self._cache[case_id]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def load_rows(cursor: Cursor, table: Table, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The rows of a per-case table for these cases, by case id."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(case_ids), 500):
        marks = ", ".join(["%s"] * len(chunk))
        for row in cursor.fetchall(f"SELECT * FROM {table.name} WHERE case_id IN ({marks})", chunk):
            found[row["case_id"]] = row
    return found
