"""How fast the projections rebuild: events per second for ``Projector.rebuild()``.

    .venv/bin/python -m bench.rebuild --events 100000 --store both

Records a generated history of at least ``--events`` events (see ``history.py``) in a
fresh store, then times ``Projector(app).rebuild()``: every projection from position
zero (the work of ``reclaim replay``). PostgreSQL is a throwaway server started for the run
(``tests/support/pgserver.py``; durable unless ``--fast-pg``), or the one at ``--database-url``.
Prints one JSON object per store.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import call_with, log_length
from bench.history import generate
from infrastructure.projections import projector as projector_module
from infrastructure.projections.projector import Projector
from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication

#: the projector's own batch size, where it has one
BATCH_SIZE: int = getattr(projector_module, "BATCH_SIZE", 1000)

CASES_PER_ROUND = 2000


def record_history(app: ReclaimApplication, events: int, seed: int = 1) -> int:
    """At least ``events`` events, in rounds of generated cases."""
    recorded = log_length(app)
    while recorded < events:
        recorded += generate(app, cases_=CASES_PER_ROUND, seed=seed, chunk=100)
        seed += 1
    return recorded


def measure(app: ReclaimApplication, *, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
    """Time one rebuild of every projection; the figures as a dict."""
    projector = call_with(Projector, app, batch_size=batch_size)
    events = log_length(app)
    started, cpu = time.perf_counter(), time.process_time()
    replayed = call_with(projector.rebuild, timeout=30)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if not isinstance(replayed, int) or replayed <= 0:
        replayed = events  # a rebuild reads the whole log, whatever it returns
    return {
        "store": "postgres" if app.settings.uses_postgres else "sqlite",
        "events": replayed,
        "projections": len(getattr(projector, "names", ()) or ()) or None,
        "batch_size": batch_size,
        "seconds": round(seconds, 2),
        "events_per_second": round(replayed / seconds),
        # this process's own CPU time (not the PostgreSQL server's): steadier on a busy machine
        "python_cpu_seconds": round(cpu, 2),
        "load_average": round(os.getloadavg()[0], 2),
    }


@contextmanager
def store_settings(store: str, args: argparse.Namespace) -> Iterator[Settings]:
    """Settings for a fresh store of the kind asked for; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="reclaim-bench-") as directory:
        data_dir = Path(directory)
        if store == "sqlite":
            yield Settings(data_dir=data_dir, database_url=None)
        elif args.database_url:
            yield Settings(data_dir=data_dir, database_url=args.database_url)
        else:
            yield from _throwaway_postgres(data_dir, durable=not args.fast_pg)


def _throwaway_postgres(data_dir: Path, *, durable: bool) -> Iterator[Settings]:
    from tests.support.pgserver import PostgresServer

    server = PostgresServer(durable=durable).start()
    try:
        yield Settings(data_dir=data_dir, database_url=server.create_database("bench_rebuild"))
    finally:
        server.cleanup()


def run(store: str, args: argparse.Namespace) -> dict[str, Any]:
    with store_settings(store, args) as settings:
        app = ReclaimApplication(settings)
        try:
            started = time.perf_counter()
            recorded = record_history(app, args.events)
            recording = time.perf_counter() - started
            result = measure(app, batch_size=args.batch_size)
        finally:
            app.close()
    result["recording_seconds"] = round(recording, 1)
    result["recorded"] = recorded
    result["durable_postgres"] = store == "postgres" and not args.fast_pg
    result["python"] = platform.python_version()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--database-url", help="an empty PostgreSQL database to use")
    parser.add_argument("--fast-pg", action="store_true", help="throwaway server with fsync off")
    args = parser.parse_args(argv)
    for store in ("sqlite", "postgres") if args.store == "both" else (args.store,):
        print(json.dumps(run(store, args)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
