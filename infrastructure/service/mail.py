"""E-mail intake: a message saved from a mail client becomes a step on the case.

``read_mail`` parses the bytes with the standard library (``email``, ``policy.default``)
and says what the message is: who wrote to whom, when (its ``Date``), its subject and
text (HTML made readable), its attachments, and whether it carries a forwarded
message, in which case that message is the one that counts (a platform's reply the
user forwarded is the platform's answer, at the time the platform sent it).

``record_mail`` then records it on the case in one save: the reply (``ResponseReceived``)
or the user's outbound contact, the ``.eml`` as evidence and each attachment as
evidence, all or nothing. The ``.eml``'s evidence id is derived from the case and the
``Message-ID``, so the same message twice records nothing new.

The platform's mail to a case not yet submitted (a notice that a credit expires, say)
cannot be its answer to a claim it has not seen: it is kept all the same, as a note and
evidence that say so, and changes nothing else (``EARLY``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any
from uuid import UUID

from domain.cases import MAX_TEXT, UNSTORABLE, Case
from infrastructure.service.commands import Call, CaseCommands
from infrastructure.store.blobs import ALLOWED_MEDIA_TYPES, BlobStore, StoredBlob, UnsupportedMedia

FROM_PLATFORM = "from_platform"
TO_PLATFORM = "to_platform"
DIRECTIONS = (FROM_PLATFORM, TO_PLATFORM)
#: what the user's own mail may be recorded as; left out, the first the case allows
OUTBOUND_ACTIONS = ("submit", "follow_up", "appeal", "add_note")
#: the mail domains of platforms whose slug is not in their domain
PLATFORM_DOMAINS = {"tiktok": ("tiktok.com", "bytedance.com"), "temu": ("temu.com",)}


class MailError(ValueError):
    """The message cannot be taken in; ``code`` names why."""

    code = "malformed-email"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MissingDate(MailError):
    code = "email-without-date"


class MailTooLarge(MailError):
    code = "email-too-large"


class DirectionUnknown(MailError):
    code = "email-direction-unknown"


# --- reading ------------------------------------------------------------------------------
class _TextFromHTML(HTMLParser):
    """HTML as a person would read it: paragraphs and line breaks kept, links shown."""

    BLOCKS = {
        "p",
        "div",
        "br",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "table",
        "ul",
        "ol",
        "hr",
        "pre",
    }
    SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS and tag not in ("li", "br", "tr"):
            self.parts.append("\n")
        if tag == "a" and self.href and self.href.startswith("http"):
            self.parts.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    parser = _TextFromHTML()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


@dataclass
class Attachment:
    filename: str
    media_type: str
    data: bytes


@dataclass
class Mail:
    """What a message says, read once; ``forwarded`` is the message it forwards, if any."""

    message_id: str
    sender: str
    recipients: list[str]
    date: datetime
    subject: str
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: Mail | None = None


def _addresses(message: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    return [_clean(addr.lower()) for _, addr in getaddresses(values) if "@" in addr]


def _date(value: str | None, where: str) -> datetime:
    if not value or not value.strip():
        raise MissingDate(
            f"{where} has no Date header: Reclaim records mail at the time it was sent"
        )
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        raise MailError(f"{where}'s Date header {value.strip()!r} is not a date") from None
    if when.tzinfo is None:  # "-0000": the time is UTC, its zone unknown
        when = when.replace(tzinfo=UTC)
    return when


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, UnicodeError, AssertionError):  # an unknown charset: best effort
        payload = body.get_payload(decode=True) or b""
        content = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
    if body.get_content_subtype() == "html":
        return html_to_text(content)
    return str(content).replace("\r\n", "\n").strip()


def _attachments(message: EmailMessage) -> tuple[list[Attachment], EmailMessage | None]:
    found: list[Attachment] = []
    forwarded: EmailMessage | None = None
    if not message.is_multipart():
        return found, None
    for part in message.iter_attachments():
        media_type = part.get_content_type()
        filename = part.get_filename() or ""
        if media_type == "message/rfc822":
            inner = part.get_content()
            data = inner.as_bytes(policy=policy.default.clone(linesep="\r\n"))
            forwarded = forwarded or inner
            found.append(Attachment(_clean(filename) or "forwarded.eml", media_type, data))
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        found.append(
            Attachment(_clean(filename) or f"attachment-{len(found) + 1}", media_type, payload)
        )
    return found, forwarded


_FORWARD_MARK = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Original Message|Weitergeleitete Nachricht)\s*-{2,}"
    r"|Begin forwarded message:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE = re.compile(r"^\s*>?\s*(From|Date|Sent|Subject|To|Cc)\s*:\s*(.*)$", re.IGNORECASE)


#: how mail clients write the date of a message they forward inline, without a zone:
#: Gmail ("Fri, Mar 20, 2026 at 4:05 PM"), Outlook ("Friday, March 20, 2026 4:05 PM")
_CLIENT_DATES = (
    "%a, %b %d, %Y at %I:%M %p",
    "%a, %b %d, %Y at %H:%M",
    "%A, %B %d, %Y %I:%M %p",
    "%A, %B %d, %Y at %I:%M %p",
    "%d %B %Y at %H:%M",
    "%d/%m/%Y %H:%M",
)


def _forwarded_date(text: str | None, outer: datetime) -> datetime:
    """The Date line of an inline forward. RFC 5322 when the client kept it; else a
    client's own format, read in the forwarder's zone (the outer Date's offset), since
    that is the zone the client showed it in."""
    try:
        return _date(text, "the forwarded message")
    except MissingDate:
        raise
    except MailError:
        cleaned = " ".join((text or "").replace("\u202f", " ").split())
        for pattern in _CLIENT_DATES:
            try:
                return datetime.strptime(cleaned, pattern).replace(tzinfo=outer.tzinfo)
            except ValueError:
                continue
        raise


def _inline_forward(text: str, outer: Mail) -> Mail | None:
    """A message forwarded inline: its From, Date and Subject lines, then its text."""
    mark = _FORWARD_MARK.search(text)
    if mark is None:
        return None
    lines = text[mark.end() :].lstrip("\n").splitlines()
    headers: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _HEADER_LINE.match(line)
        if match is None:
            if line.strip() == "" and headers:
                index += 1
                break
            if headers:
                break
            index += 1
            continue
        headers[match.group(1).lower()] = match.group(2).strip()
        index += 1
    if "from" not in headers:
        return None
    date_text = headers.get("date") or headers.get("sent")
    senders = [a.lower() for _, a in getaddresses([headers["from"]]) if "@" in a]
    return Mail(
        message_id=outer.message_id,
        sender=senders[0] if senders else "",
        recipients=[a.lower() for _, a in getaddresses([headers.get("to", "")]) if "@" in a],
        date=_forwarded_date(date_text, outer.date),
        subject=_clean(headers.get("subject", "")),
        text=_clean("\n".join(lines[index:]).strip()),
    )


def _read(message: EmailMessage, raw_digest: str, where: str) -> Mail:
    if not message.keys():
        raise MailError(f"{where} has no headers: it is not an e-mail message")
    senders = _addresses(message, "from")
    if not senders:
        raise MailError(f"{where} has no From address")
    when = _date(message.get("date"), where)
    message_id = str(message.get("message-id") or "").strip()
    if not message_id:
        message_id = f"<sha256-{raw_digest}@reclaim.invalid>"
    attachments, forwarded = _attachments(message)
    mail = Mail(
        message_id=_clean(message_id),
        sender=_clean(senders[0]),
        recipients=_addresses(message, "to", "cc"),
        date=when,
        subject=_clean(" ".join(str(message.get("subject") or "").split())),
        text=_clean(_text_of(message)),
        attachments=attachments,
    )
    if forwarded is not None:
        inner_bytes = forwarded.as_bytes(policy=policy.default)
        mail.forwarded = _read(
            forwarded, hashlib.sha256(inner_bytes).hexdigest(), "the forwarded message"
        )
    else:
        mail.forwarded = _inline_forward(mail.text, mail)
    return mail


def read_mail(raw: bytes, max_bytes: int) -> Mail:
    """Parse a saved message (RFC 5322/MIME); MailError when it cannot be taken in."""
    if len(raw) > max_bytes:
        raise MailTooLarge(f"the message is {len(raw)} bytes, more than the {max_bytes} byte limit")
    if not raw.strip():
        raise MailError("the file is empty")
    if b"\x00" in raw[:8192]:
        raise MailError("the file is binary, not an e-mail message")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # noqa: BLE001 - whatever the parser trips on is a malformed mail
        raise MailError(f"the message cannot be read: {exc}") from None
    if not isinstance(message, EmailMessage):
        raise MailError("the message cannot be read")
    # a first line that is not a header: the parser took everything as body
    if message.defects and not message.keys():
        raise MailError("the message has no headers: it is not an e-mail message")
    try:
        return _read(message, hashlib.sha256(raw).hexdigest(), "the message")
    except MailError:
        raise
    except Exception as exc:  # noqa: BLE001 - a header the library cannot decode
        raise MailError(f"the message cannot be read: {type(exc).__name__}: {exc}") from None


# --- which way -----------------------------------------------------------------------------
def platform_domains(platform: str) -> tuple[str, ...]:
    return PLATFORM_DOMAINS.get(platform, (f"{platform}.com",))


def is_platform_address(address: str, platform: str) -> bool:
    domain = address.rsplit("@", 1)[-1].lower()
    if any(domain == d or domain.endswith("." + d) for d in platform_domains(platform)):
        return True
    return platform in re.split(r"[.\-]", domain)


def effective(mail: Mail, platform: str) -> Mail:
    """The message that counts: a forwarded one when the forwarder is not the platform."""
    if mail.forwarded is not None and not is_platform_address(mail.sender, platform):
        return mail.forwarded
    return mail


def guess_direction(mail: Mail, platform: str, user_address: str | None = None) -> str:
    if user_address and mail.sender == user_address.strip().lower():
        return TO_PLATFORM
    if is_platform_address(mail.sender, platform):
        return FROM_PLATFORM
    if any(is_platform_address(a, platform) for a in mail.recipients):
        return TO_PLATFORM
    raise DirectionUnknown(
        f"cannot tell whether {mail.sender} is {platform} or you: send direction "
        f"({' or '.join(DIRECTIONS)})"
    )


# --- keeping the files ---------------------------------------------------------------------
_HEADER_START = re.compile(rb"^[A-Za-z0-9-]+:[ \t]")


def keep_message(blobs: BlobStore, raw: bytes) -> StoredBlob:
    """The ``.eml`` exactly as received. Not through ``put_bytes``: its content check wants
    UTF-8 text, and a Latin-1 message sent 8-bit is not (it is still a good message)."""
    if not _HEADER_START.match(raw.lstrip()):
        raise MailError("the message does not start with a header")
    return blobs.keep(raw, "message/rfc822")


def evidence_kind(media_type: str) -> str:
    if media_type.startswith("image/"):
        return "screenshot"
    if media_type == "message/rfc822":
        return "email"
    if media_type in ("text/csv", "application/json"):
        return "transaction_record"
    return "other"


def message_evidence_id(case_id: UUID, message_id: str) -> str:
    digest = hashlib.sha256(f"{case_id}\n{message_id.strip().lower()}".encode()).hexdigest()
    return "ev_m" + digest[:15]


def _filename(subject: str, when: datetime) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:60] or "message"
    return f"{when:%Y-%m-%d}-{words}.eml"


def _clean(text: str) -> str:
    """Text as every store can keep it: NULs and lone surrogates (undecodable bytes in a
    header) become U+FFFD."""
    return UNSTORABLE.sub("\ufffd", text)


def timeline_text(mail: Mail, limit: int = MAX_TEXT, evidence_id: str = "") -> str:
    """Subject and text as the timeline shows them, cut to what a step may hold."""
    head = f"E-mail: {mail.subject or '(no subject)'}"
    text = _clean(f"{head}\n\n{mail.text}".strip())
    if len(text) <= limit:
        return text
    tail = f"\n[… cut here; the whole message is kept as evidence {evidence_id}]"
    return text[: limit - len(tail)] + tail


# --- recording -----------------------------------------------------------------------------
#: what a note and the .eml's description say of the platform's mail before the submission
EARLY = "before the claim was submitted"


def early_note(mail: Mail, evidence_id: str) -> str:
    """The note that keeps the platform's mail to a case not yet submitted."""
    head = (
        f"E-mail from {mail.sender}, sent {mail.date.isoformat()}, {EARLY}: kept with "
        "the case, not counted as the platform's answer."
    )
    return f"{head}\n\n{timeline_text(mail, MAX_TEXT - len(head) - 2, evidence_id)}"


@dataclass(frozen=True)
class MailOutcome:
    recorded: bool
    message_id: str
    direction: str
    action: str
    occurred_at: datetime
    subject: str
    forwarded: bool
    evidence_ids: list[str]
    not_kept_separately: list[str]
    case: Case
    position: int | None
    #: the platform's mail to a case not yet submitted: kept as a note, not an answer
    early: bool = False

    @property
    def detail(self) -> str:
        if not self.recorded:
            return f"the message {self.message_id} is already on this case: nothing new recorded"
        kept = len(self.evidence_ids)
        files = f"{kept} file{'s' if kept != 1 else ''} kept as evidence"
        if self.early:
            return (
                f"sent {self.occurred_at.astimezone(UTC).isoformat()}, {EARLY}: kept as a "
                f"note, not counted as the platform's answer, {files}"
            )
        return (
            f"recorded as {self.action.replace('_', ' ')} at "
            f"{self.occurred_at.astimezone(UTC).isoformat()}, {files}"
        )


def outbound_action(case: Case, wanted: str | None, level: str | None = None) -> str:
    if wanted == "escalate" and level:  # a draft sent from the case (service/send.py)
        return wanted
    if wanted:
        if wanted not in OUTBOUND_ACTIONS:
            raise MailError(f"action must be one of {', '.join(OUTBOUND_ACTIONS)}")
        return wanted
    allowed = case.allowed_actions
    return next(a for a in ("submit", "follow_up", "add_note") if a in allowed)


def record_mail(
    commands: CaseCommands,
    case_id: UUID,
    raw: bytes,
    call: Call,
    *,
    direction: str | None = None,
    user_address: str | None = None,
    action: str | None = None,
    reference: str | None = None,
    level: str | None = None,
    at: datetime | None = None,
) -> MailOutcome:
    """Record a saved message on a case: all of it in one save, or nothing.

    The call's ``answer`` is given the outcome before it is saved; with an
    Idempotency-Key it is kept with the key in the same transaction. ``level`` makes
    your own mail an escalation to that level (``action`` ``escalate``). The step is
    at the mail's ``Date``, or at ``at`` when the sender knows it more exactly than a
    ``Date`` holds (a mail Reclaim sends itself: whole seconds would put a step taken
    in the same second before it)."""
    reclaim = commands.store
    if direction is not None and direction not in DIRECTIONS:
        raise MailError(f"direction must be {' or '.join(DIRECTIONS)}")
    whole = read_mail(raw, reclaim.settings.max_upload_bytes)

    def act(case: Case) -> MailOutcome:
        mail = effective(whole, case.platform)
        way = direction or guess_direction(mail, case.platform, user_address)
        eml_id = message_evidence_id(case.id, mail.message_id)
        if any(e["id"] == eml_id for e in case.evidence):
            return MailOutcome(
                False,
                mail.message_id,
                way,
                "none",
                mail.date,
                mail.subject,
                mail is not whole,
                [],
                [],
                case,
                None,
            )
        early = way == FROM_PLATFORM and case.state == "opened"
        if early:
            step = "add_note"
        else:
            step = (
                "record_response" if way == FROM_PLATFORM else outbound_action(case, action, level)
            )
        if at is not None:
            when: datetime | None = max(at, case.opened_at)
        elif early and mail.date < case.opened_at:
            # a notice older than the case (the reason it was opened, often) is kept when
            # it is taken in: no step of a case may happen before its opening
            when = None
        else:
            when = mail.date
        common: dict[str, Any] = {
            "occurred_at": when,
            "actor": call.by.user_id,
            "request_id": call.request_id,
        }
        text = early_note(mail, eml_id) if early else timeline_text(mail, evidence_id=eml_id)
        if step == "record_response":
            case.record_response(message=text, **common)
        elif step == "follow_up":
            case.follow_up(channel="email", message=text, **common)
        elif step == "appeal":
            case.appeal(grounds=text, **common)
        elif step == "add_note":
            case.add_note(text=text, **common)
        elif step == "escalate":
            to = ", ".join(mail.recipients[:3]) or None
            case.escalate(level=level, contact=to, message=text, **common)
        else:  # a submission: after the files, since a dispute's needs its evidence
            case.check_can("submit")
        files = reclaim.files_of(case)
        blob = keep_message(files, raw)
        who = (
            "from "
            + mail.sender
            + (" to " + ", ".join(mail.recipients[:3]) if mail.recipients else "")
        )
        case.attach_evidence(
            evidence_id=eml_id,
            kind="email",
            sha256=blob.sha256,
            size=blob.size,
            media_type=blob.media_type,
            filename=_filename(mail.subject, mail.date),
            description=_clean(
                f"E-mail{f' ({EARLY})' if early else ''} {who}, "
                f"{mail.subject or '(no subject)'}, Message-ID {mail.message_id}."
            )[:2000],
            **common,
        )
        kept = [eml_id]
        skipped: list[str] = []
        for number, item in enumerate(whole.attachments, start=1):
            if item.media_type not in ALLOWED_MEDIA_TYPES:
                skipped.append(f"{item.filename} ({item.media_type})")
                continue
            try:
                stored = (
                    keep_message(files, item.data)
                    if item.media_type == "message/rfc822"
                    else files.put_bytes(item.data, item.media_type)
                )
            except (UnsupportedMedia, MailError):
                skipped.append(f"{item.filename} ({item.media_type}, content does not match)")
                continue
            if not stored.size:
                skipped.append(f"{item.filename} (empty)")
                continue
            attachment_id = f"{eml_id}a{number}"
            case.attach_evidence(
                evidence_id=attachment_id,
                kind=evidence_kind(item.media_type),
                sha256=stored.sha256,
                size=stored.size,
                media_type=stored.media_type,
                filename=item.filename[:255],
                description=_clean(f"Attached to the e-mail {mail.subject or mail.message_id}.")[
                    :2000
                ],
                **common,
            )
            kept.append(attachment_id)
        if step == "submit":
            case.submit(channel="email", reference=reference, message=text, **common)
        return MailOutcome(
            True,
            mail.message_id,
            way,
            step,
            mail.date if when is None else when,
            mail.subject,
            mail is not whole,
            kept,
            skipped,
            case,
            None,
            early,
        )

    done = commands.change(case_id, call, act)
    outcome: MailOutcome = done.value
    return replace(outcome, case=done.case, position=done.position)
