"""Group commit: concurrent commands saved together in one transaction.

The library's recorders lock the events table (PostgreSQL) or take the write
lock (SQLite) and pay a full commit for every save. Commands that arrive while a
save is under way queue up and are saved as one batch: one lock, one fsync. Each
command is still checked for its own version conflict: if the batch fails on a
conflict, one read of its cases' last versions in the store finds the copies another
process had moved past, which fail as conflicts, and the rest are saved together
(each alone if that conflicts too), so each gets its own result or its own error. At
most one command per case goes into a batch (two would conflict with each other); the
others wait for the next round.

Who writes: the thread that finds nobody writing becomes the leader and writes
the batch that holds its own command, and only that one. If commands are still
queued then, it hands the job to the thread of the oldest of them (whose command
is the first of the next batch) and returns at once. So every batch is written by
one of its own callers, and no caller pays for more than its own batch: a caller
waits for the batches queued ahead of it and its own, never for the rest of a
write burst.

The API's commands run on one writer thread instead (``store/writer.py``), each in a
greenlet of its own (``Gathered``): its save switches back to the writer, which writes
the saves of every command it is running with ``write``, the same batch writing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import greenlet
from eventsourcing.persistence import IntegrityError, Recording

from domain.cases import Case

SaveBatch = Callable[[Sequence[Case], dict[str, Any]], list[Recording[Any]]]
StoredVersions = Callable[[Sequence[Any]], Mapping[Any, int]]


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
    #: set when the command is written (``position`` or ``error`` says how), or when
    #: its thread is made the leader (``lead``)
    done: threading.Event = field(default_factory=threading.Event)
    position: int | None = None
    error: BaseException | None = None
    finished: bool = False
    lead: bool = False


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


class Writing(greenlet.greenlet):  # type: ignore[misc]
    """A greenlet writing a batch for a parent that has other work to do meanwhile: once
    the batch's COMMIT is on its way to the server, ``while_committing`` switches back to
    the parent (if ``wanted`` says there is work), which does it while the server
    commits and then switches back here for the answer."""

    def __init__(self, run: Callable[..., Any], wanted: Callable[[], bool]) -> None:
        super().__init__(run)
        self.wanted = wanted


def while_committing() -> None:
    """Called by a recorder after it sent a transaction's COMMIT, before it waits for the
    answer: on a ``Writing`` greenlet, lets its parent work until then."""
    current = greenlet.getcurrent()
    if isinstance(current, Writing) and current.wanted():
        current.parent.switch()


class GroupCommitter:
    def __init__(
        self,
        save_batch: SaveBatch,
        *,
        max_batch: int = 100,
        stored_versions: StoredVersions | None = None,
    ) -> None:
        self.save_batch = save_batch
        #: each case's last version in the store: after a batch's conflict, which of its
        #: cases were stale copies (one read), so the others go on in one batch
        self.stored_versions = stored_versions
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        #: a leader is writing (or has been chosen and is about to)
        self._flushing = False
        #: set by a process's ``CommandWriter``: takes a thread's save into its batches
        #: (False: it is stopping, and the thread saves as it would without one)
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
            return self._result(pending)
        hand_off = self.hand_off
        if hand_off is not None and hand_off(pending):
            pending.done.wait()
            return self._result(pending)
        with self._lock:
            self._queue.append(pending)
            if not self._flushing:
                self._flushing = True
                pending.lead = True
        while not pending.finished:
            if pending.lead:
                pending.lead = False
                self._lead(pending)
            else:
                pending.done.wait()  # written, or made the leader
        return self._result(pending)

    @staticmethod
    def _result(pending: _Pending) -> int | None:
        if pending.error is not None:
            raise pending.error
        return pending.position

    def _take(self) -> list[_Pending]:
        batch: list[_Pending] = []
        seen: set[Any] = set()
        rest: list[_Pending] = []
        for item in self._queue:
            if item.case.id in seen or len(batch) >= self.max_batch:
                rest.append(item)
            else:
                seen.add(item.case.id)
                batch.append(item)
        self._queue = rest
        return batch

    def _lead(self, own: _Pending) -> None:
        """Write batches until ``own`` is written, then hand the job on."""
        try:
            while not own.finished:
                with self._lock:
                    batch = self._take()
                if not batch:  # pragma: no cover - own stays queued until written
                    own.error = RuntimeError("group commit lost a queued command")
                    own.finished = True
                    break
                self.write(batch)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._flushing = False

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
        """Each command of a batch that conflicted gets its own result: a copy the store
        has moved past (another process wrote the case since) fails as the conflict it
        is, and the rest go on in one batch; if that conflicts too (an Idempotency-Key
        already recorded, a race since), each is saved alone."""
        rest = batch
        if self.stored_versions is not None:
            stored = self.stored_versions([item.case.id for item in batch])
            rest = [
                item
                for item in batch
                if not fail_if_stale(item, stored.get(item.case.id, 0), "another process")
            ]
            if 1 < len(rest) < len(batch):
                unsaved = [list(item.case.pending_events) for item in rest]
                try:
                    self._save(rest)
                    return
                except BaseException as exc:
                    if not is_conflict(exc):
                        raise
                for item, events in zip(rest, unsaved, strict=True):
                    item.case.pending_events[:] = events
        for item in rest:
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
