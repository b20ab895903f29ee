"""A SQLite transaction that reads, then writes, while another connection keeps committing:
it waits for the write lock instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from infrastructure.store.application import ReclaimApplication


@pytest.mark.parametrize("store", ["sqlite"])
def test_a_read_then_write_transaction_waits_for_another_writer(settings) -> None:
    app = ReclaimApplication(settings)
    db = app.database
    db.execute("CREATE TABLE IF NOT EXISTS t_busy (n INTEGER)")
    stop = threading.Event()

    def other_writer() -> None:
        conn = sqlite3.connect(settings.sqlite_path, timeout=5, isolation_level=None)
        while not stop.is_set():  # (a commit every millisecond: busy, but not a lock hog)
            conn.execute("INSERT INTO t_busy (n) VALUES (1)")
            stop.wait(0.001)
        conn.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        for _ in range(1000):
            with db.transaction() as cursor:
                cursor.fetchone("SELECT COUNT(*) AS n FROM t_busy")
                cursor.execute("INSERT INTO t_busy (n) VALUES (2)")
    finally:
        stop.set()
        thread.join()
        app.close()
