"""The library's application recorders, extended to write Reclaim's own rows
(an idempotency record) in the same transaction as the events they belong to.

``Application.save(*cases, idempotency=[records])`` passes its keyword arguments down
to ``_insert_events``; the library's own process recorders use the same hook for
tracking records. So a command's events and the response that acknowledged it
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry

from infrastructure.idempotency import IDEMPOTENCY_INSERT, IdempotencyRecord


def _write_side_rows(cursor: Any, placeholder: str, kwargs: dict[str, Any]) -> None:
    """The idempotency records of the commands saved in this transaction (a group commit
    saves several)."""
    records: list[IdempotencyRecord] = kwargs.get("idempotency") or []
    if records:
        cursor.executemany(
            IDEMPOTENCY_INSERT.replace("%s", placeholder), [r.as_row() for r in records]
        )


class SQLiteReclaimRecorder(SQLiteApplicationRecorder):
    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        _write_side_rows(c, "?", kwargs)
        return super()._insert_events(c, stored_events, **kwargs)


def _fewer_retries(method: Any) -> Any:
    """The library retries a failed database call ten times; while the server is down that
    holds a request for ~20 s. Two tries: a blip is still ridden out, an outage answers
    503 in a few seconds (and the API's breaker answers the next requests at once)."""
    return retry((InterfaceError, OperationalError), max_attempts=2, wait=0.2)(method.__wrapped__)


class PostgresReclaimRecorder(PostgresApplicationRecorder):
    insert_events = _fewer_retries(PostgresApplicationRecorder.insert_events)
    select_events = _fewer_retries(PostgresApplicationRecorder.select_events)
    select_notifications = _fewer_retries(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _fewer_retries(PostgresApplicationRecorder.max_notification_id)

    # The library sends these statements in a psycopg pipeline and syncs after the
    # events' INSERT. A statement queued behind a failed one leaves an aborted result
    # that psycopg raises as PipelineAborted when the pipeline closes, after the library
    # has already caught the real error: a version conflict on the events (two commands
    # racing on one case) would then read as an OperationalError, a 503 that trips the
    # breaker. So the events go in a nested pipeline block, whose exit syncs and raises
    # their IntegrityError before our row is queued; our row is then the last statement
    # before the library's own sync, and its duplicate key is an IntegrityError too.
    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        if not kwargs.get("idempotency"):
            super()._insert_stored_events(curs, stored_events, **kwargs)
            return
        with curs.connection.pipeline():
            super()._insert_stored_events(curs, stored_events, **kwargs)
        # its own cursor: the library reads the events' RETURNING from ``curs``
        with curs.connection.cursor() as side:
            _write_side_rows(side, "%s", kwargs)
