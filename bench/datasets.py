"""Generated event logs of a given size, on each store, cached between runs.

A log is made fast: the seeded histories of ``history.py`` are encoded once and
inserted as stored events in large batches straight through the library's
recorder (the same rows ``Application.save`` would write: no generated case
reaches the snapshot interval), then the projector's ``rebuild`` builds the read
tables.

Two stages are cached, each with a marker file: the bare event log ("pristine":
only the library's tables), and a copy of it with Reclaim's tables and built
projections. When the code that makes the read tables changes (a hash of every
source file under ``domain/`` and ``infrastructure/``), only the second stage is
made again: the pristine log is copied (a file copy for SQLite, ``CREATE DATABASE
... TEMPLATE`` for PostgreSQL) and projected afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.common import ROOT, BenchPostgres, Options, call_with, log_length, say
from bench.history import cases
from infrastructure.projections.projector import Projector
from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication

#: bump when the generator changes, so cached logs are made again (2: personal fields
#: sealed, with the data keys kept beside the log)
GENERATOR_VERSION = 2
INSERT_BATCH = 5000
#: the library's own tables: all a pristine log keeps
LIBRARY_TABLES = ("stored_events", "stored_snapshots", "reclaim_events", "reclaim_snapshots")
#: kept with them: the data keys that open the events' sealed fields (and the check of the
#: master key that wraps them)
KEY_TABLES = ("reclaim_data_keys", "reclaim_shared_keys")
#: who the query benchmarks act as: a member, one of the generator's owners
QUERY_USER, QUERY_WORKSPACE = "user-1", "ws-1"


@dataclass
class Dataset:
    store: str
    label: str
    events: int
    settings: Settings
    #: how long it took to make in this run (None: it came from the cache)
    made_seconds: float | None


#: the code a log's read tables are made by: the projections, and what they call (the
#: domain's event classes fold a rebuild; reports and timeliness live beside them)
PROJECTION_CODE = ("domain", "infrastructure")


def projections_hash() -> str:
    digest = hashlib.sha256()
    for top in PROJECTION_CODE:
        for path in sorted((ROOT / top).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


class Log:
    """One log's two stages on one store."""

    def __init__(self, options: Options, store: str, label: str, pg: BenchPostgres | None):
        self.options, self.store, self.label, self.pg = options, store, label, pg
        self.size = options.sizes[label]
        base = options.cache / "logs"
        self.pristine_dir = base / f"{store}-{label}-events"
        self.log_dir = base / f"{store}-{label}"
        self.pristine_marker = base / f"{store}-{label}-events.json"
        self.ready_marker = base / f"{store}-{label}.ready.json"
        self.pristine_db = f"events_{label}".lower()
        self.log_db = f"log_{label}".lower()

    def settings(self, pristine: bool = False) -> Settings:
        url = None
        if self.store == "postgres":
            assert self.pg is not None
            url = self.pg.url(self.pristine_db if pristine else self.log_db)
        data_dir = self.pristine_dir if pristine else self.log_dir
        return Settings(data_dir=data_dir, database_url=url, create_tables=True)

    def _marker(self, path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        info = json.loads(path.read_text())
        if info.get("generator") != GENERATOR_VERSION or info.get("target") != self.size:
            return None
        if self.store == "postgres":
            assert self.pg is not None
            name = self.pristine_db if path == self.pristine_marker else self.log_db
            if not self.pg.exists(name):
                return None
        elif not (Path(info.get("dir", "")) / "reclaim.sqlite3").exists():
            return None
        return dict(info)

    def ready(self) -> dict[str, Any] | None:
        info = self._marker(self.ready_marker)
        if info is None or info.get("projections") != projections_hash():
            return None
        return info

    def pristine(self) -> dict[str, Any] | None:
        return self._marker(self.pristine_marker)

    def reset_pristine(self) -> None:
        self.pristine_marker.unlink(missing_ok=True)
        shutil.rmtree(self.pristine_dir, ignore_errors=True)
        self.pristine_dir.mkdir(parents=True)
        if self.store == "postgres":
            assert self.pg is not None
            self.pg.fresh(self.pristine_db)

    def strip_pristine(self, events: int) -> None:
        """Drop every table but the library's and the keys': what remains is the bare event
        log, and what opens it."""
        if self.store == "postgres":
            assert self.pg is not None
            with psycopg.connect(self.pg.url(self.pristine_db), autocommit=True) as conn:
                names = [
                    r[0]
                    for r in conn.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    )
                ]
                for name in names:
                    if name not in LIBRARY_TABLES + KEY_TABLES:
                        conn.execute(f'DROP TABLE "{name}" CASCADE')
                conn.execute("VACUUM ANALYZE")
        else:
            conn = sqlite3.connect(str(self.pristine_dir / "reclaim.sqlite3"))
            try:
                names = [
                    r[0]
                    for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                ]
                for name in names:
                    if name not in LIBRARY_TABLES + KEY_TABLES and not name.startswith("sqlite_"):
                        conn.execute(f'DROP TABLE "{name}"')
                conn.commit()
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
        self.pristine_dir.mkdir(parents=True, exist_ok=True)
        for extra in self.pristine_dir.iterdir():
            if extra.name != "reclaim.sqlite3":
                if extra.is_dir():
                    shutil.rmtree(extra)
                else:
                    extra.unlink()
        self.pristine_marker.write_text(
            json.dumps(
                {
                    "generator": GENERATOR_VERSION,
                    "target": self.size,
                    "events": events,
                    "dir": str(self.pristine_dir),
                }
            )
        )

    def project(self) -> Dataset:
        """Copy the pristine log and build Reclaim's tables and projections on it."""
        started = time.perf_counter()
        self.ready_marker.unlink(missing_ok=True)
        shutil.rmtree(self.log_dir, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        if self.store == "postgres":
            assert self.pg is not None
            self.pg.drop(self.log_db)
            with psycopg.connect(self.pg.url("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.log_db}" TEMPLATE "{self.pristine_db}"')
        else:
            shutil.copyfile(self.pristine_dir / "reclaim.sqlite3", self.log_dir / "reclaim.sqlite3")
        app = ReclaimApplication(self.settings())
        try:
            call_with(Projector(app).rebuild, timeout=30)
            events = log_length(app)
        finally:
            app.close()
        seconds = round(time.perf_counter() - started, 1)
        say(f"  {self.store} {self.label}: projections built in {seconds:.0f}s")
        self.ready_marker.write_text(
            json.dumps(
                {
                    "generator": GENERATOR_VERSION,
                    "target": self.size,
                    "events": events,
                    "dir": str(self.log_dir),
                    "projections": projections_hash(),
                    "projection_seconds": seconds,
                }
            )
        )
        return Dataset(self.store, self.label, events, self.settings(), seconds)


def _generate(logs: list[Log], size: int) -> int:
    """The seeded history of at least ``size`` events into every pristine log at once."""
    say(f"generating a {size:,}-event log on {', '.join(x.store for x in logs)} (cached)")
    started = time.perf_counter()
    for log in logs:
        log.reset_pristine()
    apps = [ReclaimApplication(log.settings(pristine=True)) for log in logs]
    try:
        mapper = apps[0].mapper
        recorded = 0
        pending: list[Any] = []
        for case in cases(10**9, 1000 + size):
            pending += [mapper.encode(e, case) for e in case.collect_events()]
            if len(pending) >= INSERT_BATCH or recorded + len(pending) >= size:
                for app in apps:
                    app.recorder.insert_events(pending)
                recorded += len(pending)
                pending = []
                if recorded >= size:
                    break
        # the owners' data keys, made by the first store as it sealed, open the events in
        # every store (all share the bench's master key)
        keys = apps[0].database.fetchall("SELECT * FROM reclaim_data_keys")
        for app in apps[1:]:
            with app.database.transaction() as cursor:
                for row in keys:
                    names = ", ".join(row)
                    marks = ", ".join(["%s"] * len(row))
                    cursor.execute(
                        f"INSERT INTO reclaim_data_keys ({names}) VALUES ({marks}) "
                        "ON CONFLICT DO NOTHING",
                        list(row.values()),
                    )
    finally:
        for app in apps:
            app.close()
    for log in logs:
        log.strip_pristine(recorded)
    say(f"  {recorded:,} events inserted in {time.perf_counter() - started:.0f}s")
    return recorded


def ensure(
    options: Options, stores: tuple[str, ...], label: str, pg: BenchPostgres | None
) -> dict[str, Dataset]:
    """The log of ``options.sizes[label]`` events on each store, made if not cached."""
    logs = [Log(options, store, label, pg) for store in stores]
    out: dict[str, Dataset] = {}
    todo: list[Log] = []
    for log in logs:
        info = log.ready()
        if info is not None:
            out[log.store] = Dataset(log.store, label, info["events"], log.settings(), None)
        else:
            todo.append(log)
    missing = [log for log in todo if log.pristine() is None]
    if missing:
        _generate(missing, options.sizes[label])
    for log in todo:
        out[log.store] = log.project()
    return out
