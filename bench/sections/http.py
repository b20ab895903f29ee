"""(b) the bare endpoint and (c) Reclaim's command mix over HTTP, both driven by wrk.

Reclaim runs as ``reclaim serve --workers N`` on a fresh store. Before each client
count, cases are opened (and some submitted) through the application, so every
command of the mix finds its case in the right state: submits take opened cases,
follow-ups, notes and evidence take submitted ones; an open made during the run
feeds the submits, a submit the others. Every request sends an API key and an
``Idempotency-Key``, as a careful client does. Non-2xx answers are counted and
reported. The server's peak memory (VmHWM of every process) is read at the end.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import BenchPostgres, Options, SectionResult, say
from bench.servers import bare, reclaim, sampling_memory, wait_caught_up
from bench.wrk import LUA_BARE, LUA_MIX, WrkResult, run_wrk, write_script
from domain.cases import Credit
from infrastructure.application import ReclaimApplication
from infrastructure.settings import Settings

BARE_TITLE = "(b) Baseline: a bare FastAPI POST on the same server stack"
BARE_COMMAND = "python3 dev.py bench --sections bare"
TITLE = "(c) Reclaim's HTTP commands: a realistic mix"
COMMAND = "python3 dev.py bench --sections http"
#: requests of each kind, out of 100
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


def prepare_pools(settings: Settings, directory: Path, clients: int) -> None:
    """Per connection: cases to submit and submitted cases, one id per line."""
    app = ReclaimApplication(settings)
    try:
        for tid in range(1, clients + 1):
            opened = open_cases(app, OPENED_PER_CONNECTION, submit=False)
            submitted = open_cases(app, SUBMITTED_PER_CONNECTION, submit=True)
            (directory / f"opened-{tid}.txt").write_text("\n".join(opened) + "\n")
            (directory / f"submitted-{tid}.txt").write_text("\n".join(submitted) + "\n")
    finally:
        app.close()


def fresh_store(options: Options, store: str, name: str, pg: BenchPostgres | None) -> Settings:
    data_dir = options.cache / "tmp" / name
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    url = pg.fresh(name) if store == "postgres" and pg is not None else None
    return Settings(data_dir=data_dir, database_url=url)


def mix_script(settings: Settings, key: str, clients: int, name: str) -> Path:
    """The Lua script of the command mix, with its own pools of cases per connection."""
    directory = settings.data_dir / name
    directory.mkdir()
    prepare_pools(settings, directory, clients)
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


def _describe(r: WrkResult) -> str:
    errors = f", {r.non_2xx} non-2xx" if r.non_2xx else ""
    if r.socket_errors:
        errors += f", {r.socket_errors} socket errors"
    return f"{r.rate:,.0f} req/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms{errors}"


def run_bare(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("bare", BARE_TITLE, BARE_COMMAND)
    directory = options.cache / "tmp" / "bare"
    directory.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, Any]] = {}
    with bare(options.workers, directory / "server.log") as server:
        for path, variant in (("/items", "async"), ("/items-sync", "sync")):
            script = write_script(directory / f"bare-{variant}.lua", LUA_BARE, PATH=path)
            levels = options.clients if variant == "async" else (max(options.clients),)
            for clients in levels:
                run_wrk(server.url, script, clients=clients, duration=options.warmup)
                r = run_wrk(server.url, script, clients=clients, duration=options.duration)
                say(f"  bare {variant} POST, {clients} client(s): {_describe(r)}")
                runs[f"{variant}_{clients}"] = r.as_dict()
                note = "async def route" if variant == "async" else "plain def route (thread pool)"
                fig = result.add(
                    f"bare POST ({variant}), {clients} client(s): throughput",
                    r.rate,
                    "req/s",
                    note=note + (f"; {r.non_2xx} non-2xx" if r.non_2xx else ""),
                )
                if r.non_2xx or r.socket_errors:
                    fig.note += f"; ERRORS: {r.non_2xx} non-2xx, {r.socket_errors} socket"
                result.add(f"bare POST ({variant}), {clients} client(s): p50", r.p50_ms, "ms")
                result.add(f"bare POST ({variant}), {clients} client(s): p99", r.p99_ms, "ms")
        memory = server.memory()
    result.detail.append(
        f"Server: `uvicorn bench.bare_app:app --workers {options.workers}` (uvicorn defaults: "
        f"uvloop and httptools), uvicorn's access log off as in `reclaim serve`; peak memory "
        f"{memory['peak_sum_mib']:.0f} MiB over {memory['processes']} processes."
    )
    context["bare"] = runs
    return result


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("http", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    runs: dict[str, dict[str, Any]] = {}
    memories: dict[str, Any] = {}
    rows = ["| store | clients | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | by kind |"]
    rows.append("|---|---|---|---|---|---|---|---|---|")
    for store in options.stores:
        label = options.store_label(store)
        settings = fresh_store(options, store, f"bench_http_{store}", pg)
        app = ReclaimApplication(settings)
        key, _ = app.keys.create(USER, WORKSPACE, "member")
        app.close()
        # every run's cases, written before the server starts: the server's projector
        # catches up on them first, so no run waits on another's setup
        scripts = {
            clients: (
                mix_script(settings, key, clients, f"wrk-{clients}-warm-up"),
                mix_script(settings, key, clients, f"wrk-{clients}"),
            )
            for clients in options.clients
        }
        with reclaim(settings, options.workers, settings.data_dir / "server.log") as server:
            caught_up = wait_caught_up(server)
            if caught_up is not None:
                events, seconds = caught_up
                result.add(
                    f"{label}: the server's projector catching up on {events:,} events",
                    events / seconds if seconds else None,
                    "events/s",
                    note=f"{seconds:.1f} s from the server's start",
                )
            rss: list[float] = []
            for clients in options.clients:
                # the warm-up has its own cases: a case it submitted cannot be submitted again
                warm, script = scripts[clients]
                run_wrk(server.url, warm, clients=clients, duration=options.warmup)
                with sampling_memory(server) as samples:
                    r = run_wrk(server.url, script, clients=clients, duration=options.duration)
                rss += samples
                say(f"  Reclaim on {label}, {clients} client(s): {_describe(r)}")
                runs[f"{store}_{clients}"] = r.as_dict()
                kinds = ", ".join(f"{k}: {v}" for k, v in sorted(r.kinds.items()))
                rows.append(
                    f"| {label} | {clients} | {r.rate:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | "
                    f"{r.p99_ms:.1f} | {r.max_ms:.1f} | {r.non_2xx + r.socket_errors} | {kinds} |"
                )
                fig = result.add(f"{label}, {clients} client(s): throughput", r.rate, "req/s")
                if r.non_2xx or r.socket_errors:
                    fig.note = (
                        f"ERRORS: {r.non_2xx} non-2xx and {r.socket_errors} socket errors "
                        f"of {r.requests} requests"
                    )
                else:
                    fig.note = f"no errors in {r.requests:,} requests"
                result.add(f"{label}, {clients} client(s): p50", r.p50_ms, "ms")
                result.add(f"{label}, {clients} client(s): p99", r.p99_ms, "ms")
            memory = server.memory()
            memory["rss_samples_max_mib"] = max(rss, default=0)
            memories[store] = memory
        if store == "postgres" and pg is not None:
            pg.drop(settings.database_url.rsplit("/", 1)[1])  # type: ignore[union-attr]
    names = {"FOLLOW": "follow-up", "EVIDENCE": "evidence upload"}
    mix = ", ".join(f"{names.get(k, k.lower())} {v}%" for k, v in WEIGHTS.items())
    result.detail.append(
        f"Mix (share of requests): {mix}; evidence is a multipart upload of a "
        f"{len(png())}-byte PNG. `reclaim serve --workers {options.workers}`; wrk with one "
        f"thread per connection, {options.duration:.0f} s per run after a "
        f"{options.warmup:.0f} s warm-up. Status counts per kind:"
    )
    result.detail.append("\n".join(rows))
    context["http"] = runs
    context["server_memory"] = memories
    return result
