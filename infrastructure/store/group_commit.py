"""Group commit: concurrent commands saved together in one transaction.

The library's recorders lock the events table (PostgreSQL) or take the write lock
(SQLite) and pay a full commit for every save. The store's writer (``writer.py``) runs
its commands each in a greenlet (``Gathered``) up to its save, which switches back to
it; it then writes every save waiting, its other threads' and the followers' among them,
as one batch (``write``): one lock, one fsync. At most one command per case goes into a
batch. If the batch fails on a conflict, each of its saves is written alone, so each
gets its own result or its own error. A process with no writer (the command line, a
script) saves each command alone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import greenlet
from eventsourcing.persistence import IntegrityError, Recording

from domain.cases import Case

SaveBatch = Callable[[Sequence[Case], dict[str, Any]], list[Recording[Any]]]


def _driver_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    conflicts: list[type[BaseException]] = [IntegrityError, sqlite3.IntegrityError]
    errors: list[type[BaseException]] = [sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    else:
        conflicts.append(psycopg.IntegrityError)
        errors.append(psycopg.Error)
    return tuple(conflicts), tuple(errors)


_CONFLICTS, _DRIVER_ERRORS = _driver_errors()


def is_conflict(exc: BaseException) -> bool:
    """A unique-key conflict, however it was raised: the library's IntegrityError, a
    driver's own, or an error the driver raised while handling one (psycopg's "pipeline
    aborted" after a unique violation, which the library wraps as an OperationalError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, _CONFLICTS):
            return True
        seen.add(id(current))
        following = current.__cause__
        if following is None and isinstance(current, _DRIVER_ERRORS):
            # only inside the driver: anything else raised while handling a conflict (an
            # outage while saving a failed batch's commands alone) is not a conflict
            following = current.__context__
        current = following
    return False


def as_conflict(exc: BaseException) -> BaseException:
    """A conflict as the library's IntegrityError (what ``execute`` retries on and the
    API turns into a replay or a 409); any other error as it is."""
    if isinstance(exc, IntegrityError) or not is_conflict(exc):
        return exc
    conflict = IntegrityError(str(exc))
    conflict.__cause__ = exc
    return conflict


@dataclass
class _Pending:
    case: Case
    extra: dict[str, Any]
    #: set when the command is written (``position`` or ``error`` says how)
    done: threading.Event = field(default_factory=threading.Event)
    position: int | None = None
    error: BaseException | None = None
    finished: bool = False


def _merge(pending: Sequence[_Pending]) -> dict[str, Any]:
    """Each command's extra rows for ``save``, as lists the recorder writes together."""
    merged: dict[str, list[Any]] = {}
    for item in pending:
        for key, value in item.extra.items():
            merged.setdefault(key, []).append(value)
    return merged


def fail_if_stale(item: _Pending, written: int, by: str) -> bool:
    """Fail ``item``'s save as the conflict it would be, unwritten, when its case's first
    unsaved version is one already written (``written``: the case's last version that
    ``by`` wrote); whether it did."""
    first = item.case.version - len(item.case.pending_events) + 1
    if first > written:
        return False
    item.error = IntegrityError(f"version {first} of case {item.case.id} was saved by {by}")
    return True


class Gathered(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet whose saves its parent gathers into batches: at a save it switches back
    to the parent, which writes the batch and switches back to it."""

    #: the save it waits for, while it waits
    saving: _Pending | None = None


class GroupCommitter:
    def __init__(self, save_batch: SaveBatch, *, max_batch: int = 100) -> None:
        self.save_batch = save_batch
        self.max_batch = max_batch
        #: a save of a process with no writer is written alone, one at a time
        self._alone = threading.Lock()
        #: set by the writer's ``CommandWriter``: takes a thread's save into its batches
        #: (False: it is stopping, and the thread saves alone)
        self.hand_off: Callable[[_Pending], bool] | None = None
        #: batches written and commands in them, for /metrics and the benchmarks
        self.batches = 0
        self.commands = 0

    def save(self, case: Case, extra: dict[str, Any]) -> int | None:
        pending = _Pending(case, extra)
        current = greenlet.getcurrent()
        if isinstance(current, Gathered):
            current.saving = pending
            current.parent.switch()  # back once the batch holding it is written
            current.saving = None
        else:
            hand_off = self.hand_off
            if hand_off is not None and hand_off(pending):
                pending.done.wait()
            else:
                with self._alone:
                    self.write([pending])
        if pending.error is not None:
            raise pending.error
        return pending.position

    def write(self, batch: list[_Pending]) -> None:
        """Save the batch in one transaction; each command's position or error is set on
        it (after a conflict, see ``_after_conflict``)."""
        try:
            if len(batch) == 1:
                self._save(batch)
            else:
                unsaved = [list(item.case.pending_events) for item in batch]
                try:
                    self._save(batch)
                    conflicted = False
                except BaseException as exc:
                    if not is_conflict(exc):
                        raise
                    conflicted = True
                if conflicted:  # (outside the except: each save alone is its own story)
                    # someone conflicted; the failed save has already taken each case's
                    # pending events, so give them back first
                    for item, events in zip(batch, unsaved, strict=True):
                        item.case.pending_events[:] = events
                    self._after_conflict(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to every caller
            error = as_conflict(exc)
            for item in batch:
                if item.error is None and item.position is None:
                    item.error = error
        finally:
            for item in batch:
                item.finished = True
                item.done.set()

    def _after_conflict(self, batch: list[_Pending]) -> None:
        """Each command of a batch that conflicted gets its own result: each is saved
        alone. (With one writer per store a conflict is rare: an Idempotency-Key already
        recorded, or a case written from outside the writer, as ``reclaim import`` does.)"""
        for item in batch:
            try:
                self._save([item])
            except BaseException as exc:  # noqa: BLE001 - handed to its caller
                item.error = as_conflict(exc)

    def _save(self, batch: list[_Pending]) -> None:
        recordings = self.save_batch([item.case for item in batch], _merge(batch))
        last: dict[Any, int] = {}
        for recording in recordings:
            last[recording.domain_event.originator_id] = recording.notification.id
        for item in batch:
            item.position = last.get(item.case.id)
        self.batches += 1
        self.commands += len(batch)
