"""(g) Peak memory: the server under the command mix, and ``reclaim replay`` by log size.

The server's figure comes from the ``http`` section (VmHWM of the uvicorn parent
and each worker, read at the end of the runs). The replay runs ``reclaim replay``
as a child process on the two largest generated logs (100k and 1M events; 1k and
10k with --quick) of each store (``--replay-store`` picks one) and takes its peak
RSS from ``os.wait4`` (the kernel's ``ru_maxrss`` for that one child).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any

from bench import datasets
from bench.common import VENV_BIN, BenchPostgres, Options, SectionResult, say
from bench.servers import settings_env

TITLE = "(g) Peak memory"
COMMAND = "python3 dev.py bench --sections http,memory"


def replay(settings: Any) -> dict[str, Any]:
    env = settings_env(settings)
    env["COLUMNS"] = "100"
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(VENV_BIN / "reclaim"), "replay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"reclaim replay failed ({process.returncode}): {output[-1500:]}")
    match = re.search(r"replayed ([\d,]+) events", output)
    return {
        "events": int(match.group(1).replace(",", "")) if match else None,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def run(options: Options, context: dict[str, Any]) -> SectionResult:
    result = SectionResult("memory", TITLE, COMMAND)
    pg: BenchPostgres | None = context.get("pg")  # type: ignore[assignment]
    server = context.get("server_memory") or {}
    for store, memory in server.items():  # type: ignore[union-attr]
        name = options.store_label(store)
        result.add(
            f"server on {name} under the mix: peak RSS, all {memory['processes']} processes",
            memory["peak_sum_mib"],
            "MiB",
            note="per process: " + ", ".join(f"{m:.0f}" for m in memory["peak_each_mib"]),
        )
    if not server:
        result.detail.append("The server's memory comes from the `http` section, not run here.")
    stores = [s for s in options.stores if options.replay_store in ("both", s)]
    labels = list(options.sizes)[-2:]  # the two largest logs
    replays: dict[str, dict[str, Any]] = {}
    for store, label in ((s, x) for s in stores for x in labels):
        dataset = datasets.ensure(options, (store,), label, pg)[store]
        figures = replay(dataset.settings)
        figures["events"] = figures["events"] or dataset.events
        replays[f"{store}_{label}"] = {**figures, "log_events": dataset.events}
        rate = figures["events"] / figures["seconds"] if figures["seconds"] else 0
        say(
            f"  reclaim replay, {dataset.events:,} events on {store}: peak RSS "
            f"{figures['peak_rss_mib']:.0f} MiB, {figures['seconds']:.0f}s ({rate:,.0f} events/s)"
        )
        result.add(
            f"`reclaim replay` of {dataset.events:,} events on {options.store_label(store)}: "
            "peak RSS",
            figures["peak_rss_mib"],
            "MiB",
            note=f"{figures['seconds']:.0f} s, {rate:,.0f} events/s (process start included)",
        )
    context["replay"] = replays
    return result
