"""Turn a run's figures into BENCHMARKS.md: baselines, ratios and issue 6's targets.

``evaluate`` sets each figure's baseline (measured in the same run) and, where issue
6 sets a target, whether it is met; ``write_report`` writes the markdown. Nothing
in the report is typed by hand: rerun the command to refresh it.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bench.common import Figure, Options, SectionResult

TARGETS_TEXT = {
    "c-raw": "≥ 1.0× raw one-row-per-transaction inserts (PostgreSQL, 1 connection)",
    "c-lib": "≥ 3× the library used directly (PostgreSQL, 1 thread)",
    "c-p99": "p99 < 4× the bare endpoint's p99 (16 clients)",
    "d": "≥ 0.5× the library's decoded log-read rate",
    "e": "flat within 20 % from 10 to 10,000 events (p50 against p50 at 10)",
    "f": "p99 at 1M events within 2× of p99 at 1k",
    "g": "flat in the log's size (peak at the larger log ≤ 1.2× the smaller)",
}


#: why a target is missed, from profiles of the code measured (see each note's source);
#: printed under the targets when the run misses that target. Written by hand: check
#: them against a fresh profile when the code they name changes.
WHY = {
    "c": (
        "**(c) Command throughput and p99 on PostgreSQL.** Every command answers only "
        "once the server's own projections hold its events (`api/commands.py` "
        "`_await_projections` → `Projector.wait_for`: read-your-writes for the embedded "
        "default). On PostgreSQL the server's projector follows the log with the library's "
        "projection runners: one transaction per event for each of the four projections, so "
        "each command waits for four more commits, and the projections' catch-up rate "
        '(section (c), "catching up") bounds the command rate. A sampling profile of one '
        "worker under 16 clients (`python -m bench.profile_server --store postgres "
        "--clients 16`, at commit 441a2a2) puts about 80 % of the request threads' busy time "
        "in `wait_for`, a third of that in `Projector.positions()` (one SQL query per waiting "
        "request per poll, competing for the pool with the projector), and about 15 % in the "
        "command itself "
        "(`ReclaimApplication.execute` with group commit). Section (e)'s in-process figures "
        "show what a command costs without that wait. On SQLite the same wait is on a poller "
        "(batches, so faster), which is why SQLite beats PostgreSQL here."
    ),
    "d": (
        "**(d) Rebuild against the decoded log read.** A rebuild writes about four rows per "
        "event (case list, timeline, audit log, reports), each made in Python. A cProfile "
        "of a 100k-event SQLite rebuild (at commit 441a2a2) spent about 60 % in Python "
        "row-building (decoding, the audit chain's canonical JSON and hashing, "
        "`isoformat`, dicts), 17 % in commits (four per batch) and 12 % in `executemany`; "
        "reading and decoding alone run about ten times faster. Reaching 0.5× needs larger "
        "transactions during a rebuild (one per batch for all four projections, COPY on "
        "PostgreSQL) and less Python per row."
    ),
    "e": (
        "**(e) Command latency by case length, cache off.** Without the aggregate cache a "
        "command replays the case from its latest snapshot (every 50 events) plus the events "
        "after it: up to 49 events at 1,000 or 10,000 events against all 10 at 10 events. "
        "The cost is bounded by the snapshot interval, not by the case's length."
    ),
    "f": (
        "**(f) The summary report at 1M events.** `GET /v1/reports/summary` "
        "(`queries.summary`) aggregates the caller's rows of the reports table on every "
        "request and computes the median days to resolution in Python over every resolved "
        "case (`_median_days`: fetch them all, parse their times): linear in the number of "
        "cases; `_median_days` was about 60 % of its time at 100k events (cProfile). List and "
        "timeline read a page or one case by index and stay flat. Meeting the target needs "
        "the summary kept as a projection (counts and sums per workspace and owner, updated "
        "as events arrive) or at least computed in SQL."
    ),
    "g": (
        "**(g) Replay memory.** The replay's memory is bounded but not flat: the audit and "
        "timeline projections keep a cache of case scopes (`infrastructure/projections/"
        "base.py`, up to `LIMIT = 100_000` cases each, cleared when passed), so the RSS grows "
        "with the number of distinct cases until that cap: sampled every 10 s during a 1M "
        "replay (at commit 441a2a2), it grew by about 0.5 MiB/s for the first 700k events "
        "(about 100k cases), then stayed level. A 1M-event log has "
        "about 140k cases, past the cap, so larger logs should stay near this peak. A smaller "
        "cap or an LRU would make it flat."
    ),
}


def _find(results: dict[str, SectionResult], key: str, name: str) -> Figure | None:
    section = results.get(key)
    if section is None:
        return None
    return next((f for f in section.figures if f.name == name), None)


def _value(results: dict[str, SectionResult], key: str, name: str) -> float | None:
    figure = _find(results, key, name)
    return None if figure is None else figure.value


def _unit(results: dict[str, SectionResult], key: str, name: str) -> str:
    figure = _find(results, key, name)
    return "" if figure is None else figure.unit


def _compare(
    figure: Figure | None,
    baseline: str,
    value: float | None,
    *,
    target: str | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    unit: str = "",
) -> None:
    if figure is None or value is None:
        return
    figure.baseline, figure.baseline_value = baseline, value
    figure.baseline_unit = unit if unit and unit != figure.unit else ""
    if target is None:
        return
    figure.target = target
    figure.limit = at_least if at_least is not None else at_most
    ratio = figure.ratio
    if ratio is None:
        figure.met = None
    elif at_least is not None:
        figure.met = ratio >= at_least
    elif at_most is not None:
        figure.met = ratio < at_most


#: issue 6's reference figures (measured earlier on these machines), beside ours for context
REFERENCES = {
    ("raw", "PostgreSQL, one row per transaction, 1 connection(s)"): "2.6k rows/s",
    ("raw", "PostgreSQL, one row per transaction, 4 connection(s)"): "6.0k/s (pgbench)",
    ("raw", "PostgreSQL, 100 rows per transaction, executemany, 1 connection(s)"): "24k rows/s",
    ("raw", "PostgreSQL, 100 rows per transaction, COPY, 1 connection(s)"): "33k rows/s",
    (
        "raw",
        "SQLite WAL, synchronous=FULL, one row per transaction, 1 connection",
    ): "3.4k rows/s",
    (
        "raw",
        "SQLite WAL, synchronous=NORMAL, one row per transaction, 1 connection",
    ): "17k rows/s",
    ("bare", "bare POST (async), 16 client(s): throughput"): "12k req/s (2 workers)",
    (
        "library",
        "PostgreSQL: get a 7-event aggregate, add 1 event, save; 1 thread(s)",
    ): "346/s",
    ("library", "SQLite: get a 7-event aggregate, add 1 event, save; 1 thread(s)"): "843/s",
}


def _against_first_of_series(
    figures: list[Any],
    is_target: Callable[[str, str], bool],
    target: str,
    at_most: float,
) -> None:
    """Compare each "<series> at <size>" figure with the first size of its series."""
    for figure in figures:
        prefix, at = figure.name.rsplit(" at ", 1)
        first = next((f for f in figures if f.name.startswith(prefix + " at ")), None)
        if first is None or first is figure:
            continue
        _compare(
            figure,
            first.name.rsplit(": ", 1)[1],
            first.value,
            target=target if is_target(prefix, at) else None,
            at_most=at_most,
        )


def evaluate(results: dict[str, SectionResult]) -> None:
    for (key, name), reference in REFERENCES.items():
        figure = _find(results, key, name)
        if figure is not None:
            parts = (figure.note, f"issue 6 reference: {reference}")
            figure.note = "; ".join(x for x in parts if x)
    raw_pg = _value(results, "raw", "PostgreSQL, one row per transaction, 1 connection(s)")
    raw_sqlite = _value(
        results, "raw", "SQLite WAL, synchronous=FULL, one row per transaction, 1 connection"
    )
    lib = {
        store: _value(
            results,
            "library",
            f"{label}: get a 7-event aggregate, add 1 event, save; 1 thread(s)",
        )
        for store, label in (("postgres", "PostgreSQL"), ("sqlite", "SQLite"))
    }
    http = results.get("http")
    if http is not None:
        for figure in list(http.figures):
            if " client(s)" not in figure.name:
                continue
            store = "postgres" if figure.name.startswith("PostgreSQL") else "sqlite"
            label = "PostgreSQL" if store == "postgres" else "SQLite"
            clients = figure.name.split(", ", 1)[1].split(" ", 1)[0]
            if figure.name.endswith("throughput"):
                top = store == "postgres" and clients == "16"
                if store == "postgres":
                    _compare(
                        figure,
                        "raw one-row inserts, 1 connection",
                        raw_pg,
                        target=TARGETS_TEXT["c-raw"] if top else None,
                        at_least=1.0,
                        unit="rows/s",
                    )
                else:
                    _compare(figure, "SQLite raw one-row inserts (FULL)", raw_sqlite, unit="rows/s")
                if top:  # the second target on the same figure gets its own line
                    extra = Figure(
                        "http",
                        f"{label}, 16 client(s): throughput against the library",
                        figure.value,
                        "req/s",
                        note=figure.note,
                    )
                    _compare(
                        extra,
                        "library used directly, 1 thread",
                        lib["postgres"],
                        target=TARGETS_TEXT["c-lib"],
                        at_least=3.0,
                        unit="commands/s",
                    )
                    http.figures.insert(http.figures.index(figure) + 1, extra)
                elif lib.get(store) is not None and store == "sqlite" and clients == "16":
                    extra = Figure(
                        "http",
                        f"{label}, 16 client(s): throughput against the library",
                        figure.value,
                        "req/s",
                    )
                    _compare(
                        extra,
                        "library used directly on SQLite, 1 thread",
                        lib["sqlite"],
                        unit="commands/s",
                    )
                    http.figures.insert(http.figures.index(figure) + 1, extra)
            elif figure.name.endswith(("p99", "p50")):
                which = figure.name.rsplit(" ", 1)[1]
                bare = _value(results, "bare", f"bare POST (async), {clients} client(s): {which}")
                top = which == "p99" and clients == "16" and store == "postgres"
                _compare(
                    figure,
                    f"bare POST {which}, {clients} client(s)",
                    bare,
                    target=TARGETS_TEXT["c-p99"] if top else None,
                    at_most=4.0,
                )
    rebuild = results.get("rebuild")
    if rebuild is not None:
        for figure in list(rebuild.figures):
            if "projection rebuild" not in figure.name:
                continue
            label = figure.name.split(":", 1)[0]
            events = figure.name.rsplit("(", 1)[1]
            decoded = _value(results, "rebuild", f"{label}: library decoded log read ({events}")
            raw = _value(results, "rebuild", f"{label}: raw sequential read ({events}")
            _compare(figure, "decoded log read", decoded, target=TARGETS_TEXT["d"], at_least=0.5)
            against_raw = Figure(
                "rebuild", figure.name + ", against the raw read", figure.value, figure.unit
            )
            _compare(against_raw, "raw sequential read", raw, unit="rows/s")
            rebuild.figures.insert(rebuild.figures.index(figure) + 1, against_raw)
    depth = results.get("depth")
    if depth is not None:
        _against_first_of_series(
            depth.figures, lambda prefix, at: prefix.endswith("p50"), TARGETS_TEXT["e"], 1.2 + 1e-9
        )
    queries = results.get("queries")
    if queries is not None:
        _against_first_of_series(
            queries.figures, lambda prefix, at: at.startswith("1M"), TARGETS_TEXT["f"], 2.0
        )
    memory = results.get("memory")
    if memory is not None:
        replays = [f for f in memory.figures if f.name.startswith("`reclaim replay`")]
        if len(replays) >= 2:
            _compare(
                replays[-1],
                replays[0].name.split(" of ", 1)[1].split(":")[0],
                replays[0].value,
                target=TARGETS_TEXT["g"],
                at_most=1.2 + 1e-9,
            )


def _num(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("ms",):
        text = f"{value:.2f}" if value < 10 else f"{value:,.1f}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.1f}"
    return f"{text} {unit}".strip()


def _target_key(figure: Figure) -> str:
    for key, text in TARGETS_TEXT.items():
        if figure.target == text:
            return key.split("-")[0]
    return ""


def _baseline_unit(figure: Figure) -> str:
    return getattr(figure, "baseline_unit", "") or figure.unit


def _met(figure: Figure) -> str:
    if figure.met is None:
        return ""
    if figure.met:
        return "**met**"
    return "**missed**"


def _gap(figure: Figure) -> str:
    """How far from its target a missed figure is, in words."""
    ratio = figure.ratio
    if figure.met is not False or ratio is None or figure.target is None:
        return ""
    limit = getattr(figure, "limit", None)
    if limit is None:
        return ""
    if "≥" in figure.target:
        return f"{ratio:.2f}× of {limit:g}× needed: {limit / ratio:.1f}× short"
    limit = round(limit, 2)
    return f"{ratio:.2f}× against at most {limit:g}×: {ratio / limit:.2f}× over"


def _table(figures: list[Figure]) -> list[str]:
    lines = ["| figure | value | baseline (same run) | ratio | target | met | note |"]
    lines.append("|---|---|---|---|---|---|---|")
    for f in figures:
        baseline = (
            ""
            if f.baseline is None
            else f"{f.baseline}: {_num(f.baseline_value, _baseline_unit(f))}"
        )
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}×"
        gap = _gap(f)
        note = "; ".join(x for x in (f.note, gap) if x)
        lines.append(
            f"| {f.name} | {_num(f.value, f.unit)} | {baseline} | {ratio} | {f.target or ''} | "
            f"{_met(f)} | {note} |"
        )
    return lines


def write_report(
    options: Options,
    about: dict[str, Any],
    started: datetime,
    results: dict[str, SectionResult],
    argv: list[str],
) -> None:
    command = shlex.join(["python3", "dev.py", "bench", *argv])
    out: list[str] = ["# Reclaim benchmarks", ""]
    out.append(
        f"Written by `{command}` on {started:%Y-%m-%d} (started {started:%H:%M} UTC, "
        f"{about['run_seconds'] / 60:.0f} minutes). Every figure below comes from that one run; "
        "ratios compare figures measured side by side in it. Do not edit by hand: run the "
        "command again."
        + (
            " This file was written again from that run's raw figures "
            "(`python3 dev.py bench --from-json .bench-cache/last-run.json`): the same "
            "numbers in the report's current layout."
            if about.get("rendered_from")
            else ""
        )
        + (
            " **Quick mode: short runs and small logs, for smoke-testing only.**"
            if options.quick
            else ""
        )
    )
    out += ["", "## Machine", ""]
    packages = ", ".join(f"{k} {v}" for k, v in about["packages"].items())
    load = about["load_average"]
    after = about["load_average_after"]
    out += [
        f"- CPU: {about['cpu']}, {about['cores']} cores; memory {about['memory_gib']} GiB; "
        f"Linux {about['kernel']}",
        f"- Python {about['python']}; {packages}; SQLite {about['sqlite']}; "
        f"PostgreSQL {about['postgres']} (a local server started by the run, fsync on, "
        "shared_buffers 128MB); load generator "
        f"{about['wrk']}",
        f"- Load average (1, 5, 15 min) at the start: {load[0]:.2f}, {load[1]:.2f}, "
        f"{load[2]:.2f}; at the end: {after[0]:.2f}, {after[1]:.2f}, {after[2]:.2f}",
        f"- Server processes: `--workers {options.workers}` for both Reclaim and the bare app",
        f"- Code measured: commit {about['git']['commit']} ({about['git']['subject']})"
        + (
            "; with uncommitted changes (others' work in progress) to: "
            + ", ".join(f"`{c}`" for c in about["git"]["changed"])
            if about["git"]["changed"]
            else ", clean tree"
        )
        + (
            "; the benchmark suite's own files differ from that commit: "
            + ", ".join(f"`{c}`" for c in about["git"]["bench_changed"])
            if about["git"].get("bench_changed")
            else ""
        ),
    ]
    targets = [f for r in results.values() for f in r.figures if f.target]
    out += ["", "## Issue 6 targets", ""]
    if targets:
        out += [
            "| target | figure | value | baseline | ratio | met | gap |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in targets:
            out.append(
                f"| {f.target} | {f.name} | {_num(f.value, f.unit)} | "
                f"{f.baseline}: {_num(f.baseline_value, _baseline_unit(f))} | "
                f"{'-' if f.ratio is None else f'{f.ratio:.2f}×'} | {_met(f)} | {_gap(f)} |"
            )
        missed = {_target_key(f) for f in targets if f.met is False}
        for key in ("c", "d", "e", "f", "g"):
            if key in missed:
                out += ["", WHY[key]]
    else:
        out.append("No target-bearing section ran.")
    errors = [f for r in results.values() for f in r.figures if "ERRORS" in f.note]
    if errors:
        out += [
            "",
            "**Some load runs had errors:** " + "; ".join(f"{f.name}: {f.note}" for f in errors),
        ]
    for key, result in results.items():
        out += ["", f"## {result.title}", ""]
        if result.error:
            out += [f"**This section failed:** `{result.error}`", ""]
        out.append(f"Command: `{result.command}` ({result.seconds:.0f} s in this run).")
        if result.figures:
            out += ["", *_table(result.figures)]
        for block in result.detail:
            out += ["", block]
        doc = _section_doc(key)
        if doc:
            out += ["", "How: " + doc]
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text("\n".join(out) + "\n")


def _section_doc(key: str) -> str:
    import importlib

    try:
        module = importlib.import_module(f"bench.sections.{key}")
    except ImportError:
        return ""
    doc = (module.__doc__ or "").strip()
    return " ".join(doc.split())
