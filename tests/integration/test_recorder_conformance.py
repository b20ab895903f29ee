"""The ``eventsourcing`` library's own recorder test cases, run against Reclaim's recorder
classes on both stores.

Each recorder is made the way ``ReclaimApplication`` makes it: the library's factory
from ``Settings.eventsourcing_env()`` (so with our recorder topics and our pool options),
on a fresh SQLite file or a fresh database on the suite's PostgreSQL server. The
tracking cases run against the projections' views (``SQLiteView``/``PostgresView``),
which key every tracking row with the projection's name as well.

Every library test method runs. The ones a class overrides say why; none is skipped.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import Any
from unittest import TestCase
from uuid import uuid4

import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent


def _without_pycryptodome() -> None:
    """The library's test module imports its AES cipher (``eventsourcing.cipher``, which
    needs pycryptodome) for test cases we do not run here (the cipher's and the
    factory's). Reclaim does not depend on pycryptodome, so where it is missing a
    stand-in module lets the test module import; using its cipher fails loudly."""
    if importlib.util.find_spec("Crypto") is not None:
        return

    class AESCipher:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError("eventsourcing's AESCipher needs pycryptodome")

    stand_in = types.ModuleType("eventsourcing.cipher")
    stand_in.AESCipher = AESCipher  # type: ignore[attr-defined]
    sys.modules.setdefault("eventsourcing.cipher", stand_in)


_without_pycryptodome()

from eventsourcing.tests.persistence import (  # noqa: E402 - after the stand-in
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment  # noqa: E402

from infrastructure.projections.base import PostgresView, SQLiteView  # noqa: E402
from infrastructure.settings import Settings  # noqa: E402
from infrastructure.store.database import Database  # noqa: E402
from infrastructure.store.idempotency import IdempotencyRecord, IdempotencyStore  # noqa: E402
from infrastructure.store.recorders import (  # noqa: E402
    PostgresReclaimRecorder,
    SQLiteReclaimRecorder,
)

_names = itertools.count(1)


class _Store:
    """A fresh store per test, made through the settings the application uses."""

    store = ""
    pg_server: Any = None
    __test__ = False  # only the concrete classes below, each naming its store

    @pytest.fixture(autouse=True)
    def _fresh_store(self, request: pytest.FixtureRequest) -> Any:
        # a session fixture (one PostgreSQL server for the whole run) on a unittest case
        if self.store == "postgres":
            self.pg_server = request.getfixturevalue("pg_server")
        self._tmp = tempfile.TemporaryDirectory(prefix="reclaim-conformance-")
        self._factories: list[Any] = []
        before = set(threading.enumerate())
        yield
        # the library's concurrency cases tell their reader threads to stop but do not
        # wait for them: closing a store under a thread still reading it can crash
        # SQLite (a segfault, seen here), so wait for them first
        for thread in set(threading.enumerate()) - before:
            if not thread.daemon:  # theirs; the pools' workers are daemons and stay
                thread.join(timeout=10)
        for factory in self._factories:
            factory.close()
        self._tmp.cleanup()

    def settings(self) -> Settings:
        data_dir = Path(self._tmp.name) / f"data-{next(_names)}"
        if self.store == "sqlite":
            return Settings(data_dir=data_dir, database_url=None)  # type: ignore[arg-type]
        url = self.pg_server.create_database(f"reclaim_conformance_{os.getpid()}_{next(_names)}")
        return Settings(data_dir=data_dir, database_url=url)  # type: ignore[arg-type]

    def factory(self) -> Any:
        factory = InfrastructureFactory.construct(
            Environment(env=self.settings().eventsourcing_env())
        )
        self._factories.append(factory)
        return factory

    def application_recorder(self) -> Any:
        recorder = self.factory().application_recorder()
        # our classes (on PostgreSQL the one on the steady pool, pg_pool.py)
        expected = PostgresReclaimRecorder if self.store == "postgres" else SQLiteReclaimRecorder
        assert isinstance(recorder, expected), type(recorder)
        return recorder


class _ApplicationRecorderCases(_Store, ApplicationRecorderTestCase[Any]):
    def create_recorder(self) -> Any:
        return self.application_recorder()


class TestSQLiteReclaimRecorder(_ApplicationRecorderCases):
    __test__ = True
    store = "sqlite"


class TestPostgresReclaimRecorder(_ApplicationRecorderCases):
    __test__ = True
    store = "postgres"

    def test_insert_subscribe(self) -> None:
        # the library runs this one only for recorders that can subscribe (PostgreSQL's
        # LISTEN/NOTIFY); SQLite's raises NotImplementedError by design
        super().optional_test_insert_subscribe()


class _NonInterleavingCases(_Store, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> Any:
        return self.application_recorder()


class TestSQLiteReclaimRecorderNonInterleaving(_NonInterleavingCases):
    __test__ = True
    store = "sqlite"


class TestPostgresReclaimRecorderNonInterleaving(_NonInterleavingCases):
    __test__ = True
    store = "postgres"


class _TrackingCases(_Store, TrackingRecorderTestCase):
    def create_recorder(self) -> Any:
        factory = self.factory()
        view_class = PostgresView if self.store == "postgres" else SQLiteView
        view = view_class(factory.datastore, projection_name="conformance")
        view.create_table()
        return view


class TestSQLiteView(_TrackingCases):
    __test__ = True
    store = "sqlite"


class TestPostgresView(_TrackingCases):
    __test__ = True
    store = "postgres"


class _ConflictWithSideRows(_Store):
    """Beyond the library's cases: our recorders also write a command's idempotency record
    in the events' transaction. A version conflict must still be an IntegrityError then
    (on PostgreSQL it was once an OperationalError "pipeline aborted"), as must a
    duplicate key, and neither may leave anything recorded."""

    def _record(self, key: str) -> Any:
        return IdempotencyRecord("ws/alice", key, "hash", 200, "{}", {})

    def _recorder(self) -> Any:
        recorder = self.application_recorder()
        IdempotencyStore(Database(recorder.datastore, self.store)).create_tables()
        return recorder

    def _event(self, originator_id: Any, version: int) -> Any:
        return StoredEvent(originator_id, version, "topic", b"{}")

    def test_a_version_conflict_with_an_idempotency_record_is_an_integrity_error(self) -> None:
        recorder = self._recorder()
        case = uuid4()
        recorder.insert_events([self._event(case, 1)], idempotency=[self._record("k1")])
        with self.assertRaises(IntegrityError):
            recorder.insert_events([self._event(case, 1)], idempotency=[self._record("k2")])
        # several commands in one transaction (a group commit), one of them conflicting
        with self.assertRaises(IntegrityError):
            recorder.insert_events(
                [self._event(uuid4(), 1), self._event(case, 1)],
                idempotency=[self._record("k3"), self._record("k4")],
            )
        # the same key again, with an event that would not conflict
        with self.assertRaises(IntegrityError):
            recorder.insert_events([self._event(uuid4(), 1)], idempotency=[self._record("k1")])
        notifications = recorder.select_notifications(start=None, limit=10)
        assert [(n.originator_id, n.originator_version) for n in notifications] == [(case, 1)]


class TestSQLiteConflictWithSideRows(_ConflictWithSideRows, TestCase):
    __test__ = True
    store = "sqlite"


class TestPostgresConflictWithSideRows(_ConflictWithSideRows, TestCase):
    __test__ = True
    store = "postgres"


# the abstract bases would otherwise be collected (and fail) as tests of their own
del ApplicationRecorderTestCase, NonInterleavingNotificationIDsBaseCase, TrackingRecorderTestCase
