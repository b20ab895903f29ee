"""What the PostgreSQL fault tests share: killing every connection as a restart or
failover does, and timing the call after it."""

from __future__ import annotations

import time
from typing import Any

import psycopg

#: a command after a blip answers within this (it takes ~0.05 s here; the bound is loose
#: for a shared machine, and well under the 4 s a blip used to cost)
BLIP_SECONDS = 1.5
KILL_ALL = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def kill_connections(url: str) -> int:
    """Terminate every server connection to the database but this one's, as a restart or
    failover does; how many there were."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(KILL_ALL).fetchone()
    assert row is not None
    return int(row[0])


def timed(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    began = time.monotonic()
    result = call(*args, **kwargs)
    return result, time.monotonic() - began
