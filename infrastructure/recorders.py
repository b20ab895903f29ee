"""The library's application recorders, extended to write Reclaim's own rows in the
same transaction as the events they belong to: a command's idempotency record and,
inline, every projection's rows and tracking position.

``Application.save(*cases, idempotency=[records], inline=InlineSave(...))`` passes its
keyword arguments down to the recorder; the library's own process recorders use the
same hook for tracking records. So a command's events, the response that
acknowledged it and what every reader sees of it commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from infrastructure.idempotency import IDEMPOTENCY_INSERT, IdempotencyRecord
from infrastructure.projections.inline import InlineProjections


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

    def _write_inline(
        self,
        cursor: Any,
        stored_events: Sequence[StoredEvent],
        positions: Sequence[int] | None,
        kwargs: dict[str, Any],
    ) -> None:
        saved = kwargs.get("inline")
        if saved is not None and self.inline is not None and positions:
            self.inline.write(cursor, saved, stored_events, positions)


class SQLiteReclaimRecorder(InlineWriting, SQLiteApplicationRecorder):
    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # the idempotency row first: it takes the write lock at once, so everything read
        # after it (the audit chain's head) is read under that lock
        _write_side_rows(c, "?", kwargs)
        positions = super()._insert_events(c, stored_events, **kwargs)
        self._write_inline(c, stored_events, positions, kwargs)
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
    import time

    import psycopg_pool

    body = getattr(method, "__wrapped__", method)

    @functools.wraps(body)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except (InterfaceError, OperationalError) as exc:
            if isinstance(exc.__cause__, psycopg_pool.PoolTimeout):
                raise
        time.sleep(0.05)
        return body(*args, **kwargs)

    return call


class PostgresReclaimRecorder(InlineWriting, PostgresApplicationRecorder):
    select_events = _fewer_retries(PostgresApplicationRecorder.select_events)
    select_notifications = _fewer_retries(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _fewer_retries(PostgresApplicationRecorder.max_notification_id)

    def _insert_in_transaction(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """One transaction, statement after statement: take the table lock, insert the
        events, then Reclaim's rows. The library pipelines these, and a version conflict
        inside a pipeline can surface as "pipeline aborted" (an OperationalError, read as
        an outage) instead of the IntegrityError it is; here each statement's error is
        its own. The rows' statements are few and batched (executemany), so the pipeline
        saved little."""
        positions: Sequence[int] | None = None
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if stored_events:
                self._insert_stored_events(curs, stored_events, **kwargs)
                positions = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                _write_side_rows(curs, "%s", kwargs)
                self._write_inline(curs, stored_events, positions, kwargs)
        return positions

    insert_events = _fewer_retries(_insert_in_transaction)
