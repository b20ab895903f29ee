"""Plain SQL beside the event store, on the library's own connection pool.

Reclaim keeps a few tables of its own next to the events (API keys, idempotency
records, projections' read tables). They live in the same database and go through
the same ``eventsourcing`` datastore, so a projection's rows and its tracking
position commit together. Statements are written once, with ``%s`` placeholders,
and translated for SQLite.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError

from infrastructure.store.pg_batch import StatementBatch

_PLACEHOLDER = re.compile(r"%s")
T = TypeVar("T")


#: how many more times a call whose connection was lost is tried, each on a fresh one
LOST_CONNECTION_RETRIES = 2


def once_more_after_a_lost_connection(
    pool: Any, attempt: Callable[[], T], again: Callable[[], T] | None = None
) -> T:
    """``attempt``, and again (``again``, or the same) on a fresh connection when its
    connection was lost (a restart, a failover, ``pg_terminate_backend``), after the pool
    has swept its other idle connections: after a restart they are all dead (see
    ``pg_pool.py``). Up to ``LOST_CONNECTION_RETRIES`` more times: a failover can kill the
    connection a retry was given as well (every retry is safe: a write's ``again`` first
    checks whether the lost transaction committed). A call that got no connection at all
    has already waited the pool's timeout and is not tried again: an outage answers in
    that time."""
    import psycopg_pool

    for retry in range(LOST_CONNECTION_RETRIES + 1):
        call = attempt if retry == 0 else (again or attempt)
        try:
            return call()
        except (InterfaceError, OperationalError) as exc:
            if isinstance(exc.__cause__, psycopg_pool.PoolTimeout):
                raise
            if retry == LOST_CONNECTION_RETRIES:
                raise
        pool.check()
    raise AssertionError("unreachable")


class Database:
    def __init__(self, datastore: Any, dialect: str) -> None:
        assert dialect in ("sqlite", "postgres")
        self.datastore = datastore
        self.dialect = dialect
        #: commits that do not wait for the disk (``relax_commits``)
        self.relaxed = False

    def relax_commits(self) -> None:
        """From here on this process's write transactions return before their commit is
        on disk (PostgreSQL's ``synchronous_commit`` off, SQLite's ``synchronous``
        NORMAL): a crash of the machine may lose the last of them, never corrupt the
        store. Only for a process whose writes may be done again, the webhook
        dispatcher's (a lost outcome is a delivery sent again: at least once, as
        promised); its commits then stop queuing for the disk with the commands'."""
        self.relaxed = True

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    def sql(self, statement: str) -> str:
        if self.is_postgres:
            return statement
        return _PLACEHOLDER.sub("?", statement)

    @contextmanager
    def transaction(self, *, commit: bool = True, bulk: bool = False) -> Iterator[Cursor]:
        if commit and not self.is_postgres:
            with self._sqlite_writing() as cursor:
                yield Cursor(self, cursor, bulk=bulk)
            return
        with self.datastore.transaction(commit=commit) as cursor:
            if self.relaxed and commit:
                cursor.execute("SET LOCAL synchronous_commit = off")
            yield Cursor(self, cursor, bulk=bulk)

    @contextmanager
    def _sqlite_writing(self) -> Iterator[Any]:
        """A SQLite transaction that will write: ``BEGIN IMMEDIATE``, which waits (the
        busy timeout) for the write lock before it reads anything. The library's plain
        ``BEGIN`` reads first, and a transaction that then writes after another process
        has committed fails at once with "database is locked" (SQLite cannot move its
        snapshot; the busy timeout does not apply): seen with a second process opening
        the store while a server's followers wrote every quarter of a second."""
        import sqlite3

        from eventsourcing.persistence import OperationalError

        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            if self.relaxed:  # (outside the transaction: SQLite ignores it inside one)
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            try:
                connection.commit()
            except sqlite3.OperationalError as error:
                raise OperationalError(error) from error

    @contextmanager
    def _alone(self, *, commit: bool) -> Iterator[Cursor]:
        """For one statement on its own. On PostgreSQL the pool's connections are in
        autocommit, where a single statement is its own transaction: one round trip
        instead of three (BEGIN, the statement, COMMIT or ROLLBACK)."""
        if self.is_postgres:
            with self.datastore.cursor() as raw:
                yield Cursor(self, raw)
        else:
            with self.transaction(commit=commit) as cursor:
                yield cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        with self._alone(commit=True) as cursor:
            cursor.execute(statement, params)

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._read(lambda cursor: cursor.fetchall(statement, params))

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return self._read(lambda cursor: cursor.fetchone(statement, params))

    def _read(self, read: Callable[[Cursor], T]) -> T:
        """A read; on PostgreSQL tried once more when its connection turns out to be dead
        (the pool takes a recently used connection without a pre-ping, see ``pg_pool.py``).
        A read is safe to repeat; a write is not."""

        def attempt() -> T:
            with self._alone(commit=False) as cursor:
                return read(cursor)

        if not self.is_postgres:
            return attempt()
        return once_more_after_a_lost_connection(self.datastore.pool, attempt)

    def maintain(self, statements: Sequence[str], turn: Any = None) -> None:
        """Statements that cannot run in a transaction (``VACUUM``, a checkpoint), each on
        its own on one connection; on SQLite inside ``turn`` (the writers' lock, so other
        processes' writers wait for it rather than time out)."""
        if self.is_postgres:
            with self.datastore.cursor() as raw:  # (the pool's connections autocommit)
                for statement in statements:
                    raw.execute(statement)
            return
        with turn or contextlib.nullcontext(), self.datastore.get_connection(commit=True) as c:
            for statement in statements:
                c._sqlite_conn.execute(statement)  # noqa: SLF001 - the library's connection

    def create_tables(self, statements: Sequence[str]) -> None:
        with self.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)


#: a query and its parameters, as ``Cursor.fetchall`` takes them
Read = tuple[str, tuple[Any, ...]]


class Cursor:
    """A cursor that speaks ``%s`` on both stores and returns rows as dicts."""

    def __init__(
        self,
        database: Database,
        raw: Any,
        *,
        bulk: bool = False,
        prefetched: dict[Read, Any] | None = None,
    ) -> None:
        self.database = database
        self.raw = raw
        #: a rebuild's transaction: plain inserts may go by COPY (PostgreSQL)
        self.bulk = bulk
        #: queries already sent (PostgreSQL, in the inline write's statement batch):
        #: answered from there, without a round trip of their own
        self.prefetched = prefetched if prefetched is not None else {}

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        self.raw.execute(self.database.sql(statement), tuple(params))
        return self

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        self.raw.executemany(self.database.sql(statement), [tuple(r) for r in rows])

    def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows into a table by COPY (PostgreSQL only): the fastest way in for many rows."""
        with self.raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    @property
    def rowcount(self) -> int:
        return int(getattr(self.raw, "sqlite_cursor", self.raw).rowcount)

    def _row(self, row: Any) -> dict[str, Any]:
        return dict(row)

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._reading(statement, params) as raw:
            return [self._row(r) for r in raw.fetchall()]

    def fetchone(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        with self._reading(statement, params) as raw:
            row = raw.fetchone()
            return None if row is None else self._row(row)

    @contextmanager
    def _reading(self, statement: str, params: Sequence[Any]) -> Iterator[Any]:
        """A cursor holding one query's rows: the one it was sent on beforehand, if it was
        (``prefetched``). In the inline write on PostgreSQL, the statement batch's answer;
        elsewhere on PostgreSQL a cursor of its own on the same connection."""
        sent = self.prefetched.pop((statement, tuple(params)), None)
        if sent is not None:
            yield sent
        elif isinstance(self.raw, StatementBatch):  # the inline write: a round trip more
            yield self.raw.read(statement, tuple(params))
        elif self.database.is_postgres:
            with self.raw.connection.cursor() as raw:
                raw.execute(self.database.sql(statement), tuple(params))
                yield raw
        else:
            self.raw.execute(self.database.sql(statement), tuple(params))
            yield self.raw
