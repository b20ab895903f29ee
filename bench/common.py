"""What every benchmark section shares: the run's options, figures, timing, the
PostgreSQL cluster the run uses, process memory, and the cache of generated data."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DEFAULT_CACHE = ROOT / ".bench-cache"


@dataclass
class Options:
    quick: bool
    sections: list[str]
    cache: Path
    #: worker processes of the servers in every section but ``workers``
    workers: int
    #: the ``workers`` section's worker counts, the first being the others' baseline
    worker_counts: tuple[int, ...]
    #: seconds each throughput measurement runs (after its warm-up)
    duration: float
    warmup: float
    #: HTTP concurrency levels for the command mix
    clients: tuple[int, ...]
    stores: tuple[str, ...]
    #: event-log sizes for the query latencies, by label
    sizes: dict[str, int]
    #: events in one case for the command-latency-by-history-length section
    depths: tuple[int, ...]
    samples: int
    replay_store: str
    #: the queries section's queries to run (by name)
    queries: tuple[str, ...]
    output: Path
    #: only write the report again, from this run's raw figures
    from_json: Path | None = None
    #: with from_json: a later run whose sections replace the first run's
    replace_from: Path | None = None

    def store_label(self, store: str) -> str:
        return {"postgres": "PostgreSQL", "sqlite": "SQLite"}[store]


@dataclass
class Figure:
    """One measured figure, with what it is compared against and the target if any."""

    section: str
    name: str
    value: float | None
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    #: the baseline's own unit, when it differs (rows/s against req/s)
    baseline_unit: str = ""
    target: str | None = None
    #: True / False when a target applies, None when it does not
    met: bool | None = None
    #: the target's ratio bound (at least, or at most); for an absolute target, the bound
    #: itself in the figure's unit (the baseline is then that bound, and the ratio 1x)
    limit: float | None = None
    note: str = ""
    #: which of the report's targets this figure answers (a key of ``report.TARGETS``)
    target_key: str = ""
    #: False: shown beside a target for comparison, not judged against it
    judged: bool = True
    #: the target is a bound on the value itself (p50 <= 3 ms), not a ratio
    absolute: bool = False

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value


@dataclass
class SectionResult:
    key: str
    title: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    #: extra markdown (tables of detail, profiles, notes), written under the figures
    detail: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    def add(self, name: str, value: float | None, unit: str, **kwargs: Any) -> Figure:
        figure = Figure(self.key, name, value, unit, **kwargs)
        self.figures.append(figure)
        return figure

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for fig, raw in zip(self.figures, out["figures"], strict=True):
            raw["ratio"] = fig.ratio
        return out


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(port: int, process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status < 500:
                conn.close()
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing answered on port {port} within {timeout}s")


# --- memory --------------------------------------------------------------------------------
def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree_memory(pid: int) -> dict[str, Any]:
    """Peak (VmHWM) and current RSS of a process and its descendants, in MiB."""
    pids = [pid, *children(pid)]
    peaks = {p: _status_kib(p, "VmHWM") / 1024 for p in pids}
    now = {p: _status_kib(p, "VmRSS") / 1024 for p in pids}
    return {
        "processes": len(pids),
        "peak_each_mib": [round(peaks[p], 1) for p in pids],
        "peak_max_mib": round(max(peaks.values(), default=0), 1),
        "peak_sum_mib": round(sum(peaks.values()), 1),
        "rss_sum_mib": round(sum(now.values()), 1),
    }


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by a process and its living descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- machine ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError):
        mem_gib = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    from importlib.metadata import version

    import eventsourcing  # noqa: F401 - its version below

    def ver(name: str) -> str:
        try:
            return version(name)
        except Exception:  # noqa: BLE001 - absent is fine
            return "-"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {
            n: ver(n)
            for n in ("eventsourcing", "psycopg", "fastapi", "uvicorn", "uvloop", "httptools")
        },
        "sqlite": __import__("sqlite3").sqlite_version,
        "wrk": _wrk_version(),
        "load_average": os.getloadavg(),
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    """The commit measured, and which files differed from it (others edit the same tree)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        # only trailing whitespace: a porcelain status line starts with its status columns
        return out.stdout.rstrip()

    changed = [
        line[3:]
        for line in git("status", "--porcelain", "--untracked-files=no").splitlines()
        if line[3:] != "BENCHMARKS.md"
    ]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "changed": [c for c in changed if not c.startswith("bench/")],
        "bench_changed": [c for c in changed if c.startswith("bench/")],
    }


def _wrk_version() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        return "-"
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).split("Copyright")[0].strip()


# --- PostgreSQL ------------------------------------------------------------------------------
class BenchPostgres:
    """A durable (fsync on) PostgreSQL cluster kept under the cache directory, so the
    generated event logs survive between runs; fresh databases for the write tests."""

    def __init__(self, cache: Path) -> None:
        from tests.support.pgserver import PostgresServer

        server = PostgresServer(durable=True)
        shutil.rmtree(server.root, ignore_errors=True)
        root = cache / "pg"
        root.mkdir(parents=True, exist_ok=True)
        server.root = root
        server.datadir = root / "data"
        server.logfile = root / "server.log"
        if os.geteuid() == 0:
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chmod(root, 0o755)  # noqa: S103 - the server runs as nobody
            for path in (root, *root.rglob("*")):
                with contextlib.suppress(OSError):
                    os.lchown(path, nobody.pw_uid, nobody.pw_gid)
        self.server = server
        self.version = ""

    def start(self) -> BenchPostgres:
        self.server.start()
        with psycopg.connect(self.server.url("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            self.version = str(row[0]) if row else "?"
            fsync = conn.execute("SHOW fsync").fetchone()
            assert fsync and fsync[0] == "on", "benchmarks need fsync on"
        return self

    def stop(self) -> None:
        self.server.stop()

    def url(self, dbname: str) -> str:
        return self.server.url(dbname)

    def exists(self, name: str) -> bool:
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        return row is not None

    def fresh(self, name: str) -> str:
        """An empty database called ``name`` (dropped first if there)."""
        self.drop(name)
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.server.url(name)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.server.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres(options: Options) -> Iterator[BenchPostgres]:
    pg = BenchPostgres(options.cache).start()
    say(f"PostgreSQL {pg.version} (fsync on) on port {pg.server.port}, data in {pg.server.root}")
    try:
        yield pg
    finally:
        pg.stop()


# --- the projections -----------------------------------------------------------------------
def call_with(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` with those of ``kwargs`` it takes (``timeout`` and ``progress``
    come and go between versions of the projector)."""
    import inspect

    parameters = inspect.signature(function).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in parameters}
    return function(*args, **kwargs)


def project_all(app: Any) -> int:
    """Bring every projection to the end of the log, once events were written with
    ``app.save`` by the benchmark's own setup (no server running). A no-op when the
    saves already wrote the read rows in their own transactions (inline projections).
    Returns how many events were projected."""
    from infrastructure.projections.projector import Projector

    catch_up = getattr(Projector(app), "catch_up", None)
    if catch_up is None:
        return 0
    return int(call_with(catch_up, timeout=60) or 0)


def log_length(app: Any) -> int:
    """The last position of the notification log (its length: positions start at 1)."""
    return int(app.recorder.max_notification_id() or 0)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
