"""A real SMTP server for the mail tests: ``aiosmtpd`` on a loopback port, STARTTLS
required (a certificate made for the test, its PEM given to Reclaim as
``RECLAIM_SMTP_CA_FILE``), a login required, every message kept as it arrived.

``mode`` makes it misbehave: ``"ok"``; ``"refuse-login"`` (535 to every login);
``"drop-at-data"`` (the connection cut while the message's data goes out: it may have
arrived, so Reclaim must not send it again); ``"busy"`` (451 to MAIL FROM: try later).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.live import free_port

USER, PASSWORD = "reclaim", "s3cret-pa55"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]


@dataclass
class Handler:
    mode: str = "ok"
    got: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        if self.mode == "busy":
            return "451 4.3.0 try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.mode == "drop-at-data":
            self.got.append(Received(envelope.mail_from, list(envelope.rcpt_tos), b"", True, None))
            server.transport.close()
            return "421 closing"
        auth = session.auth_data
        login = auth.decode() if isinstance(auth, bytes) else None
        self.got.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                server._tls_protocol is not None,  # noqa: SLF001
                login,
            )
        )
        return "250 2.0.0 queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            self.mode != "refuse-login"
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == PASSWORD.encode()
        )
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False, auth_data=USER.encode() if ok else None)

    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.got if r.raw]


class SMTPServer:
    def __init__(self, folder: Path, mode: str = "ok") -> None:
        self.cert, self.key = make_certificate(folder)
        self.handler = Handler(mode)
        self.port = free_port()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def env(self, sender: str = "reclaim@mail.reclaim.test") -> dict[str, str]:
        """Reclaim's settings for this server (as the environment names them)."""
        return {
            "RECLAIM_SMTP_URL": self.url,
            "RECLAIM_MAIL_FROM": sender,
            "RECLAIM_SMTP_CA_FILE": str(self.cert),
        }

    def settings(self, sender: str = "reclaim@mail.reclaim.test") -> dict[str, Any]:
        return {"smtp_url": self.url, "mail_from": sender, "smtp_ca_file": self.cert}

    def start(self) -> SMTPServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self.handler.authenticate,
            auth_required=True,
            auth_require_tls=True,
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.handler.got) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.handler.got)} mails arrived, not {count}")
            time.sleep(0.05)
        return self.handler.messages()


@contextmanager
def smtp_server(folder: Path, mode: str = "ok") -> Iterator[SMTPServer]:
    server = SMTPServer(folder, mode).start()
    try:
        yield server
    finally:
        server.stop()
