"""The IMAP intake: a follower beside the store's writer (one per store) that reads the
mailbox of ``RECLAIM_IMAP_URL`` and files each new message on its case.

One mailbox per deployment, filing into one workspace (``RECLAIM_IMAP_WORKSPACE``).
Each round opens the folder read-only, lists its UIDs, and takes each one the store has
no row for (``inbox.py``, keyed by the folder's UIDVALIDITY and the UID), in order:

1. machine-sent mail (an auto-reply, a bounce: ``matching.automatic``) is refused;
2. a message the e-mail intake cannot read (no Date, not an e-mail at all, too large)
   is refused with the intake's reason;
3. a message ``matching.find_case`` names a case for is recorded on it through the
   same intake as ``POST /v1/cases/{id}/emails`` (``record_mail``, as the platform's
   answer, in the name of the case's owner), which records nothing twice for one
   Message-ID; a case that cannot take it now (resolved, erased) leaves it unmatched;
4. anything else is unmatched, sealed, for a workspace admin to assign or dismiss.

The row is written after the recording: a writer killed between the two reads the
message again next time, and ``record_mail`` finds its Message-ID already on the case,
so nothing is recorded twice. A message whose recording fails in a way the intake does
not know (not a refusal: the store down, say) is tried again next round; the third time
it is refused with the error's name, so one message cannot stop the rest.

The IMAP server down, slow or refusing the login fails the round without touching the
store's rows: the mail stays in the mailbox, the health row says what happened (for
``/readyz`` and the case book, never the server's address or credentials), and the
mailbox is tried again after ``mail_retry_seconds`` (the last wait repeating).
"""

from __future__ import annotations

import base64
import logging
import time
from email import policy
from email.parser import BytesParser
from typing import Any
from uuid import UUID

from anyio import to_thread

from domain.errors import DomainError
from infrastructure.mail import refs
from infrastructure.mail.imap import Mailbox, ReadFailed, open_folder
from infrastructure.mail.inbox import Inbox, message_key, source_of
from infrastructure.mail.matching import Candidate, automatic, find_case
from infrastructure.projections.cases import CaseList
from infrastructure.service.commands import Call, CaseCommands
from infrastructure.service.mail import FROM_PLATFORM, MailError, read_mail, record_mail
from infrastructure.store.application import CaseNotFound
from infrastructure.store.database import Database
from infrastructure.store.follower import Follower
from infrastructure.store.keys import Principal

log = logging.getLogger("reclaim.mail.intake")

IMAP_HEALTH = "imap"
#: a message whose recording fails this many times for an unknown reason is refused
MAX_TRIES = 3
SNIPPET = 300


class WorkspaceCases:
    """The cases of one workspace, as the case list holds them (``matching.Cases``)."""

    def __init__(self, database: Database, workspace: str) -> None:
        self.database = database
        self.workspace = workspace
        self.table = CaseList.table.name

    def get(self, case_id: UUID) -> Candidate | None:
        row = self.database.fetchone(
            f"SELECT case_id, owner FROM {self.table} WHERE case_id = %s AND workspace = %s",
            (str(case_id), self.workspace),
        )
        return None if row is None else Candidate(UUID(row["case_id"]), row["owner"])

    def with_prefix(self, prefix: str) -> list[Candidate]:
        rows = self.database.fetchall(
            f"SELECT case_id, owner FROM {self.table} WHERE workspace = %s AND case_id LIKE %s",
            (self.workspace, prefix.lower()[:8] + "%"),
        )
        return [Candidate(UUID(r["case_id"]), r["owner"]) for r in rows]

    def references(self) -> list[tuple[Candidate, str]]:
        rows = self.database.fetchall(
            f"SELECT case_id, owner, submission_reference FROM {self.table} "
            "WHERE workspace = %s AND submission_reference IS NOT NULL",
            (self.workspace,),
        )
        return [
            (Candidate(UUID(r["case_id"]), r["owner"]), r["submission_reference"]) for r in rows
        ]


def owner_call(case: Candidate, workspace: str, request_id: str) -> Call:
    """Mail is filed in the name of the case's owner (only they write to their case);
    the request id says it came from the mailbox."""
    return Call(
        by=Principal(key_id="mail-intake", user_id=case.owner, workspace=workspace, role="member"),
        request_id=request_id,
    )


def summary(raw: bytes, max_bytes: int) -> dict[str, Any]:
    """What the inbox shows of an unmatched message, and the message itself."""
    mail = read_mail(raw, max_bytes)
    return {
        "sender": mail.sender,
        "subject": mail.subject,
        "date": mail.date.isoformat(),
        "snippet": " ".join(mail.text.split())[:SNIPPET],
        "raw": base64.b64encode(raw).decode(),
    }


def retry_wait(failures: int, schedule: list[float]) -> float:
    """Seconds before the next look after ``failures`` failed rounds in a row: the
    schedule's step, its last repeating (mail waits in the mailbox: nothing is lost)."""
    if not schedule:
        return 60.0
    return float(schedule[min(failures, len(schedule)) - 1])


class MailIntake:
    """Reads the mailbox and files what it finds (``run_once``: one round, on a thread)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.settings = store.settings
        self.inbox: Inbox = store.inbox
        self.commands = CaseCommands(store)
        self.failures = 0
        self.next_try = 0.0
        self._tries: dict[tuple[str, int, int], int] = {}
        self._key: bytes | None = None

    def run_once(self, *, force: bool = False) -> int:
        """Read the mailbox once (unless a failure's wait is not over); returns how many
        messages were taken in."""
        settings = self.settings
        if not settings.imap_configured:
            detail = (
                "not configured: no mail is read"
                if not settings.imap_url
                else "no workspace to file mail into (RECLAIM_IMAP_WORKSPACE): no mail is read"
            )
            self.store.mail.set_health(IMAP_HEALTH, False, detail)
            return 0
        if not force and time.monotonic() < self.next_try:
            return 0
        mailbox = Mailbox.from_url(
            str(settings.imap_url), settings.imap_ca_file, settings.imap_timeout_seconds
        )
        source = source_of(mailbox.source)
        taken = 0
        try:
            with open_folder(mailbox) as folder:
                known = self.inbox.known_uids(source, folder.uidvalidity)
                for uid in folder.uids():
                    if uid in known:
                        continue
                    raw = folder.fetch(uid)
                    if raw is None:
                        continue
                    self.take(source, folder.uidvalidity, uid, raw)
                    taken += 1
        except ReadFailed as failed:
            self.failures += 1
            wait = retry_wait(self.failures, list(settings.mail_retry_seconds))
            self.next_try = time.monotonic() + wait
            self.store.mail.set_health(
                IMAP_HEALTH, False, f"{failed.detail}; tried again in {wait:.0f} s"
            )
            log.warning("the mailbox was not read: %s", failed.detail)
            return taken
        self.failures, self.next_try = 0, 0.0
        self.store.mail.set_health(IMAP_HEALTH, True, f"read; {taken} new message(s)")
        return taken

    def take(self, source: str, uidvalidity: int, uid: int, raw: bytes) -> str:
        """Deal with one message and keep what became of it; returns its state."""
        workspace = str(self.settings.imap_workspace)
        where = dict(source=source, uidvalidity=uidvalidity, uid=uid, workspace=workspace)
        try:
            message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
            message_id = str(message.get("message-id") or "").strip() or None
        except Exception:  # noqa: BLE001 - a header the library cannot read
            message, message_id = None, None
        if message is not None:
            why = automatic(message)
            if why is not None:
                self.inbox.put(**where, message_id=message_id, state="refused", reason=why)
                return "refused"
        try:
            mail = read_mail(raw, self.settings.max_upload_bytes)
        except MailError as error:
            self.inbox.put(
                **where, message_id=message_id, state="refused", reason=f"unreadable: {error}"
            )
            return "refused"
        assert message is not None  # read_mail read it
        if self._key is None:
            self._key = refs.key_of(self.store.database)
        key = self._key
        match = find_case(
            key, message, mail.subject, mail.text, WorkspaceCases(self.store.database, workspace)
        )
        if match.case is not None:
            try:
                outcome = record_mail(
                    self.commands,
                    match.case.case_id,
                    raw,
                    owner_call(match.case, workspace, f"imap-{uidvalidity}-{uid}"),
                    direction=FROM_PLATFORM,
                )
            except MailError as error:
                self.inbox.put(
                    **where, message_id=message_id, state="refused", reason=f"unreadable: {error}"
                )
                return "refused"
            except (DomainError, CaseNotFound) as error:
                reason = f"{match.reason}, which cannot take it now: {error}"
                return self._unmatched(where, message_id, raw, reason)
            except Exception as error:
                tries = self._tries[(source, uidvalidity, uid)] = (
                    self._tries.get((source, uidvalidity, uid), 0) + 1
                )
                if tries < MAX_TRIES:
                    raise
                log.exception("message %s could not be recorded; refused", uid)
                reason = f"could not be recorded: {type(error).__name__}"
                self.inbox.put(**where, message_id=message_id, state="refused", reason=reason)
                return "refused"
            detail = outcome.detail if outcome.recorded else "already on the case"
            self.inbox.put(
                **where,
                message_id=message_id,
                state="recorded",
                reason=f"{match.reason}: {detail}",
                case_id=str(match.case.case_id),
                matched_by=match.by,
            )
            return "recorded"
        return self._unmatched(where, message_id, raw, match.reason)

    def _unmatched(
        self, where: dict[str, Any], message_id: str | None, raw: bytes, reason: str
    ) -> str:
        if self.inbox.waiting_with(where["workspace"], message_key(message_id)):
            self.inbox.put(
                **where,
                message_id=message_id,
                state="refused",
                reason="a copy of a message already in the inbox",
            )
            return "refused"
        self.inbox.put(
            **where,
            message_id=message_id,
            state="unmatched",
            reason=reason,
            content=summary(raw, self.settings.max_upload_bytes),
        )
        return "unmatched"


class IntakeFollower(Follower):
    """Runs ``MailIntake`` rounds beside the store's writer (``store/node.py``)."""

    log = log

    def __init__(self, store: Any) -> None:
        super().__init__(store.settings.imap_poll_seconds)
        self.intake = MailIntake(store)

    async def round(self) -> None:
        await to_thread.run_sync(self.intake.run_once)


def reading_state(store: Any) -> tuple[bool, str]:
    """Whether mail is read, and a sentence saying how it went last (never the server's
    address or credentials): for the inbox page, the API and ``/readyz``."""
    settings = store.settings
    if not settings.imap_url:
        return False, "No mailbox is configured (RECLAIM_IMAP_URL): no mail is read."
    if not settings.imap_workspace:
        return False, (
            "No workspace to file mail into is configured (RECLAIM_IMAP_WORKSPACE): "
            "no mail is read."
        )
    health = store.mail.health().get(IMAP_HEALTH)
    if health is None:
        return True, "A mailbox is configured; it has not been read yet."
    if health["ok"]:
        return True, f"The mailbox was read at {health['at']}: {health['detail']}."
    return True, (
        f"Reading the mailbox failed at {health['at']}: {health['detail']}. "
        "The mail waits in the mailbox: nothing is lost."
    )
