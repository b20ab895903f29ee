"""A PostgreSQL transaction's statements sent in libpq's pipeline mode, all at once.

psycopg's own pipeline sends each statement as it is executed: for every one it polls
the socket and flushes it (two system calls, and the GIL let go and taken back twice)
and runs its cursor's machinery. The inline write is about thirty statements, so a
write paid that thirty times, and under load each time the GIL went to the event loop
the writer waited to get it back (measured, 30 prepared INSERTs in a transaction:
0.43 ms of CPU through psycopg's pipeline, 0.08 ms here; with a second thread busy
half the time, 1.3 ms against 0.5 ms from first statement to commit).

A ``StatementBatch`` puts each statement into libpq's buffer and talks to the server
only at ``sync``: one flush and one wait for all the answers. The parameters are adapted
by psycopg's own ``Transformer`` (the connection's dumpers) and the rows loaded by it.
A statement with parameters is prepared once per connection (unless its
``prepare_threshold`` is None) and its name kept in psycopg's own cache of the
connection's prepared statements, so psycopg's cursors use the same statements, and its
eviction and its ``DEALLOCATE ALL`` (after a rollback or a ``DROP``
it runs) keep both in step.

Errors are psycopg's own (``psycopg.errors``): the first error of a sync is raised once
every answer to it has been read. A transaction that failed is rolled back here, before
its connection leaves, so the connection goes back to the pool idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors, pq

# (psycopg's class that turns a query and its parameters into what libpq sends; the one
# its cursors use)
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer
from psycopg.generators import fetch_many, send

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_IN_TRANSACTION = (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR)


class Sent:
    """A statement sent: its answer once the batch has synced. Reads as a cursor does
    (``fetchall``, ``fetchone``, as dicts)."""

    __slots__ = ("_batch", "result")

    def __init__(self, batch: StatementBatch) -> None:
        self._batch = batch
        self.result: pq.abc.PGresult | None = None

    def fetchall(self) -> list[dict[str, Any]]:
        result = self.result
        if result is None:
            raise psycopg.ProgrammingError("the statement's answer has not come back yet")
        names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
        tx = self._batch.tx
        tx.set_pgresult(result)
        return tx.load_rows(0, result.ntuples, lambda values: dict(zip(names, values, strict=True)))

    def fetchone(self) -> dict[str, Any] | None:
        rows = self.fetchall()
        return rows[0] if rows else None


class _Prepare:
    """A statement being prepared in this batch: its name goes into the connection's
    cache once the server has answered that it is prepared."""

    __slots__ = ("key", "name")

    def __init__(self, key: tuple[bytes, Any], name: bytes) -> None:
        self.key = key
        self.name = name


class StatementBatch:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.tx = Transformer(conn)
        self.encoding = conn.info.encoding
        #: psycopg's cache of the connection's prepared statements: (query, types) -> name
        self._prepared = conn._prepared  # noqa: SLF001 - see the module's docstring
        #: statements are prepared unless the connection says not to (as behind a
        #: PgBouncer in transaction mode, where a session's statements do not last)
        self._prepares = conn.prepare_threshold is not None
        #: prepared in this batch, not yet answered
        self._preparing: dict[tuple[bytes, Any], bytes] = {}
        #: what each command sent since the last sync answers into, in order
        self._waiting: list[Sent | _Prepare | None] = []
        #: the statement sent last
        self.last: Sent | None = None
        #: round trips made (one a sync)
        self.syncs = 0
        #: a sync's answers are being read (and may not all have been)
        self._reading = False

    # --- sending -------------------------------------------------------------------------
    def execute(self, query: Any, params: Sequence[Any] | None = None) -> Sent:
        """Send one statement (psycopg's ``%s`` placeholders); its answer comes at the
        next ``sync``. A statement with parameters is prepared, one without never."""
        pgq = PostgresQuery(self.tx)
        pgq.convert(query, params)
        return self._send(pgq)

    def executemany(self, query: Any, rows: Iterable[Sequence[Any]]) -> None:
        pgq: PostgresQuery | None = None
        for params in rows:
            if pgq is None:
                pgq = PostgresQuery(self.tx)
                pgq.convert(query, params)
            else:
                pgq.dump(params)
            self._send(pgq)

    def _send(self, pgq: PostgresQuery) -> Sent:
        sent = Sent(self)
        if pgq.params is None or not self._prepares:
            self.pgconn.send_query_params(
                pgq.query, pgq.params, param_types=pgq.types, param_formats=pgq.formats
            )
        else:
            name = self._name(pgq)
            self.pgconn.send_query_prepared(name, pgq.params, param_formats=pgq.formats)
        self._waiting.append(sent)
        self.last = sent
        # (not flushed here: a write to the socket for every statement cost more than the
        # server's head start gained; measured at 16 clients, 1,027-1,076 against
        # 1,074-1,090 commands/s, and the same p50 at 1 client)
        return sent

    def _name(self, pgq: PostgresQuery) -> bytes:
        key = (pgq.query, pgq.types)
        cache = self._prepared._names  # noqa: SLF001
        name = cache.get(key) or self._preparing.get(key)
        if name is None:
            name = f"_pg3_{self._prepared._prepared_idx}".encode()  # noqa: SLF001
            self._prepared._prepared_idx += 1  # noqa: SLF001
            self.pgconn.send_prepare(name, pgq.query, param_types=pgq.types)
            self._preparing[key] = name
            self._waiting.append(_Prepare(key, name))
        return name

    # --- the round trip ------------------------------------------------------------------
    def sync(self) -> None:
        """Send everything and read every answer; raise the first error among them (the
        server skipped every statement after it, up to here)."""
        self.pgconn.pipeline_sync()
        self.syncs += 1
        self._reading = True
        waiting, self._waiting = self._waiting, []
        self._preparing = {}
        wait = self.conn.wait
        wait(send(self.pgconn))
        first: psycopg.Error | None = None
        for item in waiting:
            results = wait(fetch_many(self.pgconn))
            result = results[-1] if results else None
            if result is None or result.status not in _OK:
                if first is None and result is not None:
                    first = self._error(result)
                continue
            if isinstance(item, Sent):
                item.result = result
            elif isinstance(item, _Prepare):
                self._prepared._names[item.key] = item.name  # noqa: SLF001
        synced = wait(fetch_many(self.pgconn))
        if not synced or synced[0].status != _SYNC:  # pragma: no cover - libpq's contract
            raise psycopg.InterfaceError("the pipeline's answers did not end at its sync")
        self._reading = False
        if first is not None:
            raise first

    def read(self, query: Any, params: Sequence[Any] | None = None) -> Sent:
        """A query not sent beforehand: sent with everything before it, in a round trip
        of its own."""
        sent = self.execute(query, params)
        self.sync()
        return sent

    def _error(self, result: pq.abc.PGresult) -> psycopg.Error:
        if result.status == pq.ExecStatus.FATAL_ERROR:
            return errors.error_from_result(result, encoding=self.encoding)
        if result.status == pq.ExecStatus.PIPELINE_ABORTED:
            return errors.PipelineAborted("pipeline aborted")
        return psycopg.InterfaceError(f"unexpected result {pq.ExecStatus(result.status).name}")

    def rollback_if_failed(self) -> None:
        """Roll back a transaction left open or failed (after an error), here: psycopg's
        own rollback would also drop every prepared statement of the connection."""
        if self.pgconn.transaction_status in _IN_TRANSACTION:
            self.execute("ROLLBACK")
            self.sync()


@contextmanager
def statement_batch(conn: psycopg.Connection[Any]) -> Iterator[StatementBatch]:
    """A batch on ``conn`` (in autocommit mode, outside any psycopg pipeline): libpq's
    pipeline mode for the length of the block. On the way out, after an error, an open
    transaction is rolled back; a connection that broke is left as it is (the pool
    throws it away)."""
    with conn.lock:
        batch = StatementBatch(conn)
        conn.pgconn.enter_pipeline_mode()
        try:
            yield batch
        except BaseException:
            _settle(batch)
            raise
        finally:
            if not conn.closed and conn.pgconn.status == pq.ConnStatus.OK:
                conn.pgconn.exit_pipeline_mode()


def _settle(batch: StatementBatch) -> None:
    """After an error: the transaction rolled back (an error of its own here is not the
    one to report). With statements sent and not synced (the error came before their
    sync) the connection is closed instead, which ends its transaction unwritten. (libpq
    writes out a full buffer before the sync, so a COMMIT sent may still have reached
    the server, as when a connection is lost after its COMMIT; the inline write sends its
    COMMIT last, just before the sync.)"""
    conn = batch.conn
    if conn.closed or conn.pgconn.status != pq.ConnStatus.OK:
        return
    if batch._waiting or batch._reading:  # noqa: SLF001 - unsent, or answers unread
        conn.close()
        return
    try:
        batch.rollback_if_failed()
    except psycopg.Error:
        conn.close()
