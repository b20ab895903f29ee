"""The webhook dispatcher in a process of its own, at a lower CPU priority.

The writer's node (``store/node.py``) starts it once the store has an endpoint that is
not disabled, and stops it when the node stops being the writer. Apart from the writer's
process it does not take the writer's interpreter lock, and at ``webhook_nice`` the
kernel gives the commands the cores first: a busy writer's throughput is not spent on
deliveries, and the backlog goes out when the load eases (BENCHMARKS.md, section (k)).

It holds a lock of its own (one dispatcher per store, even while an old one is
stopping), and dies with the node that started it: ``kill -9`` of the writer takes it
along (``PR_SET_PDEATHSIG`` on Linux, and a check of its parent each second elsewhere),
and ``kill -9`` of the dispatcher alone is noticed at the node's next poll, which starts
another. Either way the next dispatcher sends what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

from infrastructure.settings import Settings

log = logging.getLogger("reclaim.webhooks")

LOCK_NAME = "webhook-dispatcher"
#: the least time between two starts (a dispatcher that dies at once is not restarted
#: in a tight loop)
RESTART_SECONDS = 2.0
#: how long a stopping dispatcher may take before it is killed (a round in progress
#: finishes first: ``Follower.STOP_SECONDS``)
STOP_SECONDS = 20.0


class DispatcherProcess:
    """The node's handle on its dispatcher process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def keep_running(self) -> None:
        """Start it if it is not running (called at each of the node's polls)."""
        process = self._process
        if process is not None and process.poll() is None:
            return
        if time.monotonic() - self._started_at < RESTART_SECONDS:
            return
        if process is not None:
            log.warning(
                "the webhook dispatcher stopped (exit %s): starting another", process.returncode
            )
        self._started_at = time.monotonic()
        # started from the event loop's thread, which lives as long as the node: the
        # kernel's parent-death signal follows the thread that started a child
        self._process = subprocess.Popen(
            [sys.executable, "-m", "infrastructure.webhooks.process"],
            stdin=subprocess.PIPE,
        )
        assert self._process.stdin is not None
        self._process.stdin.write(self.settings.model_dump_json().encode() + b"\n")
        self._process.stdin.close()

    def wake(self) -> None:
        """Look for due deliveries now (a redelivery)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGUSR1)

    def stop(self) -> None:
        """Stop it (blocking: run it off the event loop): the round in progress is
        finished and outcomes in hand written; deliveries in flight go again later."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the thread that started it ends."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def main() -> None:
    parent = os.getppid()
    _die_with_parent()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.model_validate_json(sys.stdin.buffer.readline())
    os.nice(settings.webhook_nice)
    idle = settings.webhook_idle and hasattr(os, "SCHED_IDLE")
    if idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    from infrastructure.projections.locks import locks_for

    locks = locks_for(settings, [LOCK_NAME])
    try:
        while not locks.try_acquire():  # (a dispatcher stopping elsewhere still holds it)
            if os.getppid() != parent:
                return
            time.sleep(0.1)
        asyncio.run(_run(settings, parent, idle))
    finally:
        locks.release()


async def _run(settings: Settings, parent: int, idle: bool) -> None:
    from infrastructure.store.application import ReclaimApplication
    from infrastructure.webhooks.dispatcher import Dispatcher

    app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
    # what it writes (deliveries, outcomes, its position) may be written again: its
    # commits need not wait for the disk, nor make the commands' wait behind them
    app.database.relax_commits()
    try:
        dispatcher = Dispatcher(app.database, app.webhooks, settings)
        dispatcher.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        loop.add_signal_handler(signal.SIGUSR1, dispatcher.wake)
        log.info(
            "webhook dispatcher running (pid %s, nice %s, %s)",
            os.getpid(),
            os.nice(0),
            "SCHED_IDLE" if idle else "not SCHED_IDLE",
        )
        while not stopping.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await stopping.wait()
        await dispatcher.aclose()
    finally:
        app.close()


if __name__ == "__main__":
    main()
