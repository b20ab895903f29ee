"""The store's writer takes no new HTTP connections while other workers share its port.

Every save goes through the writer's process, and its one GIL is shared by its own
HTTP requests: serving its share of them made it the whole server's limit (BENCHMARKS.md,
the workers section). So a worker of ``reclaim serve --workers N`` (N > 1) that starts as the
writer does not accept connections on the shared socket: the kernel hands every one to
the other workers, which forward their saves to it. A worker that becomes the writer
later (the writer died) keeps listening: its siblings may be restarting, and new
connections must not wait for them. A writer that stops being it listens again. A lone
worker (N = 1, or one process a host) always listens.

uvicorn makes its listeners after the app's lifespan has started, in ``Server.startup``,
and keeps them on the server; ``remember_server`` wraps that method (in the worker
processes of ``reclaim serve`` only) so that they can be found.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn

log = logging.getLogger("reclaim.listening")

#: this worker's uvicorn server, once its startup has made its listeners
_server: Any = None
#: whether this process is the store's writer (the node says so as it changes)
_writing = False
#: duplicates of the listeners' sockets while they are closed, to listen on again
_paused: list[socket.socket] = []


def remember_server() -> None:
    """Wrap ``uvicorn.Server.startup`` so that its listeners can be paused (once)."""
    if getattr(uvicorn.Server.startup, "_reclaim", False):
        return
    original = uvicorn.Server.startup

    async def startup(self: Any, sockets: Any = None) -> None:
        global _server
        await original(self, sockets)
        _server = self
        if _writing and self.config.workers > 1:
            _pause(self)

    startup._reclaim = True  # type: ignore[attr-defined]
    uvicorn.Server.startup = startup  # type: ignore[method-assign]


def writing(now: bool) -> None:
    """The node's role changed. Before the server listens, a writer is noted (the
    listeners are then paused as they are made); after, a follower that was paused
    listens again."""
    global _writing
    _writing = now
    if not now and _paused and _server is not None:
        asyncio.get_running_loop().create_task(_listen_again(_server))


def _pause(server: Any) -> None:
    for listener in server.servers:
        for sock in listener.sockets or ():
            _paused.append(sock.dup())
        listener.close()
    log.info("the store's writer takes no new connections; the other workers do")


async def _listen_again(server: Any) -> None:
    loop = asyncio.get_running_loop()
    config = server.config

    def protocol() -> asyncio.Protocol:
        return config.http_protocol_class(  # type: ignore[no-any-return]
            config=config, server_state=server.server_state, app_state=server.lifespan.state
        )

    socks, _paused[:] = list(_paused), []
    server.servers = [
        await loop.create_server(protocol, sock=sock, backlog=config.backlog) for sock in socks
    ]
    log.info("following again: this worker takes connections again")
