"""(d) Projection rebuild rate against the rates of reading the same log.

On the generated log (100k events; 10k with --quick), per store:
- raw sequential read of the events table: PostgreSQL with a server-side (named)
  cursor, SQLite with a plain cursor; every column, in notification order;
- the library's decoded log read: ``app.recorder.select_notifications`` in batches
  of the projector's size, each through ``app.mapper.to_domain_event``;
- ``Projector.rebuild()`` of every projection (``bench/rebuild.py``'s ``measure``:
  the work of ``reclaim replay``), in this process.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import psycopg

from bench import datasets
from bench.common import BenchPostgres, Options, SectionResult, say
from bench.rebuild import BATCH_SIZE
from bench.rebuild import measure as measure_rebuild
from infrastructure.store.application import ReclaimApplication

TITLE = "(d) Projection rebuild vs reading the log"
COMMAND = "python3 dev.py bench --sections rebuild"


def raw_read(app: ReclaimApplication) -> tuple[int, float]:
    table = app.recorder.events_table_name
    # the library's SQLite table numbers the log with its rowid
    position = "notification_id" if app.settings.uses_postgres else "rowid"
    sql = (
        f"SELECT originator_id, originator_version, topic, state, {position} "
        f"FROM {table} ORDER BY {position}"
    )
    started = time.perf_counter()
    rows = 0
    if app.settings.uses_postgres:
        with (
            psycopg.connect(app.settings.database_url) as conn,
            conn.cursor(name="bench_scan") as cur,
        ):
            cur.itersize = 10_000
            cur.execute(sql)
            for _ in cur:
                rows += 1
    else:
        conn = sqlite3.connect(str(app.settings.sqlite_path))
        try:
            for _ in conn.execute(sql):
                rows += 1
        finally:
            conn.close()
    return rows, time.perf_counter() - started


def decoded_read(app: ReclaimApplication, batch_size: int = BATCH_SIZE) -> tuple[int, float]:
    started = time.perf_counter()
    start, count = 0, 0
    while True:
        notifications = app.recorder.select_notifications(
            start=start, limit=batch_size, inclusive_of_start=False
        )
        if not notifications:
            break
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        start = notifications[-1].id
    return count, time.perf_counter() - started


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("rebuild", TITLE, COMMAND)
    label = "10k" if options.quick else "100k"
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    logs = datasets.ensure(options, options.stores, label, pg)
    rates: dict[str, dict[str, float]] = {}
    for store, dataset in logs.items():
        name = options.store_label(store)
        app = ReclaimApplication(dataset.settings)
        try:
            raw_rows, raw_s = raw_read(app)
            dec_rows, dec_s = decoded_read(app)
            rebuilt = measure_rebuild(app)
        finally:
            app.close()
        raw_rate, dec_rate = raw_rows / raw_s, dec_rows / dec_s
        rebuild_rate = float(rebuilt["events_per_second"])
        rates[store] = {"raw": raw_rate, "decoded": dec_rate, "rebuild": rebuild_rate}
        say(
            f"  {name}, {dataset.events:,} events: raw read {raw_rate:,.0f}/s, decoded "
            f"{dec_rate:,.0f}/s, rebuild {rebuild_rate:,.0f}/s"
        )
        events = f"{dataset.events:,} events"
        result.add(f"{name}: raw sequential read ({events})", raw_rate, "rows/s")
        result.add(f"{name}: library decoded log read ({events})", dec_rate, "events/s")
        cpu = rebuilt.get("python_cpu_seconds")
        count = rebuilt.get("projections")
        result.add(
            f"{name}: projection rebuild ({events})",
            rebuild_rate,
            "events/s",
            note=f"{rebuilt['seconds']} s; this process's CPU {cpu} s"
            + (f"; {count} projections" if count else ""),
        )
    context["rebuild"] = rates
    return result
