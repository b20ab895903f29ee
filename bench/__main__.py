"""Reclaim's benchmark suite: this machine's limits and Reclaim, side by side, in one run.

    python3 dev.py bench                      # the full run (about 40 min); writes BENCHMARKS.md
    python3 dev.py bench --quick              # a smoke run of a few minutes (writes .bench-cache/)
    python3 dev.py bench --sections raw,bare  # only some sections (see --help for their names)

Sections: ``raw`` (a) psycopg and sqlite3 inserts into an events-shaped table;
``library`` the eventsourcing library used directly; ``bare`` (b) a bare FastAPI
POST on Reclaim's server stack; ``http`` (c) Reclaim's commands over HTTP, issue
10's mix (follow-ups and notes over 300 cases) at 1, 4 and 16 clients and a
realistic mix at 16, on both stores, driven by wrk, 2xx answers only; ``depth`` (e)
command latency by the case's length; ``rebuild`` (d) projection rebuild against
raw and decoded log reads; ``queries`` (f) the four reports, the case list and a
timeline by log size; ``memory`` (g) peak RSS of the server under load and of
``reclaim replay`` by log size; ``workers`` (h) issue 26's table: commands/s and p99
at 16 clients with ``reclaim serve --workers N`` for each N of ``--workers``, on a
hot set of 300 cases and a spread set of 3,000, beside the bare endpoint at the same
worker count; ``crypto`` (i) issue 27's: issue 10's mix at 1 and 16 clients with
personal data sealed and without, each on a fresh store of its own, in interleaved
rounds. The report opens with issues 10's, 26's and 27's targets, each met or with
its gap. PostgreSQL is a durable (fsync on) server the run starts on a
cluster kept in ``.bench-cache/`` with the generated logs, so a second run skips
generating them (their read tables are built again when code under
``domain/`` or ``infrastructure/`` changes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    DEFAULT_CACHE,
    ROOT,
    Options,
    SectionResult,
    machine,
    say,
    write_json,
)

#: the stores the benchmarks make are throwaway: one master key for all of them (and for
#: the servers they start), unless one is set
os.environ.setdefault("RECLAIM_MASTER_KEY", "b3" * 32)

SECTIONS = (
    "raw",
    "library",
    "bare",
    "http",
    "depth",
    "rebuild",
    "queries",
    "memory",
    "workers",
    "crypto",
    "heads",
    "webhooks",
)
#: the queries section's queries (its ROUTES, named here so that --help needs no import)
QUERY_ROUTES = (
    "summary",
    "recovery",
    "outcomes",
    "timeliness",
    "list",
    "timeline",
    "inclusion",
    "feed",
)


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--quick", action="store_true", help="short runs, small logs")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from: {', '.join(SECTIONS)} (default: all)",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--workers",
        default="1,2,4",
        help="comma-separated worker counts for the workers section, which compares each "
        "with 1 worker (default: 1,2,4)",
    )
    parser.add_argument(
        "--server-workers",
        type=int,
        default=os.cpu_count() or 2,
        help="worker count of the servers in the other sections (default: the CPU count)",
    )
    parser.add_argument("--duration", type=float, help="seconds per throughput run")
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument(
        "--queries",
        help="comma-separated queries of the queries section, from: "
        f"{', '.join(QUERY_ROUTES)} (default: all)",
    )
    parser.add_argument(
        "--replay-store",
        default="both",
        choices=("both", "postgres", "sqlite"),
        help="where the memory section replays the logs (default: both stores)",
    )
    parser.add_argument(
        "--output", type=Path, help="the report (default: BENCHMARKS.md; --quick: in the cache)"
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        help="measure nothing: write the report again from a run's raw figures "
        "(.bench-cache/last-run.json), e.g. after changing the report's layout",
    )
    parser.add_argument(
        "--replace-from",
        type=Path,
        help="with --from-json: the sections this later run measured replace the first "
        "run's (the report says which, when and on what code)",
    )
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")
    try:
        worker_counts = tuple(int(w) for w in args.workers.split(",") if w.strip())
    except ValueError:
        parser.error(f"--workers takes comma-separated numbers, not {args.workers!r}")
    if not worker_counts or min(worker_counts) < 1:
        parser.error("--workers needs at least one count, each 1 or more")
    queries = [q.strip() for q in (args.queries or ",".join(QUERY_ROUTES)).split(",")]
    unknown = sorted(set(queries) - set(QUERY_ROUTES) - {""})
    if unknown:
        parser.error(f"unknown queries: {', '.join(unknown)}")
    quick = args.quick
    cache = args.cache_dir.resolve()
    output = args.output or (cache / "BENCHMARKS-quick.md" if quick else ROOT / "BENCHMARKS.md")
    return Options(
        quick=quick,
        sections=[s for s in SECTIONS if s in sections],
        cache=cache,
        workers=args.server_workers,
        worker_counts=worker_counts,
        duration=args.duration or (3.0 if quick else 15.0),
        warmup=1.0 if quick else 3.0,
        clients=(1, 16) if quick else (1, 4, 16),
        stores=tuple(s.strip() for s in args.stores.split(",") if s.strip()),
        sizes={"1k": 1_000, "10k": 10_000}
        if quick
        else {"1k": 1_000, "100k": 100_000, "1M": 1_000_000},
        depths=(10, 100, 1_000) if quick else (10, 100, 1_000, 10_000),
        samples=40 if quick else 200,
        replay_store=args.replay_store,
        queries=tuple(q for q in QUERY_ROUTES if q in queries),
        output=output,
        from_json=args.from_json,
        replace_from=args.replace_from,
    )


def _runner(key: str) -> Callable[..., SectionResult]:
    import importlib

    module = importlib.import_module(f"bench.sections.{key}")
    return module.run  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.from_json is not None:
        return rewrite(options)
    from bench.wrk import ensure_wrk

    if {"bare", "http", "workers", "crypto", "webhooks"} & set(options.sections):
        ensure_wrk()
    started = datetime.now(UTC)
    about = machine()
    say(f"sections {', '.join(options.sections)}; load average {about['load_average']}")
    results: dict[str, SectionResult] = {}
    context: dict[str, object] = {}
    from bench.common import postgres

    needs_pg = "postgres" in options.stores
    t_run = time.perf_counter()
    with postgres(options) if needs_pg else _nothing() as pg:
        context["pg"] = pg
        for key in options.sections:
            say(f"--- {key}")
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            try:
                results[key] = _runner(key)(options, context)
            except Exception as error:  # noqa: BLE001 - one section failing is reported
                traceback.print_exc()
                results[key] = SectionResult(key, key, "", error=f"{type(error).__name__}: {error}")
            results[key].seconds = round(time.perf_counter() - t0, 1)
            results[key].detail.append(
                f"1-minute load average at the start of this section: {load:.2f}, at its end: "
                f"{os.getloadavg()[0]:.2f} (2 cores; other engineers' work shares the machine)."
            )
            say(f"--- {key} took {results[key].seconds:.0f}s")
    about["load_average_after"] = os.getloadavg()
    about["run_seconds"] = round(time.perf_counter() - t_run)
    about["postgres"] = getattr(context.get("pg"), "version", "-")
    from bench.report import evaluate, write_report

    raw = {
        "started": started.isoformat(),
        "machine": about,
        "argv": sys.argv[1:] if argv is None else argv,
        "measured": {k: r.as_json() for k, r in results.items()},
    }
    evaluate(results)
    raw["results"] = {k: r.as_json() for k, r in results.items()}
    write_json(options.cache / "last-run.json", raw)
    write_report(options, about, started, results, sys.argv[1:] if argv is None else argv)
    say(f"wrote {options.output} (raw figures in {options.cache / 'last-run.json'})")
    failed = [k for k, r in results.items() if r.error]
    if failed:
        say(f"sections that failed: {', '.join(failed)}")
    print(json.dumps({"output": str(options.output), "failed": failed}))
    return 1 if failed else 0


def rewrite(options: Options) -> int:
    """The report again from a run's raw figures: the same numbers, today's layout."""
    from bench.common import Figure
    from bench.report import evaluate, write_report

    source = options.from_json
    assert source is not None
    raw = json.loads(source.read_text())
    # the run's own options (stores, sizes, quick), written where this command says
    output, later = options.output, options.replace_from
    options = parse(list(raw.get("argv", [])))
    options.output, options.from_json = output, source
    if later is not None:
        again = json.loads(later.read_text())
        for key, section in again["measured"].items():
            raw["measured"][key] = section
        raw["machine"]["remeasured"] = {
            "sections": list(again["measured"]),
            "started": again["started"],
            "git": again["machine"]["git"],
        }
    measured = raw.get("measured")
    legacy = measured is None  # a run from before the raw figures were kept apart
    results: dict[str, SectionResult] = {}
    for key, section in (measured or raw["results"]).items():
        figures = []
        for f in section["figures"]:
            if legacy and (
                " against the library" in f["name"] or "against the raw read" in f["name"]
            ):
                continue
            note = f["note"].split("issue 6 reference:")[0].rstrip("; ") if legacy else f["note"]
            fields = ("section", "name", "value", "unit")
            figures.append(Figure(**{x: f[x] for x in fields}, note=note))
        results[key] = SectionResult(
            section["key"],
            section["title"],
            section["command"],
            figures,
            section["detail"],
            section["seconds"],
            section["error"],
        )
    evaluate(results)
    raw["machine"]["rendered_from"] = str(options.from_json)
    write_report(
        options,
        raw["machine"],
        datetime.fromisoformat(raw["started"]),
        results,
        raw["argv"],
    )
    say(f"wrote {options.output} from {options.from_json}")
    return 0


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
