"""(c, baseline) The ``eventsourcing`` library used directly, as its docs show it.

A plain ``Application`` with the library's defaults (no aggregate cache, no
snapshots) and a small aggregate: get an aggregate of 7 events, add 1 event, save.
Each command takes a different aggregate, so every one starts at 7 events.
One thread (the reference figure), and 16 threads sharing the application.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.common import BenchPostgres, Options, SectionResult, say

TITLE = "(c) Baseline: the eventsourcing library used directly"
COMMAND = "python3 dev.py bench --sections library"


class Thing(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.notes = 0

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes += 1


class Things(Application[UUID]):
    pass


def _env(store: str, options: Options, pg: BenchPostgres | None) -> dict[str, str]:
    if store == "postgres":
        assert pg is not None
        url = pg.fresh("bench_library")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(pg.server.port),
            "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "",
            "POSTGRES_DBNAME": url.rsplit("/", 1)[1],
            "POSTGRES_POOL_SIZE": "20",
            "POSTGRES_MAX_OVERFLOW": "10",
        }
    path = options.cache / "tmp" / "library.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def _pool(app: Things, count: int) -> list[UUID]:
    ids: list[UUID] = []
    batch: list[Thing] = []
    for n in range(count):
        thing = Thing(f"thing-{n}")
        for i in range(6):
            thing.note(f"note {i}")
        batch.append(thing)
        ids.append(thing.id)
        if len(batch) == 500:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)
    return ids


def measure(app: Things, ids: list[UUID], threads: int, duration: float) -> float:
    """Commands per second: get, add one event, save."""
    source = itertools.cycle(ids)
    lock = threading.Lock()
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(slot: int) -> None:
        start.wait()
        while time.perf_counter() < stop_at[0]:
            with lock:
                thing_id = next(source)
            thing = app.repository.get(thing_id)
            thing.note("one more")
            app.save(thing)
            counts[slot] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    stop_at[0] = time.perf_counter() + duration
    started = time.perf_counter()
    start.wait()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - started)


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("library", TITLE, COMMAND)
    duration = min(options.duration, 2.0 if options.quick else 5.0)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    rates: dict[str, float] = {}
    for store in options.stores:
        app = Things(env=_env(store, options, pg))
        try:
            ids = _pool(app, 2_000 if options.quick else 8_000)
            for threads in (1, 16):
                rate = measure(app, ids[:] if threads == 1 else ids[::-1], threads, duration)
                rates[f"{store}_{threads}"] = rate
                label = options.store_label(store)
                say(f"  library on {label}, {threads} thread(s): {rate:,.0f} commands/s")
                result.add(
                    f"{label}: get a 7-event aggregate, add 1 event, save; {threads} thread(s)",
                    rate,
                    "commands/s",
                )
        finally:
            app.close()
        if store == "postgres" and pg is not None:
            pg.drop("bench_library")
    context["library"] = rates
    return result
