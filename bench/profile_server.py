"""Where a Reclaim server spends its time under the benchmark's command mix.

    .venv/bin/python -m bench.profile_server --store postgres --clients 16 --seconds 15

Runs Reclaim's app in this process under uvicorn (one worker, the same app and
settings as ``reclaim serve``), drives it with the same wrk script as the ``http``
section (issue 10's mix by default: follow-ups and notes over 300 submitted cases;
``--mix realistic`` for the other), and samples every thread's stack every few
milliseconds (``sys._current_frames``): cProfile sees only one thread, and the work
here is spread over the event loop, the thread pool and any background threads
(group commit, a store's pool). Prints the load's figures (2xx only, as the
benchmark counts them), then, per thread group, the functions seen most often on
the stack (inclusive) and at the top (exclusive), as shares of the samples.
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_CACHE, free_port, postgres, say
from bench.wrk import run_wrk


def _group(name: str) -> str:
    if name.startswith(("AnyIO worker", "ThreadPoolExecutor", "asyncio_")):
        return "thread pool (routes)"
    if name.startswith("reclaim-writer"):
        return "command writer"
    if "commit" in name.lower():
        return "group commit"
    if name.startswith("MainThread"):
        return "event loop"
    return "other: " + name.split("-")[0]


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.exclusive: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.samples: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="sampler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                group = _group(names.get(ident, "?"))
                self.samples[group] += 1
                seen: set[str] = set()
                top = True
                f: Any = frame
                while f is not None:
                    code = f.f_code
                    where = f"{code.co_filename.split('site-packages/')[-1]}:{code.co_name}"
                    if "/work/" in where:
                        where = where.split("/", 3)[-1]
                    if top:
                        self.exclusive[group][where] += 1
                        top = False
                    if where not in seen:
                        self.inclusive[group][where] += 1
                        seen.add(where)
                    f = f.f_back

    def report(self, top: int = 25) -> str:
        lines = []
        for group, total in self.samples.most_common():
            lines.append(f"\n## {group}: {total} samples")
            lines.append("inclusive (on the stack):")
            for where, n in self.inclusive[group].most_common(top):
                lines.append(f"  {100 * n / total:5.1f}%  {where}")
            lines.append("exclusive (at the top):")
            for where, n in self.exclusive[group].most_common(12):
                lines.append(f"  {100 * n / total:5.1f}%  {where}")
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from api.http.app import create_app
    from bench.__main__ import parse
    from bench.common import project_all
    from bench.sections.http import (
        USER,
        WORKSPACE,
        fresh_store,
        issue_cases,
        issue_script,
        mix_script,
    )
    from infrastructure.store.application import ReclaimApplication

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--mix",
        choices=("issue", "realistic"),
        default="issue",
        help="issue 10's follow-ups and notes (default), or the realistic mix",
    )
    args = parser.parse_args(argv)
    options = parse(["--cache-dir", str(args.cache_dir), "--stores", args.store])
    with postgres(options) if args.store == "postgres" else _none() as pg:
        settings = fresh_store(options, args.store, f"bench_profile_{args.store}", pg)
        app = ReclaimApplication(settings)
        try:
            key, _ = app.keys.create(USER, WORKSPACE, "member")
            if args.mix == "issue":
                cases = issue_cases(app, settings.data_dir)
                warm = issue_script(cases, key, args.clients, "warm-up")
                script = issue_script(cases, key, args.clients, "profiled")
            else:
                warm = mix_script(app, settings.data_dir / "warm-up", key, args.clients)
                script = mix_script(app, settings.data_dir / "profiled", key, args.clients)
            project_all(app)
        finally:
            app.close()
        port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        # uvicorn's loop must run in the main thread for its signal handlers; here it
        # runs in a thread, so name the group by what the thread runs.
        thread.name = "MainThread-uvicorn"
        thread.start()
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        run_wrk(url, warm, clients=args.clients, duration=2)
        sampler = Sampler()
        sampler.start()
        result = run_wrk(url, script, clients=args.clients, duration=args.seconds)
        sampler.stop()
        server.should_exit = True
        thread.join(10)
    say(f"{args.store}, {args.mix} mix, {args.clients} clients, one worker: {result.describe()}")
    print(sampler.report())


class _none:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
