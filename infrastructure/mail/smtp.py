"""Sending one message over SMTP, with TLS always: STARTTLS on ``smtp://`` (refused when
the server does not offer it), TLS from the start on ``smtps://``.

``send`` says how far a failed conversation got, because that decides whether the mail
may be tried again: a failure before the message's data went out (the server down or
slow, the login refused, a recipient refused) sent nothing, so it is tried again later;
one while the data was going out may have delivered it, and is never tried again (the
rule that a mail is sent at most once). ``before_data`` runs at that boundary, so the
caller records "sending" in the store first: a process killed there leaves the mark.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: what a failed send means for the mail
NOT_SENT = "not_sent"  # nothing went out: try again later
REFUSED = "refused"  # the server refused it for good (5xx): do not try again
UNCERTAIN = "uncertain"  # cut off while the data went out: it may have arrived


class SendFailed(Exception):
    def __init__(self, outcome: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


@dataclass(frozen=True)
class Server:
    """The SMTP server named by ``RECLAIM_SMTP_URL`` (its password is kept out of repr)."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None
    ca_file: Path | None
    timeout: float

    def __repr__(self) -> str:
        tls = "implicit" if self.implicit_tls else "starttls"
        return f"Server({self.host}:{self.port}, tls={tls})"

    @classmethod
    def from_url(cls, url: str, ca_file: Path | None = None, timeout: float = 20.0) -> Server:
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=ca_file,
            timeout=timeout,
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{error.smtp_code} {text}"[:300]


def send(
    server: Server,
    message: EmailMessage,
    *,
    before_data: Callable[[], None] = lambda: None,
    data: bytes | None = None,
) -> str:
    """Send ``message`` to its To addresses; returns the server's answer to the data.
    ``data``: these bytes rather than ``message``'s (a mail kept as evidence goes out as
    it was kept). Raises ``SendFailed`` with what the failure means for the mail."""
    sender = parseaddr(str(message["From"]))[1]
    recipients = [parseaddr(str(a))[1] for a in message.get_all("To", [])]
    if data is None:
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    try:
        if server.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=server.timeout, context=server.tls_context()
            )
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendFailed(NOT_SENT, f"cannot reach the mail server: {type(exc).__name__}") from None
    with smtp:
        try:
            smtp.ehlo()
            if not server.implicit_tls:
                if not smtp.has_extn("starttls"):
                    raise SendFailed(NOT_SENT, "the mail server does not offer STARTTLS")
                smtp.starttls(context=server.tls_context())
                smtp.ehlo()
            if server.username:
                smtp.login(server.username, server.password or "")
            code, answer = smtp.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, answer, sender)
            for rcpt in recipients:
                code, answer = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, answer)})
        except SendFailed:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailed(
                NOT_SENT, f"the mail server refused the login: {exc.smtp_code}"
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            outcome = REFUSED if 500 <= code < 600 else NOT_SENT
            raise SendFailed(outcome, f"the mail server refused the recipient: {code}") from None
        except smtplib.SMTPResponseException as exc:
            outcome = REFUSED if 500 <= exc.smtp_code < 600 else NOT_SENT
            raise SendFailed(outcome, f"the mail server answered {_reply(exc)}") from None
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise SendFailed(NOT_SENT, f"the mail server failed: {type(exc).__name__}") from None
        before_data()
        try:
            code, answer = smtp.data(data)
        except smtplib.SMTPDataError as exc:
            # the server read the data and said no: nothing was delivered
            outcome = REFUSED if 500 <= exc.smtp_code < 600 else NOT_SENT
            raise SendFailed(outcome, f"the mail server answered {_reply(exc)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(
                UNCERTAIN, f"cut off while the message went out: {type(exc).__name__}"
            ) from None
        with_text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
        return f"{code} {with_text}"[:300]
