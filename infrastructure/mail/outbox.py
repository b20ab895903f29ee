"""The mail outbox: a follower beside the store's writer (one per store) that sends what
is due, once.

Each round: every person whose digest time has come today (in their zone) and who has
no digest row for today gets one (``MailStore.add``: a row per person and day, so a
second writer after a failover adds nothing); then each pending mail is sent, the store
told ``sending`` just before its data goes out (``smtp.send``'s ``before_data``). A
digest row left ``sending`` by a follower that died is ``uncertain`` and not sent again;
a send the server did not take is tried again after ``mail_retry_seconds``. Drafts
sent from a case (``service/send.py``) wait in the same table and go the same way.

It looks for mail due every second (``SEND_POLL_SECONDS``: a draft sent through a process
that is not the writer goes within it) and plans digests every ``mail_poll_seconds``.
With no SMTP server configured nothing is planned and nothing sent; the health row says
so, for the case book and ``/readyz``.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, date, datetime
from email import policy
from email.parser import BytesParser
from typing import Any

from anyio import to_thread

from infrastructure.mail import digest, smtp
from infrastructure.mail.store import MailStore
from infrastructure.read.reminders import reminders
from infrastructure.read.report_sources import case_rows
from infrastructure.service import send
from infrastructure.store.follower import Follower

log = logging.getLogger("reclaim.mail")

SMTP_HEALTH = "smtp"
#: how often the outbox looks for mail due (a draft sent through another process than
#: the writer's, which cannot wake it, goes within this); digests are planned every
#: ``mail_poll_seconds``
SEND_POLL_SECONDS = 1.0


def retry_in_ms(attempts: int, schedule: list[float]) -> int | None:
    """The wait before the next try after ``attempts`` failed ones (None: no more), with
    up to a fifth more at random."""
    if attempts > len(schedule):
        return None
    return int(schedule[attempts - 1] * 1000 * (1 + random.random() / 5))  # noqa: S311


class MailOutbox(Follower):
    log = log

    def __init__(self, store: Any) -> None:
        self.store = store
        self.settings = store.settings
        self.mail: MailStore = store.mail
        super().__init__(min(self.settings.mail_poll_seconds, SEND_POLL_SECONDS))
        self._recovered = False
        self._planned_at: float | None = None

    async def round(self) -> None:
        planning = (
            self._planned_at is None
            or time.monotonic() - self._planned_at >= self.settings.mail_poll_seconds
        )
        if planning:
            self._planned_at = time.monotonic()
        await to_thread.run_sync(lambda: self.run_once(planning=planning))

    def run_once(self, now: datetime | None = None, *, planning: bool = True) -> int:
        """One round: digests planned (``planning``), then what is due sent; returns how
        many mails were sent."""
        now = now or datetime.now(UTC)
        if not self._recovered:
            cut = self.mail.cut_off()
            if cut:
                log.warning("%d mail(s) were cut off mid-send by a stopped server", cut)
            self._recovered = True
        if not self.settings.mail_configured:
            if planning:
                self.mail.set_health(SMTP_HEALTH, False, "not configured: nothing is sent")
            return 0
        if planning:
            self.plan_digests(now)
        sent = 0
        for row in self.mail.due("digest"):
            sent += self.send_digest(row, now)
        send.settle(self.store, now)
        for row in self.mail.due(send.KIND):
            sent += self.send_draft(row)
        return sent

    def send_draft(self, row: dict[str, Any]) -> int:
        """A draft sent from the case: the very bytes kept as its evidence."""
        raw = send.kept_message(self.store, row)
        if raw is None:
            self.mail.finish(row["id"], "skipped", "the message is no longer on the case")
            return 0
        message = BytesParser(policy=policy.SMTP).parsebytes(raw)
        return self.deliver(row, message, raw)

    def plan_digests(self, now: datetime) -> None:
        for prefs in self.mail.all_prefs():
            if digest.is_due(prefs, now):
                day = digest.local_day(prefs, now)
                self.mail.add(
                    digest.digest_id(prefs, day),
                    "digest",
                    prefs.workspace,
                    prefs.user_id,
                    day.isoformat(),
                )

    def send_digest(self, row: dict[str, Any], now: datetime) -> int:
        prefs = self.mail.prefs(row["workspace"], row["user_id"])
        if prefs is None or not prefs.digests:
            self.mail.finish(row["id"], "skipped", "reminders by e-mail were turned off")
            return 0
        day = date.fromisoformat(row["day"])
        owner = None if prefs.role in ("auditor", "admin") else prefs.user_id
        items = reminders(
            case_rows(self.store.database, prefs.workspace, owner),
            self.settings.deadline_policy(),
            day,
            self.settings.digest_within_days,
        )
        if not items:
            self.mail.finish(row["id"], "nothing_due", "nothing was due: no mail")
            return 0
        sender = str(self.settings.mail_from)
        message = digest.compose(
            prefs,
            items,
            day=day,
            sender=sender,
            public_url=self.settings.public_url,
            within_days=self.settings.digest_within_days,
            now=now,
        )
        return self.deliver(row, message)

    def deliver(self, row: dict[str, Any], message: Any, data: bytes | None = None) -> int:
        """Send one mail of the outbox (``data``: as these bytes) and record how it went;
        1 when it was sent."""
        server = smtp.Server.from_url(
            str(self.settings.smtp_url),
            self.settings.smtp_ca_file,
            self.settings.smtp_timeout_seconds,
        )
        mail_id, message_id = row["id"], str(message["Message-ID"])
        try:
            answer = smtp.send(
                server,
                message,
                before_data=lambda: self.mail.sending(mail_id, message_id),
                data=data,
            )
        except smtp.SendFailed as failed:
            self.mail.set_health(SMTP_HEALTH, False, failed.detail)
            if failed.outcome == smtp.UNCERTAIN:
                self.mail.finish(mail_id, "uncertain", failed.detail)
            elif failed.outcome == smtp.REFUSED:
                self.mail.finish(mail_id, "failed", failed.detail)
            else:
                wait = retry_in_ms(int(row["attempts"]) + 1, list(self.settings.mail_retry_seconds))
                if wait is None:
                    self.mail.finish(mail_id, "failed", failed.detail)
                else:
                    self.mail.retry(mail_id, wait, failed.detail)
            log.warning("mail %s not sent: %s", mail_id, failed.detail)
            return 0
        self.mail.finish(mail_id, "sent", answer)
        self.mail.set_health(SMTP_HEALTH, True, "ok")
        return 1
