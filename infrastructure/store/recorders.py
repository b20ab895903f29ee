"""The library's application recorders, extended to write Reclaim's own rows in the
same transaction as the events they belong to: a command's idempotency record and,
inline, every projection's rows and tracking position.

``Application.save(*cases, idempotency=[records], inline=InlineSave(...))`` passes its
keyword arguments down to the recorder; the library's own process recorders use the
same hook for tracking records. So a command's events, the response that
acknowledged it and what every reader sees of it commit together or not at all.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from infrastructure.projections.events import Batch
from infrastructure.projections.inline import InlineProjections
from infrastructure.store.database import Read, once_more_after_a_lost_connection
from infrastructure.store.idempotency import IDEMPOTENCY_INSERT, IdempotencyRecord
from infrastructure.store.pg_batch import Sent, StatementBatch, statement_batch


def _write_side_rows(cursor: Any, placeholder: str, kwargs: dict[str, Any]) -> None:
    """The idempotency records of the commands saved in this transaction (a group commit
    saves several)."""
    records: list[IdempotencyRecord] = kwargs.get("idempotency") or []
    if records:
        cursor.executemany(
            IDEMPOTENCY_INSERT.replace("%s", placeholder), [r.as_row() for r in records]
        )


class InlineWriting:
    """Set by the application once it is built: the projections written with the events."""

    inline: InlineProjections | None = None

    def _prepare(
        self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]
    ) -> Batch | None:
        """The projections' batch for these events, its rows made as far as they can be
        before the store's write lock is taken (None: a save with no inline rows)."""
        saved = kwargs.get("inline")
        if saved is None or self.inline is None:
            return None
        return self.inline.prepare(saved, stored_events)

    def _write_inline(
        self,
        cursor: Any,
        batch: Batch | None,
        positions: Sequence[int] | None,
        sent: dict[Read, Any] | None = None,
    ) -> None:
        if batch is not None and self.inline is not None and positions:
            self.inline.write(cursor, batch, positions, sent)


class SQLiteReclaimRecorder(InlineWriting, SQLiteApplicationRecorder):
    """Writers in several processes (``reclaim serve --workers N``) take turns through a
    lock file beside the database: the kernel hands the lock to the next one the moment
    it is let go. Left to SQLite, a writer that finds the file locked sleeps and polls
    (its busy handler sleeps up to 100 ms at a time): at 16 clients on two workers half
    the commands waited that way (p99 203 ms, no gain from 1 to 4 clients; measured)."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        prepared = self._prepare(stored_events, kwargs)  # before the writers' turn
        with self._writers_turn():
            return super().insert_events(stored_events, prepared=prepared, **kwargs)

    @contextmanager
    def _writers_turn(self) -> Iterator[None]:
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:
            yield
            return
        # a descriptor of its own each time: flock excludes other open files, the other
        # threads of this process included
        fd = os.open(f"{pool.db_name}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # lets go of the lock

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # the idempotency row first: it takes the write lock at once, so everything read
        # after it (the audit chain's head) is read under that lock
        _write_side_rows(c, "?", kwargs)
        positions = super()._insert_events(c, stored_events, **kwargs)
        self._write_inline(c, kwargs.get("prepared"), positions)
        return positions


def _fewer_retries(method: Any) -> Any:
    """The library retries a failed database call ten times; while the server is down that
    holds a request for ~20 s. Here a call that lost its connection (a restart, a failover,
    ``pg_terminate_backend``) is tried once more on a fresh one, and a blip is ridden out;
    the pool itself replaces its dead idle connections at once (``pg_pool.py``). A call
    that could not get a connection at all has already waited ``connect_timeout`` for
    one and is not tried again: an outage answers 503 in that time (and the API's breaker
    answers the next requests at once)."""
    import functools

    body = getattr(method, "__wrapped__", method)

    @functools.wraps(body)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return once_more_after_a_lost_connection(
            self.datastore.pool, lambda: body(self, *args, **kwargs)
        )

    return call


class PostgresReclaimRecorder(InlineWriting, PostgresApplicationRecorder):
    select_events = _fewer_retries(PostgresApplicationRecorder.select_events)
    select_notifications = _fewer_retries(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _fewer_retries(PostgresApplicationRecorder.max_notification_id)

    def _insert_in_transaction(
        self, stored_events: Sequence[StoredEvent], prepared: Batch | None, **kwargs: Any
    ) -> Sequence[int] | None:
        """One transaction in two round trips (``pg_batch.StatementBatch``): BEGIN, the
        table lock, the events' INSERT and the projections' reads, synced at once so that
        a version conflict raises its IntegrityError before anything else is written;
        then Reclaim's rows and the COMMIT, sent together.

        The transaction is the batch's own BEGIN and COMMIT (the pool's connections are
        in autocommit mode). A write that fails is rolled back by the batch before its
        connection goes back to the pool."""
        if not stored_events:
            return None
        with self.datastore.get_connection() as conn, statement_batch(conn) as statements:
            statements.execute("BEGIN")
            inserted = self._send_events(statements, stored_events)
            # the projections' reads (the audit chain's head, the reports' rows of these
            # cases), sent behind the INSERT: under its lock, in its round trip
            sent = self.inline.prefetch(statements, prepared) if self.inline and prepared else {}
            statements.sync()
            positions = [row["notification_id"] for row in inserted.fetchall()]
            if len(positions) != len(stored_events):
                raise ProgrammingError(
                    f"got {len(positions)} notification ids for {len(stored_events)} events"
                )
            _write_side_rows(statements, "%s", kwargs)
            self._write_inline(statements, prepared, positions, sent)
            statements.execute("COMMIT")
            statements.sync()
        return positions

    def _send_events(
        self, statements: StatementBatch, stored_events: Sequence[StoredEvent]
    ) -> Sent:
        """The library's statements of a write, as it sends them (the table lock, the
        NOTIFY its subscribers listen for, the INSERT that returns the positions), but
        made once a recorder, and the events as plain parameters (their state binary)
        rather than as an array of a composite type, which psycopg writes out as text
        (escaping every state's bytes by regular expression) and PostgreSQL parses back."""
        for statement in self._write_statements:
            statements.execute(statement)
        params = [
            value
            for e in stored_events
            for value in (e.originator_id, e.originator_version, e.topic, e.state)
        ]
        marks = ", ".join(["(%s, %s, %s, %s)"] * len(stored_events))
        return statements.execute(
            f"{self._insert_events_head} {marks} RETURNING notification_id", params
        )

    @cached_property
    def _write_statements(self) -> list[str]:
        return [
            *(s.as_string(None) for s in self.lock_table_statements),  # type: ignore[union-attr]
            SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_string(None),
        ]

    @cached_property
    def _insert_events_head(self) -> str:
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        return (
            SQL("INSERT INTO {0} (originator_id, originator_version, topic, state) VALUES")
            .format(table)
            .as_string(None)
        )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """As ``_fewer_retries``, tried once more on a fresh connection after a lost one;
        but a write whose connection died may have committed all the same (the COMMIT
        reached the server, its answer did not). Writing it again would record the
        command twice, so the second try first looks for the first one's events."""

        prepared = self._prepare(stored_events, kwargs)  # before the table lock

        def again() -> Sequence[int] | None:
            committed = self._positions_if_committed(stored_events)
            if committed is not None:
                return committed
            return self._insert_in_transaction(stored_events, prepared, **kwargs)

        return once_more_after_a_lost_connection(
            self.datastore.pool,
            lambda: self._insert_in_transaction(stored_events, prepared, **kwargs),
            again,
        )

    def _positions_if_committed(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of these events if they are in the log byte for byte (their state
        holds the time they were recorded and the request's id, so no other write has the
        same bytes), else None."""
        if not stored_events:
            return None
        statement = (
            f"SELECT e.originator_id, e.originator_version, e.state, e.notification_id "
            f'FROM "{self.datastore.schema}"."{self.events_table_name}" e '
            f"JOIN (SELECT unnest(%s::uuid[]) AS id, unnest(%s::bigint[]) AS version) k "
            f"ON e.originator_id = k.id AND e.originator_version = k.version"
        )
        ids = [str(e.originator_id) for e in stored_events]
        versions = [e.originator_version for e in stored_events]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (ids, versions))
            found = {(str(r["originator_id"]), r["originator_version"]): r for r in curs.fetchall()}
        if not found:
            return None
        positions = []
        for event in stored_events:
            row = found.get((str(event.originator_id), event.originator_version))
            if row is None or bytes(row["state"]) != bytes(event.state):
                return None  # another writer's events: a conflict, as the retry will say
            positions.append(int(row["notification_id"]))
        return positions
