"""PostgreSQL connections that ride out a restart or a failover.

After the server restarts (or a failover, or ``pg_terminate_backend``) every pooled
connection is dead, and the library's pool, as it comes, made the next request pay for
that: its pre-ping finds one dead connection, discards it, tries the next one at once,
then sleeps 1 s, then 2 s, and a request waits only ``connect_timeout`` (2 s) for a
connection. So the first command after a blip failed, after 4 s (measured: killing the
server's connections failed the next command after 4.2 s and the next read after 2.0 s).

Here the pool is told what a dead connection means:

* when a connection fails its pre-ping, every other idle connection is checked at once
  (the pool's own ``check()``: each dead one discarded and a fresh one started), so the
  request takes the first fresh connection instead of sleeping through the dead ones;
* a connection the pool failed to make is retried for ``connect_timeout`` seconds and
  then given up; the next request that finds the pool empty starts a new attempt at
  once. (The library's pool keeps retrying for 5 minutes with a doubling delay, so after
  an outage the server could be back for seconds before the pool tried again: 3.2 s after
  an 8 s outage, measured.)
* libpq's own connect timeout is ``connect_timeout`` too, so a connection attempt to an
  unreachable host holds one of the pool's three workers for seconds, not minutes.

An outage still answers quickly: a request waits ``connect_timeout`` for a connection
and the recorders' retry policy does not wait a second time (``recorders.py``).

Every path shares the one pool (the recorder, ``Database`` for keys, idempotency records
and projections), so every path rides out a blip the same way.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from eventsourcing.postgres import ConnectionPool

from infrastructure.store.recorders import PostgresReclaimRecorder

_STEADY = "_reclaim_steady"
#: a connection given back this recently is taken without a pre-ping
FRESH_SECONDS = 0.25


def steady(pool: Any, connect_timeout: float) -> None:
    """Make ``pool`` (the library's psycopg pool, not yet opened) ride out a blip."""
    if getattr(pool, _STEADY, False):
        return

    returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
    put = pool.putconn

    def putconn(conn: Any) -> None:
        returned[conn] = time.monotonic()
        put(conn)

    def check(conn: Any) -> None:
        # a connection that was working a moment ago is taken without a round trip: under
        # load most are, and the pre-ping was a quarter of a command's time (sampled at
        # 16 clients). One that died meanwhile fails its statement, which is tried once
        # more on a fresh connection after the same sweep (recorders.py, _fewer_retries)
        last = returned.get(conn)
        if last is not None and time.monotonic() - last < FRESH_SECONDS:
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            # one idle connection is dead: after a restart or failover they all are
            pool.check()
            raise

    pool.putconn = putconn

    # psycopg_pool keeps the pre-ping callback here (given as ``check=`` when it is made,
    # which the library does for us, with POSTGRES_PRE_PING)
    pool._check = check  # noqa: SLF001
    pool.reconnect_timeout = float(connect_timeout)
    pool.kwargs = {**(pool.kwargs or {}), "connect_timeout": max(int(connect_timeout), 2)}
    setattr(pool, _STEADY, True)


class SteadyPostgresRecorder(PostgresReclaimRecorder):
    """Reclaim's PostgreSQL recorder on a pool that rides out a blip (the application's
    recorder topic names this class, so every process's one pool is made steady)."""

    def __init__(self, datastore: Any, *args: Any, **kwargs: Any) -> None:
        # before the recorder's own start, which opens the pool: every connection it makes
        # is then made as ``steady`` says
        steady(datastore.pool, datastore.pool.timeout)
        super().__init__(datastore, *args, **kwargs)
