"""PostgreSQL's waits handed to the event loop, for the command writer's greenlets.

On PostgreSQL the API's command writer (``store/writer.py``) runs on the event loop's
own thread: each command in a greenlet, up to its save, and each batch's write in one.
Their code is the same blocking code as anywhere else (the library's recorders,
psycopg's cursors, ``pg_batch``); only the waits differ. psycopg drives every exchange
with the server as a generator that says when it would block (``psycopg.generators``)
and a connection's ``wait`` that waits on the socket. ``BridgedConnection.wait``, called
in one of the writer's greenlets on the loop's thread, waits instead by switching back
to the event loop with the socket registered on it; the loop switches back once the
socket is ready. The event loop goes on serving requests meanwhile, and the writer needs
no thread of its own: no lock handed between two threads at every call into libpq
(psycopg lets the GIL go around each one, and with a second thread busy getting it back
took 76 us a statement sent and 133 us a result read; measured) and no cross-thread
wake-up for every command and answer.

Anywhere else (other threads, or the event loop's own code) ``wait`` is psycopg's own.
The same model as SQLAlchemy's asyncio bridge, the other way round: blocking code in a
greenlet on an event loop, its waits made awaits.
"""

from __future__ import annotations

import asyncio
import threading
from time import monotonic
from typing import Any

import greenlet
import psycopg
from psycopg import errors
from psycopg.waiting import Ready, Wait

_BRIDGES: dict[int, LoopBridge] = {}


class LoopBridge:
    """The event loop of this thread, for the greenlets running on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        #: the greenlet the loop runs in: every wait switches back to it
        self.root = greenlet.getcurrent()
        self.thread = threading.get_ident()

    def install(self) -> None:
        _BRIDGES[self.thread] = self

    def uninstall(self) -> None:
        if _BRIDGES.get(self.thread) is self:
            del _BRIDGES[self.thread]

    def wait(self, gen: Any, fileno: int, timeout: float | None = None) -> Any:
        """Run psycopg's generator ``gen`` to its end, parking this greenlet on the loop
        whenever it would block on ``fileno``."""
        deadline = None if timeout is None else monotonic() + timeout
        try:
            state = next(gen)
            while True:
                left = None if deadline is None else max(deadline - monotonic(), 0.0)
                ready = self.park(fileno, state, left)
                if deadline is not None and not ready and monotonic() >= deadline:
                    raise errors._WaitTimeout("wait timeout expired")  # noqa: SLF001
                state = gen.send(ready)
        except StopIteration as stop:
            return stop.value

    def park(self, fileno: int, state: int, timeout: float | None) -> int:
        """Back to the event loop until ``fileno`` is ready as ``state`` asks (or
        ``timeout`` has passed: then ``Ready.NONE``)."""
        me = greenlet.getcurrent()
        loop = self.loop
        woken = False

        def wake(ready: int) -> None:  # on the loop, in its own greenlet
            nonlocal woken
            if not woken:
                woken = True
                me.switch(ready)

        reading, writing = state & Wait.R, state & Wait.W
        if reading:
            loop.add_reader(fileno, wake, Ready.R)
        if writing:
            loop.add_writer(fileno, wake, Ready.W)
        timer = None if timeout is None else loop.call_later(timeout, wake, Ready.NONE)
        try:
            return int(self.root.switch())
        finally:
            if reading:
                loop.remove_reader(fileno)
            if writing:
                loop.remove_writer(fileno)
            if timer is not None:
                timer.cancel()

    def sleep(self, seconds: float) -> None:
        """Back to the event loop for ``seconds``."""
        handle = self.loop.call_later(seconds, greenlet.getcurrent().switch)
        try:
            self.root.switch()
        finally:
            handle.cancel()


def current() -> LoopBridge | None:
    """The bridge to wait through here: on a bridged loop's thread, in a greenlet other
    than the loop's own (None anywhere else)."""
    bridge = _BRIDGES.get(threading.get_ident())
    if bridge is None or greenlet.getcurrent() is bridge.root:
        return None
    return bridge


class BridgedConnection(psycopg.Connection[Any]):
    """psycopg's connection, waiting through the loop in the writer's greenlets."""

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bridge = current()
        if bridge is None:
            return super().wait(gen, interval, timeout)
        return bridge.wait(gen, self.pgconn.socket, timeout)
