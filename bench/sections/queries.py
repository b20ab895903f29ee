"""(f) Read latency by the size of the log: the case list, a timeline, the summary report.

On generated logs of 1k, 100k and 1M events (1k and 10k with --quick), as a
member of one of the generator's workspaces (a third of that workspace's cases
are theirs). Over HTTP when the routes exist (``GET /v1/cases``,
``GET /v1/cases/{id}/timeline``, ``GET /v1/reports/summary``, one keep-alive
client against ``reclaim serve``); otherwise in-process through
``infrastructure/projections/queries.py``, and the report says which.
Each query is repeated up to the sample count or for at most a time budget.
"""

from __future__ import annotations

import http.client
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

from bench import datasets
from bench.common import BenchPostgres, Options, SectionResult, latency_summary, say
from bench.servers import reclaim, wait_caught_up
from infrastructure.application import ReclaimApplication
from infrastructure.projections import queries as q

TITLE = "(f) List, timeline and report latency by log size"
COMMAND = "python3 dev.py bench --sections queries"
ROUTES = {
    "list": "/v1/cases",
    "timeline": "/v1/cases/{case_id}/timeline",
    "summary": "/v1/reports/summary",
}


def routes_present() -> dict[str, bool]:
    from api.app import create_app

    paths = set(create_app().openapi().get("paths", {}))
    return {name: path in paths for name, path in ROUTES.items()}


def _sample(call: Callable[[], Any], samples: int, budget: float) -> list[float]:
    seconds: list[float] = []
    deadline = time.perf_counter() + budget
    call()  # warm
    while len(seconds) < samples and (len(seconds) < 10 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - t0)
    return seconds


def _case_ids(app: ReclaimApplication) -> list[str]:
    rows = app.database.fetchall(
        f"SELECT case_id FROM {q.CASES} WHERE workspace = %s AND owner = %s",
        [datasets.QUERY_WORKSPACE, datasets.QUERY_USER],
    )
    ids = [r["case_id"] for r in rows]
    random.Random(7).shuffle(ids)
    return ids[:500]


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("queries", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    present = routes_present()
    budget = 3.0 if options.quick else 10.0
    rows = ["| store | log | query | how | n | p50 ms | p99 ms | max ms |"]
    rows.append("|---|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for label in options.sizes:
        logs = datasets.ensure(options, options.stores, label, pg)
        for store, dataset in logs.items():
            app = ReclaimApplication(dataset.settings)
            try:
                ids = _case_ids(app)
                key, _ = app.keys.create(datasets.QUERY_USER, datasets.QUERY_WORKSPACE, "member")
                cycle = itertools.cycle(ids)
                db = app.database
                ws, owner = datasets.QUERY_WORKSPACE, datasets.QUERY_USER
                local: dict[str, Callable[[], Any]] = {
                    "list": lambda: q.list_cases(db, ws, owner),  # noqa: B023
                    "timeline": lambda: q.timeline(db, next(cycle), ws, owner),  # noqa: B023
                    "summary": lambda: q.summary(db, ws, owner),  # noqa: B023
                }
                measured: dict[str, tuple[str, list[float]]] = {}
                for name in ROUTES:
                    if not present[name]:
                        seconds = _sample(local[name], options.samples, budget)
                        measured[name] = ("in-process", seconds)
            finally:
                app.close()
            if any(present.values()):
                log = dataset.settings.data_dir / "server.log"
                with reclaim(dataset.settings, options.workers, log) as server:
                    wait_caught_up(server)
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                    auth = {"Authorization": f"Bearer {key}"}

                    def get(path: str, conn: http.client.HTTPConnection = conn) -> None:
                        conn.request("GET", path, headers=auth)  # noqa: B023
                        response = conn.getresponse()
                        response.read()
                        if response.status != 200:
                            raise RuntimeError(f"GET {path}: HTTP {response.status}")

                    for name, path in ROUTES.items():
                        if not present[name]:
                            continue

                        def call(path: str = path) -> None:
                            get(path.format(case_id=next(cycle)))  # noqa: B023

                        measured[name] = ("HTTP", _sample(call, options.samples, budget))
                    conn.close()
            for name, (how, seconds) in measured.items():
                s = latency_summary(seconds)
                figures.setdefault(f"{store}_{name}", {})[label] = {**s, "how": how}
                events = f"{dataset.events:,}"
                rows.append(
                    f"| {options.store_label(store)} | {events} | {name} | {how} | {s['n']} | "
                    f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} |"
                )
                say(
                    f"  {store} {label} {name} ({how}): p50 {s['p50_ms']:.2f} ms, "
                    f"p99 {s['p99_ms']:.2f} ms (n={s['n']})"
                )
                result.add(
                    f"{options.store_label(store)}, {name} ({how}): p99 at {label} events",
                    s["p99_ms"],
                    "ms",
                )
    result.detail.append("\n".join(rows))
    missing = [ROUTES[n] for n, ok in present.items() if not ok]
    if missing:
        result.detail.append(
            "Not yet routed when this ran, so measured in-process with the query functions of "
            f"`infrastructure/projections/queries.py` (no HTTP): {', '.join(missing)}."
        )
    context["queries"] = figures
    return result
