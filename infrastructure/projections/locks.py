"""One runner per projection: a lock each, held for as long as a runner runs.

On PostgreSQL a session advisory lock per projection (on a connection of its own,
so the server lets go the moment the process dies); on SQLite an exclusive
``flock`` on a file per projection beside the database file (the kernel lets go
when the process dies). Either way a second runner cannot take a projection
another one holds: it waits, or gives up when its timeout runs out.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import psycopg

from infrastructure.settings import Settings

_RETRY_SECONDS = 0.1


class ProjectorBusy(Exception):
    """Another runner holds the projections."""


class Locks(Protocol):
    def try_acquire(self) -> bool: ...

    def release(self) -> None: ...

    def check(self) -> None:
        """Raise if locks taken earlier may have been lost."""


def acquire(locks: Locks, timeout: float | None) -> bool:
    """Take the locks, waiting up to ``timeout`` seconds (None: for ever)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not locks.try_acquire():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(_RETRY_SECONDS)
    return True


class FileLocks:
    def __init__(self, directory: Path, names: Sequence[str]) -> None:
        self.paths = [directory / f"{name}.lock" for name in sorted(names)]
        self._held: list[int] = []

    def try_acquire(self) -> bool:
        if self._held:
            return True
        for path in self.paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self.release()
                return False
            self._held.append(fd)
        return True

    def release(self) -> None:
        for fd in self._held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._held = []

    def check(self) -> None:
        """A file lock lasts as long as this process holds the file open."""


def advisory_key(name: str) -> int:
    digest = hashlib.sha256(f"reclaim-projection:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLocks:
    def __init__(self, connect: dict[str, Any], names: Sequence[str]) -> None:
        self.connect = connect
        self.keys = [advisory_key(name) for name in sorted(names)]
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return True
        if self._conn is None:
            self._conn = psycopg.connect(**self.connect, autocommit=True)
        taken: list[int] = []
        for key in self.keys:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (row and row[0]):
                for held in taken:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (held,))
                return False
            taken.append(key)
        self._held = True
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the server releases a session's advisory locks with it
        self._conn = None
        self._held = False

    def check(self) -> None:
        """The locks last as long as their session: raise if it is gone."""
        if self._conn is None or self._conn.closed:
            raise ProjectorBusy("the projection locks' connection is closed")
        self._conn.execute("SELECT 1")


def locks_for(settings: Settings, names: Sequence[str]) -> Locks:
    if settings.uses_postgres:
        parts = settings.postgres_parts()
        connect = {
            "host": parts["host"],
            "port": parts["port"],
            "user": parts["user"],
            "password": parts["password"],
            "dbname": parts["dbname"],
            "connect_timeout": settings.connect_timeout,
        }
        return AdvisoryLocks(connect, names)
    return FileLocks(settings.data_dir / "locks", names)
