"""(e) Command latency by the length of the case's history: 10 to 10,000 events.

Cases of exactly N events (opened, submitted, then notes) are written through the
application (snapshots every ``snapshot_interval`` events, as in production).
Then, per N, ``add_note`` is timed:
- over HTTP: ``POST /v1/cases/{id}/notes`` from one keep-alive client to
  ``reclaim serve``, after one ``GET`` of each case (the server's steady state:
  the case in its aggregate cache);
- in-process with the aggregate cache off (``RECLAIM_AGGREGATE_CACHE_SIZE=0``):
  every command loads the case from the store, through its latest snapshot.
Each case takes at most N/10 of the timed commands, so none grows by more than 10 %.
"""

from __future__ import annotations

import http.client
import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import (
    BenchPostgres,
    Options,
    SectionResult,
    latency_summary,
    project_all,
    say,
)
from bench.sections.http import USER, WORKSPACE, fresh_store, open_cases
from bench.servers import reclaim
from infrastructure.bootstrap import Services, bootstrap
from infrastructure.store.application import ReclaimApplication

TITLE = "(e) Command latency by the case's length"
COMMAND = "python3 dev.py bench --sections depth"
NOTE = json.dumps({"text": "Called support, they said to wait a week"})


def build_cases(app: ReclaimApplication, depth: int, count: int) -> list[str]:
    ids = open_cases(app, count, submit=True)  # 2 events each
    for case_id in ids:
        case = app.repository.get(__import__("uuid").UUID(case_id))
        for n in range(depth - 2):
            case.add_note(text=f"note {n}", actor=USER, request_id=f"bench-depth-{n}")
            if len(case.pending_events) >= 2000:
                app.save(case)
        app.save(case)
    return ids


def plan(options: Options) -> list[tuple[int, int, int]]:
    """(depth, cases, commands per case) for each depth."""
    out = []
    for depth in options.depths:
        per_case = max(1, depth // 10)
        cases = math.ceil(options.samples / per_case)
        out.append((depth, cases, per_case))
    return out


def http_latencies(port: int, key: str, ids: list[str], per_case: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = {"Authorization": f"Bearer {key}"}
    for case_id in ids:  # warm: the case into the worker's cache
        conn.request("GET", f"/v1/cases/{case_id}", headers=auth)
        conn.getresponse().read()
    headers = {**auth, "Content-Type": "application/json"}
    seconds: list[float] = []
    for _ in range(per_case):
        for case_id in ids:
            t0 = time.perf_counter()
            conn.request("POST", f"/v1/cases/{case_id}/notes", body=NOTE, headers=headers)
            response = conn.getresponse()
            response.read()
            seconds.append(time.perf_counter() - t0)
            if response.status != 200:
                raise RuntimeError(f"note on {case_id}: HTTP {response.status}")
    conn.close()
    return seconds


def cold_latencies(services: Services, ids: list[str], per_case: int) -> list[float]:
    from uuid import UUID

    from infrastructure.service.commands import Call
    from infrastructure.store.keys import Principal

    member = Principal(key_id="bench", user_id=USER, workspace=WORKSPACE, role="member")
    seconds: list[float] = []
    for _ in range(per_case):
        for case_id in ids:
            t0 = time.perf_counter()
            services.commands.add_note(UUID(case_id), Call(member, "bench"), text="in-process note")
            seconds.append(time.perf_counter() - t0)
    return seconds


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("depth", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    rows = ["| store | events in the case | how | n | p50 ms | p99 ms | mean ms |"]
    rows.append("|---|---|---|---|---|---|---|")
    figures: dict[str, dict[int, dict[str, float]]] = {}
    for store in options.stores:
        name = options.store_label(store)
        settings = fresh_store(options, store, f"bench_depth_{store}", pg)
        app = ReclaimApplication(settings)
        key, _ = app.keys.create(USER, WORKSPACE, "member")
        cases: dict[int, tuple[list[str], int]] = {}
        try:
            #: a few cases to warm up on (connections, prepared statements, code paths)
            warm = build_cases(app, 10, 5)
            for depth, count, per_case in plan(options):
                cases[depth] = (build_cases(app, depth, count), per_case)
            project_all(app)  # the read rows of what was saved, before the server starts
        finally:
            app.close()
        with reclaim(settings, options.workers, settings.data_dir / "server.log") as server:
            http_latencies(server.port, key, warm, 6)
            for depth, (ids, per_case) in cases.items():
                s = latency_summary(http_latencies(server.port, key, ids, per_case))
                figures.setdefault(f"{store}_http", {})[depth] = s
        cold_settings = settings.model_copy(update={"aggregate_cache_size": 0})
        with bootstrap(cold_settings) as services:
            cold_latencies(services, warm, 6)
            for depth, (ids, per_case) in cases.items():
                s = latency_summary(cold_latencies(services, ids, per_case))
                figures.setdefault(f"{store}_cold", {})[depth] = s
        for how, text in (("http", "HTTP, cached case"), ("cold", "in-process, cache off")):
            for depth, s in figures[f"{store}_{how}"].items():
                rows.append(
                    f"| {name} | {depth:,} | {text} | {s['n']} | {s['p50_ms']:.2f} | "
                    f"{s['p99_ms']:.2f} | {s['mean_ms']:.2f} |"
                )
                say(
                    f"  {name} {depth:>6,} events, {text}: p50 {s['p50_ms']:.2f} ms, "
                    f"p99 {s['p99_ms']:.2f} ms"
                )
                result.add(f"{name}, {text}: p50 at {depth:,} events", s["p50_ms"], "ms")
                result.add(f"{name}, {text}: p99 at {depth:,} events", s["p99_ms"], "ms")
        if store == "postgres" and pg is not None:
            pg.drop(f"bench_depth_{store}")
    result.detail.append("\n".join(rows))
    result.detail.append(
        f"Snapshot interval: the default ({ReclaimApplication.__name__} snapshots every "
        f"{settings.snapshot_interval} events). Timed at {datetime.now(UTC):%H:%M} UTC."
    )
    context["depth"] = figures
    return result
