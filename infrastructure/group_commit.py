"""Group commit: concurrent commands saved together in one transaction.

The library's recorders lock the events table (PostgreSQL) or take the write
lock (SQLite) and pay a full commit for every save. Commands that arrive while a
save is under way queue up; the thread that finishes a commit takes everything
queued and saves it as one batch: one lock, one fsync. Each command is still
checked for its own version conflict: if the batch fails on a conflict, every
command in it is saved alone, so each gets its own result or its own error.
At most one command per case goes into a batch (two would conflict with each
other); the others wait for the next round.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import IntegrityError, Recording

from domain.cases import Case

SaveBatch = Callable[[Sequence[Case], dict[str, Any]], list[Recording[Any]]]


@dataclass
class _Pending:
    case: Case
    extra: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    position: int | None = None
    error: BaseException | None = None


def _merge(pending: Sequence[_Pending]) -> dict[str, Any]:
    """Each command's extra rows for ``save``, as lists the recorder writes together."""
    merged: dict[str, list[Any]] = {}
    for item in pending:
        for key, value in item.extra.items():
            merged.setdefault(key, []).append(value)
    return merged


class GroupCommitter:
    def __init__(self, save_batch: SaveBatch, *, max_batch: int = 100) -> None:
        self.save_batch = save_batch
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._flushing = False
        #: batches written and commands in them, for /metrics and the benchmarks
        self.batches = 0
        self.commands = 0

    def save(self, case: Case, extra: dict[str, Any]) -> int | None:
        pending = _Pending(case, extra)
        with self._lock:
            self._queue.append(pending)
            lead = not self._flushing
            if lead:
                self._flushing = True
        if lead:
            self._flush()
        pending.done.wait()
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

    def _flush(self) -> None:
        while True:
            with self._lock:
                batch = self._take()
                if not batch:
                    self._flushing = False
                    return
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            if len(batch) == 1:
                self._save(batch)
            else:
                unsaved = [list(item.case.pending_events) for item in batch]
                try:
                    self._save(batch)
                except IntegrityError:
                    # someone conflicted: find out who, one by one; the failed save has
                    # already taken each case's pending events, so give them back first
                    for item, events in zip(batch, unsaved, strict=True):
                        item.case.pending_events[:] = events
                    for item in batch:
                        try:
                            self._save([item])
                        except BaseException as exc:  # noqa: BLE001 - handed to its caller
                            item.error = exc
        except BaseException as exc:  # noqa: BLE001 - handed to every caller
            for item in batch:
                if item.error is None and item.position is None:
                    item.error = exc
        finally:
            for item in batch:
                item.done.set()

    def _save(self, batch: list[_Pending]) -> None:
        recordings = self.save_batch([item.case for item in batch], _merge(batch))
        last: dict[Any, int] = {}
        for recording in recordings:
            last[recording.domain_event.originator_id] = recording.notification.id
        for item in batch:
            item.position = last.get(item.case.id)
        self.batches += 1
        self.commands += len(batch)
