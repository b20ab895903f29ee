"""(k) Issue 29's targets: commands/s with 5 webhook endpoints registered against none,
and whether the dispatcher keeps up, from one run.

For each store, one store seeded with section (c)'s setup, served by ``reclaim serve``
with webhooks to private addresses allowed; a receiver on this host, in its own process
at the lowest CPU priority (SCHED_IDLE, as the dispatcher; ``bench/receiver.py``:
uvicorn, HTTP/1.1, answers 200 at once; it stands for the receivers' hosts), takes the
deliveries.
Issue 10's mix runs from wrk at 16 clients in rounds: with no endpoint, then with 5
(registered through the API before the run, disabled after it), alternating which goes
first. After each run
with endpoints, the dispatcher's backlog is timed until every delivery is delivered:
its lag when the load stops, and how long it takes to catch up. Delivery is off the
write path, so the commands/s should not move.

A third arm in each round is a control: no endpoint, and one busy loop per core at the
lowest priority (SCHED_IDLE and nice 19, as the dispatcher and receiver run). It takes
only CPU the commands leave idle, all of it, so what it costs them is what taking all of
this host's idle CPU costs them, whatever takes it (shared caches, cores that are
hyperthreads or a VM's): the dispatcher, at the same priority, takes part of it.

At full load the commands ask for 5 deliveries each, more than the dispatcher can send
on these cores (its rate while draining, alone, is in the table), so it cannot keep up
there whatever its priority. Whether it keeps up is measured apart: the same mix paced
to ``PACED_RATE`` commands/s (each wrk connection waits before each request), with the
5 endpoints, the deliveries waiting counted every half second.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from bench.common import (
    BenchPostgres,
    Options,
    SectionResult,
    free_port,
    say,
    tree_cpu_seconds,
)
from bench.sections.http import counted, issue_script, seeded_store
from bench.servers import reclaim
from bench.wrk import run_wrk
from infrastructure.store.application import ReclaimApplication
from infrastructure.webhooks.dispatcher import lag as dispatcher_lag

TITLE = "(k) Webhooks: commands/s with 5 endpoints and with none, and the dispatcher's lag"
COMMAND = "python3 dev.py bench --sections webhooks"
ENDPOINTS = 5
#: the paced run's command rate: with 5 endpoints, 500 deliveries/s
PACED_RATE = 100


def _idle() -> None:
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


#: the control arm's busy loop, one process per core
BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def _busy_loops() -> Iterator[None]:
    """One busy loop per core at the lowest priority, for as long as the block runs."""
    loops = [
        subprocess.Popen(
            ["nice", "-n", "19", sys.executable, "-c", BUSY_LOOP],
            preexec_fn=_idle,  # noqa: PLW1509 - (no threads yet in this process)
        )
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@contextlib.contextmanager
def _receiver() -> Iterator[str]:
    """``bench/receiver.py`` in its own process; yields its URL (a GET there: the count)."""
    port = free_port()
    # at the lowest priority, SCHED_IDLE: it stands for the receivers' own hosts, so it
    # should take only CPU the server under test leaves (at nice 19 alone, a command's
    # process waking may wait out the receiver's time slice)
    process = subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-m", "bench.receiver", str(port)],
        preexec_fn=_idle,  # noqa: PLW1509 - (no threads yet in this process)
    )
    url = f"http://127.0.0.1:{port}/hook"
    try:
        for _ in range(200):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _received(url: str) -> int:
    return int(httpx.get(url, timeout=5).text)


def _call(url: str, key: str, method: str, body: dict[str, Any] | None = None) -> Any:
    answer = httpx.request(
        method, url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    answer.raise_for_status()
    return answer.json() if answer.content else None


def _pending(settings: Any) -> int:
    app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
    try:
        return _pending_in(app)
    finally:
        app.close()


def _pending_in(app: ReclaimApplication) -> int:
    """Deliveries waiting for the live endpoints: made and not yet delivered, and to be
    made of the events the dispatcher has not read yet (one per live endpoint: the
    bench's want every event; a dispatcher just started has read none). A disabled
    endpoint's backlog is kept, not waiting: counting it, a round's drain waited for
    the last round's endpoints (a quick run's first round ended before its dispatcher
    had read anything, so its backlog outlived its endpoints)."""
    made = app.database.fetchone(
        "SELECT COUNT(*) AS n FROM reclaim_webhook_deliveries d JOIN reclaim_webhooks w "
        "ON w.id = d.endpoint_id WHERE d.status = 'pending' AND w.status <> 'disabled'"
    )
    live = app.database.fetchone(
        "SELECT COUNT(*) AS n FROM reclaim_webhooks WHERE status <> 'disabled'"
    )
    unread = dispatcher_lag(app.database, app.webhooks)
    return int(made["n"] if made else 0) + unread * int(live["n"] if live else 0)


def _register(url: str, admin: str, target: str) -> list[str]:
    return [
        _call(f"{url}/v1/webhooks", admin, "POST", {"url": target, "event_types": []})["id"]
        for _ in range(ENDPOINTS)
    ]


def _drain(settings: Any) -> float:
    """Seconds until no delivery is pending (at most 120)."""
    started = time.monotonic()
    while _pending(settings) and time.monotonic() - started < 120:
        time.sleep(0.2)
    return time.monotonic() - started


def _paced(
    url: str, admin: str, target: str, script: Any, settings: Any, clients: int, seconds: float
) -> dict[str, float]:
    """The mix at ``PACED_RATE`` commands/s with 5 endpoints: the deliveries waiting,
    counted every half second, and how long the rest takes once the load stops."""
    ids = _register(url, admin, target)
    samples: list[int] = []
    stop = threading.Event()

    def count() -> None:
        app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
        try:
            while not stop.wait(0.5):
                samples.append(_pending_in(app))
        finally:
            app.close()

    counter = threading.Thread(target=count)
    counter.start()
    try:
        r = run_wrk(
            url, script, clients=clients, duration=seconds, pace_ms=1000 * clients / PACED_RATE
        )
    finally:
        stop.set()
        counter.join()
    backlog = _pending(settings)
    drained = _drain(settings)
    for endpoint in ids:
        _call(f"{url}/v1/webhooks/{endpoint}", admin, "DELETE")
    return {
        "rate": r.rate,
        "most": max(samples, default=0),
        "median": statistics.median(samples) if samples else 0,
        "backlog": backlog,
        "drained": drained,
    }


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("webhooks", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    clients = max(options.clients)
    rounds = 2 if options.quick else 3
    seconds = max(2.0, options.duration / rounds)
    receiving = _receiver()
    target = receiving.__enter__()
    table = [
        "| store | round | none, 2xx/s | 5 endpoints, 2xx/s | control: idle busy loops, 2xx/s "
        "| server CPU ms per command, none | 5 endpoints | backlog at the end | drained in s "
        "| drained, deliveries/s | server CPU ms per delivery, draining |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    try:
        for store in options.stores:
            label = options.store_label(store)
            name = f"bench_webhooks_{store}"
            with seeded_store(options, store, name, pg) as (settings, app, key, cases):
                admin, _ = app.keys.create("bench-admin", "bench", "admin")
            settings = settings.model_copy(update={"webhooks_allow_private": True})
            totals = {"none": [0, 0.0], "five": [0, 0.0], "busy": [0, 0.0]}
            drains: list[float] = []
            drain_rates: list[float] = []
            log = settings.data_dir / "server.log"
            with reclaim(settings, options.workers, log) as server:
                warm = issue_script(cases, key, clients, "webhooks-warm")
                script = issue_script(cases, key, clients, "webhooks")
                run_wrk(server.url, warm, clients=clients, duration=options.warmup)
                for round_ in range(rounds):
                    arms = ("none", "five", "busy")
                    order = arms[round_ % 3 :] + arms[: round_ % 3]
                    rates: dict[str, float] = {}
                    cpu_ms: dict[str, float] = {}
                    backlog, drained, drain_cpu_ms = 0, 0.0, 0.0
                    for which in order:
                        ids = _register(server.url, admin, target) if which == "five" else []
                        cpu = tree_cpu_seconds(server.process.pid)
                        with _busy_loops() if which == "busy" else contextlib.nullcontext():
                            r = run_wrk(server.url, script, clients=clients, duration=seconds)
                        cpu = tree_cpu_seconds(server.process.pid) - cpu
                        cpu_ms[which] = cpu * 1000 / max(r.ok, 1)
                        rates[which] = r.rate
                        totals[which][0] += r.ok
                        totals[which][1] += r.seconds
                        if which == "five":
                            backlog = _pending(settings)
                            cpu = tree_cpu_seconds(server.process.pid)
                            drained = _drain(settings)
                            cpu = tree_cpu_seconds(server.process.pid) - cpu
                            drain_cpu_ms = cpu * 1000 / max(backlog, 1)
                            drains.append(drained)
                            drain_rates.append(backlog / max(drained, 1e-9))
                            for endpoint in ids:
                                _call(f"{server.url}/v1/webhooks/{endpoint}", admin, "DELETE")
                    table.append(
                        f"| {label} | {round_ + 1} | {rates['none']:,.0f} | {rates['five']:,.0f} "
                        f"| {rates['busy']:,.0f} | {cpu_ms['none']:.2f} | {cpu_ms['five']:.2f} "
                        f"| {backlog} | {drained:.1f} | {drain_rates[-1]:,.0f} "
                        f"| {drain_cpu_ms:.2f} |"
                    )
                    say(
                        f"  {label} round {round_ + 1}: none {rates['none']:,.0f}/s, "
                        f"5 endpoints {rates['five']:,.0f}/s, idle busy loops "
                        f"{rates['busy']:,.0f}/s ({counted(r)}); backlog {backlog}, "
                        f"drained in {drained:.1f}s"
                    )
                paced = _paced(server.url, admin, target, script, settings, clients, seconds)
                say(
                    f"  {label} paced: {paced['rate']:,.0f} commands/s, most waiting "
                    f"{paced['most']:,.0f}, drained in {paced['drained']:.1f}s"
                )
            if settings.database_url and pg is not None:
                pg.drop(name)
            none = totals["none"][0] / max(totals["none"][1], 1e-9)
            five = totals["five"][0] / max(totals["five"][1], 1e-9)
            busy = totals["busy"][0] / max(totals["busy"][1], 1e-9)
            result.add(f"{label}: commands/s, no endpoint", none, "/s", note=f"{clients} clients")
            result.add(
                f"{label}: commands/s, 5 endpoints", five, "/s", note=f"{rounds} rounds alternating"
            )
            result.add(
                f"{label}: commands/s, no endpoint, idle busy loops (control)",
                busy,
                "/s",
                note=f"one per core, SCHED_IDLE and nice 19; {rounds} rounds alternating",
            )
            result.add(
                f"{label}: the dispatcher's backlog drained after the full load, slowest round",
                max(drains),
                "s",
                note=f"receiver delivered {_received(target):,} so far",
            )
            result.add(
                f"{label}: paced with 5 endpoints, commands/s",
                paced["rate"],
                "/s",
                note=f"each connection waiting {1000 / PACED_RATE * clients:.0f} ms before each "
                f"request (paced to about {PACED_RATE}/s)",
            )
            result.add(
                f"{label}: paced with 5 endpoints, the most deliveries waiting, in seconds "
                "of deliveries",
                paced["most"] / max(ENDPOINTS * paced["rate"], 1e-9),
                "s",
                note=f"counted every 0.5 s: at most {paced['most']:,.0f} waiting (median "
                f"{paced['median']:,.0f}) at {ENDPOINTS * paced['rate']:,.0f} deliveries/s "
                f"asked; {paced['backlog']:,.0f} when the load stopped, drained in "
                f"{paced['drained']:.1f} s",
            )
            result.add(
                f"{label}: the dispatcher draining its backlog, deliveries/s",
                min(drain_rates),
                "/s",
                note="slowest round; the load stopped, so nothing else runs",
            )
    finally:
        receiving.__exit__(None, None, None)
    result.detail.append("\n".join(table))
    return result
