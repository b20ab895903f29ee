"""Reclaim as real processes for the fault tests: a server started and SIGKILLed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infrastructure.settings import Settings
from tests.support.live import free_port
from tests.support.projection_support import cli_env

RECLAIM = str(Path(sys.executable).parent / "reclaim")


class ServerProcess:
    def __init__(self, settings: Settings, *args: str, **env: str) -> None:
        """``args`` go to ``reclaim serve`` (``"--workers", "3"``), ``env`` to its process."""
        self.settings = settings
        self.args = args
        self.env = {**cli_env(settings), **env}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(settings.data_dir) / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [RECLAIM, "serve", "--port", str(self.port), *self.args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing; what was acknowledged must already be safe."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def kill_alone(self) -> None:
        """SIGKILL of the server's own process only (as ``kill -9 PID``): what it started
        must go with it by itself."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def children(self, marker: str) -> list[int]:
        """The server's child processes whose command line holds ``marker``."""
        assert self.process is not None
        return children_of(self.process.pid, marker)

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None


def children_of(pid: int, marker: str) -> list[int]:
    """``pid``'s living child processes whose command line holds ``marker`` (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                if alive(int(child)) and marker in cmdline(int(child)):
                    found.append(int(child))
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
