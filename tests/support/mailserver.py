"""``python3 dev.py mailserver``: a local mail setup for trying mail both ways by hand.

Starts the suite's own SMTP server (``aiosmtpd``, ``tests/support/smtp.py``) and IMAP
server (``pymap``, ``tests/support/imap.py``) on loopback ports, each with TLS and a
login, and prints the ``RECLAIM_*`` settings that point a ``reclaim serve`` at them
(also written to ``reclaim-data/mailserver/env.sh``). It then plays the platform: each
mail Reclaim sends about a case (a sent draft, its ``Message-ID`` made by ``refs.py``)
is answered a few seconds later by a reply in the IMAP mailbox, from the platform's
support address and quoting it, which the IMAP intake then files on the case. Digests
are shown and not answered. Ctrl-C stops both servers (their mail is kept in memory).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from tests.support.imap import IMAPServer
from tests.support.smtp import SMTPServer

REPLY_AFTER_SECONDS = 3.0


def platform_reply(sent: EmailMessage) -> bytes:
    """The platform's answer to a mail Reclaim sent: to its sender, in its thread."""
    to = parseaddr(str(sent.get("To", "")))[1] or "support@platform.example"
    domain = to.rsplit("@", 1)[-1]
    reply = EmailMessage()
    reply["From"] = f"Customer Service <{to}>"
    reply["To"] = str(sent.get("From", ""))
    reply["Subject"] = "Re: " + str(sent.get("Subject", ""))
    reply["Date"] = format_datetime(datetime.now(UTC))
    reply["Message-ID"] = make_msgid(domain=domain)
    reply["In-Reply-To"] = str(sent["Message-ID"])
    reply["References"] = str(sent["Message-ID"])
    body = sent.get_body(preferencelist=("plain",))
    quoted = "\n".join("> " + line for line in (body.get_content() if body else "").splitlines())
    reply.set_content(
        "Dear customer,\n\nThank you for your message. We are looking into it and will "
        f"come back to you within 3 working days.\n\nCustomer Service\n\n{quoted}\n"
    )
    return reply.as_bytes(policy=policy.SMTP.clone(max_line_length=998))


def main() -> None:
    data = Path(os.environ.get("RECLAIM_DATA_DIR", "reclaim-data"))
    folder = data / "mailserver"
    folder.mkdir(parents=True, exist_ok=True)
    workspace = sys.argv[1] if len(sys.argv) > 1 else "default"
    smtp = SMTPServer(folder / "smtp").start()
    imap = IMAPServer(folder / "imap").start()
    env = {
        **smtp.env(),
        "RECLAIM_IMAP_URL": imap.url(),
        "RECLAIM_IMAP_WORKSPACE": workspace,
        "RECLAIM_IMAP_CA_FILE": str(imap.cert.resolve()),
        "RECLAIM_IMAP_POLL_SECONDS": "5",
        "RECLAIM_MAIL_POLL_SECONDS": "5",
        # the platforms' addresses the drafts go to (here: this mail server takes them all)
        "RECLAIM_PLATFORM_MAIL": json.dumps(
            {"temu": "support@temu.com", "tiktok": "ads-support@tiktok.com"}
        ),
    }
    env["RECLAIM_SMTP_CA_FILE"] = str(smtp.cert.resolve())
    lines = "".join(f"export {name}='{value}'\n" for name, value in env.items())
    (folder / "env.sh").write_text(lines)
    print(lines, end="")
    print(
        f"# (also in {folder / 'env.sh'}: `. {folder / 'env.sh'} && python3 dev.py serve` "
        "in another shell)\n# each draft sent about a case is answered in the mailbox "
        f"after {REPLY_AFTER_SECONDS:.0f} s; Ctrl-C stops",
        flush=True,
    )
    answered = 0
    try:
        while True:
            time.sleep(0.5)
            got = smtp.handler.got
            while answered < len(got):
                received = got[answered]
                answered += 1
                if not received.raw:
                    continue
                message = received.message
                print(f"sent by Reclaim: {message['Subject']}", flush=True)
                if str(message.get("Message-ID", "")).startswith("<reclaim."):
                    time.sleep(REPLY_AFTER_SECONDS)
                    imap.deliver(platform_reply(message))
                    print(f"  answered in the mailbox: Re: {message['Subject']}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        imap.stop()
        smtp.stop()


if __name__ == "__main__":
    main()
