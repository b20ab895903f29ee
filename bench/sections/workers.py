"""(h) Issue 26's table: Reclaim's commands by worker count, beside the bare endpoint.

For each store and each worker count of ``--workers`` (default 1, 2, 4), in that
order: ``reclaim serve --workers N`` on a fresh store holding the hot set (300
cases), then the bare endpoint's async route under uvicorn with the same worker
count, then Reclaim again on a fresh store holding the spread set (3,000 cases).
Each Reclaim run is issue 10's mix (follow-ups and notes, half each, with
``occurred_at``) from wrk at 16 clients, each connection on its own share of the
cases, which are opened, submitted and projected before the server starts (section
(c)'s setup). Every run has its own warm-up; only 2xx answers count. On PostgreSQL,
raw one-row inserts on 1 connection are measured again just before and just after
the 1-worker hot-set run, for issue 26's bound on 1 worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import BenchPostgres, Options, SectionResult, say
from bench.sections.http import bare_run, counted, issue_script, seeded_store
from bench.sections.raw import pg_single_rates
from bench.servers import reclaim
from bench.wrk import WrkResult, run_wrk

TITLE = "(h) Worker processes: commands at 16 clients by worker count, on 300 and 3,000 cases"
COMMAND = "python3 dev.py bench --sections workers"
CLIENTS = 16
#: the case sets, by how the report names them: the hot set, then the spread set
CASE_SETS = {"300 cases": 300, "3,000 cases": 3_000}
#: seconds a run lasts in the full run (after its warm-up); --quick keeps its own
RUN_SECONDS = 10.0


def name(label: str, workers: int, cases: str, which: str) -> str:
    return f"{label}, {workers} worker(s), {cases}: {which}"


def bare_name(label: str, workers: int, which: str) -> str:
    return f"{label}, {workers} worker(s): bare POST (async), {CLIENTS} client(s): {which}"


#: raw one-row inserts on PostgreSQL, just before and just after the 1-worker hot-set run
RAW = "PostgreSQL: raw one-row inserts, 1 connection(s), just {when} the 1-worker 300-case run"


def commands(
    options: Options,
    store: str,
    pg: BenchPostgres | None,
    workers: int,
    cases: int,
    duration: float,
) -> WrkResult:
    """One run of issue 10's mix on a fresh store holding ``cases`` cases."""
    db = f"bench_workers_{store}_{workers}_{cases}"
    with seeded_store(options, store, db, pg, cases) as (settings, _, key, ids):
        warm = issue_script(ids, key, CLIENTS, "warm-up")
        script = issue_script(ids, key, CLIENTS, "run")
    try:
        with reclaim(settings, workers, settings.data_dir / "server.log") as server:
            run_wrk(server.url, warm, clients=CLIENTS, duration=options.warmup)
            return run_wrk(server.url, script, clients=CLIENTS, duration=duration)
    finally:
        if settings.database_url and pg is not None:
            pg.drop(db)


#: the transport between nodes: one forwarded save's round trip, the writer's side empty
TRANSPORT = "Transport: a forwarded save's round trip over loopback TCP (writer does nothing)"


def transport_round_trip(count: int) -> float:
    """Microseconds per forwarded save through ``Forwarder`` and ``Listener`` (the wire
    format, framing, the event loop on both ends; sent as an API command's save is, from
    a ``run_following`` greenlet), with a save that does nothing on the writer: what
    forwarding adds to a command before its batch. (Both ends share one process and
    loop here; between processes each end has its own.)"""
    import asyncio
    import threading
    import time
    import uuid

    from eventsourcing.persistence import StoredEvent

    from infrastructure.store.forward import Forwarder, Listener, encode_save, run_following

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def save(message: dict[str, Any]) -> int:
        return 1

    listener = Listener(save, "token")
    port = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result(10)

    class Registry:
        def current(self) -> dict[str, Any]:
            return {"address": f"127.0.0.1:{port}", "token": "token"}

    forwarder = Forwarder(Registry(), loop)  # type: ignore[arg-type]
    state = b'{"text":"a note of a typical length, as the mix sends","actor":"bench"}' * 3
    event = StoredEvent(uuid.uuid4(), 7, "domain.cases:Case.NoteAdded", state)
    message = encode_save(event.originator_id, [event], None)

    async def saves(n: int) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await run_following(lambda: forwarder.save(message))
        return time.perf_counter() - started

    try:
        asyncio.run_coroutine_threadsafe(saves(200), loop).result(60)
        seconds = asyncio.run_coroutine_threadsafe(saves(count), loop).result(600)
        return seconds / count * 1e6
    finally:
        asyncio.run_coroutine_threadsafe(forwarder.aclose(), loop).result(10)
        asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("workers", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    duration = options.duration if options.quick else min(options.duration, RUN_SECONDS)
    raw_seconds = min(options.duration, 2.0 if options.quick else 5.0)
    tmp: Path = options.cache / "tmp" / "workers"

    def raw(when: str) -> None:
        rate = pg_single_rates(pg, (1,), raw_seconds)[1]  # type: ignore[arg-type]
        say(f"  raw one-row inserts on PostgreSQL, 1 connection, {when}: {rate:,.0f}/s")
        result.add(RAW.format(when=when), rate, "rows/s")

    def add(label: str, workers: int, cases: str, r: WrkResult) -> None:
        say(f"  Reclaim on {label}, {workers} worker(s), {cases}: {r.describe()}")
        result.add(name(label, workers, cases, "throughput"), r.rate, "commands/s", note=counted(r))
        result.add(name(label, workers, cases, "p50"), r.p50, "ms")
        result.add(name(label, workers, cases, "p99"), r.p99, "ms")

    micros = transport_round_trip(2_000 if options.quick else 20_000)
    say(f"  {TRANSPORT}: {micros:.0f} us")
    result.add(TRANSPORT, micros, "us")
    (hot, hot_n), (spread, spread_n) = CASE_SETS.items()
    for store in options.stores:
        label = options.store_label(store)
        baseline_raw = store == "postgres" and pg is not None
        for workers in options.worker_counts:
            if baseline_raw and workers == 1:
                raw("before")
            add(label, workers, hot, commands(options, store, pg, workers, hot_n, duration))
            if baseline_raw and workers == 1:
                raw("after")
            r = bare_run(options, workers, tmp / f"bare-{store}-{workers}", CLIENTS, duration)
            say(f"  bare async POST, {workers} worker(s): {r.describe()}")
            result.add(bare_name(label, workers, "throughput"), r.rate, "req/s", note=counted(r))
            result.add(bare_name(label, workers, "p99"), r.p99, "ms")
            add(label, workers, spread, commands(options, store, pg, workers, spread_n, duration))
    result.detail.append(
        f"Each Reclaim run: `reclaim serve --workers N` on a fresh store, wrk at {CLIENTS} "
        f"clients, {options.warmup:.0f} s of warm-up then {duration:.0f} s measured; the "
        f"bare endpoint's run between a worker count's two, as long, with the same worker "
        "count. Ratios in brackets compare a row with the 1-worker row of the same store, "
        "case set and run; a p99 with the bare endpoint's p99 at the same worker count; "
        "1 worker's hot-set throughput on PostgreSQL with the mean of the raw one-row "
        "inserts measured just before and just after it."
    )
    return result
