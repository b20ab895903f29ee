"""A follower run beside the store's writer: one task that does a round of work, then
waits for the next poll or a wake-up, until it is stopped (``store/node.py`` starts one
when its process wins the writer's lock and stops it when it loses it). A round that
fails is logged and tried again at the next poll: the store or a server may be back.

The webhook dispatcher (which also runs deliveries in flight between rounds) and the
mail outbox are built on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging


class Follower:
    #: the logger a failed round is reported to
    log = logging.getLogger("reclaim.follower")

    #: the longest ``aclose`` waits for a round in progress before it cancels it
    STOP_SECONDS = 15.0

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def wake(self) -> None:
        """Look for work now (from any thread)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    async def aclose(self) -> None:
        """Stop after the round in progress. A round is not cancelled mid-way: its store
        calls run on worker threads, which a cancelled task would leave running against
        a store about to be closed (seen: a segmentation fault in SQLite when the server
        shut down under a dispatcher's read)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.STOP_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def round(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the store may be back next round
                self.log.exception("a round of %s failed", type(self).__name__)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
