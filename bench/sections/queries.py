"""(f) Read latency by the size of the log: the four reports, the case list, a timeline.

On generated logs of 1k, 100k and 1M events (1k and 10k with --quick), as a
member of one of the generator's workspaces (a third of that workspace's cases
are theirs), over HTTP against ``reclaim serve`` from one keep-alive client:
``GET /v1/reports/summary``, ``/v1/reports/recovery?group_by=platform``,
``/v1/reports/outcomes`` and ``/v1/reports/timeliness`` (issue 10's targets), and
``GET /v1/cases`` and ``/v1/cases/{id}/timeline`` (issue 6's), an inclusion proof of
one of the user's events (issue 28's) and a full page of the feed after one of them
(issue 29's; ``--queries`` picks some of these). Each query is
repeated up to the sample count, or for at most a time budget once it has 10
samples (3, for a query that takes over a minute for its first 3): the table
gives n, and a p99 of few samples is close to their maximum (the feed, a few ms a
page, takes up to 1,000). Every answer must be 200.
"""

from __future__ import annotations

import http.client
import itertools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench import datasets
from bench.common import BenchPostgres, Options, SectionResult, latency_summary, say
from bench.servers import reclaim
from infrastructure.store.application import ReclaimApplication

TITLE = "(f) Report, list and timeline latency by log size"
COMMAND = "python3 dev.py bench --sections queries"
#: name -> path; the reports first (issue 10's targets)
ROUTES = {
    "summary": "/v1/reports/summary",
    "recovery": "/v1/reports/recovery?group_by=platform",
    "outcomes": "/v1/reports/outcomes",
    "timeliness": "/v1/reports/timeliness",
    "list": "/v1/cases",
    "timeline": "/v1/cases/{case_id}/timeline",
    # issue 28: a proof that one of the user's events is in the log (O(log n) hashes)
    "inclusion": "/v1/audit/proof/inclusion?position={position}",
    # issue 29: a full page of the user's events after one of them
    "feed": "/v1/events?after={position}&limit=100",
}
#: a feed page's events (every page sampled holds this many, at every log size)
FEED_PAGE = 100
#: a feed page takes a few ms, so it is sampled more: the p99 of 200 is their second
#: largest, one stray pause of the server (15-20 ms against 5) decides it
FEED_SAMPLES = 1000
#: the queries issue 10 sets a target for
REPORTS = ("summary", "recovery", "outcomes", "timeliness")


def _sample(call: Callable[[], Any], samples: int, budget: float) -> list[float]:
    seconds: list[float] = []
    started = time.perf_counter()
    call()  # warm
    while len(seconds) < samples:
        spent = time.perf_counter() - started
        if (len(seconds) >= 10 and spent > budget) or (len(seconds) >= 3 and spent > 6 * budget):
            break
        t0 = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - t0)
    return seconds


def _getter(
    conn: http.client.HTTPConnection,
    headers: dict[str, str],
    path: str,
    case_ids: Iterator[str],
    positions: Iterator[int],
) -> Callable[[], None]:
    """One GET of ``path`` (a timeline takes the next case, a proof or a feed page the
    next of the user's events), which must answer 200."""

    def call() -> None:
        where = path.format(
            case_id=next(case_ids) if "{case_id}" in path else "",
            position=next(positions) if "{position}" in path else "",
        )
        conn.request("GET", where, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {where}: HTTP {response.status}")

    return call


def _case_ids(app: ReclaimApplication) -> tuple[list[str], list[int], list[int]]:
    """The query user's cases, the positions of their events, and those of them with a
    full feed page after them (``FEED_PAGE`` more of the user's events: at 1k events a
    random one has on average 60, so a page there would be cheaper for being short),
    from the event log itself (not a read table, whose layout is the projections'
    business)."""
    ids: list[str] = []
    positions: list[int] = []
    mine: set[Any] = set()
    start = 0
    while len(ids) < 500:
        notifications = app.recorder.select_notifications(
            start=start, limit=5000, inclusive_of_start=False
        )
        if not notifications:
            break
        for n in notifications:
            if n.originator_version == 1:
                event = app.mapper.to_domain_event(n)
                if (getattr(event, "owner", None), getattr(event, "workspace", None)) == (
                    datasets.QUERY_USER,
                    datasets.QUERY_WORKSPACE,
                ):
                    ids.append(str(n.originator_id))
                    mine.add(n.originator_id)
            if n.originator_id in mine:
                positions.append(n.id)
        start = notifications[-1].id
    positions.sort()
    full = positions[:-FEED_PAGE]
    random.Random(7).shuffle(ids)
    random.Random(8).shuffle(positions)
    random.Random(9).shuffle(full)
    return ids, positions, full


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("queries", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    budget = 3.0 if options.quick else 10.0
    rows = ["| store | log | query | n | p50 ms | p99 ms | max ms |"]
    rows.append("|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for label in options.sizes:
        logs = datasets.ensure(options, options.stores, label, pg)
        for store, dataset in logs.items():
            app = ReclaimApplication(dataset.settings)
            try:
                ids, positions, full_pages = _case_ids(app)
                key, _ = app.keys.create(datasets.QUERY_USER, datasets.QUERY_WORKSPACE, "member")
            finally:
                app.close()
            if not ids or not full_pages:
                raise RuntimeError(
                    f"the {label} log on {store} has no case of the query user, or too few "
                    f"events of theirs for a full feed page ({len(positions)})"
                )
            cycle = itertools.cycle(ids)
            events = itertools.cycle(positions)
            measured: dict[str, list[float]] = {}
            log = dataset.settings.data_dir / "server.log"
            with reclaim(dataset.settings, options.workers, log) as server:
                auth = {"Authorization": f"Bearer {key}"}
                for name, path in ROUTES.items():
                    if name not in options.queries:
                        continue
                    # one connection per query: a failed one leaves the next a clean one
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                    feed = name == "feed"
                    try:
                        call = _getter(
                            conn, auth, path, cycle, itertools.cycle(full_pages) if feed else events
                        )
                        samples = max(options.samples, FEED_SAMPLES) if feed else options.samples
                        measured[name] = _sample(call, samples, budget)
                    except (RuntimeError, OSError, http.client.HTTPException) as error:
                        # one broken query must not cost the others' figures
                        say(f"  {store} {label} {name}: FAILED: {error}")
                        result.add(
                            f"{options.store_label(store)}, {name} (HTTP): p99 at {label} events",
                            None,
                            "ms",
                            note=f"FAILED: {error} (server log: {log})",
                            target_key="reports" if name in REPORTS else "",
                        )
                    finally:
                        conn.close()
            for name, seconds in measured.items():
                s = latency_summary(seconds)
                figures.setdefault(f"{store}_{name}", {})[label] = s
                rows.append(
                    f"| {options.store_label(store)} | {dataset.events:,} | {name} | {s['n']} | "
                    f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} |"
                )
                say(
                    f"  {store} {label} {name}: p50 {s['p50_ms']:.2f} ms, "
                    f"p99 {s['p99_ms']:.2f} ms (n={s['n']})"
                )
                result.add(
                    f"{options.store_label(store)}, {name} (HTTP): p99 at {label} events",
                    s["p99_ms"],
                    "ms",
                    note=f"{dataset.events:,} events; n={s['n']}",
                )
    result.detail.append("\n".join(rows))
    context["queries"] = figures
    return result
