"""What every projection shares: its view (the library's tracking recorder, on the
application's own datastore), its tables, and how a batch of events is applied.

Projections are written inline: a command's events, and every row they produce with
each projection's tracking position, commit in one transaction (see ``inline.py``).
A rebuild runs the same ``apply`` from the log, a batch per transaction, into new
tables that are swapped in when complete (``projector.py``). Tracking positions only
move forward, so an event is never applied twice.

The store differences live in the two view classes below and nowhere else.
"""

from __future__ import annotations

import operator
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from domain.cases import UNSTORABLE, find_unstorable
from domain.deadlines import DeadlinePolicy
from infrastructure.projections.events import Batch
from infrastructure.store.database import Cursor, Database, Read

#: PostgreSQL's table for the projections' tracking rows (SQLite's is the library's
#: fixed ``tracking``); one row per projection, keyed "<application>.<projection>"
POSTGRES_TRACKING_TABLE = "reclaim_projection_tracking"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # TEXT, INTEGER or BIGINT only: the same values back on both stores
    null: bool = True
    #: set when the row is first written and never updated (an upsert leaves it alone)
    fixed: bool = False

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

    def renamed(self, suffix: str) -> Table:
        """The same table under another name (a rebuild's new table)."""
        return replace(self, name=f"{self.name}{suffix}")

    def create_statements(self, *, indexes: bool = True) -> list[str]:
        parts = [c.ddl() for c in self.columns]
        parts.append(f"PRIMARY KEY ({self.primary_key})")
        parts.extend(f"UNIQUE ({u})" for u in self.unique)
        statements = [f"CREATE TABLE IF NOT EXISTS {self.name} ({', '.join(parts)})"]
        if indexes:
            statements += self.index_statements()
        return statements

    def index_statements(self, skip: frozenset[str] = frozenset()) -> list[str]:
        """Its secondary indexes; ``skip``: column lists (spaces removed) already indexed
        under another name (a table swapped in by a rebuild keeps its build's names)."""
        return [
            f"CREATE INDEX IF NOT EXISTS {self.name}_ix{i} ON {self.name} ({columns})"
            for i, columns in enumerate(self.indexes)
            if columns.replace(" ", "") not in skip
        ]

    def insert_statement(self) -> str:
        return self._insert

    def upsert_statement(self) -> str:
        return self._upsert

    # (made once a table: every inline write asks for them)
    @cached_property
    def _insert(self) -> str:
        names = self.column_names
        marks = ", ".join(["%s"] * len(names))
        return f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({marks})"

    @cached_property
    def _upsert(self) -> str:
        keys = set(self.primary_key.replace(" ", "").split(","))
        keys |= {c.name for c in self.columns if c.fixed}
        updates = ", ".join(f"{n} = excluded.{n}" for n in self.column_names if n not in keys)
        return f"{self._insert} ON CONFLICT ({self.primary_key}) DO UPDATE SET {updates}"

    def write(
        self, cursor: Cursor, rows: Sequence[dict[str, Any]], *, upsert: bool = False
    ) -> None:
        """Insert (or upsert) rows with one prepared statement (pipelined on PostgreSQL);
        a rebuild's inserts into its new tables go by COPY on PostgreSQL."""
        if not rows:
            return
        values = [self.values(row) for row in rows]
        if not upsert and cursor.bulk and cursor.database.is_postgres:
            cursor.copy(self.name, self.column_names, values)
        else:
            cursor.executemany(
                self.upsert_statement() if upsert else self.insert_statement(), values
            )

    @cached_property
    def _pick(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """A row's values in column order (``itemgetter``: the loop in C)."""
        if len(self.column_names) == 1:
            name = self.column_names[0]
            return lambda row: (row[name],)
        return operator.itemgetter(*self.column_names)

    def values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values = self._pick(row)
        # one search a row, not one a value (a third less time a row than a loop over it)
        if find_unstorable("".join([v for v in values if v.__class__ is str])) is None:
            return values
        return tuple(_storable(v) for v in values)


def _storable(value: Any) -> Any:
    """A text the store can keep. Commands refuse NUL and lone surrogates, but a log written
    before they did may hold them: shown as U+FFFD, so one old event can never stall a
    projection for everyone (the audit chain hashes the stored bytes, not these rows)."""
    if isinstance(value, str) and find_unstorable(value):
        return UNSTORABLE.sub("\ufffd", value)
    return value


@dataclass(frozen=True)
class ProjectionContext:
    """What projections need besides their view."""

    app_name: str
    #: the audit head's Ed25519 key (``audit.signing_key``)
    signing_key: Any
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


def write_positions(cursor: Cursor, views: Sequence[View], app_name: str, position: int) -> None:
    """Every view's tracking position, in one statement (in the transaction that wrote the
    rows up to it). A position is only ever moved forward."""
    if not views:
        return
    table = views[0].tracking_table
    rows = ", ".join(["(%s, %s)"] * len(views))
    cursor.execute(
        f"INSERT INTO {table} (application_name, notification_id) VALUES {rows} "
        f"ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id "
        f"WHERE {table}.notification_id < excluded.notification_id",
        [value for v in views for value in (v.tracking_key(app_name), position)],
    )


def indexed_columns(cursor: Cursor, table_name: str) -> frozenset[str]:
    """The column lists (spaces removed) of a table's secondary indexes, whatever their names."""
    if cursor.database.is_postgres:
        rows = cursor.fetchall(
            "SELECT indexdef AS sql FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = %s",
            (table_name,),
        )
    else:
        rows = cursor.fetchall(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL",
            (table_name,),
        )
    found = set()
    for row in rows:
        sql = row["sql"]
        if "(" in sql:
            found.add(sql[sql.rindex("(") + 1 : sql.rindex(")")].replace(" ", ""))
    return frozenset(found)


def table_exists(cursor: Cursor, table_name: str) -> bool:
    if cursor.database.is_postgres:
        row = cursor.fetchone(
            "SELECT 1 AS x FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s",
            (table_name,),
        )
    else:
        row = cursor.fetchone(
            "SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = %s", (table_name,)
        )
    return row is not None


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


class ReclaimProjection:
    """One read model. Subclasses name their tables and say how a batch changes them.

    The same ``apply`` serves the inline write (inside a command's own transaction)
    and a rebuild from the log (inside a batch's transaction): ``batch`` holds the
    events in log order and the cases they touch, as the domain's fold leaves them.

    A projection built with a ``suffix`` writes to tables of that name (a rebuild's
    new tables, swapped in when complete); every table a projection writes is a
    class attribute of type ``Table`` listed in ``tables``, and code reaches it
    through ``self``, so the suffix applies everywhere.
    """

    name = ""
    #: raised when what the rows hold changes: the position is kept under a new name, so
    #: the store's old position does not count and ``reclaim project`` builds it afresh
    version: ClassVar[int] = 1
    #: every table the projection writes (its rows are compared by ``verify``)
    tables: tuple[Table, ...] = ()

    @classmethod
    def tracking_name(cls) -> str:
        return cls.name if cls.version == 1 else f"{cls.name}.v{cls.version}"

    def __init__(self, view: View, context: ProjectionContext, *, suffix: str = "") -> None:
        self.view = view
        self.context = context
        self.suffix = suffix
        if suffix:
            renamed = {t.name: t.renamed(suffix) for t in type(self).tables}
            for klass in reversed(type(self).__mro__):
                for attr, value in vars(klass).items():
                    if isinstance(value, Table) and value.name in renamed:
                        setattr(self, attr, renamed[value.name])
            self.tables = tuple(renamed[t.name] for t in type(self).tables)

    def create_tables(self, cursor: Cursor, *, indexes: bool = True) -> None:
        for table in self.tables:
            for statement in table.create_statements(indexes=indexes):
                cursor.execute(statement)

    def position(self) -> int:
        with self.view.transaction(commit=False) as cursor:
            return self.view.position(cursor, self.context.app_name)

    @abstractmethod
    def apply(self, cursor: Cursor, batch: Batch) -> None:
        """Write what the batch changes, inside the caller's transaction."""

    def finish(self, cursor: Cursor) -> None:
        """After a rebuild's last batch (in a bulk transaction of its own, before the new
        tables get their indexes): write whatever ``apply`` held over its batches."""

    def rewrite(self, cursor: Cursor, batch: Batch) -> None:
        """After an erasure: write again the rows of the batch's cases, made from their
        whole history as the log gives it now (their personal fields erased), so they
        equal a rebuild's. ``batch`` holds every event of those cases. Default: nothing,
        for a projection that keeps nothing personal (the reports' counters)."""

    def prepare(self, batch: Batch) -> Any:
        """What ``apply`` works out from the batch's cases and events alone: neither the
        store nor the events' positions (which ``apply`` fills in). Inline it runs before
        the store's write lock is taken (``InlineProjections.prepare``), so the lock is
        held for the writing and not for this; a rebuild has it made by ``apply``."""
        return None

    def prepared(self, batch: Batch) -> Any:
        """This projection's ``prepare`` of the batch, made now if it was not before."""
        if self.name not in batch.prepared:
            batch.prepared[self.name] = self.prepare(batch)
        return batch.prepared[self.name]

    def reads(self, batch: Batch) -> list[Read]:
        """The queries ``apply`` will make for this batch, as it will make them: inline on
        PostgreSQL they are sent with the events' INSERT and answered in its round trip
        (``Cursor.prefetched``). They may not depend on the events' positions."""
        return []


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def case_reads(table: Table, case_ids: Sequence[str]) -> list[Read]:
    """The queries for the rows of a per-case table for these cases."""
    reads = []
    for chunk in _chunks(sorted(case_ids), 500):
        marks = ", ".join(["%s"] * len(chunk))
        reads.append((f"SELECT * FROM {table.name} WHERE case_id IN ({marks})", tuple(chunk)))
    return reads


def rows_of_cases(cursor: Cursor, table: Table, case_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every row of a per-case table for these cases."""
    return [row for read in case_reads(table, case_ids) for row in cursor.fetchall(*read)]


def last_row_reads(table: Table, case_ids: Sequence[str], order: str) -> list[Read]:
    """The queries for each case's last row of a per-case table in ``order`` (columns,
    each descending): one indexed step a case, however many rows it has."""
    descending = ", ".join(f"{column.strip()} DESC" for column in order.split(","))
    reads = []
    for chunk in _chunks(sorted(case_ids), 50):
        arms = [
            f"SELECT * FROM (SELECT * FROM {table.name} WHERE case_id = %s "
            f"ORDER BY {descending} LIMIT 1) AS last{i}"
            for i in range(len(chunk))
        ]
        reads.append((" UNION ALL ".join(arms), tuple(chunk)))
    return reads


def last_rows(
    cursor: Cursor, table: Table, case_ids: Sequence[str], order: str
) -> dict[str, dict[str, Any]]:
    """Each case's last row in ``order`` (``last_row_reads``), by case id."""
    return {
        row["case_id"]: row
        for read in last_row_reads(table, case_ids, order)
        for row in cursor.fetchall(*read)
    }


def load_rows(cursor: Cursor, table: Table, case_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The rows of a per-case table (one a case) for these cases, by case id."""
    return {row["case_id"]: row for row in rows_of_cases(cursor, table, case_ids)}


class EventRows(ReclaimProjection):
    """A projection of one row per event (``row``), inserted with the event's position."""

    table: ClassVar[Table]

    def prepare(self, batch: Batch) -> list[dict[str, Any]]:
        return [self.row(r, batch.cases[r.case_id]) for r in batch.events]

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        rows: list[dict[str, Any]] = self.prepared(batch)
        for row, recorded in zip(rows, batch.events, strict=True):
            row["position"] = recorded.position
        self.table.write(cursor, rows)

    @abstractmethod
    def row(self, recorded: Any, case: Any) -> dict[str, Any]:
        """The event's row (its position filled in by ``apply``)."""
