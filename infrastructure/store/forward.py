"""One writer per store: who it is, and how every other process hands it its saves.

Every ``reclaim serve`` process (each worker, on any host) campaigns to be the store's
writer by taking one lock: on PostgreSQL a session advisory lock on a connection of its
own, which the server lets go the moment that connection dies; on SQLite an ``flock``
beside the database file, which the kernel lets go when the process dies
(``projections/locks.py``). The writer runs its own commands on its ``CommandWriter``
(its aggregate cache, its batches, the audit log's next link) and listens on a TCP port
that it publishes, with a token made for this term, in the ``reclaim_writer`` row.

Every other process (a follower) runs a command up to its save itself: it reads the case
from the store, checks access and the version, acts, and makes the answer. Then it
forwards the save (``Forwarder.save``): the new events as the store will keep them, and
the command's idempotency record. The writer folds them onto its copy of the case, which
must be the version they follow, and saves them in its next batch. So the writer does
only what must happen in one place; parsing, authentication, the domain's checks and the
answer are spread over every process.

A save the writer refused is a conflict: the command reads the case again and retries,
as it would after losing a race. A save sent to a writer that died before it answered is
``WriterUnavailable`` (503 with Retry-After): it may or may not have been recorded, and a
retry under the same Idempotency-Key is recorded once. A save that finds no writer waits
for the next one up to ``WAIT_SECONDS`` before it is sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import logging
import os
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import greenlet
from eventsourcing.persistence import IntegrityError, StoredEvent

from infrastructure.store.database import Database
from infrastructure.store.idempotency import IdempotencyRecord

T = TypeVar("T")
log = logging.getLogger("reclaim.forward")

#: how long a save waits for a writer (one being elected after the last one died)
WAIT_SECONDS = 5.0
#: how often a follower asks again who the writer is while it waits for one
LOOKUP_SECONDS = 0.05
_LENGTH = struct.Struct(">I")
#: the largest frame either side accepts (a save of many events with a long answer)
MAX_FRAME = 64 * 1024 * 1024

CREATE_STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS reclaim_writer (
        id INTEGER PRIMARY KEY,
        node TEXT NOT NULL,
        address TEXT NOT NULL,
        token TEXT NOT NULL,
        since TEXT NOT NULL
    )""",
]


class WriterUnavailable(Exception):
    """No writer took the save: none was elected in time, or it died before it answered
    (the save may have been recorded: retry under the same Idempotency-Key)."""


class Registry:
    """The ``reclaim_writer`` row: the writer's address and this term's token."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def publish(self, node: str, address: str, token: str) -> None:
        since = datetime.now(UTC).isoformat()
        self.database.execute(
            "INSERT INTO reclaim_writer (id, node, address, token, since) "
            "VALUES (1, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET node = excluded.node, "
            "address = excluded.address, token = excluded.token, since = excluded.since",
            (node, address, token, since),
        )

    def current(self) -> dict[str, Any] | None:
        return self.database.fetchone("SELECT * FROM reclaim_writer WHERE id = 1")


# --- the wire: a 4-byte length, then JSON ----------------------------------------------------
def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    return _LENGTH.pack(len(data)) + data


def encode_save(
    case_id: UUID, stored: list[StoredEvent], idempotency: IdempotencyRecord | None
) -> dict[str, Any]:
    return {
        "case": case_id.hex,
        "events": [
            [e.topic, e.originator_version, base64.b64encode(e.state).decode()] for e in stored
        ],
        "idempotency": None if idempotency is None else asdict(idempotency),
    }


def decode_save(
    message: dict[str, Any],
) -> tuple[UUID, list[StoredEvent], IdempotencyRecord | None]:
    case_id = UUID(hex=message["case"])
    stored = [
        StoredEvent(case_id, int(version), str(topic), base64.b64decode(state))
        for topic, version, state in message["events"]
    ]
    record = message.get("idempotency")
    return case_id, stored, None if record is None else IdempotencyRecord(**record)


# --- the follower's side ---------------------------------------------------------------------
class Forwarder:
    """Sends this process's saves to the writer over one connection, made on this
    process's event loop to whichever writer the registry names and shared by every
    save (each answer matched to its save)."""

    def __init__(
        self,
        registry: Registry,
        loop: asyncio.AbstractEventLoop,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self.registry = registry
        self.loop = loop
        self.wait_seconds = wait_seconds
        self._channel: _Channel | None = None
        self._opening = asyncio.Lock()
        #: saves forwarded, for /metrics and the benchmarks
        self.forwarded = 0

    def save(self, message: dict[str, Any]) -> int | None:
        """Forward one save; its position in the log. IntegrityError: the writer refused
        it (a conflict); WriterUnavailable: see the module's docs. A command run on the
        event loop (``Following``) awaits it there; another thread waits for it."""
        current = greenlet.getcurrent()
        if isinstance(current, Following):
            answer = current.parent.switch(self._channel_save(message))
        else:
            if self.loop.is_running() and _on_loop_thread(self.loop):
                raise RuntimeError("a save on the event loop must run in run_following")
            saving = asyncio.run_coroutine_threadsafe(self._channel_save(message), self.loop)
            answer = saving.result()
        self.forwarded += 1
        if "conflict" in answer:
            raise IntegrityError(answer["conflict"])
        if "error" in answer:
            raise WriterUnavailable(answer["error"])
        position = answer.get("position")
        return None if position is None else int(position)

    async def _channel_save(self, message: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel
        if channel is None or channel.closed:
            async with self._opening:
                channel = self._channel
                if channel is None or channel.closed:
                    channel = self._channel = await self._open_channel()
        return await channel.request({"op": "save", **message})

    async def _open_channel(self) -> _Channel:
        """A connection to the writer, waiting up to ``wait_seconds`` for one to be
        elected and reachable."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            row = await asyncio.to_thread(self.registry.current)
            if row is not None:
                try:
                    return await _Channel.open(row["address"], row["token"])
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    pass
            if time.monotonic() >= deadline:
                raise WriterUnavailable("no writer is reachable; try again shortly")
            await asyncio.sleep(LOOKUP_SECONDS)

    async def aclose(self) -> None:
        if self._channel is not None:
            self._channel.close()


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Following(greenlet.greenlet):  # type: ignore[misc]
    """A follower's command run on the event loop (``run_following``): blocking code,
    whose waits for the writer switch back to the loop and are awaited there."""


async def run_following(command: Callable[[], T]) -> T:
    """Run ``command`` in a ``Following`` greenlet on this loop: each awaitable it hands
    back (``Forwarder.save``, ``pause``) is awaited here and its outcome sent back in."""
    task = Following(command)
    step = task.switch()
    while not task.dead:
        try:
            outcome = await step
        except BaseException as exc:  # noqa: BLE001 - raised inside the command
            step = task.throw(exc)
        else:
            step = task.switch(outcome)
    return step  # type: ignore[no-any-return]


def pause(seconds: float) -> None:
    """Sleep: on the event loop in a ``Following`` command, without holding up the loop."""
    current = greenlet.getcurrent()
    if isinstance(current, Following):
        current.parent.switch(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


class _Channel:
    """One connection to the writer carrying many saves at once, each answer matched to
    its save by id. Lost, every save still waiting on it is WriterUnavailable."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)
        self.closed = False
        self.reading = asyncio.get_running_loop().create_task(self._read_answers())

    @classmethod
    async def open(cls, address: str, token: str) -> _Channel:
        host, _, port = address.rpartition(":")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer.write(_frame({"op": "hello", "token": token}))
        if not (await _read(reader)).get("ok"):
            writer.close()
            raise ConnectionError("the writer refused the token")
        return cls(reader, writer)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.closed:
            raise WriterUnavailable("the writer went away")
        number = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[number] = future
        self.writer.write(_frame({**message, "id": number}))
        return await future

    async def _read_answers(self) -> None:
        try:
            while True:
                answer = await _read(self.reader)
                future = self.waiting.pop(answer.get("id", 0), None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self._fail(f"the writer went away during the save: {exc!r}")
        finally:
            self._fail("the writer's connection closed")

    def _fail(self, why: str) -> None:
        self.closed = True
        waiting, self.waiting = self.waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(WriterUnavailable(why))
        self.writer.close()

    def close(self) -> None:
        self.reading.cancel()
        self._fail("closed")


# --- the writer's side -----------------------------------------------------------------------
#: runs one forwarded save on the writer: its position, or raises (IntegrityError: refused)
SaveRunner = Callable[[dict[str, Any]], Any]


class Listener:
    """The writer's port for its followers' saves (on the event loop)."""

    def __init__(self, run_save: SaveRunner, token: str) -> None:
        self.run_save = run_save
        self.token = token
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections.add(writer)
        try:
            hello = await _read(reader)
            if not hmac.compare_digest(str(hello.get("token", "")), self.token):
                writer.write(_frame({"ok": False}))
                return
            writer.write(_frame({"ok": True}))
            answering: set[asyncio.Task[None]] = set()
            while True:  # the saves of one connection are answered as each is written
                message = await _read(reader)
                task = asyncio.get_running_loop().create_task(self._answer(message, writer))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _answer(self, message: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        answer: dict[str, Any]
        try:
            answer = {"position": await self.run_save(message)}
        except IntegrityError as exc:
            answer = {"conflict": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the follower answers 503
            log.warning("a forwarded save failed: %s", exc)
            answer = {"error": f"the writer could not save: {type(exc).__name__}"}
        if not writer.is_closing():
            writer.write(_frame({"id": message.get("id", 0), **answer}))


async def _read(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if size > MAX_FRAME:
        raise ConnectionError("frame too large")
    result: dict[str, Any] = json.loads(await reader.readexactly(size))
    return result


def new_token() -> str:
    return secrets.token_hex(32)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
