"""A real IMAP server for the intake tests: ``pymap`` (its in-memory ``dict`` backend) run
as its own process on a loopback port, STARTTLS offered with a certificate made for the
test (its PEM given to Reclaim as ``RECLAIM_IMAP_CA_FILE``), one user with a password.

Messages are put in the mailbox the way a mail server delivers them to a folder: with
IMAP ``APPEND``, over the same TLS connection and login Reclaim uses. ``stop`` and
``start`` take the server down and bring it back (its mailbox is in memory: a restart
empties it, so the tests that restart it fill it afterwards).
"""

from __future__ import annotations

import asyncio
import imaplib
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.live import free_port
from tests.support.smtp import make_certificate

USER, PASSWORD = "reclaim-inbox", "imap-pa55:w/rd"


def _pymap() -> list[str]:
    found = shutil.which("pymap", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "pymap"]


class IMAPServer:
    def __init__(self, folder: Path, *, tls: bool = True) -> None:
        self.folder = folder
        #: False: the server offers no STARTTLS (Reclaim must not log in)
        self.tls = tls
        self.cert, self.key = make_certificate(folder)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, password: str = PASSWORD, folder: str = "INBOX") -> str:
        from urllib.parse import quote

        return f"imap://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}/{folder}"

    def settings(self, workspace: str = "home", **overrides: Any) -> dict[str, Any]:
        return {
            "imap_url": self.url(),
            "imap_workspace": workspace,
            "imap_ca_file": self.cert,
            **overrides,
        }

    def env(self, workspace: str = "home") -> dict[str, str]:
        """Reclaim's settings for this server (as the environment names them)."""
        return {
            "RECLAIM_IMAP_URL": self.url(),
            "RECLAIM_IMAP_WORKSPACE": workspace,
            "RECLAIM_IMAP_CA_FILE": str(self.cert),
        }

    def start(self) -> IMAPServer:
        log = (self.folder / "pymap.log").open("ab")
        self.process = subprocess.Popen(
            [
                *_pymap(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *(["--cert", str(self.cert), "--key", str(self.key)] if self.tls else ["--no-tls"]),
                "dict",
                "--demo-user",
                USER,
                "--demo-password",
                PASSWORD,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pymap did not start") from None
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    @contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.starttls(ssl.create_default_context(cafile=str(self.cert)))
        client.login(USER, PASSWORD)
        try:
            yield client
        finally:
            client.logout()

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Put messages in the mailbox, in order (each gets the next UID)."""
        with self.client() as client:
            for raw in messages:
                kind, answer = client.append(folder, None, None, raw)
                assert kind == "OK", answer

    def flags(self, folder: str = "INBOX") -> list[bytes]:
        """Each message's flags (reading must set none)."""
        with self.client() as client:
            client.select(folder, readonly=True)
            kind, data = client.uid("FETCH", "1:*", "(FLAGS)")
            return [d for d in data if isinstance(d, bytes)]


@contextmanager
def tls_front(server: IMAPServer) -> Iterator[int]:
    """``imaps://`` in front of a server started without TLS: a listener on a free
    loopback port that does TLS from the first byte (the server's certificate) and pipes
    each connection to the server. pymap offers only STARTTLS; mail servers offer both.
    Yields the port."""
    port = free_port()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server.cert, server.key)
    loop = asyncio.new_event_loop()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_connection("127.0.0.1", server.port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, inner_writer), pipe(inner_reader, writer))

    listening = loop.run_until_complete(
        asyncio.start_server(handle, "127.0.0.1", port, ssl=context)
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(listening.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@contextmanager
def imap_server(folder: Path, *, tls: bool = True) -> Iterator[IMAPServer]:
    server = IMAPServer(folder, tls=tls).start()
    try:
        yield server
    finally:
        server.stop()
