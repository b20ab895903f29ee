"""(i) Issue 27's target: commands/s with personal data sealed and without, from one run.

For each store, two fresh stores seeded alike with section (c)'s setup (an API key,
300 cases opened, submitted and projected before any server starts): one sealing
personal data (the default), the other written with
``RECLAIM_PERSONAL_DATA_ENCRYPTION=false`` from its first event on, so that neither
reads what the other wrote. Each has its own ``reclaim serve --workers N``, both up
for the store's runs. Issue 10's mix (section (c)'s script: follow-ups and notes,
half each, with ``occurred_at``) runs from wrk at 1 and 16 clients against one
server, then the other, in rounds; which goes first alternates from round to round
(on, off; off, on; ...), so that a change in the machine's load during the section
weighs on both alike. ``--duration`` is each configuration's measured time at each
client count, in rounds of at least 5 s (1 s with --quick) and at most 10 of them (2
with --quick): a longer one makes more rounds, not longer runs. Every run has its own
warm-up; only 2xx answers count. A configuration's throughput is its 2xx answers
over its measured seconds, all rounds together; the ratio is sealed over unsealed.
"""

from __future__ import annotations

import contextlib
from typing import Any

from bench.common import BenchPostgres, Options, SectionResult, say
from bench.sections.http import ISSUE_CASES, counted, issue_script, seeded_store
from bench.servers import Server, reclaim
from bench.wrk import WrkResult, combine, run_wrk

TITLE = "(i) Sealing personal data: commands/s with it on and off (issue 27)"
COMMAND = "python3 dev.py bench --sections crypto"
#: the two configurations, as the report names them
SEALING = {"on": True, "off": False}
#: a measured run lasts at least this long, unless the whole duration is shorter; a
#: longer --duration makes more rounds (more turns against the machine's noise), not
#: longer ones, up to MAX_ROUNDS (the default 15 s: 3 rounds of 5 s)
ROUND_SECONDS = 5.0
MAX_ROUNDS = 10


def name(label: str, clients: int, sealing: str, which: str) -> str:
    return f"{label}, {clients} client(s), sealing {sealing}: {which}"


def rounds_of(options: Options) -> tuple[int, int]:
    """How many rounds, and the seconds of each measured run: the section's duration
    for each configuration and client count in all, split into rounds of at least
    ``ROUND_SECONDS`` (1 s with --quick), at most ``MAX_ROUNDS`` (2 with --quick)."""
    shortest, most = (1.0, 2) if options.quick else (ROUND_SECONDS, MAX_ROUNDS)
    rounds = max(1, min(most, int(options.duration // shortest)))
    return rounds, max(1, round(options.duration / rounds))


def levels_of(options: Options) -> tuple[int, ...]:
    """The client counts: the fewest and the most of the run's (1 and 16)."""
    return tuple(sorted({min(options.clients), max(options.clients)}))


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("crypto", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    rounds, seconds = rounds_of(options)
    levels = levels_of(options)
    raw: dict[str, Any] = {}
    table = [
        "| store | clients | round | first | sealing on, 2xx/s | sealing off, 2xx/s | on/off |",
        "|---|---|---|---|---|---|---|",
    ]
    for store in options.stores:
        label = options.store_label(store)
        runs: dict[tuple[int, str], list[WrkResult]] = {}
        with contextlib.ExitStack() as stack:
            seeded = {}
            for sealing, seals in SEALING.items():
                db = f"bench_crypto_{store}_{sealing}"
                with seeded_store(options, store, db, pg, sealing=seals) as seeding:
                    settings, _, key, cases = seeding
                    seeded[sealing] = (settings, key, cases)
                if settings.database_url and pg is not None:
                    stack.callback(pg.drop, db)
            servers: dict[str, Server] = {
                sealing: stack.enter_context(
                    reclaim(settings, options.workers, settings.data_dir / "server.log")
                )
                for sealing, (settings, _, _) in seeded.items()
            }
            for n in range(rounds):
                order = list(SEALING) if n % 2 == 0 else list(SEALING)[::-1]
                for clients in levels:
                    for sealing in order:
                        _, key, cases = seeded[sealing]
                        run_name = f"crypto-{clients}-{n + 1}"
                        warm = issue_script(cases, key, clients, f"{run_name}-warm-up")
                        script = issue_script(cases, key, clients, run_name)
                        url = servers[sealing].url
                        run_wrk(url, warm, clients=clients, duration=options.warmup)
                        r = run_wrk(url, script, clients=clients, duration=seconds)
                        say(
                            f"  Reclaim on {label}, sealing {sealing}, {clients} client(s), "
                            f"round {n + 1}/{rounds}: {r.describe()}"
                        )
                        runs.setdefault((clients, sealing), []).append(r)
                    on, off = (runs[(clients, s)][-1].rate for s in SEALING)
                    table.append(
                        f"| {label} | {clients} | {n + 1} | {order[0]} | {on:,.0f} | "
                        f"{off:,.0f} | {on / off if off else float('nan'):.2f} |"
                    )
        for clients in levels:
            for sealing in SEALING:
                done = runs[(clients, sealing)]
                c = combine(done)
                note = f"{counted(c)}, in {len(done)} run(s) of {seconds} s"
                result.add(
                    name(label, clients, sealing, "throughput"), c.rate, "commands/s", note=note
                )
                result.add(name(label, clients, sealing, "p50"), c.p50, "ms")
                result.add(name(label, clients, sealing, "p99"), c.p99, "ms")
                raw[f"{store}_{clients}_{sealing}"] = [r.as_dict() for r in done]
    result.detail.append(
        f"Each store: two fresh stores of {ISSUE_CASES} cases, one sealing personal data and "
        "one not (`RECLAIM_PERSONAL_DATA_ENCRYPTION=false` for its setup and its server), "
        f"each with its own `reclaim serve --workers {options.workers}`. {rounds} round(s); "
        f"in each, at {' and '.join(map(str, levels))} client(s), wrk ran issue 10's mix "
        f"against one server and then the other, {options.warmup:.0f} s of warm-up then "
        f"{seconds} s measured each, the first alternating between rounds. Throughput, p50 "
        "and p99 take every round's 2xx answers together; the ratio is sealed over "
        "unsealed. The store grows by the commands of each run (follow-ups and notes on "
        "the same cases), a little faster for the faster configuration. Each round's "
        "throughputs, to tell a steady cost from the machine's noise:"
    )
    result.detail.append("\n".join(table))
    context["crypto"] = raw
    return result
