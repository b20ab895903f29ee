"""A drafted message sent by e-mail from the case (issue 30, part 2).

``send_draft`` writes the message (the draft's words, or the sender's edit of them) as
the user's own mail: From ``RECLAIM_MAIL_FROM``, To the platform (``RECLAIM_PLATFORM_MAIL``
or an address given), the subject tagged and a ``Message-ID`` made by ``mail/refs.py``
so that replies find the case. It is not marked ``Auto-Submitted``: a person wrote it.

It is then recorded the one way mail is recorded (``record_mail``: the step, at the
message's ``Date``, with the ``.eml`` as evidence and its SHA-256, all in one save, the
Idempotency-Key kept in the same transaction) and queued in the mail outbox
(``reclaim_mail_sends``), which sends exactly the bytes kept as evidence. The queue's row
is written ``held`` before the step is recorded and released after, so a mail is never
recorded without being queued nor queued without being recorded: a request that dies
between the two leaves a held row that the outbox settles by looking at the case
(``settle``). Sending it is the outbox's job, so a mail server that is down loses
nothing: the request is answered 202 and the mail waits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from uuid import UUID

from domain.cases import ESCALATION_LEVELS, Case
from domain.errors import DomainError, MissingForSubmit
from infrastructure.drafts import Draft
from infrastructure.mail import refs
from infrastructure.mail.digest import mail_domain
from infrastructure.mail.prefs import ADDRESS, MAX_ADDRESS
from infrastructure.service.access import check_write
from infrastructure.service.commands import Call, CaseCommands
from infrastructure.service.drafts import drafts_for
from infrastructure.service.mail import TO_PLATFORM, MailOutcome, message_evidence_id, record_mail

#: the steps a draft can be sent for
STEPS = ("submit", "follow_up", "appeal", "escalate")
#: the outbox's kind for a sent draft; its row id is ``draft:<case id>:<Message-ID>``
KIND = "draft"
#: what the API answers for a mail queued: the outbox sends it next
QUEUED = "queued"
MAX_SUBJECT = 250
MAX_BODY = 100_000
MAX_REFERENCE = 200
#: a request that queued a mail and did not say whether its step was recorded is taken
#: as dead after this long (``settle``)
HELD_FOR = timedelta(minutes=2)

#: anything but tab below space, and DEL: no header or line can be made of a field
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\x85]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class MailNotConfigured(Exception):
    """No SMTP server or sender is configured: nothing can be sent or recorded."""


class SendInvalid(ValueError):
    """Fields that cannot be sent, each with why (by field name)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class SendRequest:
    """What the sender asks for; None: the draft's (or the platform's address)."""

    step: str
    level: str | None = None
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Sent:
    """A draft sent: recorded on the case and queued in the outbox."""

    outcome: MailOutcome
    mail_id: str
    message_id: str
    to: str
    subject: str
    sha256: str
    status: str = QUEUED


def mail_id_of(case_id: UUID, message_id: str) -> str:
    return f"{KIND}:{case_id}:{message_id}"


def case_prefix(case_id: UUID) -> str:
    return f"{KIND}:{case_id}:"


def default_address(settings: Any, case: Case, step: str, level: str | None) -> str | None:
    """The platform's own address (``RECLAIM_PLATFORM_MAIL``) for mail to the platform:
    every step but an escalation past its supervisors (an agency, a payment provider, a
    public post go elsewhere, so the sender names the address)."""
    if step == "escalate" and level != "supervisor":
        return None
    return dict(settings.platform_mail).get(case.platform)


def _single_line(value: str, limit: int, what: str) -> str | None:
    if _CONTROL.search(value):
        return f"must be one line: no line breaks or control characters in {what}"
    if not value.strip():
        return f"must not be empty ({what})"
    if len(value) > limit:
        return f"must be at most {limit} characters"
    return None


def check(
    settings: Any, case: Case, request: SendRequest, draft: Draft | None
) -> tuple[str, str, str]:
    """The address, subject and body to send (defaults filled in); ``SendInvalid`` names
    each field that cannot be sent, before anything is queued or recorded."""
    errors: dict[str, str] = {}
    if request.step not in STEPS:
        errors["step"] = f"must be one of {', '.join(STEPS)}"
    if request.step == "escalate":
        if request.level is None:
            errors["level"] = f"an escalation names its level: {', '.join(ESCALATION_LEVELS)}"
        elif request.level not in ESCALATION_LEVELS:
            errors["level"] = f"must be one of {', '.join(ESCALATION_LEVELS)}"
    elif request.level is not None:
        errors["level"] = "only an escalation has a level"
    if request.reference is not None:
        if request.step != "submit":
            errors["reference"] = "only a submission has a reference"
        elif problem := _single_line(request.reference, MAX_REFERENCE, "a reference"):
            errors["reference"] = problem
    # (no draft or address for an unknown step or level: that is the one thing to say)
    step_known = "step" not in errors and "level" not in errors
    to = request.to
    if to is None:
        to = default_address(settings, case, request.step, request.level)
        if to is None and step_known:
            errors["to"] = (
                f"no address is known for {case.platform} here (RECLAIM_PLATFORM_MAIL): "
                "give the address to send to"
            )
    elif len(to) > MAX_ADDRESS or not ADDRESS.fullmatch(to):
        errors["to"] = "must be one e-mail address, such as support@example.com"
    subject = request.subject
    if subject is None and draft is not None:
        subject = draft.subject
    if subject is None:
        if step_known:
            errors["subject"] = "there is no draft for this step: write a subject"
    elif problem := _single_line(subject, MAX_SUBJECT, "a subject"):
        errors["subject"] = problem
    body = request.body
    if body is None and draft is not None:
        body = draft.body
    if body is None:
        if step_known:
            errors["body"] = "there is no draft for this step: write the message"
    else:
        # line breaks are the body's own (a header cannot be reached from the body);
        # every other control character is refused
        body = body.replace("\r\n", "\n").replace("\r", "\n")
        if _BODY_CONTROL.search(body):
            errors["body"] = "must be text: no control characters"
        elif not body.strip():
            errors["body"] = "must not be empty"
        elif len(body) > MAX_BODY:
            errors["body"] = f"must be at most {MAX_BODY} characters"
    if errors:
        raise SendInvalid(errors)
    assert to is not None and subject is not None and body is not None
    return to, subject, body


def compose(
    *, key: bytes, case_id: UUID, sender: str, to: str, subject: str, body: str, now: datetime
) -> EmailMessage:
    """The mail as it goes out and as it is kept: plain text, CRLF line ends (SMTP's)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = refs.tagged(key, subject, case_id)
    # (whole seconds, as a Date holds them; the step is recorded at ``now`` itself)
    message["Date"] = format_datetime(now.astimezone(UTC).replace(microsecond=0))
    message["Message-ID"] = refs.message_id(key, case_id, mail_domain(sender))
    message.set_content(body if body.endswith("\n") else body + "\n")
    return message


def draft_for(reclaim: Any, case: Case, step: str, level: str | None) -> Draft | None:
    for draft in drafts_for(reclaim, case, case.workspace):
        if draft.step == step and draft.level == level:
            return draft
    return None


def send_draft(
    commands: CaseCommands,
    case_id: UUID,
    call: Call,
    request: SendRequest,
    *,
    now: datetime | None = None,
) -> Sent:
    """Record the step the draft is and queue its mail, or do neither.

    The call's ``answer`` is given the ``Sent``; with an Idempotency-Key it is kept in
    the step's transaction, so the same request again is answered from it and neither
    queues nor records anything."""
    reclaim = commands.store
    settings = reclaim.settings
    commands.check_replay(call)
    if not settings.mail_configured:
        raise MailNotConfigured()
    case = reclaim.get_case(case_id)
    check_write(call.by, case)
    if request.step in STEPS:
        # said first, as a 409 (with no draft to fill in, the rest would be a 422); a copy
        # another process made stale is read again before it refuses
        try:
            case.check_can(request.step)
        except DomainError:
            if not reclaim.is_stale(case):
                raise
            reclaim.forget(case.id)
            case = reclaim.get_case(case_id)
            case.check_can(request.step)
        # the sent mail is kept as evidence, but it is not evidence of the claim: a dispute
        # is sent to the platform with its own evidence attached first, as the domain asks
        if request.step == "submit" and case.missing_for_submit:
            raise MissingForSubmit(case.missing_for_submit)
    draft = draft_for(reclaim, case, request.step, request.level)
    to, subject, body = check(settings, case, request, draft)
    at = now or datetime.now(UTC)
    sender = str(settings.mail_from)
    message = compose(
        key=refs.key_of(reclaim.database),
        case_id=case.id,
        sender=sender,
        to=to,
        subject=subject,
        body=body,
        now=at,
    )
    raw = message.as_bytes()
    message_id = str(message["Message-ID"])
    mail_id = mail_id_of(case.id, message_id)
    tagged = str(message["Subject"])

    def sent(outcome: MailOutcome) -> Sent:
        eml_id = message_evidence_id(case.id, message_id)
        sha = next(e["sha256"] for e in outcome.case.evidence if e["id"] == eml_id)
        return Sent(outcome, mail_id, message_id, to, tagged, sha)

    answer = call.answer
    inner = replace(call, answer=None if answer is None else (lambda o: answer(sent(o))))
    reclaim.mail.add(
        mail_id, KIND, case.workspace, call.by.user_id, None, status="held", message_id=message_id
    )
    try:
        outcome = record_mail(
            commands,
            case.id,
            raw,
            inner,
            direction=TO_PLATFORM,
            action=request.step,
            reference=request.reference,
            level=request.level,
            at=at,
        )
    except BaseException:
        reclaim.mail.drop(mail_id)
        raise
    reclaim.mail.release(mail_id)
    return sent(outcome)


def settle(reclaim: Any, now: datetime | None = None) -> int:
    """Held mail whose request died before saying how it went: released when its step is
    on the case (the request died after recording it), dropped when not. Returns how many
    were released."""
    before = ((now or datetime.now(UTC)) - HELD_FOR).isoformat(timespec="milliseconds")
    released = 0
    for row in reclaim.mail.held(before):
        _, case_text, message_id = row["id"].split(":", 2)
        case_id = UUID(case_text)
        eml_id = message_evidence_id(case_id, message_id)
        try:
            case = reclaim.get_case(case_id)
        except Exception:  # noqa: BLE001 - a case gone (or unreadable) has no step to send
            case = None
        if case is not None and any(e["id"] == eml_id for e in case.evidence):
            reclaim.mail.release(row["id"])
            released += 1
        else:
            reclaim.mail.drop(row["id"])
    return released


def kept_message(reclaim: Any, row: dict[str, Any]) -> bytes | None:
    """The bytes of a queued draft, as kept in evidence (None: no longer there, say the
    case's owner was erased and the file with them)."""
    _, case_text, message_id = row["id"].split(":", 2)
    case = reclaim.get_case(UUID(case_text))
    eml_id = message_evidence_id(case.id, message_id)
    found = next((e for e in case.evidence if e["id"] == eml_id), None)
    if found is None:
        return None
    try:
        return bytes(reclaim.files_of(case).read(found["sha256"]))
    except Exception:  # noqa: BLE001 - a file that cannot be opened is not sent
        return None


def sent_mail(reclaim: Any, case_id: UUID) -> list[dict[str, Any]]:
    """The case's sent drafts, newest first, as the API and the case book show them."""
    return [
        {
            "message_id": row["message_id"],
            "status": row["status"],
            "attempts": int(row["attempts"]),
            "queued_at": row["created_at"],
            "sent_at": row["sent_at"],
            "detail": row["detail"],
        }
        for row in reclaim.mail.of_case(KIND, case_prefix(case_id))
    ]
