"""The inline write's statement batch (infrastructure/store/pg_batch.py) on a real
PostgreSQL server: answers, errors, prepared statements kept in step with psycopg's,
and a transaction that fails part-way leaving nothing written and its connection
usable or closed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest

from infrastructure.store.pg_batch import StatementBatch, statement_batch

_numbers = itertools.count(1)


@pytest.fixture
def conn(pg_server) -> Iterator[psycopg.Connection]:
    url = pg_server.create_database(f"batch_{next(_numbers)}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text, data bytea)")
        yield conn


def _names(conn: psycopg.Connection) -> dict:
    return dict(conn._prepared._names)  # noqa: SLF001


def test_statements_answer_at_the_sync_and_commit_together(conn) -> None:
    with statement_batch(conn) as batch:
        batch.execute("BEGIN")
        batch.executemany("INSERT INTO t VALUES (%s, %s, %s)", [(1, "a", b"\x00"), (2, None, b"")])
        read = batch.execute("SELECT id, name, data FROM t WHERE id >= %s ORDER BY id", (1,))
        assert read.result is None  # nothing has gone back and forth yet
        batch.sync()
        assert read.fetchall() == [
            {"id": 1, "name": "a", "data": b"\x00"},
            {"id": 2, "name": None, "data": b""},
        ]
        batch.execute("COMMIT")
        batch.sync()
        assert batch.syncs == 2
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    # the statements are prepared, and psycopg's cursors know them
    assert any(b"INSERT INTO t" in query for query, _ in _names(conn))


def test_a_conflict_raises_itself_and_rolls_the_transaction_back(conn) -> None:
    conn.execute("INSERT INTO t VALUES (1, 'a', NULL)")
    with pytest.raises(psycopg.errors.UniqueViolation), statement_batch(conn) as batch:
        batch.execute("BEGIN")
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (2, "b", None))
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (1, "again", None))
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (3, "c", None))
        batch.sync()
    assert not conn.closed
    assert conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,)]
    prepared = _names(conn)
    assert prepared  # the rollback was the batch's: psycopg's statements are all kept
    conn.execute("SELECT 1")
    assert _names(conn) == prepared


def test_an_error_before_the_commit_closes_the_connection_and_writes_nothing(conn) -> None:
    """Statements sent and not synced when the code that sent them fails: the connection
    is closed, which ends its transaction unwritten (a ROLLBACK sent behind them would
    wait for answers nobody reads)."""
    url = conn.info.dsn
    with pytest.raises(RuntimeError), statement_batch(conn) as batch:
        batch.execute("BEGIN")
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (1, "a", None))
        raise RuntimeError("a bug between the statements and their COMMIT")
    assert conn.closed
    with psycopg.connect(url) as other:
        assert other.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_statements_deallocated_through_psycopg_are_prepared_again(conn) -> None:
    for round_ in range(2):
        with statement_batch(conn) as batch:
            batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (round_, "x", None))
            batch.sync()
        conn.execute("DEALLOCATE ALL")  # psycopg forgets its names with it
        assert _names(conn) == {}
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_without_prepared_statements_when_the_connection_says_so(conn) -> None:
    conn.prepare_threshold = None
    with statement_batch(conn) as batch:
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (1, "x", None))
        read = batch.execute("SELECT name FROM t WHERE id = %s", (1,))
        batch.sync()
        assert read.fetchone() == {"name": "x"}
    assert _names(conn) == {}
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)


def test_a_read_not_sent_beforehand_is_a_round_trip_of_its_own(conn) -> None:
    with statement_batch(conn) as batch:
        batch.execute("INSERT INTO t VALUES (%s, %s, %s)", (1, "x", None))
        assert batch.read("SELECT count(*) AS n FROM t", ()).fetchone() == {"n": 1}
        assert batch.syncs == 1
    assert isinstance(batch, StatementBatch)
