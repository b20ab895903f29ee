"""The group committer on its own, no I/O: a fake store, conflicts and outages answered
per command. Through ``ReclaimApplication`` on each store:
tests/integration/test_write_stress.py."""

from __future__ import annotations

import itertools
import threading
import time
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import IntegrityError, OperationalError

from infrastructure.store.group_commit import GroupCommitter, _Pending

THREADS = 16


class FakeStore:
    """A ``save_batch`` that takes a few milliseconds per transaction, like a commit, and
    notes which thread wrote each batch. A case saved at a version it was already saved
    at conflicts, like the real store."""

    def __init__(self, seconds: float = 0.002) -> None:
        self.seconds = seconds
        self.positions = itertools.count(1)
        self.versions: dict[Any, int] = {}
        self.lock = threading.Lock()
        self.batches_by_thread: dict[int, int] = {}
        self.batches = 0

    def save_batch(self, cases, extra) -> list[Any]:
        time.sleep(self.seconds)
        with self.lock:
            thread = threading.get_ident()
            self.batches_by_thread[thread] = self.batches_by_thread.get(thread, 0) + 1
            self.batches += 1
            for case in cases:
                if self.versions.get(case.id, 0) != case.version - 1:
                    raise IntegrityError(f"{case.id} is not at version {case.version - 1}")
            recordings = []
            for case in cases:
                self.versions[case.id] = case.version
                recordings.append(
                    SimpleNamespace(
                        domain_event=SimpleNamespace(originator_id=case.id),
                        notification=SimpleNamespace(id=next(self.positions)),
                    )
                )
                case.pending_events.clear()
            return recordings

    def written_by_this_thread(self) -> int:
        return self.batches_by_thread.get(threading.get_ident(), 0)


def _case(case_id: Any, version: int) -> SimpleNamespace:
    return SimpleNamespace(id=case_id, version=version, pending_events=["event"])


def test_without_a_writer_16_threads_save_alone_one_at_a_time() -> None:
    """A process with no writer (the command line, a script) saves each command alone,
    one transaction each, and every one is recorded."""
    store = FakeStore(seconds=0.0005)
    committer = GroupCommitter(store.save_batch, max_batch=100)
    errors: list[BaseException] = []

    def work() -> None:
        case_id = uuid4()
        try:
            for version in range(1, 21):
                assert committer.save(_case(case_id, version), {}) is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert committer.commands == committer.batches == THREADS * 20


def test_a_conflicting_batch_answers_each_command_alone_as_a_conflict() -> None:
    store = FakeStore(seconds=0)
    committer = GroupCommitter(store.save_batch)
    won, lost = uuid4(), uuid4()
    store.versions[lost] = 1  # someone else saved version 1 of this case first
    ok, conflicted = _Pending(_case(won, 1), {}), _Pending(_case(lost, 1), {})
    committer.write([ok, conflicted])
    assert ok.error is None and ok.position is not None
    assert isinstance(conflicted.error, IntegrityError)
    assert ok.case.pending_events == [] and store.versions[won] == 1


def test_after_a_conflict_each_save_is_written_alone() -> None:
    """An Idempotency-Key already recorded, say: that save fails, the others are written."""
    store = FakeStore(seconds=0)
    recorded = uuid4()

    def save_batch(cases, extra) -> list[Any]:
        if any(c.id == recorded for c in cases):
            store.batches += 1
            raise IntegrityError("the key is recorded")
        return store.save_batch(cases, extra)

    committer = GroupCommitter(save_batch)
    batch = [_Pending(_case(c, 1), {}) for c in (uuid4(), recorded, uuid4())]
    committer.write(batch)
    assert [type(item.error) for item in batch] == [type(None), IntegrityError, type(None)]
    assert store.batches == 4


def test_a_conflict_hidden_behind_another_error_is_still_a_conflict() -> None:
    """PostgreSQL's "pipeline aborted" raised while handling a unique violation, as the
    library wraps it: the batch is split, and a lone save's error is an IntegrityError
    (which ``execute`` retries and the API answers as a replay or a 409)."""
    import psycopg.errors

    def save_batch(cases, extra) -> list[Any]:
        try:
            try:
                raise psycopg.errors.UniqueViolation("duplicate key")
            except psycopg.Error:
                raise psycopg.errors.PipelineAborted("pipeline aborted") from None
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc

    committer = GroupCommitter(save_batch)
    batch = [_Pending(_case(uuid4(), 1), {}), _Pending(_case(uuid4(), 1), {})]
    committer.write(batch)
    for item in batch:
        assert isinstance(item.error, IntegrityError), repr(item.error)
        assert item.finished


def test_an_outage_while_a_conflicting_batch_is_split_is_not_a_conflict() -> None:
    """The store goes away between the batch's conflict and the saves alone: those are
    outages (503), not conflicts (which ``execute`` would retry 20 times)."""
    calls = []

    def save_batch(cases, extra) -> list[Any]:
        calls.append(len(cases))
        if len(cases) > 1:
            raise IntegrityError("one of them conflicted")
        raise OperationalError("connection refused")

    committer = GroupCommitter(save_batch)
    batch = [_Pending(_case(uuid4(), 1), {}), _Pending(_case(uuid4(), 1), {})]
    committer.write(batch)
    assert calls == [2, 1, 1]
    for item in batch:
        assert type(item.error) is OperationalError, repr(item.error)


def test_an_outage_is_not_a_conflict() -> None:
    def save_batch(cases, extra) -> list[Any]:
        raise OperationalError("connection refused")

    committer = GroupCommitter(save_batch)
    batch = [_Pending(_case(uuid4(), 1), {}), _Pending(_case(uuid4(), 1), {})]
    committer.write(batch)
    for item in batch:
        assert type(item.error) is OperationalError
