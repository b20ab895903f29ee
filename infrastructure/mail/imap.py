"""Reading one mailbox folder over IMAP (the standard library's ``imaplib``), with TLS
always: STARTTLS on ``imap://`` (refused when the server does not offer it), TLS from
the start on ``imaps://``.

The folder is opened read-only (``EXAMINE``) and messages are fetched with
``BODY.PEEK[]``: Reading never changes the mailbox (no flag set, nothing moved or
deleted), so the person who owns it sees it as they left it. What has been read is
kept in the store instead, by the folder's ``UIDVALIDITY`` and each message's UID.

Every failure is a ``ReadFailed`` whose detail names what went wrong but never the
server's address or credentials (they come from the environment only).
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit


class ReadFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Mailbox:
    """The mailbox named by ``RECLAIM_IMAP_URL`` (its password is kept out of repr)."""

    host: str
    port: int
    implicit_tls: bool
    username: str
    password: str
    folder: str
    ca_file: Path | None
    timeout: float

    def __repr__(self) -> str:
        tls = "implicit" if self.implicit_tls else "starttls"
        return f"Mailbox(tls={tls}, folder={self.folder!r})"

    @classmethod
    def from_url(cls, url: str, ca_file: Path | None = None, timeout: float = 20.0) -> Mailbox:
        parts = urlsplit(url)
        implicit = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (993 if implicit else 143),
            implicit_tls=implicit,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            folder=unquote(parts.path.strip("/")) or "INBOX",
            ca_file=ca_file,
            timeout=timeout,
        )

    @property
    def source(self) -> str:
        """What the store keys this mailbox's messages by: its user, server and folder
        (never the password)."""
        return f"{self.username}@{self.host}:{self.port}/{self.folder}"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(exc: BaseException) -> str:
    """What went wrong, in words that hold no address or credential."""
    if isinstance(exc, ReadFailed):
        return exc.detail
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return f"TLS failed: {getattr(exc, 'reason', None) or type(exc).__name__}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "the IMAP server did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "the IMAP server refused the connection (down?)"
    if isinstance(exc, OSError):
        return f"the IMAP server cannot be reached: {exc.strerror or type(exc).__name__}"
    if isinstance(exc, imaplib.IMAP4.error):
        text = str(exc)
        return f"the IMAP server answered: {text[:200]}"
    return f"reading the mailbox failed: {type(exc).__name__}"


class Session:
    """An open, logged-in connection with the folder selected read-only."""

    def __init__(self, client: imaplib.IMAP4, uidvalidity: int) -> None:
        self.client = client
        self.uidvalidity = uidvalidity

    def uids(self) -> list[int]:
        try:
            kind, data = self.client.uid("SEARCH", "ALL")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ReadFailed(_describe(exc)) from None
        if kind != "OK":
            raise ReadFailed(f"the IMAP server would not list the folder: {kind}")
        return sorted(int(u) for u in (data[0] or b"").split())

    def fetch(self, uid: int) -> bytes | None:
        """The message exactly as stored (None: it is gone since it was listed)."""
        try:
            kind, data = self.client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ReadFailed(_describe(exc)) from None
        if kind != "OK":
            raise ReadFailed(f"the IMAP server would not give message {uid}: {kind}")
        for item in data:
            if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], bytes):
                return item[1]
        return None


_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


@contextmanager
def open_folder(mailbox: Mailbox) -> Iterator[Session]:
    """Connect, log in, examine the folder; ``ReadFailed`` on any failure."""
    client: imaplib.IMAP4 | None = None
    try:
        try:
            if mailbox.implicit_tls:
                client = imaplib.IMAP4_SSL(
                    mailbox.host,
                    mailbox.port,
                    ssl_context=mailbox.tls_context(),
                    timeout=mailbox.timeout,
                )
            else:
                client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=mailbox.timeout)
                if "STARTTLS" not in client.capabilities:
                    raise ReadFailed("the IMAP server does not offer STARTTLS: not logging in")
                client.starttls(mailbox.tls_context())
            try:
                client.login(mailbox.username, mailbox.password)
            except imaplib.IMAP4.error:
                raise ReadFailed("the IMAP server refused the login") from None
            kind, _ = client.select(_quoted(mailbox.folder), readonly=True)
            if kind != "OK":
                raise ReadFailed("the IMAP server has no such folder, or would not open it")
            found = _UIDVALIDITY.search(b" ".join(client.untagged_responses.get("OK", [])))
            validity = client.untagged_responses.get("UIDVALIDITY", [b"0"])[-1]
            uidvalidity = int(found.group(1)) if found else int(validity or 0)
        except Exception as exc:  # noqa: BLE001 - each failure is told in words of our own
            raise ReadFailed(_describe(exc)) from None
        yield Session(client, uidvalidity)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                client.logout()
