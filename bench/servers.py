"""Servers under test, each a real process on a free loopback port.

Reclaim runs as ``reclaim serve --workers N`` (the documented command); the bare
endpoint runs under the same uvicorn with the same worker count and defaults
(``loop=auto``/``http=auto``: uvloop and httptools when installed, as they are with
``uvicorn[standard]``) and uvicorn's access log off, as ``reclaim serve`` has it
(Reclaim logs each request itself; that is part of what it costs). Their output
goes to a file. A server is ready when each of its workers has logged uvicorn's
"Application startup complete.": the first worker answers long before the last has
imported the app on a busy machine, and the connections a load run makes before then
all go to the workers already up. Reclaim's server gets only the store's settings
(every other ``RECLAIM_`` variable of the caller's environment is left out), so it
runs as documented, with its defaults; the one exception is personal data sealing,
which a store's settings may turn off (section ``crypto`` measures what it costs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, VENV_BIN, free_port, say, tree_memory, wait_for_http
from infrastructure.settings import Settings


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    samples: list[float] = field(default_factory=list)
    #: time.monotonic() when the process was started
    started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def memory(self) -> dict[str, Any]:
        return tree_memory(self.process.pid)


def settings_env(settings: Settings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RECLAIM_") and not k.startswith("POSTGRES_")
    }
    env["RECLAIM_DATA_DIR"] = str(settings.data_dir)
    if settings.master_key:
        env["RECLAIM_MASTER_KEY"] = settings.master_key
    if settings.database_url:
        env["RECLAIM_DATABASE_URL"] = settings.database_url
    if not settings.personal_data_encryption:  # only the crypto section turns it off
        env["RECLAIM_PERSONAL_DATA_ENCRYPTION"] = "false"
    if settings.webhooks_allow_private:  # the webhooks section's receiver is on this host
        env["RECLAIM_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    env["PYTHONPATH"] = str(ROOT)
    return env


#: what uvicorn logs (at info) when a worker is ready
READY = b"Application startup complete."


def _start(command: list[str], env: dict[str, str], log: Path, port: int, workers: int) -> Server:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - owned by the process
    offset = out.tell()
    started = time.monotonic()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    server = Server(process, port, log, started=started)
    try:
        wait_for_http(port, process)
        _wait_for_workers(server, offset, workers)
    except Exception:
        stop(server)
        raise
    return server


def _wait_for_workers(server: Server, offset: int, workers: int, timeout: float = 120) -> None:
    """Until each of the server's ``workers`` has logged that it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(server.log, "rb") as log:
            log.seek(offset)
            if log.read().count(READY) >= workers:
                return
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}")
        time.sleep(0.1)
    say(f"not every worker of {server.url} said it was ready within {timeout:.0f} s")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


@contextlib.contextmanager
def reclaim(settings: Settings, workers: int, log: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        str(VENV_BIN / "reclaim"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    server = _start(command, settings_env(settings), log, port, workers)
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def bare(workers: int, log: Path) -> Iterator[Server]:
    port = free_port()
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "info",
        "--no-access-log",
        "--proxy-headers",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = _start(command, env, log, port, workers)
    try:
        yield server
    finally:
        stop(server)


@contextlib.contextmanager
def sampling_memory(server: Server, every: float = 0.5) -> Iterator[list[float]]:
    """Sample the server's total RSS (all its processes, MiB) while the block runs."""
    samples: list[float] = []
    stopping = threading.Event()

    def sample() -> None:
        while not stopping.wait(every):
            samples.append(server.memory()["rss_sum_mib"])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stopping.set()
        thread.join()
        time.sleep(0)
