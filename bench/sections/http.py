"""(b) the bare endpoint and (c) Reclaim's commands over HTTP, both driven by wrk.

Reclaim runs as ``reclaim serve --workers N`` on a fresh store. Issue 10's mix:
follow-ups and notes (half each), both with ``occurred_at``, over 300 cases opened
and submitted beforehand through the application (not in the timed part); each
connection works on its own share of the 300, and every client count runs on the
same cases, one after the other. Then, at the highest client count only, the
realistic mix of opens, submits, follow-ups, notes and evidence uploads (issue 6's),
on pools of cases prepared per connection: submits take opened cases, the others
submitted ones; an open made during the run feeds the submits, a submit the
others. Every request sends an API key and an ``Idempotency-Key``, as a careful
client does. Only 2xx answers count: throughput is 2xx answers per second and the
percentiles are over 2xx answers (timed per request by the wrk script); non-2xx
answers are reported and left out. Each run has its own warm-up first. The
server's peak memory (VmHWM of every process) is read at the end.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import BenchPostgres, Options, SectionResult, project_all, say
from bench.servers import bare, reclaim, sampling_memory
from bench.wrk import LUA_BARE, LUA_ISSUE, LUA_MIX, WrkResult, run_wrk, write_script
from domain.cases import Credit
from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication

BARE_TITLE = "(b) Baseline: a bare FastAPI POST on the same server stack"
BARE_COMMAND = "python3 dev.py bench --sections bare"
TITLE = "(c) Reclaim's HTTP commands: issue 10's mix, and a realistic one"
COMMAND = "python3 dev.py bench --sections http"
#: issue 10's mix: follow-ups and notes over this many cases, opened and submitted first
ISSUE_CASES = 300
#: the share of follow-ups in issue 10's mix (the rest are notes)
FOLLOW_SHARE = 0.5
#: the realistic mix's requests of each kind, out of 100
WEIGHTS = {"OPEN": 15, "SUBMIT": 15, "FOLLOW": 20, "NOTE": 35, "EVIDENCE": 15}
USER, WORKSPACE = "bench", "bench"
#: cases made before a run, per connection (the run's own opens and submits add more)
OPENED_PER_CONNECTION, SUBMITTED_PER_CONNECTION = 40, 20
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def png(width: int = 16, height: int = 16) -> bytes:
    """A small valid PNG (a grey square)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes([128]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def evidence_body(boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nscreenshot\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
        "The wallet page showing the credit gone\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="wallet.png"\r\n'
        "Content-Type: image/png\r\n\r\n",
    ]
    return "".join(parts).encode() + png() + f"\r\n--{boundary}--\r\n".encode()


def open_cases(app: ReclaimApplication, count: int, submit: bool) -> list[str]:
    """Cases as the Lua script's open would make them; submitted too when asked."""
    ids: list[str] = []
    batch: list[Credit] = []
    for n in range(count):
        case = Credit.open(
            owner=USER,
            workspace=WORKSPACE,
            platform="temu",
            account_reference="temu-4411",
            credit_type="store",
            amount="25.00",
            currency="USD",
            problem="expired",
            remedy="reinstate",
            earned_on=datetime(2026, 1, 10).date(),
            expires_on=datetime(2026, 12, 10).date(),
            occurred_at=datetime(2026, 2, 1, 9, tzinfo=UTC),
            actor=USER,
            request_id=f"bench-open-{n}",
            now=NOW,
        )
        if submit:
            case.submit(
                channel="support_ticket",
                reference="T-1001",
                message="My store credit expired without notice",
                occurred_at=datetime(2026, 2, 2, 9, tzinfo=UTC),
                actor=USER,
                request_id=f"bench-submit-{n}",
                now=NOW,
            )
        batch.append(case)
        ids.append(str(case.id))
        if len(batch) == 500:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)
    return ids


def prepare_pools(app: ReclaimApplication, directory: Path, clients: int) -> None:
    """Per connection: cases to submit and submitted cases, one id per line."""
    for tid in range(1, clients + 1):
        opened = open_cases(app, OPENED_PER_CONNECTION, submit=False)
        submitted = open_cases(app, SUBMITTED_PER_CONNECTION, submit=True)
        (directory / f"opened-{tid}.txt").write_text("\n".join(opened) + "\n")
        (directory / f"submitted-{tid}.txt").write_text("\n".join(submitted) + "\n")


def fresh_store(
    options: Options, store: str, name: str, pg: BenchPostgres | None, *, sealing: bool = True
) -> Settings:
    """An empty store called ``name``; ``sealing=False`` writes personal data in clear
    (``RECLAIM_PERSONAL_DATA_ENCRYPTION=false``, for the crypto section only)."""
    data_dir = options.cache / "tmp" / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = pg.fresh(name) if store == "postgres" and pg is not None else None
    return Settings(data_dir=data_dir, database_url=url, personal_data_encryption=sealing)


@contextlib.contextmanager
def seeded_store(
    options: Options,
    store: str,
    name: str,
    pg: BenchPostgres | None,
    cases: int = ISSUE_CASES,
    *,
    sealing: bool = True,
) -> Iterator[tuple[Settings, ReclaimApplication, str, Path]]:
    """A fresh store with an API key and ``cases`` of issue 10's cases: its settings, the
    application (open for more setup in the block), the key and the cases' file. Written
    before any server starts, and projected when the block ends: the timed runs find
    their cases in the read tables and wait on nobody's setup. The cases and the
    server started on these settings seal personal data unless ``sealing`` is False."""
    settings = fresh_store(options, store, name, pg, sealing=sealing)
    app = ReclaimApplication(settings)
    try:
        key, _ = app.keys.create(USER, WORKSPACE, "member")
        yield settings, app, key, issue_cases(app, settings.data_dir, cases)
        project_all(app)
    finally:
        app.close()


def issue_cases(app: ReclaimApplication, directory: Path, count: int = ISSUE_CASES) -> Path:
    """Issue 10's cases, opened and submitted, one id per line in a file."""
    path = directory / "issue-cases.txt"
    path.write_text("\n".join(open_cases(app, count, submit=True)) + "\n")
    return path


def issue_script(cases: Path, key: str, clients: int, name: str) -> Path:
    """The Lua script of issue 10's mix on the cases in ``cases``."""
    return write_script(
        cases.parent / f"{name}.lua",
        LUA_ISSUE,
        CASES=cases,
        KEY=key,
        CLIENTS=clients,
        FOLLOW_SHARE=FOLLOW_SHARE,
    )


def mix_script(app: ReclaimApplication, directory: Path, key: str, clients: int) -> Path:
    """The Lua script of the realistic mix, with its own pools of cases per connection
    (in ``directory``, which must not exist yet)."""
    directory.mkdir(parents=True)
    prepare_pools(app, directory, clients)
    boundary = "bench7MA4YWxkTrZu0gW"
    (directory / "evidence.boundary").write_text(boundary + "\n")
    (directory / "evidence.body").write_bytes(evidence_body(boundary))
    return write_script(
        directory / "mix.lua",
        LUA_MIX,
        DIR=directory,
        KEY=key,
        **{f"W_{k}": v for k, v in WEIGHTS.items()},
    )


def counted(r: WrkResult) -> str:
    """What a run's figures count, for the note beside them."""
    text = f"{r.ok:,} 2xx answers counted"
    if r.non_2xx:
        text += f"; ERRORS: {r.non_2xx:,} non-2xx left out ({r.non_2xx_counts()})"
    if r.socket_errors:
        text += f"; ERRORS: {r.socket_errors:,} socket errors or timeouts"
    return text


def run_bare(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("bare", BARE_TITLE, BARE_COMMAND)
    directory = options.cache / "tmp" / "bare"
    directory.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    with bare(options.workers, directory / "server.log") as server:
        for path, variant in (("/items", "async"), ("/items-sync", "sync")):
            levels = options.clients if variant == "async" else (max(options.clients),)
            for clients in levels:
                warm = write_script(directory / f"bare-{variant}-warm.lua", LUA_BARE, PATH=path)
                script = write_script(directory / f"bare-{variant}.lua", LUA_BARE, PATH=path)
                run_wrk(server.url, warm, clients=clients, duration=options.warmup)
                r = run_wrk(server.url, script, clients=clients, duration=options.duration)
                say(f"  bare {variant} POST, {clients} client(s): {r.describe()}")
                runs[f"{variant}_{clients}"] = r.as_dict()
                what = "async def route" if variant == "async" else "plain def route (thread pool)"
                name = f"bare POST ({variant}), {clients} client(s)"
                result.add(f"{name}: throughput", r.rate, "req/s", note=f"{what}; {counted(r)}")
                result.add(f"{name}: p50", r.p50, "ms")
                result.add(f"{name}: p99", r.p99, "ms")
        memory = server.memory()
    result.detail.append(
        f"Server: `uvicorn bench.bare_app:app --workers {options.workers}` (uvicorn defaults: "
        f"uvloop and httptools), uvicorn's access log off as in `reclaim serve`; peak memory "
        f"{memory['peak_sum_mib']:.0f} MiB over {memory['processes']} processes. Latency is "
        "timed per request by the wrk script, as for Reclaim's commands."
    )
    context["bare"] = runs
    return result


def _figures(result: SectionResult, name: str, r: WrkResult) -> None:
    result.add(f"{name}: throughput", r.rate, "req/s", note=counted(r))
    result.add(f"{name}: p50", r.p50, "ms")
    result.add(f"{name}: p99", r.p99, "ms")


def _row(label: str, mix: str, clients: int, r: WrkResult) -> str:
    kinds = ", ".join(f"{k}: {v:,}" for k, v in sorted(r.kinds.items()))
    return (
        f"| {label} | {mix} | {clients} | {r.rate:,.0f} | {r.p50:.2f} | {r.p90:.2f} | "
        f"{r.p99:.2f} | {r.max:.1f} | {r.non_2xx + r.socket_errors} | {kinds} |"
    )


#: the raw-insert baselines measured inside this section, around the judged run
ADJACENT = {
    "postgres": "PostgreSQL: raw one-row inserts, {n} connection(s), just {when} the "
    "{top}-client run",
    "sqlite": "SQLite: raw one-row inserts (synchronous=FULL), just {when} the {top}-client run",
}


def adjacent_baselines(
    options: Options,
    result: SectionResult,
    store: str,
    pg: BenchPostgres | None,
    tmp: Path,
    when: str,
) -> None:
    """Raw one-row-per-transaction inserts again, just before and just after the run the
    targets judge: the machine is shared, and its load (other processes' fsyncs above
    all) moves both figures, so the ratio compares figures taken under the same load."""
    from bench.sections.raw import pg_single_rates, sqlite_full_rate

    duration = min(options.duration, 2.0 if options.quick else 5.0)
    top = max(options.clients)
    if store == "postgres" and pg is not None:
        for n, rate in pg_single_rates(pg, (1, 16), duration).items():
            say(f"  raw one-row inserts on PostgreSQL, {n} connection(s), {when}: {rate:,.0f}/s")
            result.add(ADJACENT[store].format(n=n, when=when, top=top), rate, "rows/s")
    elif store == "sqlite":
        rate = sqlite_full_rate(tmp, duration)
        say(f"  raw one-row inserts on SQLite (FULL), {when}: {rate:,.0f}/s")
        result.add(ADJACENT[store].format(when=when, top=top), rate, "rows/s")


def bare_run(
    options: Options, workers: int, directory: Path, clients: int, duration: float
) -> WrkResult:
    """The bare endpoint's async route on a server of its own: a warm-up, then one run."""
    directory.mkdir(parents=True, exist_ok=True)
    warm, script = (
        write_script(directory / f"bare-{n}.lua", LUA_BARE, PATH="/items")
        for n in ("warm-up", "run")
    )
    with bare(workers, directory / "server.log") as server:
        run_wrk(server.url, warm, clients=clients, duration=options.warmup)
        return run_wrk(server.url, script, clients=clients, duration=duration)


#: the bare endpoint measured inside this section, around the judged run
ADJACENT_BARE = "{label}: bare POST (async), {top} client(s), just {when} the {top}-client run"


def adjacent_bare(
    options: Options, result: SectionResult, label: str, directory: Path, when: str
) -> None:
    """The bare endpoint again, just before or just after the judged run (its own
    server, the same worker count, as long a run): a p99 is the figure the machine's
    load moves most."""
    top = max(options.clients)
    r = bare_run(options, options.workers, directory, top, options.duration)
    say(f"  bare async POST, {top} client(s), {when} Reclaim on {label}: {r.describe()}")
    name = ADJACENT_BARE.format(label=label, top=top, when=when)
    result.add(f"{name}: p50", r.p50, "ms", note=counted(r))
    result.add(f"{name}: p99", r.p99, "ms")


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("http", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    runs: dict[str, dict[str, Any]] = {}
    memories: dict[str, Any] = {}
    rows = [
        "| store | mix | clients | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | "
        "answers by kind and status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    top = max(options.clients)
    bare_dir = options.cache / "tmp" / "bare-adjacent"
    for store in options.stores:
        label = options.store_label(store)
        with seeded_store(options, store, f"bench_http_{store}", pg) as seeded:
            settings, app, key, cases = seeded
            issue = {
                clients: (
                    issue_script(cases, key, clients, f"issue-{clients}-warm-up"),
                    issue_script(cases, key, clients, f"issue-{clients}"),
                )
                for clients in options.clients
            }
            realistic = (
                mix_script(app, settings.data_dir / "realistic-warm-up", key, top),
                mix_script(app, settings.data_dir / "realistic", key, top),
            )
        with reclaim(settings, options.workers, settings.data_dir / "server.log") as server:
            rss: list[float] = []
            plan = [("issue", clients, *issue[clients]) for clients in options.clients]
            plan.append(("realistic", top, *realistic))
            for mix, clients, warm, script in plan:
                judged = mix == "issue" and clients == top
                if judged:
                    adjacent_baselines(options, result, store, pg, settings.data_dir, "before")
                    adjacent_bare(options, result, label, bare_dir, "before")
                run_wrk(server.url, warm, clients=clients, duration=options.warmup)
                with sampling_memory(server) as samples:
                    r = run_wrk(server.url, script, clients=clients, duration=options.duration)
                rss += samples
                if judged:
                    adjacent_bare(options, result, label, bare_dir, "after")
                    adjacent_baselines(options, result, store, pg, settings.data_dir, "after")
                what = "issue 10's mix" if mix == "issue" else "realistic mix"
                say(f"  Reclaim on {label}, {what}, {clients} client(s): {r.describe()}")
                runs[f"{store}_{clients}" if mix == "issue" else f"{store}_{mix}_{clients}"] = (
                    r.as_dict()
                )
                rows.append(_row(label, what, clients, r))
                name = f"{label}, {clients} client(s)"
                if mix != "issue":
                    name = f"{label}, realistic mix, {clients} client(s)"
                _figures(result, name, r)
            memory = server.memory()
            memory["rss_samples_max_mib"] = max(rss, default=0)
            memories[store] = memory
        if store == "postgres" and pg is not None:
            pg.drop(settings.database_url.rsplit("/", 1)[1])  # type: ignore[union-attr]
    names = {"FOLLOW": "follow-up", "EVIDENCE": "evidence upload"}
    mix = ", ".join(f"{names.get(k, k.lower())} {v}%" for k, v in WEIGHTS.items())
    result.detail.append(
        f"Figures without a mix named are issue 10's mix: follow-ups "
        f"{FOLLOW_SHARE:.0%} and notes {1 - FOLLOW_SHARE:.0%}, both with `occurred_at`, over "
        f"{ISSUE_CASES} cases opened and submitted before the server started (each "
        f"connection on its own share of them). The realistic mix (share of requests): {mix}; "
        f"evidence is a multipart upload of a {len(png())}-byte PNG. "
        f"`reclaim serve --workers {options.workers}`; wrk with one thread per connection, "
        f"{options.duration:.0f} s per run after a {options.warmup:.0f} s warm-up. Only 2xx "
        "answers are counted (throughput and percentiles); non-2xx answers are in the "
        "non-2xx column and left out. Just before and just after each store's issue-mix "
        f"run at {top} clients, raw one-row-per-transaction inserts are measured again "
        "(PostgreSQL on 1 and 16 connections, SQLite with synchronous=FULL, as in section "
        "(a), for a few seconds each), and the throughput figures are compared with their "
        "mean: the machine is shared, and figures taken minutes apart can be under "
        "different loads. The bare endpoint of section (b) runs again just before and "
        f"just after that run, at {top} clients (its own server, the same worker count "
        f"and run length), and the p99 at {top} clients is compared with the mean of its "
        "two p99s. "
        "Answers per kind and status:"
    )
    result.detail.append("\n".join(rows))
    context["http"] = runs
    context["server_memory"] = memories
    return result
