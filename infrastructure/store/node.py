"""One ``reclaim serve`` process: the store's writer, or a follower of it.

``Node`` campaigns for the store's writer lock (``forward.py`` says how the roles work)
every ``POLL_SECONDS``, and checks it still holds it as often. Winning, it becomes the
writer: an empty cache, a ``CommandWriter``, a port for the followers, published in
``reclaim_writer``. Losing the lock (the lock's connection to PostgreSQL was cut), it
becomes a follower again. A writer killed outright frees its lock at once, so another
process is writing within about ``POLL_SECONDS`` (a host that vanishes without closing
its connection: PostgreSQL's keepalives, set on the lock's connection, notice it within
about ``KEEPALIVE_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Hashable
from typing import Any, TypeVar
from uuid import UUID

from anyio import to_thread

from infrastructure.mail.intake import IntakeFollower
from infrastructure.mail.outbox import MailOutbox
from infrastructure.projections.locks import AdvisoryLocks, Locks, locks_for
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.forward import (
    Forwarder,
    Listener,
    new_token,
    node_name,
    run_following,
)
from infrastructure.store.writer import CommandWriter
from infrastructure.webhooks.process import DispatcherProcess

T = TypeVar("T")
log = logging.getLogger("reclaim.node")

POLL_SECONDS = 0.25
#: PostgreSQL's keepalives on the lock's connection: idle, interval, count
KEEPALIVES = (3, 1, 3)
KEEPALIVE_SECONDS = KEEPALIVES[0] + KEEPALIVES[1] * KEEPALIVES[2]
LOCK_NAME = "store-writer"


class Node:
    def __init__(self, store: ReclaimApplication, max_batch: int) -> None:
        self.store = store
        self.settings = store.settings
        self.max_batch = max_batch
        self.name = node_name()
        self.locks: Locks = locks_for(self.settings, [LOCK_NAME])
        if isinstance(self.locks, AdvisoryLocks):
            idle, interval, count = KEEPALIVES
            self.locks.connect["options"] = (
                f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
                f"-c tcp_keepalives_count={count}"
            )
        #: where a follower's saves go (made on the event loop, by ``start``)
        self.forwarder: Forwarder
        #: the command writer while this process is the writer
        self.writer: CommandWriter | None = None
        self._listener: Listener | None = None
        #: the webhook dispatcher's process, run beside the writer only (one per store)
        self.dispatcher: DispatcherProcess | None = None
        #: the mail outbox, run beside the writer only (one per store)
        self.outbox: MailOutbox | None = None
        #: the IMAP intake, run beside the writer only, when a mailbox is configured
        self.intake: IntakeFollower | None = None
        self._campaign: asyncio.Task[None] | None = None
        self._changing = asyncio.Lock()

    @property
    def is_writer(self) -> bool:
        return self.writer is not None

    async def start(self) -> None:
        """Campaign once now (a lone process starts as the writer), then every poll."""
        self.forwarder = Forwarder(self.store.registry, asyncio.get_running_loop())
        self.store.follow(self.forwarder)
        await self._poll()
        self._campaign = asyncio.get_running_loop().create_task(self._campaign_loop())

    async def stop(self) -> None:
        if self._campaign is not None:
            self._campaign.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._campaign
        await self._step_down()
        await to_thread.run_sync(self.locks.release)
        await self.forwarder.aclose()

    async def run(self, command: Callable[[], T], *, key: Hashable | None = None) -> T:
        """Run a command: on this process's writer, or (a follower) on the event loop,
        its save forwarded to the writer and awaited there (``run_following``)."""
        writer = self.writer
        if writer is not None:
            return await writer.run(command, key=key)
        return await run_following(command)

    async def _campaign_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self._poll()
            except Exception:  # noqa: BLE001 - the next poll tries again
                log.exception("the writer election failed a round")

    async def _poll(self) -> None:
        async with self._changing:
            if self.writer is not None:
                try:
                    await to_thread.run_sync(self.locks.check)
                except Exception as exc:  # noqa: BLE001 - any failure means the lock may be gone
                    log.warning("lost the writer lock (%s): following again", exc)
                    await self._step_down()
                    await to_thread.run_sync(self.locks.release)
                    return
                await self._keep_dispatching()
                return
            try:
                won = await to_thread.run_sync(self.locks.try_acquire)
            except Exception as exc:  # noqa: BLE001 - the store is down: try again later
                log.warning("could not campaign for the writer lock: %s", exc)
                await to_thread.run_sync(self.locks.release)
                return
            if won:
                await self._take_over()

    async def _take_over(self) -> None:
        store = self.store
        store.follow(None)
        self.writer = CommandWriter(store.committer, max_batch=self.max_batch)
        token = new_token()
        writer = self.writer

        async def run_save(message: dict[str, Any]) -> Any:
            # keyed by the case like the writer's own commands: one per case in a round
            case_id = UUID(hex=message["case"])
            return await writer.run(lambda: store.save_forwarded(message), key=case_id)

        self._listener = Listener(run_save, token)
        host = self.settings.node_host
        port = await self._listener.start(host, self.settings.node_port)
        address = f"{self.settings.node_advertise or _advertised(host)}:{port}"
        await to_thread.run_sync(store.registry.publish, self.name, address, token)
        if self.settings.webhooks_dispatch:
            self.dispatcher = DispatcherProcess(self.settings)
            await self._keep_dispatching()
        self.outbox = MailOutbox(store)
        self.outbox.start()
        if self.settings.imap_url:
            self.intake = IntakeFollower(store)
            self.intake.start()
        log.info("this process (%s) is the store's writer, at %s", self.name, address)

    async def _keep_dispatching(self) -> None:
        """Start the dispatcher's process once an endpoint is live, and again if it died
        (a store that never had one is spared the process)."""
        dispatcher = self.dispatcher
        if dispatcher is None:
            return
        try:
            if dispatcher.pid is None and not await to_thread.run_sync(
                self.store.webhooks.any_live
            ):
                return
            dispatcher.keep_running()
        except Exception as exc:  # noqa: BLE001 - the store or the host: next poll tries again
            log.warning("could not start the webhook dispatcher: %s", exc)

    async def _step_down(self) -> None:
        writer, listener, dispatcher = self.writer, self._listener, self.dispatcher
        self.writer, self._listener, self.dispatcher = None, None, None
        outbox, self.outbox = self.outbox, None
        intake, self.intake = self.intake, None
        if intake is not None:
            await intake.aclose()
        if outbox is not None:
            await outbox.aclose()
        if dispatcher is not None:
            await to_thread.run_sync(dispatcher.stop)
        self.store.follow(self.forwarder)
        if listener is not None:
            await listener.stop()
        if writer is not None:
            await writer.aclose()


def _advertised(host: str) -> str:
    """The address followers reach a listener on ``host`` by."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - what it listens on, not a choice
        return socket.gethostname()
    return host
