"""A real HTTP server for tests: uvicorn serving the app on a free loopback port, and a
client per principal of the access matrix."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from api.http.app import create_app
from infrastructure.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app served on a loopback port bound here and handed to uvicorn: a port looked
    up free and bound later could be taken in between (seen once in a full run, with
    other servers starting on the host)."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", limit_concurrency=200
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=20)
    finally:
        sock.close()


class Client(httpx.Client):
    """An HTTP client bound to one API key."""

    def __init__(self, base_url: str, key: str | None, **kwargs: Any) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        super().__init__(base_url=base_url, headers=headers, timeout=30, **kwargs)


class Principals:
    """Keys for everyone the access matrix names, on one store."""

    def __init__(self, base_url: str, keys: dict[str, str]) -> None:
        self.base_url = base_url
        self.keys = keys
        self.clients = {name: Client(base_url, key) for name, key in keys.items()}
        self.clients["anonymous"] = Client(base_url, None)

    def __getitem__(self, name: str):
        return self.clients[name]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


PRINCIPALS = {
    "owner": ("alice", "home", "member"),
    "other_member": ("bob", "home", "member"),
    "auditor": ("carol", "home", "auditor"),
    "admin": ("dana", "home", "admin"),
    "foreign_member": ("erin", "agency", "member"),
    "foreign_auditor": ("frank", "agency", "auditor"),
    "revoked": ("gina", "home", "member"),
}


def api_keys(
    settings: Settings, who: dict[str, tuple[str, str, str]] | None = None
) -> dict[str, str]:
    """An API key for each of ``who`` (default: ``PRINCIPALS``), made in the store."""
    from infrastructure.store.application import ReclaimApplication

    setup = ReclaimApplication(settings)
    try:
        return {name: setup.keys.create(*w)[0] for name, w in (who or PRINCIPALS).items()}
    finally:
        setup.close()


def wait_for(check: Any, timeout: float = 30, what: str = "it") -> Any:
    """``check()``'s first true answer, asked every 50 ms; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)
