"""(a) The store's own limits: rows per second into an events-shaped table, no library.

PostgreSQL with psycopg 3: one row per transaction (autocommit, prepared INSERT) on
1, 4 and 16 connections, each in its own process; and 100 rows per transaction with
``executemany`` and with ``COPY``. SQLite (WAL, the library's journal mode) one row
per transaction with ``synchronous`` FULL (SQLite's default, which the library
keeps) and NORMAL. The table is the library's: ``(originator_id uuid,
originator_version bigint, topic text, state bytea, notification_id bigserial)``,
primary key on the first two, a unique index on ``notification_id``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.common import BenchPostgres, Options, SectionResult, say

TITLE = "(a) Raw inserts into an events-shaped table"
COMMAND = "python3 dev.py bench --sections raw"
STATE = os.urandom(400)  # about the size of one of Reclaim's stored events
TOPIC = "domain.cases:Credit.NoteAdded"
DDL = [
    "CREATE TABLE IF NOT EXISTS bench_events (originator_id uuid NOT NULL, "
    "originator_version bigint NOT NULL, topic text, state bytea, "
    "notification_id bigserial, PRIMARY KEY (originator_id, originator_version))",
    "CREATE UNIQUE INDEX IF NOT EXISTS bench_events_notification "
    "ON bench_events (notification_id ASC)",
]
INSERT = (
    "INSERT INTO bench_events (originator_id, originator_version, topic, state) "
    "VALUES (%s, %s, %s, %s)"
)
COPY = "COPY bench_events (originator_id, originator_version, topic, state) FROM STDIN"


def _rows(n: int) -> list[tuple[Any, ...]]:
    origin = uuid.uuid4()
    return [(origin, v, TOPIC, STATE) for v in range(1, n + 1)]


def _pg_worker(url: str, mode: str, start_at: float, stop_at: float, out: Any) -> None:
    rows = 0
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        while time.time() < start_at:
            time.sleep(0.001)
        with conn.cursor() as cur:
            while time.time() < stop_at:
                if mode == "single":
                    cur.execute(INSERT, (uuid.uuid4(), 1, TOPIC, STATE))
                    rows += 1
                elif mode == "executemany":
                    with conn.transaction():
                        cur.executemany(INSERT, _rows(100))
                    rows += 100
                else:
                    with conn.transaction(), cur.copy(COPY) as copy:
                        for row in _rows(100):
                            copy.write_row(row)
                    rows += 100
    out.put(rows)


def _parallel(url: str, mode: str, connections: int, duration: float) -> float:
    """Rows per second over ``connections`` processes running for ``duration`` seconds."""
    ctx = multiprocessing.get_context("fork")
    queue: Any = ctx.Queue()
    start_at = time.time() + 1.0 + 0.05 * connections
    stop_at = start_at + duration
    procs = [
        ctx.Process(target=_pg_worker, args=(url, mode, start_at, stop_at, queue))
        for _ in range(connections)
    ]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=duration + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / duration


def _sqlite_rate(path: str, synchronous: str, duration: float) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_events (originator_id TEXT, "
            "originator_version INTEGER, topic TEXT, state BLOB, "
            "notification_id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "UNIQUE (originator_id, originator_version))"
        )
        sql = (
            "INSERT INTO bench_events (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)"
        )
        count = 0
        stop_at = time.perf_counter() + duration
        started = time.perf_counter()
        while time.perf_counter() < stop_at:
            conn.execute(sql, (uuid.uuid4().hex, 1, TOPIC, STATE))
            count += 1
        return count / (time.perf_counter() - started)
    finally:
        conn.close()


def pg_single_rates(pg: BenchPostgres, connections: tuple[int, ...], duration: float) -> dict:
    """One row per transaction on each of these connection counts, on a fresh table:
    {connections: rows/s}."""
    url = pg.fresh("bench_raw_adjacent")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in DDL:
                conn.execute(statement)
        return {c: _parallel(url, "single", c, duration) for c in connections}
    finally:
        pg.drop("bench_raw_adjacent")


def sqlite_full_rate(directory: Path, duration: float) -> float:
    """One row per transaction, WAL, synchronous=FULL, on a fresh file in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "raw-adjacent.sqlite3"
    try:
        return _sqlite_rate(str(path), "FULL", duration)
    finally:
        for suffix in ("", "-wal", "-shm"):
            _unlink(str(path) + suffix)


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("raw", TITLE, COMMAND)
    duration = min(options.duration, 2.0 if options.quick else 5.0)
    rates: dict[str, float] = {}
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    if pg is not None and "postgres" in options.stores:
        url = pg.fresh("bench_raw")
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in DDL:
                conn.execute(statement)
        single = "one row per transaction"
        plan: list[tuple[str, str, int]] = [("single", single, c) for c in (1, 4, 16)]
        plan += [("executemany", "100 rows per transaction, executemany", c) for c in (1, 4)]
        plan += [("copy", "100 rows per transaction, COPY", c) for c in (1, 4)]
        if options.quick:
            plan = [p for p in plan if p[2] in (1, 16) or p[0] == "copy"][:4]
        for mode, what, connections in plan:
            rate = _parallel(url, mode, connections, duration)
            key = f"pg_{mode}_{connections}"
            rates[key] = rate
            say(f"  PostgreSQL {what}, {connections} connection(s): {rate:,.0f} rows/s")
            result.add(
                f"PostgreSQL, {what}, {connections} connection(s)",
                rate,
                "rows/s",
            )
        pg.drop("bench_raw")
    if "sqlite" in options.stores:
        directory = options.cache / "tmp"
        directory.mkdir(parents=True, exist_ok=True)
        for synchronous in ("FULL", "NORMAL"):
            path = directory / f"raw-{synchronous.lower()}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                _unlink(str(path) + suffix)
            rate = _sqlite_rate(str(path), synchronous, duration)
            rates[f"sqlite_{synchronous.lower()}"] = rate
            say(f"  SQLite WAL synchronous={synchronous}, one row per transaction: {rate:,.0f}/s")
            result.add(
                f"SQLite WAL, synchronous={synchronous}, one row per transaction, 1 connection",
                rate,
                "rows/s",
                note="FULL is SQLite's default, which the library keeps"
                if synchronous == "FULL"
                else "",
            )
            for suffix in ("", "-wal", "-shm"):
                _unlink(str(path) + suffix)
    context["raw"] = rates
    return result


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
